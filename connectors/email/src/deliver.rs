//! Replies out over SMTP with lettre: threaded under the customer's message (`Re:` subject,
//! `In-Reply-To`, `References`), our own `Message-ID`, a plain and an HTML part, the writer's
//! name in `From`, and a plus-addressed `Reply-To` that leads the answer back to the
//! conversation even when a client drops the threading headers. A reply with files is
//! `multipart/mixed`: the text and HTML alternative first, then each file as an attachment.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, Mailbox, MultiPart, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
        extension::ClientId,
    },
};
use switchboard_model::{DeliveryError, DeliveryReceipt, OutboundMessage};

use crate::config::{EmailConfig, SmtpTarget, TlsMode};

fn permanent(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::Permanent {
        reason: reason.into(),
    }
}

/// Our `Message-ID` for a stored message (without angle brackets). A retry sends the same id,
/// so a client that got the first attempt shows one message.
pub fn message_id_for(config: &EmailConfig, message_id: &str) -> String {
    format!("{message_id}@{}", config.domain())
}

/// The reply token of a stored message: its id without dashes, as the `+tag` of our address.
fn token_for(message_id: &str) -> String {
    message_id.replace('-', "")
}

/// The `Message-ID` a reply token stands for, when the tag is one of ours.
pub fn message_id_for_token(config: &EmailConfig, token: &str) -> Option<String> {
    let hex = token.to_ascii_lowercase();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    Some(message_id_for(config, &id))
}

/// `Re: <subject>`, without piling up prefixes.
pub fn reply_subject(subject: Option<&str>) -> String {
    let subject = subject.map(str::trim).unwrap_or("");
    if subject.is_empty() {
        return "Re: your message".to_owned();
    }
    let lower = subject.to_lowercase();
    if ["re:", "aw:", "sv:", "antw:", "réf:"]
        .iter()
        .any(|prefix| lower.starts_with(prefix))
    {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    }
}

/// The text as simple HTML: paragraphs at blank lines, line breaks kept, everything escaped.
pub fn html_body(text: &str) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    let paragraphs: Vec<String> = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| {
            let lines: Vec<String> = paragraph.lines().map(escape).collect();
            format!("<p>{}</p>", lines.join("<br>\n"))
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><body>\n{}\n</body></html>\n",
        paragraphs.join("\n")
    )
}

/// Builds the email for `message`, and returns it with our Message-ID.
pub fn build(
    config: &EmailConfig,
    message: &OutboundMessage,
) -> Result<(Message, String), DeliveryError> {
    let to_address = message
        .recipient
        .email
        .as_deref()
        .unwrap_or(&message.recipient.external_id);
    let to = Mailbox::new(
        message.recipient.name.clone(),
        to_address
            .parse()
            .map_err(|err| permanent(format!("`{to_address}` is not an email address: {err}")))?,
    );
    let address = config
        .address
        .parse()
        .map_err(|err| permanent(format!("the inbox address is invalid: {err}")))?;
    let display_name = match (&message.author_name, &config.from_name) {
        (Some(author), Some(team)) => Some(format!("{author} from {team}")),
        (Some(author), None) => Some(author.clone()),
        (None, team) => team.clone(),
    };
    let reply_to = format!(
        "{}+{}@{}",
        config.local_part(),
        token_for(&message.message_id),
        config.domain()
    );
    let reply_to = Mailbox::new(
        display_name.clone(),
        reply_to
            .parse()
            .map_err(|err| permanent(format!("cannot make a reply address: {err}")))?,
    );
    let our_id = message_id_for(config, &message.message_id);
    let mut builder = Message::builder()
        .from(Mailbox::new(display_name, address))
        .reply_to(reply_to)
        .to(to)
        .subject(reply_subject(message.subject.as_deref()))
        .message_id(Some(format!("<{our_id}>")));
    // The thread's root first, then the message we answer: what clients thread on.
    let mut references: Vec<&str> = Vec::new();
    if message.thread_key.contains('@') {
        references.push(&message.thread_key);
    }
    if let Some(answered) = message.in_reply_to.as_deref() {
        builder = builder.in_reply_to(format!("<{answered}>"));
        if !references.contains(&answered) {
            references.push(answered);
        }
    }
    if !references.is_empty() {
        let references: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
        builder = builder.references(references.join(" "));
    }
    let body = MultiPart::alternative_plain_html(message.text.clone(), html_body(&message.text));
    let body = if message.files.is_empty() {
        body
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for file in &message.files {
            // A type lettre cannot read still goes, as bytes.
            let content_type = ContentType::parse(&file.content_type)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|err| permanent(format!("cannot name a file's type: {err}")))?;
            mixed = mixed.singlepart(
                Attachment::new(file.filename.clone()).body(file.bytes.to_vec(), content_type),
            );
        }
        mixed
    };
    let email = builder
        .multipart(body)
        .map_err(|err| permanent(format!("cannot build the email: {err}")))?;
    Ok((email, our_id))
}

fn transport(
    config: &EmailConfig,
    target: &SmtpTarget,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let tls_parameters = || {
        TlsParameters::new(target.host.clone())
            .map_err(|err| permanent(format!("cannot set up TLS for {}: {err}", target.host)))
    };
    let tls = match target.tls {
        TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        TlsMode::Required => Tls::Required(tls_parameters()?),
        TlsMode::Opportunistic => Tls::Opportunistic(tls_parameters()?),
        TlsMode::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
        .port(target.port)
        .tls(tls)
        .timeout(Some(config.smtp_timeout))
        .hello_name(ClientId::Domain(config.domain().to_owned()));
    if let Some(username) = &target.username {
        let password = target
            .password
            .as_ref()
            .map(|password| password.expose().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    Ok(builder.build())
}

/// Sends one reply. A 5xx answer is permanent; a 4xx, a timeout, a refused or broken
/// connection may pass later and is retriable.
pub async fn deliver(
    config: &EmailConfig,
    message: &OutboundMessage,
) -> Result<DeliveryReceipt, DeliveryError> {
    let target = config
        .smtp
        .as_ref()
        .ok_or_else(|| permanent("the inbox has no `smtp_url`: it cannot send replies"))?;
    let (email, our_id) = build(config, message)?;
    let transport = transport(config, target)?;
    match transport.send(email).await {
        Ok(_) => Ok(DeliveryReceipt {
            channel_message_id: Some(our_id),
        }),
        Err(err) if err.is_permanent() => Err(permanent(format!("SMTP: {err}"))),
        Err(err) => Err(DeliveryError::Retriable {
            reason: format!("SMTP: {err}"),
            retry_after: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_html() {
        assert_eq!(reply_subject(Some("Help")), "Re: Help");
        assert_eq!(reply_subject(Some("RE: Help")), "RE: Help");
        assert_eq!(reply_subject(None), "Re: your message");
        assert_eq!(
            html_body("a < b\nnext\n\n<script>"),
            "<!DOCTYPE html>\n<html><body>\n<p>a &lt; b<br>\nnext</p>\n<p>&lt;script&gt;</p>\n</body></html>\n"
        );
    }

    #[test]
    fn tokens_round_trip() {
        let config = EmailConfig::from_json(&serde_json::json!({
            "address": "help@acme.test", "inbound_secret": "s"
        }))
        .expect("valid");
        let id = "0196f0a2-1b2c-7d3e-8f40-123456789abc";
        assert_eq!(
            message_id_for_token(&config, &token_for(id)),
            Some(message_id_for(&config, id))
        );
        assert_eq!(message_id_for_token(&config, "nothex"), None);
    }
}
