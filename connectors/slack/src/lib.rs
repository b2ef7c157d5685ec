//! The Slack connector: the Events API in (`url_verification`, `v0` signatures, one conversation
//! per thread) and `chat.postMessage` out, with the inbox's bot token.
//!
//! Inbox config (`channel: "slack"`):
//! - `signing_secret` (secret): the app's Signing Secret, checks every request's `v0` signature.
//! - `bot_token` (secret): the Bot User OAuth Token (`xoxb-…`), sent as `Authorization: Bearer`.
//! - `api_base_url`: where Slack's Web API is, default `https://slack.com/api`.
//! - `agent_channel`: optional channel id; makes this inbox the organization's agent desk
//!   (escalations mirrored there, agents answer in threads). The hub does the desk's work with
//!   [`post_to_channel`], [`user_email`] and [`SlackThread`]; the connector only normalizes.

mod config;
mod deliver;
mod normalize;
mod verify;
mod wire;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, Inbound, InboundMessage, NormalizeError, OutboundMessage,
    RawInbound, VerifyError,
};

pub use config::{DEFAULT_API_BASE_URL, SlackConfig};
pub use verify::{REPLAY_WINDOW_SECS, sign, verify_at};

/// Where a normalized Slack message was written: its channel, the thread it belongs to, and
/// whether it is the thread's first (top-level) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackThread {
    pub channel: String,
    pub thread_ts: String,
    /// `{channel}:{ts}`: the message's own id.
    pub message_id: String,
    pub top_level: bool,
}

impl SlackThread {
    /// Reads back what `normalize` put in the message (`thread_key` `{channel}:{thread_ts}`,
    /// `channel_message_id` `{channel}:{ts}`); `None` for a message of another channel.
    pub fn of(message: &InboundMessage) -> Option<SlackThread> {
        let (channel, thread_ts) = message.thread_key.split_once(':')?;
        let message_id = message.channel_message_id.clone()?;
        Some(SlackThread {
            channel: channel.to_owned(),
            thread_ts: thread_ts.to_owned(),
            top_level: message_id == message.thread_key,
            message_id,
        })
    }
}

/// Posts `text` (Slack `mrkdwn`) into `channel` with the inbox's bot token, in the thread
/// `thread_ts` when given, and returns the new message's `ts`. Errors are classified as for
/// replies (`DeliveryError::Retriable` is worth trying again).
pub async fn post_to_channel(
    config: &SlackConfig,
    channel: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Result<String, DeliveryError> {
    let client = deliver::http_client()?;
    deliver::post(&client, config, channel, thread_ts, text)
        .await?
        .ts
        .ok_or_else(|| DeliveryError::Permanent {
            reason: "Slack accepted chat.postMessage without a `ts`".into(),
        })
}

/// The email address of Slack user `user_id` (`users.info`, lower-cased), when Slack shares
/// one: it needs the `users:read.email` scope, and bots and deactivated users have none.
pub async fn user_email(
    config: &SlackConfig,
    user_id: &str,
) -> Result<Option<String>, DeliveryError> {
    let client = deliver::http_client()?;
    deliver::user_email(&client, config, user_id).await
}

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

    fn config_fields(&self) -> Vec<ConfigField> {
        vec![
            ConfigField::required(
                "signing_secret",
                FieldKind::String,
                "The app's Signing Secret (Basic Information): checks every request's v0 signature.",
            ),
            ConfigField::required(
                "bot_token",
                FieldKind::String,
                "The Bot User OAuth Token (xoxb-...) the replies are posted with.",
            ),
            ConfigField::optional(
                "api_base_url",
                FieldKind::Url,
                "Slack's Web API; change it only for a proxy or a test double.",
            )
            .with_default(DEFAULT_API_BASE_URL),
            ConfigField::optional(
                "agent_channel",
                FieldKind::String,
                "A channel id (C... or G...) where escalations are mirrored and agents answer in threads: makes this inbox the agent desk.",
            ),
        ]
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
