//! What every connector would otherwise write again: the HTTP client ([`client`]), sending a
//! request and classifying the answer with its `Retry-After` ([`send`], [`Answer`]),
//! HMAC-SHA256 signatures and constant-time secret checks ([`signature`]), and the order in
//! which a reply's text and files go out ([`send_text_and_files`]).
//!
//! A connector keeps what is its platform's own: the URLs, the wire types, how an error body
//! reads and which of the platform's error codes mean "slow down". This crate depends only on
//! `switchboard-model`, so that a connector depending on it still depends on nothing of the hub.

mod answer;
mod client;
mod files;
pub mod signature;

pub use answer::{Answer, retry_after, send};
pub use client::{DEFAULT_TIMEOUT, USER_AGENT, client};
pub use files::send_text_and_files;
