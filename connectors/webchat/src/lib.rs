//! The web-chat channel: the WebSocket protocol v1 of `CONTRACT.md` (frames and their strict
//! parsing), the inbox config with its Origin allow-list and rate limit, identity verification of
//! signed-in visitors, visitor tokens, and the `Connector` the outbox uses.
//!
//! The hub's server holds the sockets (`hub/server/src/chat/`); this crate does no I/O, so every
//! rule of the protocol is testable here without a network. `docs/specs/webchat.md` describes the
//! protocol as implemented.

mod config;
mod frames;
mod identity;
mod visitor;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, Inbound, NormalizeError, OutboundMessage, RawInbound, VerifyError,
};

pub use config::{
    DEFAULT_ADDRESS_CONNECTIONS_PER_MINUTE, DEFAULT_ADDRESS_MESSAGES_PER_MINUTE,
    DEFAULT_INBOX_MESSAGES_PER_MINUTE, DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_PER_MINUTE,
    OriginPattern, WebchatConfig,
};
pub use frames::{
    ChatMessage, ClientFrame, FrameError, FrameErrorCode, MAX_CLIENT_ID_CHARS, MAX_COMMENT_CHARS,
    MAX_TEXT_CHARS, ServerFrame, parse_client_frame, status_frame,
};
pub use identity::{IdentityError, MAX_USER_ID_CHARS, user_hash, verify_user_hash};
pub use visitor::{Visitor, VisitorToken};

/// Builds the web-chat connector of an inbox from its config.
pub struct WebchatFactory;

impl ConnectorFactory for WebchatFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Webchat
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(WebchatConnector {
            config: WebchatConfig::from_json(config)?,
        }))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        vec![
            ConfigField::required(
                "allowed_origins",
                FieldKind::StringList,
                "Sites that may open the chat: https://shop.example, https://*.example.com, http://localhost:* or * (any).",
            ),
            ConfigField::optional(
                "identity_secret",
                FieldKind::String,
                "The key of data-user-hash (HMAC-SHA256 of the user id), at least 16 characters; without it visitors stay anonymous.",
            ),
            ConfigField::optional(
                "rate_limit_per_minute",
                FieldKind::Integer,
                "Messages a visitor may send a minute (1-6000).",
            )
            .with_default(DEFAULT_RATE_LIMIT_PER_MINUTE),
            ConfigField::optional(
                "rate_limit_burst",
                FieldKind::Integer,
                "Messages a visitor may send at once (1-1000).",
            )
            .with_default(DEFAULT_RATE_LIMIT_BURST),
            ConfigField::optional(
                "address_connections_per_minute",
                FieldKind::Integer,
                "New connections one client address may open a minute, every visitor together (1-100000).",
            )
            .with_default(DEFAULT_ADDRESS_CONNECTIONS_PER_MINUTE),
            ConfigField::optional(
                "address_messages_per_minute",
                FieldKind::Integer,
                "Messages one client address may send a minute, every visitor together (1-1000000).",
            )
            .with_default(DEFAULT_ADDRESS_MESSAGES_PER_MINUTE),
            ConfigField::optional(
                "inbox_messages_per_minute",
                FieldKind::Integer,
                "Messages the whole inbox takes a minute, a ceiling against abuse (1-10000000).",
            )
            .with_default(DEFAULT_INBOX_MESSAGES_PER_MINUTE),
        ]
    }
}

/// One web-chat inbox. Visitors reach the hub over the WebSocket, never through
/// `/webhooks/webchat/…`, so `verify` refuses every webhook request.
pub struct WebchatConnector {
    pub config: WebchatConfig,
}

#[async_trait::async_trait]
impl Connector for WebchatConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Webchat
    }

    fn verify(&self, _request: &RawInbound<'_>) -> Result<(), VerifyError> {
        Err(VerifyError::Missing(
            "a WebSocket connection: web chat has no webhook (use /chat/ws)",
        ))
    }

    fn normalize(&self, _request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        Ok(Inbound::Events(Vec::new()))
    }

    /// A web-chat answer is already where the visitor gets it: it was committed before this
    /// runs, the event bus carried it to the visitor's open connections, and `resume` replays it
    /// to any later one. Nothing is sent, and the outbox records the message `sent` (available
    /// to the visitor) instead of keeping its job pending forever.
    async fn deliver(&self, _message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        Ok(DeliveryReceipt {
            channel_message_id: None,
        })
    }
}
