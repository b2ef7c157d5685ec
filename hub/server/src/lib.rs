//! The Switchboard hub: the HTTP server (REST API, channel webhooks, operational routes), the
//! ingest and delivery pipelines, and the CLI behind the `switchboard` binary.

pub mod ai;
pub mod api;
pub mod attachments;
pub mod auth;
pub mod background;
pub mod bot;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod commands;
pub mod config;
pub mod csp;
pub mod delivery;
pub mod demo;
pub mod error;
pub mod gdpr;
pub mod helpdesk;
pub mod ingest;
pub mod knowledge_cli;
pub mod login;
pub mod notifications;
pub mod retention;
pub mod routing;
pub mod slack_desk;
pub mod smtp;
pub mod snooze;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod understanding;
pub mod web;
pub mod webhooks;

pub use config::Settings;
pub use startup::Application;
pub use state::{AppState, ConnectorRegistry};
