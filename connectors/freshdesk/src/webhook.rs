//! The ticket an automation webhook names. The rule's JSON body is ours to choose; the
//! documented one is `{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}"}}`, and a bare
//! `{"ticket_id": …}` is taken too. The id may be a number or a numeric string (placeholders
//! are expanded inside quotes). Everything else is refused with a message that says why.

use serde_json::Value;
use switchboard_model::NormalizeError;

pub fn ticket_id(body: &[u8]) -> Result<String, NormalizeError> {
    let refuse = |reason: String| NormalizeError(format!("Freshdesk webhook: {reason}"));
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| refuse(format!("the body is not JSON: {err}")))?;
    let id = value
        .get("freshdesk_webhook")
        .and_then(|wrapped| wrapped.get("ticket_id"))
        .or_else(|| value.get("ticket_id"))
        .ok_or_else(|| {
            refuse(
                "no ticket id: expected {\"freshdesk_webhook\": {\"ticket_id\": …}} or {\"ticket_id\": …}"
                    .into(),
            )
        })?;
    parse_id(id).map_err(refuse)
}

fn parse_id(id: &Value) -> Result<String, String> {
    let parsed = match id {
        Value::Number(number) => number.as_u64(),
        Value::String(text) if text.contains("{{") => {
            return Err(format!(
                "ticket_id is an unexpanded placeholder {:?}: check the rule's body",
                shorten(text)
            ));
        }
        Value::String(text) => {
            let text = text.trim();
            // u64's parser takes a leading `+`; a ticket id is digits only.
            text.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| text.parse::<u64>().ok())
                .flatten()
        }
        _ => None,
    };
    match parsed {
        Some(id) if id > 0 => Ok(id.to_string()),
        _ => Err(format!(
            "ticket_id must be a positive whole number, got {}",
            shorten(&id.to_string())
        )),
    }
}

/// Enough of a value to recognise it in a log, never a whole body.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut short: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().count() > MAX_CHARS {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<&str, &str>) {
        match (ticket_id(body.as_bytes()), expected) {
            (Ok(id), Ok(expected)) => assert_eq!(id, expected, "{body}"),
            (Err(err), Err(expected)) => {
                assert!(err.0.contains(expected), "{body}: {err}");
                assert!(err.0.starts_with("Freshdesk webhook: "), "{err}");
            }
            (actual, expected) => panic!("{body}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn the_shapes_automation_rules_send() {
        check(
            r#"{"freshdesk_webhook": {"ticket_id": "1234"}}"#,
            Ok("1234"),
        );
        check(r#"{"freshdesk_webhook": {"ticket_id": 1234}}"#, Ok("1234"));
        check(
            r#"{"freshdesk_webhook": {"ticket_id": " 88 ", "ticket_subject": "Hi"}}"#,
            Ok("88"),
        );
        check(r#"{"ticket_id": 43026449322}"#, Ok("43026449322"));
        check(r#"{"ticket_id": "007"}"#, Ok("7"));
        check(r#"{"freshdesk_webhook": {}, "ticket_id": 5}"#, Ok("5"));
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        let cases = [
            ("", "not JSON"),
            ("{", "not JSON"),
            ("ticket_id=5", "not JSON"),
            ("\u{feff}{}", "not JSON"),
            ("null", "no ticket id"),
            ("[]", "no ticket id"),
            ("[{\"ticket_id\": 1}]", "no ticket id"),
            ("\"1234\"", "no ticket id"),
            ("1234", "no ticket id"),
            ("{}", "no ticket id"),
            (r#"{"freshdesk_webhook": null}"#, "no ticket id"),
            (r#"{"freshdesk_webhook": "1234"}"#, "no ticket id"),
            (r#"{"freshdesk_webhook": {"id": 5}}"#, "no ticket id"),
            (
                r#"{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}"}}"#,
                "placeholder",
            ),
            (r#"{"ticket_id": null}"#, "positive whole number"),
            (r#"{"ticket_id": ""}"#, "positive whole number"),
            (r#"{"ticket_id": 0}"#, "positive whole number"),
            (r#"{"ticket_id": -3}"#, "positive whole number"),
            (r#"{"ticket_id": 1.5}"#, "positive whole number"),
            (r#"{"ticket_id": 1e3}"#, "positive whole number"),
            (r#"{"ticket_id": "+12"}"#, "positive whole number"),
            (r#"{"ticket_id": "12a"}"#, "positive whole number"),
            (r#"{"ticket_id": "1 2"}"#, "positive whole number"),
            (r#"{"ticket_id": "../agents/me"}"#, "positive whole number"),
            (
                r#"{"ticket_id": "99999999999999999999999"}"#,
                "positive whole number",
            ),
            (
                r#"{"ticket_id": 99999999999999999999999}"#,
                "positive whole number",
            ),
            (r#"{"ticket_id": true}"#, "positive whole number"),
            (r#"{"ticket_id": [1]}"#, "positive whole number"),
            (r#"{"ticket_id": {"id": 1}}"#, "positive whole number"),
            (r#"{"ticket_id": "١٢"}"#, "positive whole number"),
        ];
        for (body, expected) in cases {
            check(body, Err(expected));
        }
    }

    #[test]
    fn long_values_are_shortened_in_the_message() {
        let body = format!(r#"{{"ticket_id": "{}"}}"#, "x".repeat(10_000));
        let err = ticket_id(body.as_bytes()).expect_err("refused");
        assert!(err.0.len() < 200, "{err}");
    }
}
