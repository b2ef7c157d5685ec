//! One raw RFC 822 message into an [`InboundMessage`]: the sender, the subject, the text
//! (plain preferred, HTML turned into text otherwise, every charset and transfer encoding
//! mail-parser decodes) without its quoted history, the files, how it threads, and whether a
//! machine sent it.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use switchboard_model::{Attachment, ContactRef, InboundFile, InboundMessage, NormalizeError};

use crate::{config::EmailConfig, quote};

/// The relay's envelope recipients (the SMTP listener sets it; a webhook relay may): they can
/// carry our reply token when the headers do not (a Bcc, a forward).
pub const ENVELOPE_TO_HEADER: &str = "x-switchboard-envelope-to";

/// Message ids are stored in a column of this many characters at most.
const MAX_ID_LEN: usize = 250;

/// What a raw message means: `None` when it is our own reply coming back.
pub fn normalize(
    config: &EmailConfig,
    raw: &[u8],
    envelope_to: &[String],
) -> Result<Option<InboundMessage>, NormalizeError> {
    let not_email = |why: &str| NormalizeError(format!("not an email message: {why}"));
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(not_email("the body is empty"));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| not_email("it does not parse"))?;
    let from = message
        .from()
        .and_then(Address::first)
        .ok_or_else(|| not_email("it has no From address"))?;
    let address = from
        .address()
        .map(|address| address.trim().to_lowercase())
        .filter(|address| address.contains('@') && !address.chars().any(char::is_whitespace))
        .ok_or_else(|| not_email("its From is not an address"))?;
    if config.accepts(&address).is_some() {
        // Our own reply, copied back to us by a relay or a Bcc.
        return Ok(None);
    }
    let message_id = match message.message_id().map(str::trim) {
        Some(id) if !id.is_empty() => clip(id),
        _ => format!("{}@switchboard.invalid", hex::encode(Sha256::digest(raw))),
    };
    let full_text = body_text(&message);
    let text = quote::strip_reply(&full_text);
    let text_full = (text != full_text.trim()).then_some(full_text);
    let (files, attachments) = files(config, &message);
    Ok(Some(InboundMessage {
        reply_to_keys: reply_to_keys(config, &message, envelope_to, &message_id),
        thread_key: message_id.clone(),
        channel_message_id: Some(message_id),
        sender: ContactRef {
            external_id: address.clone(),
            name: from
                .name()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            email: Some(address),
            phone: None,
        },
        text,
        text_full,
        attachments,
        files,
        automated: is_automated(&message),
        subject: message
            .subject()
            .map(str::trim)
            .filter(|subject| !subject.is_empty())
            .map(str::to_owned),
        sent_at: message
            .date()
            .and_then(|date| chrono::DateTime::from_timestamp(date.to_timestamp(), 0)),
    }))
}

fn clip(id: &str) -> String {
    id.chars().take(MAX_ID_LEN).collect()
}

/// The plain-text body, or the HTML body as text when there is no plain one.
fn body_text(message: &Message<'_>) -> String {
    let text = message
        .body_text(0)
        .map(|text| text.into_owned())
        .unwrap_or_default();
    text.replace("\r\n", "\n").trim().to_owned()
}

/// The messages this one answers, most telling first: our reply token in a recipient address,
/// then In-Reply-To, then References from the newest.
fn reply_to_keys(
    config: &EmailConfig,
    message: &Message<'_>,
    envelope_to: &[String],
    own_id: &str,
) -> Vec<String> {
    let mut recipients: Vec<String> = envelope_to.to_vec();
    for address in message.to().into_iter().chain(message.cc()) {
        recipients.extend(
            address
                .iter()
                .filter_map(|addr| addr.address().map(str::to_owned)),
        );
    }
    for name in ["Delivered-To", "X-Original-To"] {
        for value in message.header_values(name) {
            if let Some(text) = value.as_text() {
                recipients.push(text.to_owned());
            }
        }
    }
    let mut keys: Vec<String> = recipients
        .iter()
        .filter_map(|recipient| config.accepts(recipient).flatten())
        .filter_map(|token| crate::deliver::message_id_for_token(config, &token))
        .collect();
    keys.extend(ids(message.in_reply_to()));
    keys.extend(ids(message.references()).into_iter().rev());
    keys.extend(returned_message_ids(message));
    let mut seen = std::collections::HashSet::new();
    keys.retain(|key| key != own_id && seen.insert(key.clone()));
    keys
}

