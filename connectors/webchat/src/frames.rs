//! The frames of protocol v1, both ways, and their strict parsing: anything that is not a valid
//! client frame becomes a [`FrameError`] whose code the client gets in an `error` frame.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_model::{Attachment, ConversationStatus, Message, MessageRole, Source};

/// The longest visitor message, in characters (after trimming).
pub const MAX_TEXT_CHARS: usize = 4096;
pub const MAX_CLIENT_ID_CHARS: usize = 128;
pub const MAX_COMMENT_CHARS: usize = 2000;

/// A frame a client sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientFrame {
    /// The visitor writes. `text` is trimmed.
    Message {
        client_id: String,
        text: String,
    },
    Resume {
        after_seq: i64,
    },
    Handoff,
    Typing,
    Csat {
        score: u8,
        comment: Option<String>,
    },
}

/// Why a client frame was refused. `code` is what the `error` frame carries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    pub code: FrameErrorCode,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameErrorCode {
    InvalidJson,
    UnknownType,
    InvalidFrame,
    EmptyText,
    TextTooLong,
    InvalidClientId,
    InvalidScore,
}

impl FrameErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameErrorCode::InvalidJson => "invalid_json",
            FrameErrorCode::UnknownType => "unknown_type",
            FrameErrorCode::InvalidFrame => "invalid_frame",
            FrameErrorCode::EmptyText => "empty_text",
            FrameErrorCode::TextTooLong => "text_too_long",
            FrameErrorCode::InvalidClientId => "invalid_client_id",
            FrameErrorCode::InvalidScore => "invalid_score",
        }
    }
}

