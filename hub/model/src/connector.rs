//! The `Connector` trait: what a channel crate provides to the hub.

use std::time::Duration;

use crate::{ChannelKind, InboundEvent, OutboundMessage};

/// A channel's HTTP request as it arrived, before anything is parsed.
pub struct RawInbound<'a> {
    pub headers: &'a http::HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a verified request means.
#[derive(Debug)]
pub enum Inbound {
    Events(Vec<InboundEvent>),
    /// The platform checks that we own the URL (Slack's `url_verification`, Meta's
    /// `hub.challenge`): answer with this body and store nothing.
    Handshake {
        response_body: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("request is too old or replayed")]
    Stale,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NormalizeError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again: 429, 5xx, timeouts, connection failures.
    #[error("retriable: {reason}")]
    Retriable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed: other 4xx, platform rules (a closed WhatsApp window), bad config.
    #[error("permanent: {reason}")]
    Permanent { reason: String },
}

/// What the channel said about a message it accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The channel's id for the sent message, so that its later status updates find it.
    pub channel_message_id: Option<String>,
}

/// One channel configuration (one inbox). The server runs `verify` → `normalize` → persist →
/// publish for every request, and calls `deliver` from the outbox workers.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    fn channel(&self) -> ChannelKind;

    /// Checks the request's signature or secret. Runs before any parsing and does no I/O.
    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError>;

    /// Turns a verified request into events. Pure.
    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError>;

    /// Sends one stored message to the customer.
    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError>;
}

/// Why a connector could not be built from an inbox's config.
#[derive(Debug, thiserror::Error)]
#[error("invalid {channel} inbox config: {reason}")]
pub struct ConfigError {
    pub channel: ChannelKind,
    pub reason: String,
}

/// Builds the connector of one inbox from its config (public fields and secrets merged). Each
/// connector crate provides one; the server keeps one per channel.
pub trait ConnectorFactory: Send + Sync + 'static {
    fn channel(&self) -> ChannelKind;

    fn build(
        &self,
        inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<std::sync::Arc<dyn Connector>, ConfigError>;
}
