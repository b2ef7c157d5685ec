//! The inbound corpus in `fixtures/email/`: each message normalizes to what
//! `fixtures/email/expected.json` says (or fails, for what is not an email): the fields that
//! matter, written by hand. The conformance suite (`tests/conformance.rs`) compares the whole
//! normalized event with each `NAME.expected.json` snapshot.

use std::path::PathBuf;

use serde_json::{Value, json};
use switchboard_email::{EmailConfig, normalize::normalize};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/email")
}

fn config() -> EmailConfig {
    EmailConfig::from_json(&json!({
        "address": "help@acme.test",
        "inbound_secret": "s3cret",
        "max_attachment_bytes": 1000,
    }))
    .expect("a valid config")
}

/// What a normalized message looks like, in the shape of `expected.json`.
fn outcome(raw: &[u8]) -> Value {
    match normalize(&config(), raw, &[]) {
        Err(err) => json!({ "error": err.0 }),
        Ok(None) => json!({ "dropped": true }),
        Ok(Some(message)) => json!({
            "from": message.sender.external_id,
            "name": message.sender.name,
            "message_id": message.channel_message_id,
            "subject": message.subject,
            "text": message.text,
            "quoted": message.text_full.is_some(),
            "automated": message.automated,
            "reply_to_keys": message.reply_to_keys,
            "sent_at": message.sent_at.map(|at| at.to_rfc3339()),
            "files": message.files.iter().map(|file| json!({
                "filename": file.filename,
                "content_type": file.content_type,
                "size": file.bytes.len(),
            })).collect::<Vec<_>>(),
            "too_large": message.attachments.iter().map(|file| json!({
                "filename": file.filename,
                "size": file.size,
            })).collect::<Vec<_>>(),
        }),
    }
}

#[test]
fn every_fixture_normalizes_as_expected() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let cases = expected.as_object().expect("an object of cases");
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("the fixtures folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.ends_with("expected.json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let raw = std::fs::read(fixtures().join(file)).expect("reads");
        let actual = outcome(&raw);
        let Some(want) = cases.get(file) else {
            failures.push(format!("{file}: no expectation; it gives\n{actual:#}"));
            continue;
        };
        // An expectation lists the fields it cares about; an `error` only needs to be one.
        for (field, wanted) in want.as_object().expect("a case is an object") {
            let got = &actual[field];
            let matches = if field == "error" {
                got.is_string() == wanted.as_bool().unwrap_or(true)
            } else {
                got == wanted
            };
            if !matches {
                failures.push(format!("{file}: `{field}` is {got:#}, expected {wanted:#}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(files.len() >= 12, "the corpus lost files");
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for length in 0..400 {
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        let _ = normalize(&config(), &bytes, &[]);
    }
    assert!(normalize(&config(), b"", &[]).is_err());
    assert!(normalize(&config(), b"{\"json\": true}", &[]).is_err());
}
