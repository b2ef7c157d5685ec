//! What every connector would otherwise write again: the HTTP client ([`client`]), sending a
//! request and classifying the answer with its `Retry-After` ([`send`], [`Answer`]),
//! HMAC-SHA256 signatures and constant-time secret checks ([`signature`]), and the order in
//! which a reply's text and files go out ([`send_text_and_files`]).
//!
//! The feature `http` (on by default; the workspace's connectors ask for it by name) brings the
//! client and `send`; without it (email, web chat) the crate pulls in no HTTP client.
//!
//! A connector keeps what is its platform's own: the URLs, the wire types, how an error body
//! reads and which of the platform's error codes mean "slow down". This crate depends only on
//! `switchboard-model`, so that a connector depending on it still depends on nothing of the hub.

#[cfg(feature = "http")]
mod answer;
#[cfg(feature = "http")]
mod client;
mod files;
pub mod signature;

#[cfg(feature = "http")]
pub use answer::{Answer, retry_after, send};
#[cfg(feature = "http")]
pub use client::{DEFAULT_TIMEOUT, USER_AGENT, client};
pub use files::send_text_and_files;
