//! The Freshdesk connector: a helpdesk channel. Freshdesk's automation rules post a webhook
//! that only names a ticket (verified by our `X-Switchboard-Token` header); the hub then reads
//! the ticket and its conversations through API v2, polls for tickets a lost webhook missed,
//! and writes replies, notes, statuses and escalated tickets back ([`Helpdesk`]).
//!
//! Inbox config (`channel: "freshdesk"`):
//! - `base_url`: the helpdesk's address, `https://acme.freshdesk.com`.
//! - `api_key` (secret): an agent's API key (Profile settings → Your API Key); replies and
//!   notes are written as that agent.
//! - `webhook_secret` (secret): the value of the `X-Switchboard-Token` header the automation
//!   rule sends.
//! - `escalation_desk`: conversations escalated on other channels become tickets here
//!   (default `false`).
//! - `poll_interval_secs`: seconds between polls for changed tickets (default 60, at least 5).
//!
//! See `docs/channels/freshdesk.md` for the setup, the status mapping and the idempotency of
//! ticket creation.

mod api;
mod config;
mod convert;
mod cursor;
mod gate;
mod helpdesk;
mod verify;
mod webhook;
mod wire;

use std::sync::{Arc, OnceLock};

use switchboard_model::{
    ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, DeliveryError,
    DeliveryReceipt, FieldKind, Helpdesk, Inbound, NormalizeError, OutboundMessage, RawInbound,
    VerifyError,
};

pub use config::{DEFAULT_POLL_INTERVAL_SECS, FreshdeskConfig, MIN_POLL_INTERVAL_SECS};
pub use verify::TOKEN_HEADER;

/// Builds a Freshdesk connector per inbox.
#[derive(Default)]
pub struct FreshdeskFactory;

impl ConnectorFactory for FreshdeskFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Freshdesk
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(FreshdeskConnector::new(FreshdeskConfig::parse(
            config,
        )?)))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        let mut fields = vec![
            ConfigField::required(
                "base_url",
                FieldKind::Url,
                "The helpdesk's address, https://acme.freshdesk.com, without /api/v2.",
            ),
            ConfigField::required(
                "api_key",
                FieldKind::String,
                "An agent's API key (Profile settings > Your API Key); replies are written as that agent.",
            ),
            ConfigField::required(
                "webhook_secret",
                FieldKind::String,
                "The value of the X-Switchboard-Token header the automation rule sends.",
            ),
        ];
        fields.extend(ConfigField::helpdesk_sync(DEFAULT_POLL_INTERVAL_SECS));
        fields
    }
}

/// One Freshdesk inbox: its config, its API client with its rate-limit gate, and the
/// integration agent's id once known.
pub struct FreshdeskConnector {
    config: FreshdeskConfig,
    api: api::Api,
    me: OnceLock<String>,
}

impl FreshdeskConnector {
    pub fn new(config: FreshdeskConfig) -> FreshdeskConnector {
        FreshdeskConnector {
            api: api::Api::new(&config),
            config,
            me: OnceLock::new(),
        }
    }

    pub fn config(&self) -> &FreshdeskConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl Connector for FreshdeskConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Freshdesk
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify::verify(&self.config.webhook_secret, request.headers)
    }

    /// A webhook only names a ticket: the server reads it through
    /// [`Helpdesk::webhook_ticket`] and [`Helpdesk::ticket`], so there are no events here.
    fn normalize(&self, _request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        Ok(Inbound::Events(Vec::new()))
    }

    /// A reply on the ticket that is this conversation (`thread_key` is the ticket id), sent
    /// to the requester by Freshdesk; the receipt holds the reply's conversation id. Text only:
    /// an outbound message's attachments are links, with no bytes to attach.
    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        let id = self.reply(&message.thread_key, &message.text, &[]).await?;
        Ok(DeliveryReceipt {
            channel_message_id: Some(id),
        })
    }

    fn helpdesk(&self) -> Option<&dyn Helpdesk> {
        Some(self)
    }
}
