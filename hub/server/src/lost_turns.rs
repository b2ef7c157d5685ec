//! Lost bot turns: a customer's message is acknowledged once committed; its routing and the
//! bot's turn run after that, from memory. A node that dies takes the ones it had queued with
//! it, and a turn that fails (the database went away) leaves its question unanswered. Every
//! quarter of `bot_recover_secs` (at most every 15 s) the node that takes the `lost-turns`
//! lease looks for conversations the bot holds whose newest message is a customer's between
//! `bot_recover_secs` and an hour old, and runs for each what the message sets off: routing,
//! then the bot's turn (`app::ingest::after_customer_message`). The bound is well past a
//! turn's own (`bot_timeout_secs`), so that a turn still queued on a live node is not taken
//! twice; an older question is left to the agents, who see it in the queue.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{app::ingest::after_customer_message, leased::Leased, state::AppState};

const LEASE: &str = "lost-turns";
/// Questions older than this are not answered by the bot any more.
const HORIZON: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Questions taken up in one pass; the rest wait for the next.
const PER_PASS: u64 = 200;
const LONGEST_PERIOD: Duration = Duration::from_secs(15);

/// Runs until `shutdown`; does nothing when the bot is off.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    if !state.settings.bot_enabled {
        return;
    }
    let after = Duration::from_secs(state.settings.bot_recover_secs.max(1));
    let period = (after / 4).clamp(Duration::from_millis(250), LONGEST_PERIOD);
    // Kept for two periods: a node that dies hands the job on within that.
    let mut rounds = Leased::new(state.store.clone(), LEASE, period, period * 2);
    while rounds.next_round(&shutdown).await.is_some() {
        if let Err(err) = pass(&state, after).await {
            tracing::warn!(%err, "cannot look for lost bot turns");
        }
    }
}

/// One pass: routes and answers, in the background lane, every question found; returns how
/// many. Waits for them, so that the next pass does not find them again.
pub async fn pass(
    state: &AppState,
    after: Duration,
) -> Result<usize, switchboard_store::StoreError> {
    let now = state.clock.now();
    let until = now - chrono::TimeDelta::from_std(after).unwrap_or(HORIZON);
    let found = state
        .store
        .unanswered_bot_questions(now - HORIZON, until, PER_PASS)
        .await?;
    let count = found.len();
    let mut runs = Vec::with_capacity(count);
    for (conversation, message) in found {
        tracing::info!(
            conversation_id = %conversation.id,
            seq = message.seq,
            "a customer's message had no bot turn: routing and answering it now"
        );
        metrics::counter!("switchboard_bot_turns_recovered_total").increment(1);
        let lane = state.in_background();
        runs.push(state.background.spawn(async move {
            after_customer_message(&lane, &conversation, &message).await;
        }));
    }
    for run in runs {
        let _ = run.await;
    }
    Ok(count)
}
