//! The sea-orm entities: one module per table, rows exactly as stored. Nothing outside this
//! crate sees them; queries convert them into `switchboard_model` records.

pub mod api_key;
pub mod audit_log;
pub mod canned_response;
pub mod contact;
pub mod contact_identity;
pub mod conversation;
pub mod csat_response;
pub mod delivery_job;
pub mod inbox;
pub mod message;
pub mod organization;
pub mod session;
pub mod team;
pub mod thread;
pub mod topic_model;
pub mod user;
