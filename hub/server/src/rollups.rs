//! The analytics roll-ups' job: every few seconds it counts again the conversations that
//! changed (`Store::refresh_analytics`), so that reports read a row a day and find it current.
//! A conversation changed several times between two runs is counted once: the longer the
//! period, the less the job costs while messages arrive (a report counts what is left first).
//! Every node runs it; on PostgreSQL one at a time counts (an advisory lock), and a report
//! catches up what is left before it reads.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the job looks for changed conversations.
const PERIOD: Duration = Duration::from_secs(10);

/// Runs until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        // A batch at a time, yielding in between, until none is left.
        if let Err(err) = state.store.catch_up_analytics(usize::MAX).await {
            tracing::error!(error = %err, "cannot refresh the analytics roll-ups");
        }
    }
}
