//! The hub's settings: defaults, then the TOML file, then `SWITCHBOARD_<NAME>` environment
//! variables, then command-line flags, each overriding the one before.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use serde::Deserialize;
use switchboard_model::Secret;

/// Every setting of the hub. Each field is a key of the config file and, upper-cased with a
/// `SWITCHBOARD_` prefix, an environment variable.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Holds the SQLite database and the search indexes.
    pub data_dir: PathBuf,
    /// Where attachments are kept; unset means `<data_dir>/attachments`. Several nodes share
    /// one folder (a volume every node mounts): a file received on one is served by all.
    pub attachments_dir: Option<PathBuf>,
    /// `postgres://…` for PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Enables cross-node fan-out of events.
    pub redis_url: Option<String>,
    /// The URL users reach the hub at, for links the hub prints and sends; defaults to
    /// `http://{listen}`.
    pub public_url: Option<String>,
    /// The first admin's credentials; random ones are made and printed when unset.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    /// Skips the demo organization on first start (the admin is still created).
    pub no_demo: bool,
    /// The key that seals secrets at rest (32 bytes in base64, `openssl rand -base64 32`); the
    /// same on every node. Unset: read from `secret_key_file`, or on SQLite from (or made
    /// into) `<data_dir>/secret.key`; on PostgreSQL without one, secrets stay unsealed.
    pub secret_key: Option<Secret>,
    /// A file holding the key (instead of `secret_key`).
    pub secret_key_file: Option<PathBuf>,
    /// Keys that sealed secrets before the current one, comma-separated: still read, and
    /// sealed again under the current key at start (or `switchboard secrets rotate`).
    pub previous_secret_keys: Option<Secret>,
    /// How long a sign-in lasts.
    pub session_hours: i64,
    /// Requests to the REST API one organization's callers (its sessions and API keys
    /// together) may make per minute on average, counted across nodes with Redis; beyond it
    /// they are answered 429 with `Retry-After`. 0 turns the limit off.
    pub api_requests_per_minute: u32,
    /// How many requests an organization may make at once above that pace (at least 1).
    pub api_burst: u32,
    /// Reverse proxies (addresses and networks, comma-separated, `10.0.0.0/8, ::1`) whose
    /// `X-Forwarded-For` names the client: the limits keyed by a client's address (failed
    /// logins, web chat) read it there when the request comes through one of them. Default:
    /// loopback (a proxy on the same machine); empty: none, the TCP peer is the client.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// When set, `GET /metrics` answers only a request that carries it as `Authorization:
    /// Bearer <token>` (Prometheus' `authorization` setting), and 401 to any other. Unset, the
    /// route is open: for a node whose port only the monitoring network reaches
    /// (docs/security.md, "Metrics").
    pub metrics_token: Option<Secret>,
    /// A request to the REST API that takes longer is answered 408.
    pub request_timeout_secs: u64,
    /// Concurrent deliveries per node.
    pub delivery_concurrency: usize,
    /// The first retry of a failed delivery waits this long; each further one twice as long.
    pub delivery_retry_base_ms: u64,
    pub delivery_max_attempts: u32,
    /// How often the outbox is polled when idle.
    pub delivery_poll_ms: u64,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Frames waiting for one web-chat connection; a client that lets more pile up is
    /// disconnected (it resumes later) instead of growing the hub's memory.
    pub webchat_queue_frames: usize,
    /// How often web-chat connections are pinged; one silent for 2.5 times this is closed.
    pub webchat_ping_secs: u64,
    /// Bot turns (AI answers) responding at once, a task each (a turn storing its answer no
    /// longer counts). A turn mostly waits (on the database, on a model's answer), so this is
    /// concurrency, not cores; calls to a model are bounded by `llm_max_in_flight`.
    pub bot_workers: usize,
    /// Conversations waiting for a bot turn; ingest waits for room beyond this (backpressure).
    /// An entry is one conversation (its later messages fold into it) and costs about 150
    /// bytes, so the default holds every conversation of a busy node: when the bot falls behind
    /// a burst, answers wait, and customers' messages are still acknowledged at once.
    pub bot_queue: usize,
    /// A responder that takes longer has failed: the conversation goes to a person.
    pub bot_timeout_secs: u64,
    /// A customer's message in a conversation the bot holds that has gone this long without an
    /// answer (its node died with the turn queued, or the turn failed) is routed and answered
    /// again by the node holding the `lost-turns` lease (`lost_turns.rs`).
    pub bot_recover_secs: u64,
    /// Whether the bot takes customers' messages at all. Off, every conversation waits in the
    /// inbox for an agent (escalation rules still run), as when the AI is switched off.
    pub bot_enabled: bool,
    /// Where the built-in SMTP receiver listens (`--smtp-listen`); off when unset. Mail to an
    /// email inbox's address (or `local+tag@domain`) is ingested like a webhook delivery.
    pub smtp_listen: Option<SocketAddr>,
    /// The largest message the SMTP receiver takes.
    pub smtp_max_message_bytes: usize,
    /// How often an idle `/api/v1/events` stream gets a keep-alive comment.
    pub events_keepalive_secs: u64,
    /// How often the SLA timer looks for missed targets.
    pub sla_check_ms: u64,
    /// How often the retention job (one node of a cluster at a time) purges what
    /// organizations' retention policies no longer keep.
    pub retention_check_secs: u64,
    /// An agent not seen (heartbeat) for this long is no longer online for assignment. Without
    /// Redis only: with it, `presence_ttl_secs` decides.
    pub presence_stale_secs: u64,
    /// With Redis: how long an agent's presence heartbeat lasts. The node holding an agent's
    /// inbox session beats three times per this; when the node dies, its agents are offline
    /// within this (`presence.rs`).
    pub presence_ttl_secs: u64,
    /// An OpenAI-compatible `/v1` base URL; unset: the offline responder, with no network.
    pub llm_base_url: Option<String>,
    pub llm_api_key: Option<Secret>,
    /// The chat model; required with `llm_base_url`.
    pub llm_model: Option<String>,
    /// A smaller, cheaper model for short FAQ-like questions the knowledge base clearly covers.
    pub llm_small_model: Option<String>,
    /// How long the model may take to start answering, and between two pieces of its answer.
    pub llm_timeout_secs: u64,
    /// Calls in flight to the model's provider at most (answers, sentiment, handoff notes);
    /// more wait for a place.
    pub llm_max_in_flight: usize,
    /// How long a customer waits, from their message, for the model's answer to start (the
    /// turn, a place, the first piece) before the offline responder answers instead; a turn
    /// the hub reaches later than that asks no model. A provider that answers 429 is left
    /// alone for its `Retry-After`, and customers are answered offline meanwhile.
    pub llm_first_piece_ms: u64,
    /// Embeds passages and questions at `llm_base_url` for hybrid retrieval when set.
    pub embeddings_model: Option<String>,
    /// Ranks passages by the meaning of the whole question too, with the sentence encoder built
    /// into the binary (all-MiniLM-L6-v2, no network), unless `embeddings_model` is set. An
    /// organization's passages are encoded in the background after each change (about 80 ms a
    /// passage on one core); its questions are ranked by their words alone until then.
    pub offline_encoder: bool,
}

