//! The pure hooks of a connector (`verify`, `normalize`, a helpdesk's `webhook_ticket`) on
//! arbitrary bytes and on mangled real payloads: errors, never panics (`docs/specs/connector.md`: a proptest over arbitrary and mangled bytes).

use http::HeaderMap;
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use switchboard_model::RawInbound;

use crate::conformance::{ConformanceCase, FIXTURE_API_BASE_URL};

/// How many bodies each property tries.
const CASES: u32 = 2000;

/// The pure hooks of the case's connector on arbitrary bytes, and on `seed` (a real
/// payload) with a piece cut out and JSON-ish bytes put in its place, must answer without
/// panicking. A panic fails with the smallest body proptest finds.
pub fn pure_hooks_never_panic(case: &dyn ConformanceCase, seed: &[u8]) {
    let connector = case
        .factory()
        .build("inbox", &case.config(FIXTURE_API_BASE_URL))
        .expect("the connector builds from its config");
    let headers = HeaderMap::new();
    let request = |body: &[u8]| {
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
    };
    // The cases that once failed (in `fuzz.proptest-regressions` files, when each connector
    // had its own copy of this property): no body, and the payload untouched.
    request(b"");
    request(seed);
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(CASES)
    };
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..4096), |body| {
            request(&body);
            Ok(())
        })
        .unwrap_or_else(|err| panic!("arbitrary bytes: {err}"));
    let mangling = (
        0..seed.len().max(1),
        0usize..64,
        "[\\[\\]{}\":,0-9a-z.]{0,8}",
    );
    let mut runner = TestRunner::new(config);
    runner
        .run(&mangling, |(at, cut, insert)| {
            let mut body = seed.to_vec();
            let at = at.min(body.len());
            let end = (at + cut).min(body.len());
            body.splice(at..end, insert.bytes());
            request(&body);
            Ok(())
        })
        .unwrap_or_else(|err| panic!("a mangled payload: {err}"));
}
