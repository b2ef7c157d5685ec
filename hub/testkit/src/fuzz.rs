//! Fuzzing the parsers of outside input with proptest (issue 23; `cargo fuzz` needs a nightly
//! toolchain): every parser of what a customer, a platform or an import file sends gets
//! arbitrary input and mangled real samples, and must answer (an `Err` is an answer) without
//! panicking; a property may check more than that (a sanitizer's output, a round trip).
//!
//! How many inputs each property tries comes from one place, [`cases`]:
//! `SWITCHBOARD_FUZZ_CASES` (default [`DEFAULT_CASES`], so that `cargo test` stays fast), which
//! the long run raises (`bench/fuzz.sh`; `docs/security.md`, "Fuzzing"). A failure reports the
//! smallest input proptest shrinks it to; that input becomes a plain unit test beside the fix.

use std::{fmt, path::Path};

use chrono::Utc;
use http::HeaderValue;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use switchboard_model::RawInbound;

use crate::conformance::{ConformanceCase, FIXTURE_API_BASE_URL, payloads};

/// The environment variable that sets how many inputs each strategy of a property tries.
pub const CASES_VAR: &str = "SWITCHBOARD_FUZZ_CASES";

/// Inputs per strategy when [`CASES_VAR`] is unset: about a second per property in a debug
/// build.
pub const DEFAULT_CASES: u32 = 256;

/// Arbitrary inputs are at most this many bytes (mangled samples may grow past it).
const MAX_ARBITRARY_BYTES: usize = 4096;

/// How many inputs each strategy of a property tries: [`CASES_VAR`], or [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    match std::env::var(CASES_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{CASES_VAR} must be a number of cases, not `{value}`")),
        Err(_) => DEFAULT_CASES,
    }
}

/// Pieces of the formats the hub parses (JSON, MIME, markdown and front matter, origins,
/// URLs) and of the text that breaks parsers (control characters, invalid UTF-8, big numbers,
/// lone surrogates): arbitrary input is made of them as well as of random bytes, so that it
/// reaches past a parser's first check.
const TOKENS: &[&[u8]] = &[
    // JSON
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"18446744073709551616",
    b"-9223372036854775808",
    b"9223372036854775807",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"{\"type\":\"",
    b"\"message\"",
    b"\"ticket_id\":",
    // MIME
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--b\r\n",
    b"--b--\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: text/rfc822-headers\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%ff\r\n",
    b"=?utf-8?b?",
    b"=?iso-8859-1?q?=ff?=",
    b"=?x-unknown?b?AAAA?=",
    b"=\r\n",
    b"; charset=",
    b"From: ",
    b"Message-ID: <",
    b"In-Reply-To: ",
    b"References: <a@b> <c@d>\r\n",
    b"Date: ",
    b"<",
    b">",
    b"@",
    b";",
    b"=",
    // markdown and front matter
    b"---\n",
    b"---\r\n",
    b"title: ",
    b"tags: [",
    b"tags:\n  - ",
    b"# ",
    b"```",
    b"*",
    b"**",
    b"_",
    b"`",
    b"[x](",
    b")",
    b"> ",
    b"javascript:",
    b"data:",
    b"&#",
    b"&amp;",
    // origins and URLs
    b"://",
    b"https",
    b"*.",
    b":*",
    b"[::1]",
    b"%",
    b"/",
    b"?",
    b"#",
    // characters that break parsers
    b"\0",
    b"\x01",
    b"\t",
    b" ",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    "é".as_bytes(),
    "\u{feff}".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{fffd}".as_bytes(),
    "𝒳".as_bytes(),
    b"\\",
    b"'",
];

/// An input, shown as text with its odd bytes escaped when a property fails.
#[derive(Clone)]
pub struct Input(pub Vec<u8>);

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes: b\"{}\"", self.0.len(), self.0.escape_ascii())
    }
}

/// One piece of an arbitrary input: a token or a random byte.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        any::<u8>().prop_map(|byte| vec![byte]),
    ]
}

/// Random bytes, and a soup of tokens and random bytes.
fn arbitrary() -> impl Strategy<Value = Input> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..MAX_ARBITRARY_BYTES),
        proptest::collection::vec(piece(), 0..512).prop_map(|pieces| {
            let mut bytes = pieces.concat();
            bytes.truncate(MAX_ARBITRARY_BYTES);
            bytes
        }),
    ]
    .prop_map(Input)
}

/// What one edit of a sample puts in the place of the piece it cuts out.
#[derive(Clone, Debug)]
enum Insert {
    Piece(Vec<u8>),
    /// A stretch of the sample itself, `times` times: a header repeated into a huge one, a
    /// part nested in itself.
    Copy {
        from: usize,
        len: usize,
        times: usize,
    },
}

fn insert() -> impl Strategy<Value = Insert> {
    prop_oneof![
        3 => proptest::collection::vec(piece(), 1..4).prop_map(|pieces| Insert::Piece(pieces.concat())),
        1 => (any::<usize>(), 1usize..512, 1usize..64)
            .prop_map(|(from, len, times)| Insert::Copy { from, len, times }),
    ]
}

