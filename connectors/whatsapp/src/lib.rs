//! The WhatsApp Cloud API connector: Meta's `GET` subscription check, `POST` webhooks signed
//! with `X-Hub-Signature-256`, customer messages and delivery statuses in; `/messages` out,
//! within the 24-hour customer-service window or as an approved template.
//!
//! Inbox config (`channel: "whatsapp"`):
//! - `app_secret` (secret): the Meta app's secret, checks `X-Hub-Signature-256`.
//! - `verify_token` (secret): the token typed into the app's webhook settings, checked on `GET`.
//! - `access_token` (secret): a system-user token with `whatsapp_business_messaging`.
//! - `phone_number_id`: the business phone number's id (not the number itself).
//! - `api_base_url`: the Graph API, default `https://graph.facebook.com` (the version,
//!   [`GRAPH_API_VERSION`], is added to every path).

mod config;
mod deliver;
mod normalize;
mod verify;
mod wire;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, HandshakeError, Inbound, NormalizeError, OutboundMessage,
    RawInbound, VerifyError,
};

pub use config::{DEFAULT_API_BASE_URL, GRAPH_API_VERSION, WhatsappConfig};
pub use deliver::{OUTSIDE_WINDOW, Template};
pub use verify::sign;

/// Builds a WhatsApp connector per inbox.
#[derive(Default)]
pub struct WhatsappFactory;

impl ConnectorFactory for WhatsappFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(WhatsappConnector {
            config: WhatsappConfig::parse(config)?,
        }))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        vec![
            ConfigField::required(
                "app_secret",
                FieldKind::String,
                "The Meta app's secret: checks X-Hub-Signature-256 on every webhook.",
            ),
            ConfigField::required(
                "verify_token",
                FieldKind::String,
                "The token typed into the app's webhook settings, checked on Meta's GET.",
            ),
            ConfigField::required(
                "access_token",
                FieldKind::String,
                "A system user's token with whatsapp_business_messaging, for sending.",
            ),
            ConfigField::required(
                "phone_number_id",
                FieldKind::String,
                "The business phone number's id (not the number itself).",
            ),
            ConfigField::optional(
                "api_base_url",
                FieldKind::Url,
                "The Graph API, without the version; change it only for a proxy or a test double.",
            )
            .with_default(DEFAULT_API_BASE_URL),
        ]
    }
}

pub struct WhatsappConnector {
    config: WhatsappConfig,
}

#[async_trait::async_trait]
impl Connector for WhatsappConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify::verify(&self.config.app_secret, request.headers, request.body)
    }

    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        normalize::normalize(&self.config, request.body)
    }

    fn handshake(&self, request: &RawInbound<'_>) -> Result<String, HandshakeError> {
        verify::subscription_challenge(&self.config.verify_token, request.query.unwrap_or(""))
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        let client = deliver::http_client()?;
        deliver::send(&client, &self.config, message, chrono::Utc::now()).await
    }
}
