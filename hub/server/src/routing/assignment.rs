//! Keeping the human queue moving: conversations of agents who went away go back to the queue,
//! and queued conversations go to online agents with room, oldest and most urgent first.
//!
//! The store does the choosing (`Store::auto_assign`, `Store::assign_queued`, serialized per
//! organization); this module decides when to ask: on the routing timer's every tick (which
//! also notices heartbeats going stale), and at once when an agent comes online or goes away,
//! when a conversation is resolved or handed back to the AI.

use switchboard_routing::assignment::Liveness;
use switchboard_store::StoreError;

use super::RoutingContext;
use crate::bus::publish_change;

/// Takes back the unanswered conversations of absent agents and assigns every organization's
/// queue. Returns how many conversations moved.
pub async fn rebalance(state: &RoutingContext) -> Result<usize, StoreError> {
    let liveness = super::liveness(state).await;
    let released = state.store.release_absent_agents(&liveness).await?;
    for release in &released {
        tracing::info!(
            conversation_id = %release.conversation.id,
            from_user_id = %release.from_user_id,
            reason = release.reason,
            "conversation back in the queue: its agent went away"
        );
        metrics::counter!("switchboard_reassignments_total", "reason" => release.reason)
            .increment(1);
        publish_change(state.bus.as_ref(), &release.conversation);
    }
    let mut moved = released.len();
    for org_id in state.store.orgs_to_assign(&liveness).await? {
        moved += assign_queue_of(state, &org_id, &liveness).await?;
    }
    Ok(moved)
}

/// Assigns the organization's queue to online agents with room (after a resolve, a hand-back,
/// an agent coming online). Returns how many were assigned.
pub async fn assign_queue(state: &RoutingContext, org_id: &str) -> Result<usize, StoreError> {
    let liveness = super::liveness(state).await;
    assign_queue_of(state, org_id, &liveness).await
}

/// [`assign_queue`] among the agents alive by `liveness`.
async fn assign_queue_of(
    state: &RoutingContext,
    org_id: &str,
    liveness: &Liveness,
) -> Result<usize, StoreError> {
    let assigned = state.store.assign_queued(org_id, liveness).await?;
    for conversation in &assigned {
        publish_change(state.bus.as_ref(), conversation);
        crate::notifications::assigned(&state.store, state.bus.as_ref(), conversation, None, None)
            .await;
    }
    Ok(assigned.len())
}

/// [`assign_queue`] where a failure must not fail the request that freed the capacity: the
/// routing timer tries again within `sla_check_ms`.
pub async fn capacity_freed(state: &RoutingContext, org_id: &str) {
    if let Err(err) = assign_queue(state, org_id).await {
        tracing::warn!(%org_id, error = %err, "cannot assign the queue now; the timer will");
    }
}
