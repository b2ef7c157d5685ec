//! `GET /api/v1/events`: the event bus as server-sent events, for the agent inbox. Each client
//! gets its organization's conversation events through its own bounded buffer; a client too slow
//! to drain it is disconnected, reconnects and reloads from the REST API (the store is the
//! source of truth, the stream only says what to reload).
//!
//! The route takes the usual `Authorization: Bearer` header: the inbox reads it with `fetch`
//! and a streaming body rather than `EventSource`, so that no token ever appears in a URL.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use switchboard_model::{BusEvent, Permission};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::{auth::Auth, error::ApiResult, presence::Held, state::AppState};

/// Events buffered per client before it counts as too slow and is dropped.
pub const CLIENT_BUFFER: usize = 256;

/// Streams the caller's organization's events: `message_created`, `conversation_changed` and
/// `delivery_changed` (the JSON of the bus event in each `data:` line; its `type` names it),
/// and the caller's own `notification_created` (never another user's).
/// The first event, `ready`, says the subscription is live; reload what you show after it.
/// Comment lines keep idle connections open. Needs `conversations:read`.
#[utoipa::path(get, path = "/events", tag = "events",
    responses((status = 200, content_type = "text/event-stream", body = StreamEvent,
        description = "A stream of server-sent events")))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require(Permission::ConversationsRead)?;
    metrics::counter!("switchboard_event_streams_total").increment(1);
    // An agent's open inbox keeps their presence alive (with Redis) for as long as it streams.
    let session = match auth.principal.user_id() {
        Some(user_id) => state.heartbeats.hold(user_id).await,
        None => None,
    };
    let events = client_events(
        state.bus.subscribe(),
        state.bus.gaps(),
        Viewer {
            org_id: auth.org_id().to_owned(),
            user_id: auth.principal.user_id().map(str::to_owned),
        },
        CLIENT_BUFFER,
        state.shutdown.clone(),
        session,
    );
    let keep_alive = Duration::from_secs(state.settings.events_keepalive_secs.max(1));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive)))
}

/// One event of the stream as an SSE parser hands it over: its `event:` line and its `data:`
/// line. Never built: the frames are written by axum's `Event`; this only describes them.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the frames in the OpenAPI document only"
)]
struct StreamEvent {
    /// `ready` on the first event; the others have no `event:` line (their `type` is in the
    /// data).
    event: Option<String>,
    /// The bus event as JSON (`{}` for `ready`).
    data: String,
}

/// Whose stream it is.
struct Viewer {
    org_id: String,
    /// `None` for an API key, which has no notifications.
    user_id: Option<String>,
}

/// Whether the inbox shows this event. Answer deltas are left out: the inbox shows whole
/// messages, and deltas would multiply the traffic of every open inbox. A notification goes
/// to its recipient alone.
fn shown(event: &BusEvent, viewer: &Viewer) -> bool {
    event.org_id() == viewer.org_id
        && match event {
            BusEvent::AnswerDelta { .. } => false,
            BusEvent::NotificationCreated { user_id, .. } => {
                viewer.user_id.as_deref() == Some(user_id.as_str())
            }
            _ => true,
        }
}

