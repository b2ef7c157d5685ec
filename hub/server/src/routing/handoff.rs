//! The handoff note by the configured LLM: the one part of a handoff that does I/O. The
//! summary's wording, and the extractive summary used without an LLM or when it fails, are
//! `switchboard_routing::handoff`.

use std::time::Instant;

use switchboard_ai::handoff_llm::{self, Hints};
use switchboard_model::Message;
use switchboard_routing::handoff::{Context, Summary, from_note, summarize};

use crate::state::AppState;

/// The summary and the suggested reply by the configured LLM, within
/// [`handoff_llm::HUB_TIMEOUT`]; the extractive ones ([`summarize`]) when no LLM is configured
/// or it fails. `history` is the conversation without notes, oldest first. Called before the
/// escalation's transaction, never inside it.
pub async fn write(state: &AppState, history: &[Message], context: &Context<'_>) -> Summary {
    let Some(client) = &state.llm else {
        return summarize(history, context);
    };
    let started = Instant::now();
    let hints = Hints {
        topic: context.topic,
        sentiment: context.sentiment,
    };
    match handoff_llm::write(client, history, hints, handoff_llm::HUB_TIMEOUT).await {
        Ok(note) => {
            metrics::counter!("switchboard_llm_handoff_total", "outcome" => "llm").increment(1);
            metrics::histogram!("switchboard_llm_handoff_seconds")
                .record(started.elapsed().as_secs_f64());
            from_note(
                &note.wants,
                &note.tried,
                &note.mood,
                note.suggested_reply,
                context.sentiment,
            )
        }
        Err(err) => {
            metrics::counter!("switchboard_llm_handoff_total", "outcome" => "fallback")
                .increment(1);
            tracing::warn!(%err, "LLM handoff note failed; writing the extractive one");
            summarize(history, context)
        }
    }
}
