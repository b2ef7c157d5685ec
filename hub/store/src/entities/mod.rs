//! The sea-orm entities: one module per table, rows exactly as stored. Nothing outside this
//! crate sees them; queries convert them into `switchboard_model` records.

pub mod api_key;
pub mod audit_log;
pub mod contact;
pub mod contact_identity;
pub mod conversation;
pub mod delivery_job;
pub mod inbox;
pub mod kb_article;
pub mod kb_article_version;
pub mod kb_revision;
pub mod knowledge_gap;
pub mod message;
pub mod organization;
pub mod session;
pub mod team;
pub mod thread;
pub mod user;
