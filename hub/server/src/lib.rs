//! The Switchboard hub: the HTTP server (REST API, channel webhooks, operational routes), the
//! ingest and delivery pipelines, and the CLI behind the `switchboard` binary.
//!
//! Layers, from the edge in: the entry points (`api/` and `web.rs` for HTTP, `inbound.rs` for
//! channel webhooks, `chat/` for the web chat's socket, `smtp.rs`, the CLI in `commands.rs`,
//! the workers) call the application layer (`app/`: after ingest, after an agent's message,
//! the Slack desk), which calls the domain services (`routing/`, `bot.rs`, `understanding.rs`,
//! `notifications.rs`, `delivery.rs`) and through them the store and the bus. A service takes
//! the narrow context it uses (`RoutingContext`, `BotContext`, a store, a bus), never
//! `AppState`, which holds them.
//!
//! The public surface is what the binary, the integration tests and the benchmarks use,
//! re-exported below; every module is the crate's own.

mod ai;
mod api;
mod app;
mod attachments;
mod auth;
mod background;
mod bot;
mod bus;
mod chat;
mod cli;
mod client_address;
mod commands;
mod config;
mod csp;
mod delivery;
mod demo;
mod error;
mod gdpr;
mod helpdesk;
mod inbound;
mod knowledge_cli;
mod leased;
mod limits;
mod login;
mod lost_turns;
mod notifications;
mod presence;
mod retention;
mod rollups;
mod routing;
mod smtp;
mod snooze;
mod startup;
mod state;
mod telemetry;
mod understanding;
mod understanding_cli;
mod web;
mod webhooks;

pub use ai::{DEFAULT_MIN_CONFIDENCE, knowledge, llm_client, responder};
pub use app::ingest::ingest_events;
pub use attachments::path as attachment_path;
pub use bot::AcknowledgeOnly;
pub use cli::Cli;
pub use commands::{UsageError, connectors, run_blocking};
pub use config::Settings;
pub use routing::compiled_rules;
pub use startup::{Application, longest_graceful_stop};
pub use state::{AppState, ConnectorRegistry};
pub use telemetry::init_logging;