/// Up to four edits of one of `seeds`, each cutting up to 64 bytes at some place and
/// inserting pieces or a copy of a stretch of the sample.
fn mangled(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Input> {
    let count = seeds.len();
    (
        0..count,
        proptest::collection::vec((any::<usize>(), 0usize..64, insert()), 1..5),
    )
        .prop_map(move |(seed, edits)| {
            let mut body = seeds[seed].clone();
            for (at, cut, insert) in edits {
                let at = at % (body.len() + 1);
                let end = (at + cut).min(body.len());
                let inserted = match insert {
                    Insert::Piece(bytes) => bytes,
                    Insert::Copy { from, len, times } => {
                        let from = from % (body.len() + 1);
                        let stretch = &body[from..(from + len).min(body.len())];
                        stretch.repeat(times)
                    }
                };
                body.splice(at..end, inserted);
            }
            Input(body)
        })
}

/// Runs `property` on [`cases`] inputs of one strategy; a failure or a panic fails the test
/// with the smallest input found.
fn run(
    what: &str,
    strategy: impl Strategy<Value = Input>,
    property: &dyn Fn(&[u8]) -> Result<(), String>,
) {
    let config = Config {
        // A failing input is kept as a unit test, not in a regressions file.
        failure_persistence: None,
        ..Config::with_cases(cases())
    };
    TestRunner::new(config)
        .run(&strategy, |input| {
            property(&input.0).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|err| panic!("{what}: {err}"));
}

/// `property` holds for arbitrary bytes and for mangled copies of `seeds` (real samples of the
/// format, which must not be empty), and for each seed as it is. `property` returns `Err` with
/// a reason when it does not hold; a panic inside it fails too.
pub fn check_bytes(seeds: &[&[u8]], property: impl Fn(&[u8]) -> Result<(), String>) {
    assert!(
        !seeds.is_empty(),
        "a property needs at least one real sample"
    );
    for seed in seeds {
        property(seed).unwrap_or_else(|err| panic!("the sample {:?}: {err}", Input(seed.to_vec())));
    }
    property(b"").unwrap_or_else(|err| panic!("no input: {err}"));
    run("arbitrary bytes", arbitrary(), &property);
    let seeds = seeds.iter().map(|seed| seed.to_vec()).collect();
    run("a mangled sample", mangled(seeds), &property);
}

/// [`check_bytes`] for parsers of text: the bytes are read as UTF-8, invalid sequences
/// replaced; arbitrary Unicode strings are tried as well.
pub fn check_text(seeds: &[&str], property: impl Fn(&str) -> Result<(), String>) {
    let seeds: Vec<&[u8]> = seeds.iter().map(|seed| seed.as_bytes()).collect();
    let on_bytes = |bytes: &[u8]| property(&String::from_utf8_lossy(bytes));
    check_bytes(&seeds, on_bytes);
    run(
        "an arbitrary string",
        any::<String>().prop_map(|text| Input(text.into_bytes())),
        &on_bytes,
    );
}

/// [`check_bytes`] for a parser that can only fail by panicking.
pub fn never_panics(seeds: &[&[u8]], parse: impl Fn(&[u8])) {
    check_bytes(seeds, |input| {
        parse(input);
        Ok(())
    });
}

/// The pure hooks of the case's connector (`verify`, `normalize`, a helpdesk's
/// `webhook_ticket`) on arbitrary bytes and on mangled copies of the payloads in `fixtures`
/// must answer without panicking (`docs/specs/connector.md`). Each body is signed as the
/// platform would sign it, so that `verify` runs to its end and cannot hide `normalize`; and
/// the input is also tried as the value of each header the platform signs with (a signature,
/// a timestamp), beside a real payload.
pub fn pure_hooks_never_panic(case: &dyn ConformanceCase, fixtures: &Path) {
    let connector = case
        .factory()
        .build("inbox", &case.config(FIXTURE_API_BASE_URL))
        .expect("the connector builds from its config");
    let samples: Vec<Vec<u8>> = payloads(case, fixtures)
        .iter()
        .map(|path| std::fs::read(path).expect("a readable fixture"))
        .collect();
    let seeds: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    never_panics(&seeds, |body| {
        let headers = case.sign(body, Utc::now());
        let request = RawInbound {
            headers: &headers,
            query: None,
            body,
        };
        let _ = connector.verify(&request);
        let _ = connector.normalize(&request);
        if let Some(helpdesk) = connector.helpdesk() {
            let _ = helpdesk.webhook_ticket(&request);
        }
        let Ok(value) = HeaderValue::from_bytes(body) else {
            return;
        };
        let signed = case.sign(seeds[0], Utc::now());
        for name in signed.keys() {
            let mut headers = signed.clone();
            headers.insert(name, value.clone());
            let _ = connector.verify(&RawInbound {
                headers: &headers,
                query: None,
                body: seeds[0],
            });
        }
    });
}
