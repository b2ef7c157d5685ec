//! The application layer: the use cases that several entry points share (HTTP handlers, the
//! web chat's socket, the SMTP listener, the workers). Handlers parse and check a request and
//! call these; these call the store, the bus, routing and the bot. No module outside `api/`
//! calls into a handler module.

pub mod agent_reply;
pub mod dead_letters;
pub mod ingest;
pub mod slack_desk;
