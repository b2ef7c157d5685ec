//! The routing timer: every `sla_check_ms` it looks for first-response and resolution targets
//! that came due unmet, marks each breached once (across nodes), counts it in
//! `switchboard_sla_breaches_total`, and tells the inbox through `ConversationChanged`. The
//! store writes the `sla.breached` audit entry in the same transaction as the mark. Then it
//! moves the human queue ([`super::assignment::rebalance`]): conversations of agents who went
//! away or stopped sending heartbeats go back to the queue, and the queue goes to agents with
//! room. "Now" is the hub's [`switchboard_model::Clock`].

use std::time::Duration;

use switchboard_model::BusEvent;
use tokio_util::sync::CancellationToken;

use super::RoutingContext;

/// Runs every `period` until `shutdown`.
pub async fn run(state: RoutingContext, period: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        if let Err(err) = check_once(&state).await {
            tracing::error!(error = %err, "cannot check SLA targets");
        }
        if let Err(err) = super::assignment::rebalance(&state).await {
            tracing::error!(error = %err, "cannot move the human queue");
        }
    }
}

/// One pass: marks and announces every target due now. Returns how many were breached.
pub async fn check_once(state: &RoutingContext) -> Result<usize, switchboard_store::StoreError> {
    let breaches = state.store.detect_sla_breaches(state.clock.now()).await?;
    for breach in &breaches {
        tracing::info!(
            conversation_id = %breach.conversation_id,
            target = breach.target,
            due_at = %breach.due_at,
            "SLA target breached"
        );
        metrics::counter!("switchboard_sla_breaches_total", "target" => breach.target).increment(1);
        state.bus.publish(BusEvent::ConversationChanged {
            org_id: breach.org_id.clone(),
            inbox_id: breach.inbox_id.clone(),
            conversation_id: breach.conversation_id.clone(),
            status: breach.status,
        });
    }
    Ok(breaches.len())
}
