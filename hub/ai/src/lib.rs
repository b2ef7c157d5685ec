//! Switchboard's AI, with no database and no HTTP server: the knowledge base's search index,
//! the responders behind `switchboard_model::Responder`, sentiment and topic classification.
//! The server stores what these compute and decides what to do with it.

pub mod article;
pub mod cache;
pub mod embeddings;
pub mod encoder;
pub mod eval;
pub mod handoff_llm;
pub mod house;
pub mod index;
pub mod labelled;
pub mod llm;
pub mod offline;
pub mod pii;
pub mod responder;
pub mod sentiment;
pub mod sentiment_llm;
pub mod text;
pub mod thesaurus;
pub mod topics;
pub mod vectors;
pub mod vocabulary;
