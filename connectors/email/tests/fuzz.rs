//! The email channel's parsers of outside input under fuzzing (the test kit's `fuzz`): the
//! raw message into a normalized one (mail-parser and ours after it), the recipient addresses
//! it reads, and the SMTP receiver's command lines. The shapes random bytes seldom reach (deep
//! nesting, huge headers) are built on purpose.

use std::path::PathBuf;

use serde_json::json;
use switchboard_email::{
    EmailConfig,
    normalize::normalize,
    receiver::{mail_from, rcpt_to, split_command},
};
use switchboard_testkit::fuzz;

fn config() -> EmailConfig {
    EmailConfig::from_json(&json!({
        "address": "help@acme.test",
        "inbound_secret": "s3cret",
        "max_attachment_bytes": 1000,
    }))
    .expect("a valid config")
}

/// Every raw message of `fixtures/email`.
fn samples() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/email");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixtures")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("a fixture"))
        .collect()
}

/// What normalizing `raw` must give, whatever it holds: an answer, and a message whose ids fit
/// their column and whose sender is an address.
fn normalizes_sanely(raw: &[u8]) -> Result<(), String> {
    let envelope = ["help+abc@acme.test".to_owned()];
    let Ok(Some(message)) = normalize(&config(), raw, &envelope) else {
        return Ok(());
    };
    let id = message.channel_message_id.unwrap_or_default();
    if id.chars().count() > 250
        || message
            .reply_to_keys
            .iter()
            .any(|key| key.chars().count() > 250)
    {
        return Err(format!("an id longer than its column: {id}"));
    }
    if !message.sender.external_id.contains('@') {
        return Err(format!(
            "the sender is not an address: {}",
            message.sender.external_id
        ));
    }
    Ok(())
}

#[test]
fn fuzz_raw_messages_normalize_without_panicking() {
    let samples = samples();
    let seeds: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    fuzz::check_bytes(&seeds, normalizes_sanely);
}

#[test]
fn fuzz_recipient_addresses_never_panic() {
    let config = config();
    fuzz::check_text(
        &[
            "help@acme.test",
            "<Help+Tok3n@ACME.test>",
            "a+b+c@acme.test",
            "help@",
        ],
        |recipient| {
            if let Some(Some(tag)) = config.accepts(recipient)
                && !recipient.to_lowercase().contains(&tag)
            {
                return Err(format!("the tag `{tag}` is not in the address"));
            }
            Ok(())
        },
    );
}

fn nested_messages(depth: usize) -> Vec<u8> {
    let mut message = b"From: a@b.test\r\nSubject: inner\r\n\r\nhello\r\n".to_vec();
    for level in 0..depth {
        let mut outer = format!(
            "From: a@b.test\r\nMessage-ID: <{level}@b.test>\r\nContent-Type: message/rfc822\r\n\r\n"
        )
        .into_bytes();
        outer.extend_from_slice(&message);
        message = outer;
    }
    message
}

fn nested_multiparts(depth: usize) -> Vec<u8> {
    let mut message = b"From: a@b.test\r\nContent-Type: text/plain\r\n\r\nhello\r\n".to_vec();
    for level in (0..depth).rev() {
        let head = format!(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        );
        let mut outer = head.into_bytes();
        outer.extend_from_slice(&message);
        outer.extend_from_slice(format!("\r\n--b{level}--\r\n").as_bytes());
        message = outer;
    }
    message
}

#[test]
fn deeply_nested_messages_and_parts_are_answered() {
    for depth in [1, 10, 100, 1_000, 5_000] {
        normalizes_sanely(&nested_messages(depth)).expect("nested messages");
        normalizes_sanely(&nested_multiparts(depth)).expect("nested multiparts");
    }
}

#[test]
fn huge_headers_are_answered() {
    let long_subject = format!(
        "From: a@b.test\r\nSubject: {}\r\n\r\nbody\r\n",
        "x".repeat(2 << 20)
    );
    normalizes_sanely(long_subject.as_bytes()).expect("a 2 MiB header");
    let many_headers = format!(
        "From: a@b.test\r\n{}\r\nbody\r\n",
        "References: <a@b.test>\r\n".repeat(50_000)
    );
    normalizes_sanely(many_headers.as_bytes()).expect("50,000 headers");
    let folded = format!(
        "From: a@b.test\r\nSubject: x{}\r\n\r\nbody\r\n",
        "\r\n y".repeat(100_000)
    );
    normalizes_sanely(folded.as_bytes()).expect("a header folded 100,000 times");
}

#[test]
fn fuzz_smtp_command_lines_never_panic() {
    fuzz::check_text(
        &[
            "EHLO relay.acme.test",
            "MAIL FROM:<a@b.test> SIZE=1024 BODY=8BITMIME",
            "MAIL FROM:<>",
            "RCPT TO:<help+tok@acme.test> NOTIFY=NEVER",
            "rcpt to: <Help@Acme.test>",
            "DATA",
        ],
        |line| {
            let (verb, argument) = split_command(line);
            if verb.contains(' ') || argument != argument.trim() {
                return Err(format!("split into `{verb}` and `{argument}`"));
            }
            let paths = [mail_from(argument).map(|(path, _)| path), rcpt_to(argument)];
            match paths.into_iter().flatten().find(|path| path.contains('>')) {
                Some(path) => Err(format!("a path with its closing bracket: {path}")),
                None => Ok(()),
            }
        },
    );
}
