//! Switchboard's database schema as sea-orm migrations, for SQLite and PostgreSQL alike.
//!
//! Migrations only ever add: a released migration is never edited, a change is a new one.

pub use m20261213_000100_anonymous_identities_unsearched::searched_identity;
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_routing;
mod m20261123_000007_email;
mod m20261123_000010_knowledge;
mod m20261123_000050_understanding;
mod m20261123_000060_canned_responses;
mod m20261123_000070_sla_hours_capacity;
mod m20261123_000080_slack_desk;
mod m20261123_000090_handoff_summary_source;
mod m20261123_000301_csat;
mod m20261204_000100_helpdesk;
mod m20261204_000110_helpdesk_priority;
mod m20261205_000100_analytics;
mod m20261205_000200_webhooks;
mod m20261205_000300_labels;
mod m20261205_000300_search;
mod m20261205_000310_snooze;
mod m20261205_000400_retention;
mod m20261206_000100_postgres_write_path;
mod m20261207_000200_notifications;
mod m20261207_000300_contact_labels;
mod m20261207_000400_contact_search;
mod m20261208_000100_dead_letters;
mod m20261208_000200_analytics_rollups;
mod m20261209_000100_analytics_events;
mod m20261210_000100_analytics_marks_from_events;
mod m20261211_000100_analytics_events_batched;
mod m20261212_000100_gin_pending_lists;
mod m20261213_000100_anonymous_identities_unsearched;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_routing::Migration),
            Box::new(m20261123_000007_email::Migration),
            Box::new(m20261123_000010_knowledge::Migration),
            Box::new(m20261123_000050_understanding::Migration),
            Box::new(m20261123_000060_canned_responses::Migration),
            Box::new(m20261123_000070_sla_hours_capacity::Migration),
            Box::new(m20261123_000080_slack_desk::Migration),
            Box::new(m20261123_000090_handoff_summary_source::Migration),
            Box::new(m20261123_000301_csat::Migration),
            Box::new(m20261204_000100_helpdesk::Migration),
            Box::new(m20261204_000110_helpdesk_priority::Migration),
            Box::new(m20261205_000100_analytics::Migration),
            Box::new(m20261205_000200_webhooks::Migration),
            Box::new(m20261205_000300_labels::Migration),
            Box::new(m20261205_000300_search::Migration),
            Box::new(m20261205_000310_snooze::Migration),
            Box::new(m20261205_000400_retention::Migration),
            Box::new(m20261206_000100_postgres_write_path::Migration),
            Box::new(m20261207_000200_notifications::Migration),
            Box::new(m20261207_000300_contact_labels::Migration),
            Box::new(m20261207_000400_contact_search::Migration),
            Box::new(m20261208_000100_dead_letters::Migration),
            Box::new(m20261208_000200_analytics_rollups::Migration),
            Box::new(m20261209_000100_analytics_events::Migration),
            Box::new(m20261210_000100_analytics_marks_from_events::Migration),
            Box::new(m20261211_000100_analytics_events_batched::Migration),
            Box::new(m20261212_000100_gin_pending_lists::Migration),
            Box::new(m20261213_000100_anonymous_identities_unsearched::Migration),
        ]
    }
}
