//! The `Connector` trait: what a channel crate provides to the hub.

use std::time::Duration;

use crate::{ChannelKind, Helpdesk, InboundEvent, OutboundMessage};

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

/// Why a platform's subscription check (a `GET` on the webhook URL, like Meta's
/// `hub.challenge`) was not answered.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The channel has no such check: the URL only takes `POST`s.
    #[error("this channel's webhook takes no GET check")]
    Unsupported,
    /// The check did not carry our verify token (or was not a subscription check).
    #[error("{0}")]
    Refused(String),
}

/// Why the hub could not register its webhook URL with the platform.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    /// The platform's webhook URL is set in its own console (Slack, Meta), not through its API.
    #[error("{0} webhooks are configured in the platform's console, not by the hub")]
    Unsupported(ChannelKind),
    /// The platform answered with an error: `status` is the HTTP status (or the one its error
    /// code stands for). `reason` may quote the platform's answer: it is for the hub's log,
    /// never for the caller, since the URL the hub called is the organization's to set.
    #[error("the platform answered {status}: {reason}")]
    Refused { status: u16, reason: String },
    /// No answer to read (a connection refused, a timeout) or no request made.
    #[error(transparent)]
    Failed(#[from] DeliveryError),
}

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

impl DeliveryError {
    /// Classifies a platform's HTTP error answer the one way every connector must: 429 and 5xx
    /// are retriable (after `retry_after`, when the platform said), anything else permanent.
    pub fn from_http_status(
        status: u16,
        retry_after: Option<Duration>,
        reason: impl Into<String>,
    ) -> DeliveryError {
        let reason = reason.into();
        if status == 429 || status >= 500 {
            DeliveryError::Retriable {
                reason,
                retry_after,
            }
        } else {
            DeliveryError::Permanent { reason }
        }
    }

    /// Reads a `Retry-After` header given in seconds (the form platforms' APIs use).
    pub fn retry_after_seconds(value: Option<&str>) -> Option<Duration> {
        value
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// A request that never got an answer (connection refused, timeout, broken body): worth
    /// trying again.
    pub fn transport(err: impl std::fmt::Display) -> DeliveryError {
        DeliveryError::Retriable {
            reason: format!("request failed: {err}"),
            retry_after: None,
        }
    }
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

    /// Turns a verified request into events. Pure. What the connector cannot or will not
    /// store is an [`InboundEvent::Ignored`] with its reason, never silently nothing (the hub
    /// keeps it as a dead letter and acknowledges); an `Err` is answered 400, for senders that
    /// should hear that their request was wrong (the email relay) rather than be acknowledged.
    ///
    /// [`InboundEvent::Ignored`]: crate::InboundEvent::Ignored
    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError>;

    /// Sends one stored message to the customer.
    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError>;

    /// Whether sending a message again is harmless when the platform may have it already: the
    /// second copy is recognised as the first (email's `Message-ID`, which mail clients fold
    /// together; an idempotency key). The outbox sends a message again after an attempt whose
    /// outcome nobody recorded (the hub died between the call and writing down the answer)
    /// only when this holds; otherwise such a message is marked failed for an agent to check,
    /// so that the customer never gets it twice (at most once; see `ARCHITECTURE.md`, "The
    /// outbox across a crash").
    fn resends_are_harmless(&self) -> bool {
        false
    }

    /// Answers a platform's `GET` subscription check on the webhook URL (Meta's
    /// `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`) with the body to echo. Pure.
    /// Most channels have none.
    fn handshake(&self, request: &RawInbound<'_>) -> Result<String, HandshakeError> {
        let _ = request;
        Err(HandshakeError::Unsupported)
    }

    /// Tells the platform to post this inbox's updates to `webhook_url` (Telegram's
    /// `setWebhook`). Channels whose webhook is set in the platform's console say so.
    async fn register_webhook(&self, webhook_url: &str) -> Result<(), WebhookSetupError> {
        let _ = webhook_url;
        Err(WebhookSetupError::Unsupported(self.channel()))
    }

    /// The ticketing API of a helpdesk channel (Zendesk, Freshdesk): its webhooks only name a
    /// ticket, which the hub then reads, and it syncs escalations both ways. Chat channels have
    /// none.
    fn helpdesk(&self) -> Option<&dyn Helpdesk> {
        None
    }
}

/// Why a connector could not be built from an inbox's config.
#[derive(Debug, thiserror::Error)]
#[error("invalid {channel} inbox config: {reason}")]
pub struct ConfigError {
    pub channel: ChannelKind,
    pub reason: String,
}

impl ConfigError {
    /// The non-empty string field `field` of an inbox config, or the error naming it.
    pub fn required_str<'a>(
        channel: ChannelKind,
        config: &'a serde_json::Value,
        field: &str,
    ) -> Result<&'a str, ConfigError> {
        match config.get(field) {
            Some(serde_json::Value::String(value)) if !value.trim().is_empty() => Ok(value),
            Some(serde_json::Value::String(_)) | None | Some(serde_json::Value::Null) => {
                Err(ConfigError {
                    channel,
                    reason: format!("`{field}` is required"),
                })
            }
            Some(_) => Err(ConfigError {
                channel,
                reason: format!("`{field}` must be a string"),
            }),
        }
    }

    /// An optional base URL field (`api_base_url`), without a trailing slash, or `default`;
    /// an http(s) URL the hub may call ([`crate::check_outbound_url`]).
    pub fn base_url(
        channel: ChannelKind,
        config: &serde_json::Value,
        field: &str,
        default: &str,
    ) -> Result<String, ConfigError> {
        let url = match config.get(field) {
            None | Some(serde_json::Value::Null) => default,
            Some(serde_json::Value::String(url)) if url.trim().is_empty() => default,
            Some(_) => Self::required_str(channel, config, field)?,
        };
        let url = url.trim().trim_end_matches('/');
        crate::check_outbound_url(field, url, crate::HTTP_SCHEMES)
            .map_err(|reason| ConfigError { channel, reason })?;
        Ok(url.to_owned())
    }
}