/// Moves the organization's events from the bus into a buffer of `capacity` events that the
/// response drains. The forwarding task ends, and with it the stream, when the buffer is full
/// (a slow client), when the bus dropped events for this subscriber, when the client is gone,
/// or when the hub shuts down (so that graceful shutdown does not wait for open streams). The
/// agent's `session` (their presence heartbeat) lives as long as the task.
fn client_events(
    mut bus: broadcast::Receiver<Arc<BusEvent>>,
    mut gaps: watch::Receiver<u64>,
    viewer: Viewer,
    capacity: usize,
    shutdown: CancellationToken,
    session: Option<Held>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (sender, receiver) = mpsc::channel::<Event>(capacity);
    tokio::spawn(async move {
        let _session = session;
        if sender
            .try_send(Event::default().event("ready").data("{}"))
            .is_err()
        {
            return;
        }
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sender.closed() => return,
                // Events from other nodes may have been missed: the client reconnects and
                // reloads, as after lagging.
                Ok(()) = gaps.changed() => {
                    metrics::counter!("switchboard_event_streams_dropped_total").increment(1);
                    return;
                }
                received = bus.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    metrics::counter!("switchboard_event_streams_dropped_total").increment(1);
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !shown(&event, &viewer) {
                continue;
            }
            let Ok(data) = serde_json::to_string(event.as_ref()) else {
                continue;
            };
            if sender.try_send(Event::default().data(data)).is_err() {
                metrics::counter!("switchboard_event_streams_dropped_total").increment(1);
                return;
            }
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{EventBus, LocalBus};
    use futures::StreamExt;
    use switchboard_model::ConversationStatus;

    fn changed(org_id: &str, conversation_id: &str) -> BusEvent {
        BusEvent::ConversationChanged {
            org_id: org_id.into(),
            inbox_id: "inbox".into(),
            conversation_id: conversation_id.into(),
            status: ConversationStatus::Escalated,
        }
    }

    fn viewer(org_id: &str) -> Viewer {
        Viewer {
            org_id: org_id.into(),
            user_id: Some("me".into()),
        }
    }

    fn notification(org_id: &str, user_id: &str) -> BusEvent {
        BusEvent::NotificationCreated {
            org_id: org_id.into(),
            user_id: user_id.into(),
            notification: Box::new(switchboard_model::Notification {
                id: format!("for-{user_id}"),
                org_id: org_id.into(),
                user_id: user_id.into(),
                kind: switchboard_model::NotificationKind::Mention,
                conversation_id: "c".into(),
                message_id: None,
                actor_id: None,
                created_at: chrono::Utc::now(),
                read_at: None,
                actor_name: None,
                contact_name: None,
                conversation_subject: None,
                preview: None,
            }),
        }
    }

    #[test]
    fn a_notification_reaches_its_recipient_alone() {
        assert!(shown(&notification("org", "me"), &viewer("org")));
        assert!(!shown(&notification("org", "someone else"), &viewer("org")));
        assert!(!shown(&notification("other", "me"), &viewer("org")));
        let api_key = Viewer {
            org_id: "org".into(),
            user_id: None,
        };
        assert!(!shown(&notification("org", "me"), &api_key));
        assert!(shown(&changed("org", "c"), &api_key));
    }

    async fn drain(events: impl Stream<Item = Result<Event, Infallible>>) -> usize {
        let collected = tokio::time::timeout(Duration::from_secs(5), events.count()).await;
        collected.expect("the stream ends")
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_after_its_buffer_fills() {
        let bus = LocalBus::new(1024);
        let shutdown = CancellationToken::new();
        let events = client_events(
            bus.subscribe(),
            bus.gaps(),
            viewer("org"),
            4,
            shutdown.clone(),
            None,
        );
        for n in 0..50 {
            bus.publish(changed("org", &format!("c{n}")));
        }
        // Nothing reads while the forwarder fills the buffer and gives up.
        tokio::time::sleep(Duration::from_millis(100)).await;
        // `ready` plus three events fit; then the stream ends instead of blocking the bus.
        assert_eq!(drain(events).await, 4);
    }

    /// Another node's events may have been missed (Redis came back): the stream ends, so that
    /// the inbox reconnects and reloads.
    #[tokio::test]
    async fn a_gap_in_the_other_nodes_events_ends_the_stream() {
        let bus = LocalBus::new(64);
        let shutdown = CancellationToken::new();
        let mut events = Box::pin(client_events(
            bus.subscribe(),
            bus.gaps(),
            viewer("org"),
            16,
            shutdown,
            None,
        ));
        assert!(events.next().await.is_some(), "the ready event");
        bus.publish(changed("org", "ours"));
        assert!(events.next().await.is_some(), "an event");
        bus.gap();
        let ended = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
        assert!(matches!(ended, Ok(None)), "the stream ends");
    }

    #[tokio::test]
    async fn only_the_organizations_events_pass_and_shutdown_ends_the_stream() {
        let bus = LocalBus::new(1024);
        let shutdown = CancellationToken::new();
        let mut events = Box::pin(client_events(
            bus.subscribe(),
            bus.gaps(),
            viewer("org"),
            16,
            shutdown.clone(),
            None,
        ));
        bus.publish(changed("other", "theirs"));
        bus.publish(BusEvent::AnswerDelta {
            org_id: "org".into(),
            inbox_id: "inbox".into(),
            conversation_id: "ours".into(),
            message_id: "m".into(),
            text: "piece".into(),
        });
        bus.publish(changed("org", "ours"));
        let mut seen = Vec::new();
        for _ in 0..2 {
            let event = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .expect("in time")
                .expect("an event");
            seen.push(format!("{:?}", event.expect("infallible")));
        }
        assert!(seen[0].contains("ready"), "{seen:?}");
        assert!(seen[1].contains("ours"), "{seen:?}");
        assert!(!seen[1].contains("theirs"), "{seen:?}");
        shutdown.cancel();
        assert_eq!(drain(events).await, 0, "nothing else arrives");
    }
}
