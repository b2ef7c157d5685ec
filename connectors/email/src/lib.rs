//! Switchboard's email channel.
//!
//! - Inbound: `POST /webhooks/email/{inbox_id}` carries one raw RFC 822 message, signed with
//!   `X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the body with inbound_secret>`
//!   ([`verify`]); [`normalize`] turns it into one [`InboundMessage`](switchboard_model::InboundMessage)
//!   with its files, its threading keys and whether a machine sent it.
//! - Outbound: [`deliver`] sends a reply over SMTP with lettre.
//! - [`receiver`]: a small SMTP server, so that a mail server can relay to the hub directly.
//!
//! The inbox config is documented in [`config`]; setup in `docs/channels/email.md`.

pub mod config;
pub mod deliver;
pub mod normalize;
pub mod quote;
pub mod receiver;
pub mod verify;

use std::sync::Arc;

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, Inbound, InboundEvent, NormalizeError, OutboundMessage, RawInbound,
    VerifyError,
};

pub use config::EmailConfig;
use config::{
    DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_MESSAGE_ATTACHMENT_BYTES, DEFAULT_SMTP_TIMEOUT,
};
pub use normalize::ENVELOPE_TO_HEADER;
pub use verify::{SIGNATURE_HEADER, sign};

/// Builds the connector of each email inbox.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmailFactory;

impl ConnectorFactory for EmailFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(EmailConnector {
            config: EmailConfig::from_json(config)?,
        }))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        vec![
            ConfigField::required(
                "address",
                FieldKind::String,
                "The address customers write to (support@acme.example); replies come from it.",
            ),
            ConfigField::required(
                "inbound_secret",
                FieldKind::String,
                "The key of X-Switchboard-Signature on POST /webhooks/email/{inbox}.",
            ),
            ConfigField::optional(
                "smtp_url",
                FieldKind::Url,
                "Where replies go: smtps://user:pass@host[:port] or smtp://host[:port]; without it the inbox only receives.",
            ),
            ConfigField::optional(
                "from_name",
                FieldKind::String,
                "The team's name, shown after the writer's: \"Ana from Acme Support\".",
            ),
            ConfigField::optional(
                "max_attachment_bytes",
                FieldKind::Integer,
                "Larger attachments are listed on the message but not kept.",
            )
            .with_default(DEFAULT_MAX_ATTACHMENT_BYTES),
            ConfigField::optional(
                "max_message_attachment_bytes",
                FieldKind::Integer,
                "Bytes of attachments kept per message, in all.",
            )
            .with_default(DEFAULT_MAX_MESSAGE_ATTACHMENT_BYTES),
            ConfigField::optional(
                "smtp_timeout_secs",
                FieldKind::Integer,
                "Seconds one SMTP conversation may take.",
            )
            .with_default(DEFAULT_SMTP_TIMEOUT.as_secs()),
        ]
    }
}

/// One email inbox.
#[derive(Clone, Debug)]
pub struct EmailConnector {
    pub config: EmailConfig,
}

#[async_trait::async_trait]
impl Connector for EmailConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify::verify(
            request.headers,
            request.body,
            self.config.inbound_secret.expose().as_bytes(),
        )
    }

    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        let envelope_to: Vec<String> = request
            .headers
            .get_all(ENVELOPE_TO_HEADER)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|value| value.trim().to_owned())
            .collect();
        let message = normalize::normalize(&self.config, request.body, &envelope_to)?;
        Ok(Inbound::Events(
            message.into_iter().map(InboundEvent::Message).collect(),
        ))
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        deliver::deliver(&self.config, message).await
    }

    /// A second send carries the first one's `Message-ID` (`deliver::message_id_for`), which
    /// the customer's mail client shows as one message.
    fn resends_are_harmless(&self) -> bool {
        true
    }
}
