//! Signed outbound webhooks: which bus events become deliveries, and the workers that send them.
//!
//! Events are taken where this node publishes them ([`tap`] wraps the bus), never from what
//! other nodes publish over Redis, so that a cluster queues each event once. The node's
//! enqueuer writes one `webhook_deliveries` row per subscription; the delivery workers of every
//! node claim due rows under a lease (`Store::claim_webhook_deliveries`), `POST` the stored body
//! signed with the subscription's secret, and retry with backoff. See `docs/webhooks.md`.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use switchboard_model::{BusEvent, ConversationStatus, Csat, HTTP_SCHEMES, check_outbound_url};
use switchboard_store::{ClaimedWebhook, RetryPolicy, Store, WebhookOutcome};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";
/// Events this node published, waiting to be queued; beyond this they are dropped and counted.
const TAP_QUEUE: usize = 16 * 1024;
/// A worker holds a delivery this long before another node may take it over.
const LEASE: Duration = Duration::from_secs(60);
/// A subscriber that has not answered in this time has failed (and is tried again).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the workers look for due deliveries.
const POLL: Duration = Duration::from_millis(200);
/// Deliveries sent at once by one node.
const CONCURRENCY: u64 = 16;
/// Attempts in all; then the delivery is `dead`. With the backoff below the last one is about
/// 10 hours after the first.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 10,
    base_delay: Duration::from_secs(30),
    max_delay: Duration::from_secs(4 * 3600),
};

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The bus as the rest of the hub sees it, copying what this node publishes to the enqueuer.
struct Tap {
    inner: Arc<dyn EventBus>,
    events: mpsc::Sender<BusEvent>,
}

impl EventBus for Tap {
    fn publish(&self, event: BusEvent) {
        if matches!(
            event,
            BusEvent::MessageCreated { .. } | BusEvent::ConversationChanged { .. }
        ) && self.events.try_send(event.clone()).is_err()
        {
            metrics::counter!("switchboard_webhook_events_dropped_total").increment(1);
        }
        self.inner.publish(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>> {
        self.inner.subscribe()
    }

    fn hears_other_nodes(&self) -> bool {
        self.inner.hears_other_nodes()
    }

    fn gaps(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.gaps()
    }
}

/// Wraps `bus` so that the events this node publishes also reach [`enqueue_events`] through
/// the receiver returned. Events from other nodes enter the inner bus directly and are not
/// copied.
pub fn tap(bus: Arc<dyn EventBus>) -> (Arc<dyn EventBus>, mpsc::Receiver<BusEvent>) {
    let (events, received) = mpsc::channel(TAP_QUEUE);
    (Arc::new(Tap { inner: bus, events }), received)
}

/// How long the enqueuer trusts what it read about an organization having subscriptions: a
/// subscription starts receiving events at most this long after it is created.
const SUBSCRIBED_TTL: Duration = Duration::from_secs(1);

/// Turns the events this node published into queued deliveries, until `shutdown`.
pub async fn enqueue_events(
    store: Store,
    mut events: mpsc::Receiver<BusEvent>,
    queued: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    // Whether each organization has subscriptions, and when that was read: most have none,
    // and their messages then cost no read each.
    let mut subscribed: HashMap<String, (bool, Instant)> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let org_id = event.org_id();
        let known = subscribed
            .get(org_id)
            .filter(|(_, read)| read.elapsed() < SUBSCRIBED_TTL)
            .map(|(has, _)| *has);
        let has = match known {
            Some(has) => has,
            None => match store.has_webhooks(org_id).await {
                Ok(has) => {
                    if subscribed.len() >= 10_000 {
                        subscribed.clear();
                    }
                    subscribed.insert(org_id.to_owned(), (has, Instant::now()));
                    has
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot read webhook subscriptions");
                    continue;
                }
            },
        };
        if !has {
            continue;
        }
        match enqueue(&store, &event).await {
            Ok(0) => {}
            Ok(_) => queued.notify_one(),
            Err(err) => {
                metrics::counter!("switchboard_webhook_events_dropped_total").increment(1);
                tracing::error!(error = %err, "cannot queue a webhook event");
            }
        }
    }
}

/// The event name of a conversation moving from `previous` to `status`, if it is one.
fn transition(previous: Option<&str>, status: ConversationStatus) -> Option<&'static str> {
    let was_done = matches!(previous, Some("resolved" | "closed"));
    match status {
        ConversationStatus::Resolved => Some("conversation.resolved"),
        ConversationStatus::Closed => None,
        _ if was_done => Some("conversation.reopened"),
        ConversationStatus::Escalated => Some("conversation.escalated"),
        ConversationStatus::Assigned => Some("conversation.assigned"),
        ConversationStatus::Bot => None,
    }
}

/// Queues the deliveries of one event; returns how many.
async fn enqueue(store: &Store, event: &BusEvent) -> switchboard_store::Result<usize> {
    match event {
        BusEvent::MessageCreated {
            org_id,
            inbox_id,
            message,
        } => {
            let data = json!({ "inbox_id": inbox_id, "message": message });
            store
                .enqueue_webhook_event(
                    org_id,
                    "message.created",
                    Some(&message.conversation_id),
                    data,
                )
                .await
        }
        BusEvent::ConversationChanged {
            org_id,
            inbox_id,
            conversation_id,
            status,
        } => {
            let Some(previous) = store
                .note_conversation_status(org_id, conversation_id, status.as_str())
                .await?
            else {
                return Ok(0);
            };
            let Some(name) = transition(previous.as_deref(), *status) else {
                return Ok(0);
            };
            // Its labels as they are now, so that a receiver can route by them.
            let labels = store.conversation_labels(org_id, conversation_id).await?;
            let data = json!({
                "conversation_id": conversation_id,
                "inbox_id": inbox_id,
                "status": status,
                "previous_status": previous,
                "labels": labels,
            });
            store
                .enqueue_webhook_event(org_id, name, Some(conversation_id), data)
                .await
        }
        _ => Ok(0),
    }
}