fn refuse(code: FrameErrorCode, message: impl Into<String>) -> FrameError {
    FrameError {
        code,
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFields {
    client_id: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeFields {
    after_seq: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsatFields {
    score: Value,
    #[serde(default)]
    comment: Option<String>,
}

fn fields<T: serde::de::DeserializeOwned>(kind: &str, object: Value) -> Result<T, FrameError> {
    serde_json::from_value(object).map_err(|err| {
        refuse(
            FrameErrorCode::InvalidFrame,
            format!("`{kind}` frame: {err}"),
        )
    })
}

/// Parses one text frame from a client. Never panics, whatever the input.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| refuse(FrameErrorCode::InvalidJson, format!("not JSON: {err}")))?;
    let Value::Object(mut object) = value else {
        return Err(refuse(
            FrameErrorCode::InvalidJson,
            "a frame is one JSON object",
        ));
    };
    let kind = match object.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(_) => {
            return Err(refuse(
                FrameErrorCode::UnknownType,
                "`type` must be a string",
            ));
        }
        None => return Err(refuse(FrameErrorCode::UnknownType, "`type` is missing")),
    };
    let object = Value::Object(object);
    match kind.as_str() {
        "message" => {
            let MessageFields { client_id, text } = fields("message", object)?;
            let client_id_ok = !client_id.is_empty()
                && client_id.chars().count() <= MAX_CLIENT_ID_CHARS
                && !client_id.chars().any(char::is_control);
            if !client_id_ok {
                return Err(refuse(
                    FrameErrorCode::InvalidClientId,
                    format!(
                        "`client_id` must be 1 to {MAX_CLIENT_ID_CHARS} characters without control characters"
                    ),
                ));
            }
            let text = text.trim();
            if text.is_empty() {
                return Err(refuse(FrameErrorCode::EmptyText, "`text` is empty"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(refuse(
                    FrameErrorCode::TextTooLong,
                    format!("`text` is longer than {MAX_TEXT_CHARS} characters"),
                ));
            }
            Ok(ClientFrame::Message {
                client_id,
                text: text.to_owned(),
            })
        }
        "resume" => {
            let ResumeFields { after_seq } = fields("resume", object)?;
            if after_seq < 0 {
                return Err(refuse(
                    FrameErrorCode::InvalidFrame,
                    "`after_seq` must not be negative",
                ));
            }
            Ok(ClientFrame::Resume { after_seq })
        }
        "handoff" => fields::<NoFields>("handoff", object).map(|_| ClientFrame::Handoff),
        "typing" => fields::<NoFields>("typing", object).map(|_| ClientFrame::Typing),
        "csat" => {
            let CsatFields { score, comment } = fields("csat", object)?;
            let score = score
                .as_u64()
                .filter(|score| (1..=5).contains(score))
                .ok_or_else(|| {
                    refuse(
                        FrameErrorCode::InvalidScore,
                        "`score` must be an integer from 1 to 5",
                    )
                })?;
            let comment = comment
                .map(|comment| comment.trim().to_owned())
                .filter(|comment| !comment.is_empty());
            if comment
                .as_ref()
                .is_some_and(|comment| comment.chars().count() > MAX_COMMENT_CHARS)
            {
                return Err(refuse(
                    FrameErrorCode::InvalidScore,
                    format!("`comment` is longer than {MAX_COMMENT_CHARS} characters"),
                ));
            }
            Ok(ClientFrame::Csat {
                score: score as u8,
                comment,
            })
        }
        other => Err(refuse(
            FrameErrorCode::UnknownType,
            format!(
                "unknown frame type `{}`: expected message, resume, handoff, typing or csat",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// A message as the visitor sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatMessage {
    pub id: String,
    pub seq: i64,
    pub role: MessageRole,
    pub text: String,
    pub sources: Vec<Source>,
    pub confidence: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// The files sent with the message, each with the link the visitor downloads it from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl ChatMessage {
    /// The visitor's view of a stored message; `None` for a private note, which a visitor never
    /// sees. `visitor_url` gives each attachment the link a visitor may use (the hub signs
    /// one); an attachment without one is left out, so that no agent-only URL reaches a
    /// visitor.
    pub fn visible(
        message: &Message,
        visitor_url: impl Fn(&Attachment) -> Option<String>,
    ) -> Option<ChatMessage> {
        (!message.private).then(|| ChatMessage {
            id: message.id.clone(),
            seq: message.seq,
            role: message.role,
            text: message.text.clone(),
            sources: message.sources.clone(),
            confidence: message.confidence,
            created_at: message.created_at,
            attachments: message
                .attachments
                .iter()
                .filter_map(|attachment| {
                    Some(Attachment {
                        url: Some(visitor_url(attachment)?),
                        ..attachment.clone()
                    })
                })
                .collect(),
        })
    }
}

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Session {
        visitor_token: String,
        conversation_id: Option<String>,
        last_seq: i64,
    },
    Ack {
        client_id: String,
        message_id: String,
        seq: i64,
    },
    Delta {
        message_id: String,
        text: String,
    },
    Message {
        message: ChatMessage,
    },
    Status {
        status: &'static str,
        detail: &'static str,
    },
    Typing,
    CsatRequest,
    Error {
        code: String,
        message: String,
    },
}

impl ServerFrame {
    pub fn error(code: &str, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no custom impls.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"unavailable","message":"internal error"}"#.to_owned()
        })
    }
}

impl From<&FrameError> for ServerFrame {
    fn from(err: &FrameError) -> ServerFrame {
        ServerFrame::error(err.code.as_str(), err.message.clone())
    }
}

/// The `status` frame for a conversation status. The protocol knows four statuses: a closed
/// conversation is reported as resolved (the visitor's next message starts a new one).
pub fn status_frame(status: ConversationStatus) -> ServerFrame {
    let (status, detail) = match status {
        ConversationStatus::Bot => ("bot", "Our assistant is answering."),
        ConversationStatus::Escalated => ("escalated", "A person from our team will reply here."),
        ConversationStatus::Assigned => ("assigned", "A person from our team is on it."),
        ConversationStatus::Resolved => ("resolved", "This conversation is resolved."),
        ConversationStatus::Closed => ("resolved", "This conversation is closed."),
    };
    ServerFrame::Status { status, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(text: &str) -> &'static str {
        parse_client_frame(text).expect_err(text).code.as_str()
    }

    #[test]
    fn client_frames_parse() {
        let cases = [
            (
                r#"{"type":"message","client_id":"c-1","text":"  Where is my parcel?  "}"#,
                ClientFrame::Message {
                    client_id: "c-1".into(),
                    text: "Where is my parcel?".into(),
                },
            ),
            (
                r#"{"type":"resume","after_seq":7}"#,
                ClientFrame::Resume { after_seq: 7 },
            ),
            (r#"{"type":"handoff"}"#, ClientFrame::Handoff),
            (r#"{"type":"typing"}"#, ClientFrame::Typing),
            (
                r#"{"type":"csat","score":5}"#,
                ClientFrame::Csat {
                    score: 5,
                    comment: None,
                },
            ),
            (
                r#"{"type":"csat","score":1,"comment":" slow "}"#,
                ClientFrame::Csat {
                    score: 1,
                    comment: Some("slow".into()),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_client_frame(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_frames_get_typed_errors() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let cases = [
            ("not json", "invalid_json"),
            ("", "invalid_json"),
            ("[1,2]", "invalid_json"),
            ("\"message\"", "invalid_json"),
            (r#"{"client_id":"a","text":"b"}"#, "unknown_type"),
            (r#"{"type":5}"#, "unknown_type"),
            (r#"{"type":"shout","text":"b"}"#, "unknown_type"),
            (r#"{"type":"session"}"#, "unknown_type"),
            (r#"{"type":"message","text":"b"}"#, "invalid_frame"),
            (r#"{"type":"message","client_id":"a"}"#, "invalid_frame"),
            (
                r#"{"type":"message","client_id":1,"text":"b"}"#,
                "invalid_frame",
            ),
            (
                r#"{"type":"message","client_id":"a","text":"b","extra":1}"#,
                "invalid_frame",
            ),
            (
                r#"{"type":"message","client_id":"a","text":"  "}"#,
                "empty_text",
            ),
            (
                r#"{"type":"message","client_id":"","text":"b"}"#,
                "invalid_client_id",
            ),
            (
                r#"{"type":"message","client_id":"a\u0000","text":"b"}"#,
                "invalid_client_id",
            ),
            (r#"{"type":"resume"}"#, "invalid_frame"),
            (r#"{"type":"resume","after_seq":-1}"#, "invalid_frame"),
            (r#"{"type":"resume","after_seq":"3"}"#, "invalid_frame"),
            (r#"{"type":"handoff","now":true}"#, "invalid_frame"),
            (r#"{"type":"csat"}"#, "invalid_frame"),
            (r#"{"type":"csat","score":0}"#, "invalid_score"),
            (r#"{"type":"csat","score":6}"#, "invalid_score"),
            (r#"{"type":"csat","score":4.5}"#, "invalid_score"),
            (r#"{"type":"csat","score":"5"}"#, "invalid_score"),
        ];
        for (text, expected) in cases {
            assert_eq!(code(text), expected, "{text}");
        }
        let frame = json!({ "type": "message", "client_id": "a", "text": long }).to_string();
        assert_eq!(code(&frame), "text_too_long");
        let frame = json!({ "type": "message", "client_id": "a".repeat(129), "text": "b" });
        assert_eq!(code(&frame.to_string()), "invalid_client_id");
        let frame = json!({ "type": "csat", "score": 3, "comment": "y".repeat(2001) });
        assert_eq!(code(&frame.to_string()), "invalid_score");
        // Exactly at the limit is fine, counted in characters, not bytes.
        let frame =
            json!({ "type": "message", "client_id": "a", "text": "é".repeat(MAX_TEXT_CHARS) });
        assert!(parse_client_frame(&frame.to_string()).is_ok());
    }

    #[test]
    fn server_frames_serialize_as_the_contract_says() {
        let cases = [
            (
                ServerFrame::Session {
                    visitor_token: "t".into(),
                    conversation_id: None,
                    last_seq: 0,
                },
                json!({ "type": "session", "visitor_token": "t", "conversation_id": null, "last_seq": 0 }),
            ),
            (
                ServerFrame::Ack {
                    client_id: "c".into(),
                    message_id: "m".into(),
                    seq: 3,
                },
                json!({ "type": "ack", "client_id": "c", "message_id": "m", "seq": 3 }),
            ),
            (
                ServerFrame::Delta {
                    message_id: "m".into(),
                    text: "Hel".into(),
                },
                json!({ "type": "delta", "message_id": "m", "text": "Hel" }),
            ),
            (ServerFrame::Typing, json!({ "type": "typing" })),
            (ServerFrame::CsatRequest, json!({ "type": "csat_request" })),
            (
                ServerFrame::error("rate_limited", "slow down"),
                json!({ "type": "error", "code": "rate_limited", "message": "slow down" }),
            ),
            (
                status_frame(ConversationStatus::Closed),
                json!({ "type": "status", "status": "resolved", "detail": "This conversation is closed." }),
            ),
        ];
        for (frame, expected) in cases {
            let json: Value = serde_json::from_str(&frame.to_json()).expect("json");
            assert_eq!(json, expected);
        }
    }

    #[test]
    fn messages_show_what_the_visitor_may_see() {
        let created_at = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("a date")
            .with_timezone(&Utc);
        let mut message = Message {
            id: "m1".into(),
            org_id: "o".into(),
            conversation_id: "c".into(),
            seq: 2,
            role: MessageRole::Ai,
            private: false,
            text: "Parcels arrive in 3 days.".into(),
            attachments: vec![],
            sources: vec![Source {
                article_id: "a1".into(),
                title: "Shipping times".into(),
            }],
            confidence: Some(0.8),
            model: Some("gpt".into()),
            tokens: Some(12),
            author_id: None,
            mentions: Vec::new(),
            channel_message_id: None,
            delivery_status: switchboard_model::DeliveryStatus::Pending,
            delivery_error: None,
            created_at,
            sentiment: None,
            text_full: None,
            automated: false,
        };
        let frame = ServerFrame::Message {
            message: ChatMessage::visible(&message, |_| None).expect("visible"),
        };
        let json: Value = serde_json::from_str(&frame.to_json()).expect("json");
        assert_eq!(
            json,
            json!({ "type": "message", "message": {
                "id": "m1", "seq": 2, "role": "ai", "text": "Parcels arrive in 3 days.",
                "sources": [{ "article_id": "a1", "title": "Shipping times" }],
                "confidence": 0.8, "created_at": "2026-11-23T12:00:00Z",
            }})
        );
        let attachment = |url: &str| Attachment {
            filename: "label.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
            url: Some(url.into()),
        };
        message.attachments = vec![attachment("/kept/label.pdf"), attachment("/other")];
        let signed = ChatMessage::visible(&message, |attachment| {
            (attachment.url.as_deref() == Some("/kept/label.pdf"))
                .then(|| "/chat/files/signed/label.pdf".to_owned())
        })
        .expect("visible");
        assert_eq!(
            serde_json::to_value(&signed.attachments).expect("json"),
            json!([{ "filename": "label.pdf", "content_type": "application/pdf", "size": 3,
                     "url": "/chat/files/signed/label.pdf" }])
        );
        message.private = true;
        assert_eq!(ChatMessage::visible(&message, |_| None), None);
    }
}
