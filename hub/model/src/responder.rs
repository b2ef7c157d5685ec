//! The seam between the hub and whatever answers customers: the offline retrieval responder, an
//! LLM. The server asks a `Responder` when a customer writes in a conversation the bot holds; the
//! responder streams pieces of its answer through `Deltas` and returns the whole answer or declines.

use std::time::Duration;

use crate::{Message, Source};

/// What the bot is asked to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub org_id: String,
    pub inbox_id: String,
    pub conversation_id: String,
    /// The customer's latest message.
    pub text: String,
    /// Earlier messages of the conversation, oldest first, without private notes.
    pub history: Vec<Message>,
    /// Answers less confident than this are not sent: the conversation goes to a person.
    pub min_confidence: f64,
    /// The organization's knowledge stamp, when the caller read it with the question (the
    /// responder then need not read it again); `None`: the responder reads it.
    pub knowledge_stamp: Option<String>,
    /// When the hub took the customer's message (for a turn answering several, the first still
    /// unanswered): a model's answer must start within its first-piece bound of this, not of
    /// the call, so a hub that fell behind answers another way rather than let the customer
    /// wait on. `None`: the bound runs from the call.
    pub received_at: Option<std::time::Instant>,
}

/// A grounded answer the responder stands behind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub sources: Vec<Source>,
    /// 0..1.
    pub confidence: Option<f64>,
    /// The model that wrote it; `None` for the offline responder.
    pub model: Option<String>,
    /// Tokens the model used (prompt + completion).
    pub tokens: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Answered(Answer),
    /// No grounded answer above the threshold: the conversation goes to a person.
    Declined {
        reason: String,
        confidence: Option<f64>,
    },
}

/// Receives the pieces of an answer while it is generated, to stream them to the customer.
pub trait Deltas: Send + Sync {
    fn push(&self, text: &str);

    /// What a model that answered made of the customer's latest message: its sentiment, 0
    /// (very negative) to 100 (very positive), told with the answer so that the message need
    /// not be sent to the model a second time to be scored. By default, nobody listens.
    fn sentiment(&self, _score: u8) {}
}

/// Discards the pieces: for callers that only want the whole answer (evaluation, tests).
pub struct NoDeltas;

impl Deltas for NoDeltas {
    fn push(&self, _text: &str) {}
}

#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
    /// The model was not asked: its provider is at the hub's limit of calls in flight or has
    /// asked it to wait (a 429). Nothing was streamed, so another engine may answer instead.
    #[error("the model is busy: {0}")]
    Busy(String),
    /// The model was not asked: the turn started this long after the customer's message, past
    /// the bound for the answer's first piece (the hub is behind). Nothing was streamed.
    #[error("the turn started {0:?} after the customer's message")]
    Late(Duration),
}

#[async_trait::async_trait]
pub trait Responder: Send + Sync + 'static {
    async fn respond(
        &self,
        question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError>;
}
