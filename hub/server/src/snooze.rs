//! The snooze timer: every `sla_check_ms` (the routing timer's period) it wakes the
//! conversations whose snooze time has come by the hub's [`switchboard_model::Clock`] and
//! announces each through `ConversationChanged`, so that open inboxes show it again. Every
//! node runs it; the store wakes each conversation on exactly one.

use std::time::Duration;

use switchboard_model::BusEvent;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Runs until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let period = Duration::from_millis(state.settings.sla_check_ms.max(50));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        if let Err(err) = wake_once(&state).await {
            tracing::error!(error = %err, "cannot wake snoozed conversations");
        }
    }
}

/// One pass: wakes and announces every conversation due now. Returns how many woke.
pub async fn wake_once(state: &AppState) -> Result<usize, switchboard_store::StoreError> {
    let woken = state.store.wake_due_snoozes(state.clock.now()).await?;
    for conversation in &woken {
        state.bus.publish(BusEvent::ConversationChanged {
            org_id: conversation.org_id.clone(),
            inbox_id: conversation.inbox_id.clone(),
            conversation_id: conversation.conversation_id.clone(),
            status: conversation.status,
        });
    }
    Ok(woken.len())
}
