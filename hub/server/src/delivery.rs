//! The outbox workers: claim due delivery jobs, hand each to its inbox's connector, and record
//! the outcome — sent, retried later with backoff, or failed for agents to see.

use std::{borrow::Cow, sync::Arc, time::Duration};

use switchboard_model::{BusEvent, DeliveryError, DeliveryStatus, OutboundMessage};
use switchboard_store::{ClaimedJob, RetryPolicy};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// A worker holds a job this long before another may take it over; longer than any delivery.
const LEASE: Duration = Duration::from_secs(120);
/// A connector call that takes longer has failed (and will be retried).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Why a message whose earlier attempt may have reached the platform is not sent again.
const OUTCOME_UNKNOWN: &str = "the hub stopped while sending this message, so it may or may \
     not have reached the customer; it is not sent again, so that it cannot arrive twice: check \
     the conversation on the channel and send it again if it is missing";

/// Runs until `shutdown`, then lets the deliveries in flight finish.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let channels = state.connectors.channels();
    if channels.is_empty() {
        return;
    }
    let settings = state.settings.clone();
    let policy = RetryPolicy {
        max_attempts: settings.delivery_max_attempts.max(1),
        base_delay: Duration::from_millis(settings.delivery_retry_base_ms),
        max_delay: Duration::from_secs(600),
    };
    let poll = Duration::from_millis(settings.delivery_poll_ms.max(10));
    let permits = Arc::new(Semaphore::new(settings.delivery_concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    while !shutdown.is_cancelled() {
        while in_flight.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                _ = in_flight.join_next() => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        let jobs = match state.store.claim_jobs(&channels, free as u64, LEASE).await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::error!(error = %err, "cannot claim delivery jobs");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = state.delivery_wakeup.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let state = state.clone();
            in_flight.spawn(async move {
                deliver(&state, &policy, job).await;
                drop(permit);
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
}

#[tracing::instrument(skip_all, fields(channel = %job.message.channel, message_id = %job.message.message_id, attempt = job.message.attempt))]
async fn deliver(state: &AppState, policy: &RetryPolicy, job: ClaimedJob) {
    let channel = job.message.channel.as_str();
    let outcome = attempt(state, &job).await;
    let recorded = match outcome {
        Ok(channel_message_id) => {
            metrics::counter!("switchboard_deliveries_total", "channel" => channel, "outcome" => "sent").increment(1);
            let recorded = state
                .store
                .complete_job(&job, channel_message_id.as_deref())
                .await;
            if recorded.is_ok() {
                publish(state, &job, DeliveryStatus::Sent);
            }
            recorded
        }
        Err(DeliveryError::Retriable {
            reason,
            retry_after,
        }) if job.message.attempt < policy.max_attempts => {
            metrics::counter!("switchboard_deliveries_total", "channel" => channel, "outcome" => "retried").increment(1);
            let delay = policy.delay(job.message.attempt, retry_after);
            tracing::warn!(%reason, ?delay, "delivery failed, will retry");
            let retry_at =
                state.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
            state.store.retry_job(&job, &reason, retry_at).await
        }
        Err(err) => {
            metrics::counter!("switchboard_deliveries_total", "channel" => channel, "outcome" => "failed").increment(1);
            let reason = match err {
                DeliveryError::Permanent { reason } => reason,
                DeliveryError::Retriable { reason, .. } => {
                    format!("gave up after {} attempts: {reason}", job.message.attempt)
                }
            };
            tracing::warn!(%reason, "delivery failed for good");
            let recorded = state.store.fail_job(&job, &reason).await;
            if recorded.is_ok() {
                publish(state, &job, DeliveryStatus::Failed);
            }
            recorded
        }
    };
    if let Err(err) = recorded {
        // The lease runs out and the job is tried again: nothing is lost.
        tracing::error!(error = %err, "cannot record the delivery outcome");
    }
}

/// One call to the connector, bounded in time.
async fn attempt(state: &AppState, job: &ClaimedJob) -> Result<Option<String>, DeliveryError> {
    let permanent = |reason: String| DeliveryError::Permanent { reason };
    let inbox = state
        .store
        .inbox_for_channel(&job.message.inbox_id)
        .await
        .map_err(|err| DeliveryError::Retriable {
            reason: err.to_string(),
            retry_after: None,
        })?
        .ok_or_else(|| permanent("the inbox no longer exists".into()))?;
    let connector = state
        .connectors
        .connector_for(&inbox)
        .map_err(|err| permanent(err.to_string()))?;
    // At most once where a second copy would reach the customer (ARCHITECTURE.md, "The outbox
    // across a crash").
    if job.lapsed && !connector.resends_are_harmless() {
        return Err(permanent(OUTCOME_UNKNOWN.into()));
    }
    let message = with_files(state, &job.message).await?;
    match tokio::time::timeout(DELIVERY_TIMEOUT, connector.deliver(&message)).await {
        Ok(result) => result.map(|receipt| receipt.channel_message_id),
        Err(_) => Err(DeliveryError::Retriable {
            reason: format!("no answer within {DELIVERY_TIMEOUT:?}"),
            retry_after: None,
        }),
    }
}

/// The message with the bytes of the files the hub keeps for it (an agent's uploads), which
/// the connector sends; connectors never read the disk themselves.
async fn with_files<'a>(
    state: &AppState,
    message: &'a OutboundMessage,
) -> Result<Cow<'a, OutboundMessage>, DeliveryError> {
    if message.attachments.is_empty() {
        return Ok(Cow::Borrowed(message));
    }
    let files = crate::attachments::read_kept(
        &state.settings.attachments_dir(),
        &message.org_id,
        &message.attachments,
    )
    .await
    .map_err(|err| match err.kind() {
        // Erased with the contact, or purged by retention, before it went out.
        std::io::ErrorKind::NotFound => DeliveryError::Permanent {
            reason: "an attached file is no longer kept".into(),
        },
        _ => DeliveryError::Retriable {
            reason: format!("cannot read an attached file: {err}"),
            retry_after: None,
        },
    })?;
    Ok(Cow::Owned(OutboundMessage {
        files,
        ..message.clone()
    }))
}

fn publish(state: &AppState, job: &ClaimedJob, status: DeliveryStatus) {
    state.bus.publish(BusEvent::DeliveryChanged {
        org_id: job.message.org_id.clone(),
        conversation_id: job.message.conversation_id.clone(),
        message_id: job.message.message_id.clone(),
        status,
    });
}
