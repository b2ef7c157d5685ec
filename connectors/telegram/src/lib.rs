//! The Telegram Bot API connector: webhook updates verified by
//! `X-Telegram-Bot-Api-Secret-Token`, messages, edits and replies in; `sendMessage` out;
//! `setWebhook` to register the hub's URL from the inbox settings.
//!
//! The Bot API's types are our own serde structs (`wire.rs`) rather than teloxide's: the hub
//! reads a dozen fields, and teloxide (even `teloxide-core` without default features) brings a
//! second reqwest (0.12) and ~25 s of build for types we would convert by hand anyway.
//!
//! Inbox config (`channel: "telegram"`):
//! - `bot_token` (secret): the token @BotFather gave, `123456:ABC…`.
//! - `secret_token` (secret): 1–256 characters `A-Z a-z 0-9 _ -`, given to `setWebhook` and
//!   sent back by Telegram in `X-Telegram-Bot-Api-Secret-Token` on every update.
//! - `api_base_url`: the Bot API server, default `https://api.telegram.org`.

mod config;
mod deliver;
mod normalize;
mod verify;
mod wire;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, Inbound, NormalizeError, OutboundMessage, RawInbound, VerifyError,
    WebhookSetupError,
};

pub use config::{ALLOWED_UPDATES, DEFAULT_API_BASE_URL, TelegramConfig};

/// Builds a Telegram connector per inbox.
#[derive(Default)]
pub struct TelegramFactory;

impl ConnectorFactory for TelegramFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(TelegramConnector {
            config: TelegramConfig::parse(config)?,
        }))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        vec![
            ConfigField::required(
                "bot_token",
                FieldKind::String,
                "The token @BotFather gave the bot (123456:ABC...).",
            ),
            ConfigField::required(
                "secret_token",
                FieldKind::String,
                "1-256 characters of A-Z, a-z, 0-9, _ and -; Telegram sends it back on every update.",
            ),
            ConfigField::optional(
                "api_base_url",
                FieldKind::Url,
                "The Bot API server; change it for a local Bot API server or a test double.",
            )
            .with_default(DEFAULT_API_BASE_URL),
        ]
    }
}

pub struct TelegramConnector {
    config: TelegramConfig,
}

#[async_trait::async_trait]
impl Connector for TelegramConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify::verify(&self.config.secret_token, request.headers)
    }

    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        normalize::normalize(request.body)
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        deliver::deliver(&deliver::http_client()?, &self.config, message).await
    }

    async fn register_webhook(&self, webhook_url: &str) -> Result<(), WebhookSetupError> {
        deliver::set_webhook(&deliver::http_client()?, &self.config, webhook_url).await
    }
}
