//! The web chat's parsers of what a browser sends, under fuzzing (the test kit's `fuzz`): the
//! client frames, the visitor token of the URL, the `Origin` header against the allow-list
//! (and the allow-list's own patterns, which an admin writes), and the signed-in visitor's
//! `user_hash`. Each answers and keeps its promises, whatever the input.

use serde_json::json;
use switchboard_testkit::fuzz;
use switchboard_webchat::{
    ClientFrame, MAX_CLIENT_ID_CHARS, MAX_COMMENT_CHARS, MAX_TEXT_CHARS, MAX_USER_ID_CHARS,
    OriginPattern, VisitorToken, WebchatConfig, parse_client_frame, user_hash, verify_user_hash,
};

/// A frame that parses keeps the protocol's limits.
fn frame_within_limits(frame: &ClientFrame) -> Result<(), String> {
    let ok = match frame {
        ClientFrame::Message { client_id, text } => {
            !text.is_empty()
                && text.trim() == text
                && text.chars().count() <= MAX_TEXT_CHARS
                && (1..=MAX_CLIENT_ID_CHARS).contains(&client_id.chars().count())
                && !client_id.chars().any(char::is_control)
        }
        ClientFrame::Resume { after_seq } => *after_seq >= 0,
        ClientFrame::Csat { score, comment } => {
            (1..=5).contains(score)
                && comment.as_ref().is_none_or(|comment| {
                    !comment.is_empty()
                        && comment.trim() == comment
                        && comment.chars().count() <= MAX_COMMENT_CHARS
                })
        }
        ClientFrame::Handoff | ClientFrame::Typing => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("a frame past the protocol's limits: {frame:?}"))
    }
}

#[test]
fn fuzz_client_frames_parse_or_are_refused() {
    fuzz::check_text(
        &[
            r#"{"type":"message","client_id":"c-1","text":"  Where is my parcel?  "}"#,
            r#"{"type":"resume","after_seq":7}"#,
            r#"{"type":"handoff"}"#,
            r#"{"type":"typing"}"#,
            r#"{"type":"csat","score":1,"comment":" slow "}"#,
        ],
        |text| match parse_client_frame(text) {
            Ok(frame) => frame_within_limits(&frame),
            Err(err) if err.message.is_empty() => Err(format!("{:?} without a message", err.code)),
            Err(_) => Ok(()),
        },
    );
}

#[test]
fn fuzz_visitor_tokens_are_only_the_hubs_own() {
    let minted = VisitorToken::generate();
    fuzz::check_text(&[minted.as_str()], |text| match VisitorToken::parse(text) {
        Some(token) if token.as_str() != text || text.len() != 43 => {
            Err(format!("`{text}` was taken as a token"))
        }
        _ => Ok(()),
    });
}

const ORIGIN_SAMPLES: &[&str] = &[
    "https://shop.example",
    "https://*.example.com",
    "http://localhost:*",
    "http://[::1]:8080/",
    "HTTPS://Shop.Example:443",
    "*",
];

/// A pattern with no wildcard admits the origin it was written as.
#[test]
fn fuzz_origin_patterns_admit_what_they_name() {
    fuzz::check_text(ORIGIN_SAMPLES, |text| {
        let Ok(pattern) = OriginPattern::parse(text) else {
            return Ok(());
        };
        let config = WebchatConfig::from_json(&json!({ "allowed_origins": [text] }))
            .map_err(|err| format!("the pattern parsed, the config did not: {err}"))?;
        let exact = matches!(&pattern, OriginPattern::Site { host, port: Some(_), .. } if !host.contains('*'));
        if exact && !config.allows_origin(text) {
            return Err(format!("{pattern:?} refuses `{text}`"));
        }
        Ok(())
    });
}

/// Whatever a browser sends as `Origin`, the allow-list answers; the sites it admits are on it.
#[test]
fn fuzz_origin_headers_are_matched_without_panicking() {
    let config = WebchatConfig::from_json(
        &json!({ "allowed_origins": ["https://shop.example", "https://*.example.com", "http://localhost:*"] }),
    )
    .expect("a valid config");
    fuzz::check_text(ORIGIN_SAMPLES, |origin| {
        let allowed = config.allows_origin(origin);
        let lowered = origin.to_ascii_lowercase();
        if allowed
            && !(lowered.contains("shop.example")
                || lowered.contains(".example.com")
                || lowered.contains("localhost"))
        {
            return Err(format!("`{origin}` is admitted"));
        }
        Ok(())
    });
}

const IDENTITY_SECRET: &str = "parcelo-identity-secret-2026";

/// Any `user_id` and `user_hash` are answered; the right hash verifies exactly the ids the
/// hub accepts; a hash that verifies for `user-42` is its HMAC.
#[test]
fn fuzz_user_hashes_verify_only_when_right() {
    let expected = user_hash(IDENTITY_SECRET, "user-42");
    fuzz::check_text(&["user-42", &expected], |text| {
        let valid_id = !text.is_empty()
            && text.chars().count() <= MAX_USER_ID_CHARS
            && !text.chars().any(char::is_control);
        let right = verify_user_hash(
            Some(IDENTITY_SECRET),
            text,
            &user_hash(IDENTITY_SECRET, text),
        );
        if right.is_ok() != valid_id {
            return Err(format!("the right hash of `{text}` answered {right:?}"));
        }
        let _ = verify_user_hash(Some(IDENTITY_SECRET), text, text);
        let _ = verify_user_hash(None, text, text);
        if verify_user_hash(Some(IDENTITY_SECRET), "user-42", text).is_ok()
            && !text.trim().eq_ignore_ascii_case(&expected)
        {
            return Err(format!("`{text}` verifies as user-42's hash"));
        }
        Ok(())
    });
}