/// A bounce carries the message that could not be delivered (or its headers): its
/// Message-ID, one of ours, leads the bounce to that message's conversation.
fn returned_message_ids(message: &Message<'_>) -> Vec<String> {
    message
        .attachments()
        .filter_map(|part| {
            let id = match part.message() {
                Some(returned) => returned.message_id().map(str::to_owned),
                None => {
                    let headers = part.content_type().is_some_and(|content_type| {
                        content_type
                            .subtype()
                            .is_some_and(|subtype| subtype.eq_ignore_ascii_case("rfc822-headers"))
                    });
                    headers
                        .then(|| MessageParser::default().parse(part.contents()))
                        .flatten()
                        .and_then(|returned| returned.message_id().map(str::to_owned))
                }
            };
            id.map(|id| clip(id.trim()))
        })
        .collect()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(AsRef::as_ref).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(clip)
        .collect()
}

/// Sent by a machine: RFC 3834's `Auto-Submitted`, the `X-Autoreply` family, `Precedence`
/// bulk / junk / list / auto_reply, delivery status reports, mailer daemons, and the subjects
/// of the common out-of-office replies.
fn is_automated(message: &Message<'_>) -> bool {
    let header = |name: &'static str| {
        message
            .header_raw(name)
            .map(|value| value.trim().to_lowercase())
    };
    if header("Auto-Submitted").is_some_and(|value| !value.starts_with("no")) {
        return true;
    }
    if [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponder",
        "X-Autogenerated",
    ]
    .iter()
    .any(|name| header(name).is_some())
    {
        return true;
    }
    if header("Precedence")
        .is_some_and(|value| matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply"))
    {
        return true;
    }
    let report = message.content_type().is_some_and(|content_type| {
        content_type.ctype().eq_ignore_ascii_case("multipart")
            && content_type
                .subtype()
                .is_some_and(|subtype| subtype.eq_ignore_ascii_case("report"))
    });
    if report || header("Return-Path").is_some_and(|value| value == "<>") {
        return true;
    }
    let daemon = message
        .from()
        .and_then(Address::first)
        .and_then(|from| from.address())
        .map(str::to_lowercase)
        .is_some_and(|from| from.starts_with("mailer-daemon@") || from.starts_with("postmaster@"));
    if daemon {
        return true;
    }
    const AUTO_SUBJECTS: &[&str] = &[
        "auto:",
        "automatic reply",
        "autoreply",
        "auto-reply",
        "out of office",
        "out of the office",
        "abwesenheitsnotiz",
        "automatische antwort",
        "réponse automatique",
        "respuesta automática",
        "undeliverable:",
        "undelivered mail returned",
        "delivery status notification",
        "mail delivery failed",
    ];
    message.subject().is_some_and(|subject| {
        let subject = subject.trim().to_lowercase();
        AUTO_SUBJECTS.iter().any(|start| subject.starts_with(start))
    })
}

/// The files of a message within the inbox's limits, and the ones too large to keep (listed
/// with their size, without a URL).
fn files(config: &EmailConfig, message: &Message<'_>) -> (Vec<InboundFile>, Vec<Attachment>) {
    let mut kept = Vec::new();
    let mut too_large = Vec::new();
    let mut total = 0usize;
    for part in message.attachments() {
        let bytes = part.contents();
        let content_type = part
            .content_type()
            .map(|content_type| match content_type.subtype() {
                Some(subtype) => format!("{}/{subtype}", content_type.ctype()),
                None => content_type.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_lowercase();
        // Unnamed parts (a bounce's status report, a forwarded message) get a name from
        // their type.
        let filename = part
            .attachment_name()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| match content_type.as_str() {
                "message/rfc822" | "message/global" => "message.eml".to_owned(),
                other if other.starts_with("text/") || other.starts_with("message/") => {
                    format!("{}.txt", other.split('/').nth(1).unwrap_or("text"))
                }
                _ => "attachment".to_owned(),
            });
        if bytes.len() > config.max_attachment_bytes
            || total + bytes.len() > config.max_message_attachment_bytes
        {
            too_large.push(Attachment {
                filename,
                content_type,
                size: bytes.len() as u64,
                url: None,
            });
            continue;
        }
        total += bytes.len();
        kept.push(InboundFile {
            filename,
            content_type,
            bytes: bytes.to_vec(),
        });
    }
    (kept, too_large)
}