/// Queues `csat.submitted` for a customer's rating, on the node that stored it (a rating is
/// not a bus event: nothing else on the hub listens for one). Failing to queue it is logged and
/// counted, never the customer's problem.
pub async fn csat_submitted(store: &Store, org_id: &str, inbox_id: &str, csat: &Csat) {
    let data = json!({
        "conversation_id": csat.conversation_id,
        "inbox_id": inbox_id,
        "score": csat.score,
        "comment": csat.comment,
        "created_at": csat.created_at,
        "updated_at": csat.updated_at,
    });
    if let Err(err) = store
        .enqueue_webhook_event(org_id, "csat.submitted", Some(&csat.conversation_id), data)
        .await
    {
        metrics::counter!("switchboard_webhook_events_dropped_total").increment(1);
        tracing::error!(error = %err, "cannot queue a webhook event");
    }
}

/// Sends due deliveries until `shutdown`, then lets the ones in flight finish.
pub async fn run(store: Store, wakeup: Arc<tokio::sync::Notify>, shutdown: CancellationToken) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        // A redirect would send the signed body wherever the answer says, past the URL check.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the webhook HTTP client");
            return;
        }
    };
    let mut in_flight = tokio::task::JoinSet::new();
    while !shutdown.is_cancelled() {
        while in_flight.try_join_next().is_some() {}
        let free = CONCURRENCY.saturating_sub(in_flight.len() as u64);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match store.claim_webhook_deliveries(free, LEASE).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::error!(error = %err, "cannot claim webhook deliveries");
                    Vec::new()
                }
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = wakeup.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        for delivery in claimed {
            let (store, client) = (store.clone(), client.clone());
            in_flight.spawn(async move {
                let outcome = attempt(&store, &client, &delivery).await;
                let name = match &outcome {
                    WebhookOutcome::Delivered { .. } => "delivered",
                    WebhookOutcome::Retry { .. } => "retried",
                    WebhookOutcome::Dead { .. } => "dead",
                };
                metrics::counter!("switchboard_webhook_deliveries_total", "outcome" => name)
                    .increment(1);
                if let Err(err) = store
                    .finish_webhook_delivery(&delivery.delivery_id, outcome)
                    .await
                {
                    // The lease runs out and the delivery is sent again: nothing is lost.
                    tracing::error!(error = %err, "cannot record a webhook delivery");
                }
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// One signed `POST`, classified: 2xx delivered; 429, 5xx, timeouts and connection errors
/// retried (honouring `Retry-After`) until the last attempt; any other answer is final.
async fn attempt(
    store: &Store,
    client: &reqwest::Client,
    delivery: &ClaimedWebhook,
) -> WebhookOutcome {
    // Checked again before each send: the rules may have tightened since the subscription.
    if let Err(reason) = check_outbound_url("url", &delivery.url, HTTP_SCHEMES) {
        return WebhookOutcome::Dead {
            status_code: None,
            error: reason,
        };
    }
    let now = store.clock().now();
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(&delivery.secret, now.timestamp(), &delivery.body),
        )
        .header("X-Switchboard-Delivery", &delivery.delivery_id)
        .body(delivery.body.clone())
        .send()
        .await;
    let (status_code, error, retry_after) = match sent {
        Ok(response) if response.status().is_success() => {
            return WebhookOutcome::Delivered {
                status_code: response.status().as_u16(),
            };
        }
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds.min(24 * 3600)));
            let retriable = status.is_server_error() || status.as_u16() == 429;
            let error = format!("the subscriber answered {status}");
            if !retriable {
                return WebhookOutcome::Dead {
                    status_code: Some(status.as_u16()),
                    error,
                };
            }
            (Some(status.as_u16()), error, retry_after)
        }
        // Not the error's own text: which kind of silence a URL answers with is no business of
        // the delivery log (a probe of the network otherwise).
        Err(err) => {
            let what = if err.is_timeout() {
                "no answer in time"
            } else {
                "no answer"
            };
            (None, what.to_owned(), None)
        }
    };
    if delivery.attempt >= RETRY.max_attempts {
        return WebhookOutcome::Dead {
            status_code,
            error: format!("gave up after {} attempts: {error}", delivery.attempt),
        };
    }
    let delay = RETRY.delay(delivery.attempt, retry_after);
    WebhookOutcome::Retry {
        status_code,
        error,
        retry_at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_timestamp_and_the_body() {
        // The worked example of docs/webhooks.md.
        let body = r#"{"event":"message.created","data":{},"id":"0190b0a4-0000-7000-8000-000000000000","created_at":"2030-01-01T09:00:00Z"}"#;
        assert_eq!(
            signature("whsec_example", 1_893_488_400, body),
            "t=1893488400,v1=568933438b65283e6681869f48859a2e2dd4ac22441b8132944be4304c24a493"
        );
    }

    #[test]
    fn only_transitions_become_events() {
        use ConversationStatus::*;
        assert_eq!(
            transition(Some("bot"), Escalated),
            Some("conversation.escalated")
        );
        assert_eq!(transition(None, Assigned), Some("conversation.assigned"));
        assert_eq!(
            transition(Some("assigned"), Resolved),
            Some("conversation.resolved")
        );
        assert_eq!(
            transition(Some("resolved"), Bot),
            Some("conversation.reopened")
        );
        assert_eq!(
            transition(Some("closed"), Escalated),
            Some("conversation.reopened")
        );
        assert_eq!(transition(None, Bot), None);
        assert_eq!(transition(Some("assigned"), Closed), None);
    }
}
