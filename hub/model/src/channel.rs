//! The channels a conversation can arrive on, and which of their settings are secrets.

use std::str::FromStr;

use crate::conversation::ParseEnumError;

crate::string_enum! {
    /// One name per channel everywhere: crate suffix, inbox `channel`, `/webhooks/{channel}`,
    /// the `channel` label on metrics and logs.
    pub enum ChannelKind {
        Webchat => "webchat",
        Email => "email",
        Slack => "slack",
        Whatsapp => "whatsapp",
        Telegram => "telegram",
        Zendesk => "zendesk",
        Freshdesk => "freshdesk",
    }
}

/// The error for a channel name that is not one of [`ChannelKind::ALL`].
pub type UnknownChannel = ParseEnumError;

impl ChannelKind {
    /// The config fields of an inbox on this channel that are secrets: accepted on write, stored
    /// apart from the rest of the config, never returned by the API.
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Webchat => &["identity_secret"],
            // The SMTP URL may carry a password, so it is write-only as a whole.
            ChannelKind::Email => &["smtp_url", "inbound_secret"],
            ChannelKind::Slack => &["signing_secret", "bot_token"],
            ChannelKind::Whatsapp => &["app_secret", "verify_token", "access_token"],
            ChannelKind::Telegram => &["bot_token", "secret_token"],
            ChannelKind::Zendesk => &["api_token", "webhook_secret"],
            ChannelKind::Freshdesk => &["api_key", "webhook_secret"],
        }
    }

    /// How long after the customer's last message the channel lets a business send a free-form
    /// reply: WhatsApp's 24-hour customer-service window. `None`: no such rule.
    pub fn reply_window(self) -> Option<chrono::Duration> {
        match self {
            ChannelKind::Whatsapp => Some(chrono::Duration::hours(24)),
            _ => None,
        }
    }

    /// Whether the hub itself delivers this channel's replies: a web-chat message reaches the
    /// visitor over the socket (fan-out) and through `resume`, so it is sent once committed and
    /// needs no outbox job. Every other channel is delivered by its connector, through the outbox.
    pub fn delivered_by_hub(self) -> bool {
        matches!(self, ChannelKind::Webchat)
    }

    /// The largest file an agent may attach to a reply on this channel, in bytes, for a file of
    /// this MIME type; `None`: the channel carries no files from the hub. The platforms' own
    /// documented limits, and the hub's own ([`HUB_MAX_ATTACHMENT_BYTES`]) where the platform's
    /// is larger or has none. A message's files together must also fit
    /// [`ChannelKind::max_attachments_total`].
    pub fn max_attachment_bytes(self, content_type: &str) -> Option<u64> {
        match self {
            ChannelKind::Whatsapp => Some(match MediaKind::of(content_type) {
                // Cloud API media limits: image 5 MB, audio and video 16 MB, document 100 MB.
                MediaKind::Image if jpeg_or_png(content_type) => 5 * MB,
                MediaKind::Audio | MediaKind::Video => 16 * MB,
                _ => 100 * MB,
            }),
            // The Bot API takes uploads of up to 50 MB (`sendDocument`); the connector sends a
            // photo over 10 MB as a document.
            ChannelKind::Telegram => Some(50 * MB),
            ChannelKind::Email => Some(EMAIL_MAX_ATTACHMENTS_BYTES),
            // Slack takes up to 1 GB and web-chat files are served by the hub: the hub's own.
            ChannelKind::Slack | ChannelKind::Webchat => Some(HUB_MAX_ATTACHMENT_BYTES),
            // The helpdesks' own connectors send their attachments; agents reply there.
            ChannelKind::Zendesk | ChannelKind::Freshdesk => None,
        }
    }

    /// The most bytes all the files of one message may add up to: email's total, where the
    /// provider counts the whole message; otherwise no limit beyond each file's.
    pub fn max_attachments_total(self) -> Option<u64> {
        match self {
            ChannelKind::Email => Some(EMAIL_MAX_ATTACHMENTS_BYTES),
            _ => None,
        }
    }

    /// Parses a channel name as it appears in a URL or request body.
    pub fn parse(text: &str) -> Result<Self, UnknownChannel> {
        Self::from_str(text)
    }
}

/// One megabyte as the platforms count it (their limits are decimal).
const MB: u64 = 1_000_000;

/// The hub's own limit on one file an agent attaches, for channels whose platform allows more
/// or sets none (Slack, web chat): what the common mail providers accept, and a size a
/// browser uploads in seconds.
pub const HUB_MAX_ATTACHMENT_BYTES: u64 = 25 * MB;

/// Email's limit on a message's files together. Providers limit the whole message at 25 MB
/// (Gmail, Outlook.com) and count it as sent, base64 and all: 18 MB of files is 24 MB encoded,
/// which leaves room for the text and headers.
const EMAIL_MAX_ATTACHMENTS_BYTES: u64 = 18 * MB;

/// The kind of media a file is, by its MIME type, for channels that send each kind its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
}

impl MediaKind {
    pub fn of(content_type: &str) -> MediaKind {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.split('/').next() {
            Some("image") => MediaKind::Image,
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => MediaKind::Document,
        }
    }
}

/// Whether a file is a JPEG or PNG image: what WhatsApp sends as an image message and
/// Telegram as a photo (other images go as documents).
pub fn jpeg_or_png(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("image/jpeg") || essence.eq_ignore_ascii_case("image/png")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_limits_follow_each_platform() {
        let limit = |kind: ChannelKind, content_type| kind.max_attachment_bytes(content_type);
        assert_eq!(limit(ChannelKind::Whatsapp, "image/jpeg"), Some(5_000_000));
        assert_eq!(
            limit(ChannelKind::Whatsapp, "image/webp"),
            Some(100_000_000)
        );
        assert_eq!(limit(ChannelKind::Whatsapp, "audio/ogg"), Some(16_000_000));
        assert_eq!(limit(ChannelKind::Whatsapp, "video/mp4"), Some(16_000_000));
        assert_eq!(
            limit(ChannelKind::Whatsapp, "application/pdf"),
            Some(100_000_000)
        );
        assert_eq!(limit(ChannelKind::Telegram, "image/png"), Some(50_000_000));
        assert_eq!(
            limit(ChannelKind::Slack, "application/zip"),
            Some(25_000_000)
        );
        assert_eq!(limit(ChannelKind::Webchat, "text/plain"), Some(25_000_000));
        assert_eq!(limit(ChannelKind::Email, "text/plain"), Some(18_000_000));
        assert_eq!(ChannelKind::Email.max_attachments_total(), Some(18_000_000));
        assert_eq!(limit(ChannelKind::Zendesk, "text/plain"), None);
        assert_eq!(MediaKind::of("Image/PNG; charset=x"), MediaKind::Image);
        assert_eq!(MediaKind::of(""), MediaKind::Document);
    }

    #[test]
    fn names_round_trip() {
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Ok(*kind));
            let json = serde_json::to_string(kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!(ChannelKind::parse("fax").is_err());
    }
}
