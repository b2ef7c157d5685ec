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
        if let Err(err) = catch_up(&state, &shutdown).await {
            tracing::error!(error = %err, "cannot refresh the analytics roll-ups");
        }
    }
}

/// The share of the time the job may keep the database busy while it catches up: after a
/// batch that took `t` it waits `t × (1 − share) / share`. A burst of changed conversations
/// (every conversation of a busy minute) is then counted over a few seconds rather than in one
/// stretch that the customers' messages would queue behind.
const BUSY_SHARE: u32 = 5; // one part in five

/// Counts a batch at a time, pausing in between, until none is left.
async fn catch_up(
    state: &AppState,
    shutdown: &CancellationToken,
) -> Result<(), switchboard_store::StoreError> {
    loop {
        let started = tokio::time::Instant::now();
        let counted = state.store.refresh_analytics().await?;
        if counted == 0 {
            return Ok(());
        }
        let pause = started.elapsed() * (BUSY_SHARE - 1);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}
