//! The Slack connector: the Events API in (`url_verification`, `v0` signatures, one conversation
//! per thread) and `chat.postMessage` out, with the inbox's bot token.
//!
//! Inbox config (`channel: "slack"`):
//! - `signing_secret` (secret): the app's Signing Secret, checks every request's `v0` signature.
//! - `bot_token` (secret): the Bot User OAuth Token (`xoxb-…`), sent as `Authorization: Bearer`.
//! - `api_base_url`: where Slack's Web API is, default `https://slack.com/api`.

mod config;
mod deliver;
mod normalize;
mod verify;
mod wire;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, Connector, ConnectorFactory, DeliveryError, DeliveryReceipt, Inbound,
    NormalizeError, OutboundMessage, RawInbound, VerifyError,
};

pub use config::{DEFAULT_API_BASE_URL, SlackConfig};
pub use verify::{REPLAY_WINDOW_SECS, sign, verify_at};

/// Builds a Slack connector per inbox.
#[derive(Default)]
pub struct SlackFactory;

impl ConnectorFactory for SlackFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(SlackConnector {
            config: SlackConfig::parse(config)?,
        }))
    }
}

pub struct SlackConnector {
    config: SlackConfig,
}

#[async_trait::async_trait]
impl Connector for SlackConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify_at(
            &self.config.signing_secret,
            request.headers,
            request.body,
            chrono::Utc::now().timestamp(),
        )
    }

    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        normalize::normalize(request.body)
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        let client = deliver::http_client()?;
        deliver::post_message(&client, &self.config, message).await
    }
}
