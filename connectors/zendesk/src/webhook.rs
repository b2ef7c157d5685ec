//! The ticket a Zendesk webhook names. Three bodies are accepted: an event subscription's
//! (`{"type": "zen:event-type:ticket.comment_added", "subject": "zen:ticket:5158",
//! "detail": {"id": "5158", …}}`), a trigger webhook whose body the admin writes as
//! `{"ticket_id": "{{ticket.id}}"}` (a string or a number), and the REST shape
//! `{"ticket": {"id": 5158}}`.

use serde_json::Value;
use switchboard_model::NormalizeError;

use crate::wire::Webhook;

/// The prefix of every ticket event type of Zendesk's event subscriptions.
const TICKET_EVENT: &str = "zen:event-type:ticket.";
/// How an event's `subject` names a ticket.
const TICKET_SUBJECT: &str = "zen:ticket:";

/// A Zendesk ticket id: 1 to 20 ASCII digits, a `u64`. Everything that goes into an API path
/// passes here first.
pub fn ticket_id(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
    (digits && text.parse::<u64>().is_ok_and(|id| id > 0)).then(|| text.to_owned())
}

fn id_value(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => number.as_u64().and_then(|id| ticket_id(&id.to_string())),
        Value::String(text) => ticket_id(text),
        _ => None,
    }
}

fn refuse(reason: impl Into<String>) -> NormalizeError {
    NormalizeError(reason.into())
}

/// The ticket id a verified webhook body names, or why it names none.
pub fn webhook_ticket(body: &[u8]) -> Result<String, NormalizeError> {
    let webhook: Webhook = serde_json::from_slice(body)
        .map_err(|err| refuse(format!("a Zendesk webhook must be a JSON object: {err}")))?;
    if let Some(kind) = &webhook.kind {
        let kind = kind.as_str().unwrap_or_default();
        if !kind.starts_with(TICKET_EVENT) {
            return Err(refuse(format!(
                "a `{}` event names no ticket: subscribe the webhook to ticket events",
                kind.chars().take(80).collect::<String>()
            )));
        }
        let from_detail = webhook.detail.as_ref().and_then(|detail| detail.get("id"));
        let from_subject = webhook
            .subject
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|subject| subject.strip_prefix(TICKET_SUBJECT));
        return from_detail
            .and_then(id_value)
            .or_else(|| from_subject.and_then(ticket_id))
            .ok_or_else(|| {
                refuse("a ticket event without a ticket id in `detail.id` or `subject`")
            });
    }
    if let Some(id) = &webhook.ticket_id {
        return id_value(id).ok_or_else(|| {
            refuse("`ticket_id` must be a ticket number: write the trigger's body as {\"ticket_id\": \"{{ticket.id}}\"}")
        });
    }
    if let Some(ticket) = &webhook.ticket {
        return ticket
            .get("id")
            .and_then(id_value)
            .ok_or_else(|| refuse("`ticket.id` must be a ticket number"));
    }
    Err(refuse(
        "not a Zendesk ticket webhook: expected a ticket event, {\"ticket_id\": …} or {\"ticket\": {\"id\": …}}",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<&str, &str>) {
        match (webhook_ticket(body.as_bytes()), expected) {
            (Ok(id), Ok(want)) => assert_eq!(id, want, "{body}"),
            (Err(err), Err(want)) => assert!(err.0.contains(want), "{body}: {err}"),
            (actual, _) => panic!("{body}: expected {expected:?}, got {actual:?}"),
        }
    }

    #[test]
    fn the_three_shapes_name_their_ticket() {
        check(
            r#"{"type":"zen:event-type:ticket.comment_added","subject":"zen:ticket:5158",
                "detail":{"id":"5158","status":"OPEN"},"event":{"comment":{"id":"9001"}}}"#,
            Ok("5158"),
        );
        check(
            r#"{"type":"zen:event-type:ticket.status_changed","subject":"zen:ticket:77","detail":{}}"#,
            Ok("77"),
        );
        check(r#"{"ticket_id": "{{ticket.id}}"}"#, Err("ticket_id"));
        check(r#"{"ticket_id": "5158"}"#, Ok("5158"));
        check(r#"{"ticket_id": " 5158 "}"#, Ok("5158"));
        check(r#"{"ticket_id": 5158, "extra": [1, 2]}"#, Ok("5158"));
        check(
            r#"{"ticket": {"id": 5158, "subject": "Where is my parcel?"}}"#,
            Ok("5158"),
        );
        check(r#"{"ticket": {"id": "5158"}}"#, Ok("5158"));
    }

    #[test]
    fn other_bodies_say_why_they_name_no_ticket() {
        check(
            r#"{"type":"zen:event-type:user.created","detail":{"id":"5"}}"#,
            Err("names no ticket"),
        );
        check(
            r#"{"type":"zen:event-type:ticket.created","detail":{"id":"abc"}}"#,
            Err("without a ticket id"),
        );
        check(
            r#"{"type":"zen:event-type:ticket.created","subject":"zen:user:5"}"#,
            Err("without a ticket id"),
        );
        check(r#"{"ticket_id": "5158/../users/me"}"#, Err("ticket number"));
        check(r#"{"ticket_id": -3}"#, Err("ticket number"));
        check(r#"{"ticket_id": 0}"#, Err("ticket number"));
        check(r#"{"ticket_id": 1.5}"#, Err("ticket number"));
        check(
            r#"{"ticket_id": null}"#,
            Err("not a Zendesk ticket webhook"),
        );
        check(
            r#"{"ticket_id": "123456789012345678901"}"#,
            Err("ticket number"),
        );
        check(r#"{"ticket": {"id": [1]}}"#, Err("ticket.id"));
        check(r#"{"ticket": 5}"#, Err("ticket.id"));
        check(
            r#"{"type": 5, "detail": {"id": "5"}}"#,
            Err("names no ticket"),
        );
        check(r#"{"say": "hello"}"#, Err("not a Zendesk ticket webhook"));
        check(r#"[1, 2]"#, Err("JSON object"));
        check("", Err("JSON object"));
        check("\u{0}\u{1}garbage", Err("JSON object"));
    }

    /// Random bytes and cut-up real bodies: always an answer, never a panic.
    #[test]
    fn garbage_never_panics() {
        let seeds: [&[u8]; 3] = [
            br#"{"type":"zen:event-type:ticket.comment_added","subject":"zen:ticket:5158","detail":{"id":"5158"}}"#,
            br#"{"ticket_id": "5158"}"#,
            br#"{"ticket": {"id": 5158}}"#,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = br#"{}[]":,0123456789-.eEnultrsfa zk_\"#;
        for round in 0..5000 {
            let body: Vec<u8> = if round % 2 == 0 {
                (0..next() % 200).map(|_| next() as u8).collect()
            } else {
                let mut body = seeds[round % seeds.len()].to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % (body.len() + 1);
                    let end = (at + (next() as usize) % 8).min(body.len());
                    let insert = alphabet[(next() as usize) % alphabet.len()];
                    body.splice(at..end, [insert]);
                }
                body
            };
            let _ = webhook_ticket(&body);
        }
        let deep = "[".repeat(100_000);
        assert!(webhook_ticket(deep.as_bytes()).is_err());
    }
}
