//! What a channel sent that the hub acknowledges but does not store: each
//! [`IgnoredEvent`] a connector reports is counted (`switchboard_inbound_dropped_total{channel,
//! reason}`), logged once with the dead letter's id, and kept with the request's body, so that
//! a customer's message in a shape nobody foresaw is found rather than lost
//! (`GET /api/v1/dead-letters`).

use switchboard_model::{IgnoredEvent, Inbox};
use switchboard_store::{Store, StoreError};

/// Keeps one dead letter for what `inbox` received in `body`. A platform's resend of an event
/// kept already is neither counted nor logged again.
pub async fn keep(
    store: &Store,
    inbox: &Inbox,
    ignored: &IgnoredEvent,
    body: &[u8],
) -> Result<(), StoreError> {
    let Some(id) = store
        .keep_dead_letter(&inbox.org_id, &inbox.id, inbox.channel, ignored, body)
        .await?
    else {
        return Ok(());
    };
    metrics::counter!(
        "switchboard_inbound_dropped_total",
        "channel" => inbox.channel.as_str(),
        "reason" => ignored.reason.as_str(),
    )
    .increment(1);
    tracing::warn!(
        dead_letter_id = %id,
        inbox_id = %inbox.id,
        channel = %inbox.channel.as_str(),
        reason = ignored.reason.as_str(),
        event_id = ignored.event_id.as_deref().unwrap_or(""),
        detail = %ignored.detail,
        "acknowledged a payload and kept it as a dead letter"
    );
    Ok(())
}