impl Settings {
    /// The folder attachments are kept in ([`Settings::attachments_dir`], or the data dir's).
    pub fn attachments_dir(&self) -> PathBuf {
        self.attachments_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("attachments"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            attachments_dir: None,
            database_url: None,
            redis_url: None,
            public_url: None,
            admin_email: None,
            admin_password: None,
            no_demo: false,
            secret_key: None,
            secret_key_file: None,
            previous_secret_keys: None,
            session_hours: 24 * 7,
            // 200 a second, 2,000 at once: far above what an inbox's agents or a script
            // paging through the API do, well below what one organization needs to starve
            // the others.
            api_requests_per_minute: 12_000,
            api_burst: 2_000,
            trusted_proxies: Default::default(),
            metrics_token: None,
            request_timeout_secs: 30,
            delivery_concurrency: 8,
            delivery_retry_base_ms: 2_000,
            delivery_max_attempts: 8,
            delivery_poll_ms: 500,
            log_format: "text".into(),
            webchat_queue_frames: 64,
            webchat_ping_secs: 30,
            bot_workers: 4096,
            bot_queue: 65_536,
            bot_timeout_secs: 30,
            bot_recover_secs: 120,
            bot_enabled: true,
            smtp_listen: None,
            smtp_max_message_bytes: crate::startup::WEBHOOK_BODY_LIMIT,
            events_keepalive_secs: 15,
            sla_check_ms: 1_000,
            retention_check_secs: 3_600,
            presence_stale_secs: 300,
            presence_ttl_secs: 30,
            llm_base_url: None,
            llm_api_key: None,
            llm_model: None,
            llm_small_model: None,
            llm_timeout_secs: 20,
            llm_max_in_flight: switchboard_ai::llm::MAX_IN_FLIGHT,
            llm_first_piece_ms: switchboard_ai::llm::FIRST_PIECE_MS,
            embeddings_model: None,
            offline_encoder: true,
        }
    }
}

/// Flags given on the command line, which win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub values: Vec<(&'static str, String)>,
}

impl Settings {
    /// Loads the settings: defaults ← `file` ← environment ← `overrides`.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(file) = &overrides.config_file {
            anyhow::ensure!(
                file.is_file(),
                "config file {} does not exist",
                file.display()
            );
            builder = builder
                .add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("_")
                .try_parsing(true),
        );
        for (key, value) in &overrides.values {
            builder = builder.set_override(*key, value.as_str())?;
        }
        builder
            .build()
            .context("failed to read the configuration")?
            .try_deserialize()
            .context("invalid configuration")
    }

    /// The database to use: the configured URL, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchboard.db").display()
            ),
        }
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("switchboard.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nsession_hours = 2\n").expect("writes");
        let overrides = Overrides {
            config_file: Some(file),
            values: vec![("listen", "127.0.0.1:7000".into())],
        };
        let settings = Settings::load(&overrides).expect("loads");
        assert_eq!(settings.listen.port(), 7000);
        assert_eq!(settings.session_hours, 2);
        assert_eq!(settings.request_timeout_secs, 30);
        assert!(settings.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let overrides = Overrides {
            config_file: Some("/nonexistent/switchboard.toml".into()),
            values: vec![],
        };
        assert!(Settings::load(&overrides).is_err());
    }
}
