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

    /// Parses a channel name as it appears in a URL or request body.
    pub fn parse(text: &str) -> Result<Self, UnknownChannel> {
        Self::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
