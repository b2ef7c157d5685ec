//! The Zendesk connector: a helpdesk, not a chat channel. Its webhooks (verified by
//! `X-Zendesk-Webhook-Signature`) only name a ticket, which the hub then reads through the
//! Support API together with its comments; the hub also opens tickets for conversations escalated
//! elsewhere, comments on them and sets their status ([`Helpdesk`]). When a Zendesk inbox is
//! itself the customer's channel, `deliver` adds a public comment to the ticket.
//!
//! Inbox config (`channel: "zendesk"`), see `docs/channels/zendesk.md`:
//! - `base_url`: the account, `https://acme.zendesk.com`.
//! - `email`: the agent whose API token this is; the integration's own user.
//! - `api_token` (secret): Admin Center > Apps and integrations > Zendesk API.
//! - `webhook_secret` (secret): the webhook's signing secret.
//! - `escalation_desk`: conversations of other inboxes are escalated here (default false).
//! - `poll_interval_secs`: how often the incremental export is polled (default 60, at least 5).

mod client;
mod config;
mod gate;
mod read;
mod verify;
mod webhook;
mod wire;
mod write;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_model::{
    ChangedTickets, ChannelKind, ConfigError, ConfigField, Connector, ConnectorFactory, ContactRef,
    CreatedTicket, DeliveryError, DeliveryReceipt, FieldKind, Helpdesk, Inbound, NewComment,
    NewTicket, NormalizeError, OutboundMessage, RawInbound, RemoteTicket, TicketStatus,
    VerifyError,
};

pub use config::{DEFAULT_POLL_INTERVAL_SECS, MIN_POLL_INTERVAL_SECS, ZendeskConfig};

/// Builds a Zendesk connector per inbox.
#[derive(Default)]
pub struct ZendeskFactory;

impl ConnectorFactory for ZendeskFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Zendesk
    }

    fn build(
        &self,
        _inbox_id: &str,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, ConfigError> {
        Ok(Arc::new(ZendeskConnector::new(ZendeskConfig::parse(
            config,
        )?)?))
    }

    fn config_fields(&self) -> Vec<ConfigField> {
        let mut fields = vec![
            ConfigField::required(
                "base_url",
                FieldKind::Url,
                "The account's address, https://acme.zendesk.com (the API is under /api/v2).",
            ),
            ConfigField::required(
                "email",
                FieldKind::String,
                "The agent the API token belongs to: the integration's own user.",
            ),
            ConfigField::required(
                "api_token",
                FieldKind::String,
                "Admin Center > Apps and integrations > Zendesk API.",
            ),
            ConfigField::required(
                "webhook_secret",
                FieldKind::String,
                "The webhook's signing secret (Reveal secret in the webhook's settings).",
            ),
        ];
        fields.extend(ConfigField::helpdesk_sync(DEFAULT_POLL_INTERVAL_SECS));
        fields
    }
}

/// One Zendesk account: its API client with its rate gate, and the integration's user once known.
pub struct ZendeskConnector {
    config: ZendeskConfig,
    client: client::Client,
    me: tokio::sync::OnceCell<String>,
}

impl ZendeskConnector {
    pub fn new(config: ZendeskConfig) -> Result<ZendeskConnector, ConfigError> {
        Ok(ZendeskConnector {
            client: client::Client::new(&config)?,
            config,
            me: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &ZendeskConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl Connector for ZendeskConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Zendesk
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        verify::verify_at(
            &self.config.webhook_secret,
            request.headers,
            request.body,
            Utc::now(),
        )
    }

    /// A Zendesk webhook carries no message to store: the hub reads the ticket it names
    /// ([`Helpdesk::webhook_ticket`]) through the API.
    fn normalize(&self, _request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        Ok(Inbound::Events(Vec::new()))
    }

    /// A public comment on the ticket `thread_key`, written as the integration's user. Text
    /// only: an outbound message's attachments are links, with no bytes to upload.
    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        let comment_id = write::add_comment(
            &self.client,
            &message.thread_key,
            &message.text,
            true,
            None,
            &[],
        )
        .await?;
        Ok(DeliveryReceipt {
            channel_message_id: Some(comment_id),
        })
    }

    fn helpdesk(&self) -> Option<&dyn Helpdesk> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl Helpdesk for ZendeskConnector {
    fn webhook_ticket(&self, request: &RawInbound<'_>) -> Result<String, NormalizeError> {
        webhook::webhook_ticket(request.body)
    }

    async fn me(&self) -> Result<String, DeliveryError> {
        self.me
            .get_or_try_init(|| read::me(&self.client))
            .await
            .cloned()
    }

    async fn ticket(&self, id: &str) -> Result<Option<RemoteTicket>, DeliveryError> {
        read::ticket(&self.client, id).await
    }

    async fn changed(
        &self,
        cursor: Option<&str>,
        start: DateTime<Utc>,
    ) -> Result<ChangedTickets, DeliveryError> {
        read::changed(&self.client, cursor, start, Utc::now()).await
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<CreatedTicket, DeliveryError> {
        write::create_ticket(&self.client, ticket).await
    }

    async fn add_comment(
        &self,
        ticket_id: &str,
        comment: &NewComment,
    ) -> Result<String, DeliveryError> {
        write::add_comment(
            &self.client,
            ticket_id,
            &comment.body,
            comment.public,
            comment.author_id.as_deref(),
            &comment.files,
        )
        .await
    }

    async fn set_status(&self, ticket_id: &str, status: TicketStatus) -> Result<(), DeliveryError> {
        write::set_status(&self.client, ticket_id, status).await
    }

    async fn requester(&self, contact: &ContactRef) -> Result<String, DeliveryError> {
        write::requester(&self.client, contact).await
    }
}
