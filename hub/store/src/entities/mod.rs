//! The sea-orm entities: one module per table, rows exactly as stored. Nothing outside this
//! crate sees them; queries convert them into `switchboard_model` records.

pub mod agent_capacity;
pub mod agent_presence;
pub mod api_key;
pub mod audit_log;
pub mod canned_response;
pub mod contact;
pub mod contact_identity;
pub mod contact_value;
pub mod conversation;
pub mod conversation_routing;
pub mod csat_response;
pub mod delivery_job;
pub mod escalation_rule;
pub mod handoff;
pub mod helpdesk_comment;
pub mod helpdesk_cursor;
pub mod helpdesk_ticket;
pub mod inbox;
pub mod kb_article;
pub mod kb_article_version;
pub mod kb_revision;
pub mod knowledge_gap;
pub mod lease;
pub mod message;
pub mod organization;
pub mod routing_settings;
pub mod session;
pub mod sla_policy;
pub mod slack_desk_message;
pub mod slack_mirror;
pub mod team;
pub mod team_member;
pub mod thread;
pub mod topic_model;
pub mod user;