/// The API calls a minute a helpdesk inbox may spend when its `rate_limit_per_minute` is not set.
pub const HELPDESK_RATE_LIMIT_PER_MINUTE: u32 = 200;

/// How one config field's value is written in an inbox's config, and so how a form asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A JSON string. Secrets are strings too; which fields are secret is
    /// [`ChannelKind::secret_fields`]'s to say, not the field's.
    String,
    /// A JSON string holding an `http(s)://` (or, for email, `smtp(s)://`) URL.
    Url,
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// A JSON array of strings; a form asks for one per line.
    StringList,
}

/// One field of a channel's inbox config, as its connector reads it: what a form asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigField {
    /// The key in the inbox's `config`.
    pub name: &'static str,
    pub kind: FieldKind,
    /// The connector refuses a config without it.
    pub required: bool,
    /// One line for the person filling the form in.
    pub help: &'static str,
    /// What the connector uses when the field is left out.
    pub default: Option<serde_json::Value>,
}

impl ConfigField {
    /// A field the connector refuses a config without.
    pub fn required(name: &'static str, kind: FieldKind, help: &'static str) -> ConfigField {
        ConfigField {
            name,
            kind,
            required: true,
            help,
            default: None,
        }
    }

    /// A field that may be left out.
    pub fn optional(name: &'static str, kind: FieldKind, help: &'static str) -> ConfigField {
        ConfigField {
            required: false,
            ..ConfigField::required(name, kind, help)
        }
    }

    /// This field with the value the connector uses when it is left out.
    pub fn with_default(self, default: impl Into<serde_json::Value>) -> ConfigField {
        ConfigField {
            default: Some(default.into()),
            ..self
        }
    }

    /// The fields every helpdesk channel (Zendesk, Freshdesk) has for the hub's sync: whether
    /// the inbox is the organization's escalation desk, how often it polls for changed tickets,
    /// and the API calls a minute it may spend. Both helpdesks refuse a poll under 5 seconds.
    pub fn helpdesk_sync(default_poll_interval_secs: u64) -> [ConfigField; 3] {
        [
            ConfigField::optional(
                "escalation_desk",
                FieldKind::Boolean,
                "Conversations escalated on any other channel become tickets here (one desk per organization).",
            )
            .with_default(false),
            ConfigField::optional(
                "poll_interval_secs",
                FieldKind::Integer,
                "Seconds between polls for tickets a lost webhook missed (at least 5).",
            )
            .with_default(default_poll_interval_secs),
            ConfigField::optional(
                "rate_limit_per_minute",
                FieldKind::Integer,
                "Requests a minute the sync may spend; 92% is spent by the background sync, the rest kept for webhooks.",
            )
            .with_default(HELPDESK_RATE_LIMIT_PER_MINUTE),
        ]
    }
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

    /// The fields of this channel's inbox config that `build` reads, in the order a form
    /// shows them; the web UI builds the inbox form from them (`GET /api/v1/channels`). Secret
    /// ones must be among them, but whether a field is secret is
    /// [`ChannelKind::secret_fields`]'s to say.
    ///
    /// Every connector crate overrides this (the server's tests check that none is empty); the
    /// empty default only keeps test doubles that wrap a real factory building.
    fn config_fields(&self) -> Vec<ConfigField> {
        Vec::new()
    }
}
