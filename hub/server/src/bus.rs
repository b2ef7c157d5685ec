//! The event bus: after a commit the hub publishes what changed, and whatever shows it (web-chat
//! sockets, the agent inbox) subscribes. `LocalBus` serves one node; `RedisBus` also fans events
//! out to every other node through a Redis pub/sub channel, so that a customer connected to one
//! node sees the reply an agent sent through another.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use switchboard_model::{BusEvent, Conversation};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Publishes committed changes to every subscriber on this node and, with Redis, on the others.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: BusEvent);
    /// A receiver of every event published from now on. A subscriber that falls too far behind
    /// gets `RecvError::Lagged` and must reload from the store, which is the source of truth.
    fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>>;
    /// Whether events from the other nodes arrive now (with Redis: subscribed). A node that
    /// does not hear them is not ready for traffic (`/readyz`): its visitors would miss what
    /// agents on other nodes send.
    fn hears_other_nodes(&self) -> bool {
        true
    }
    /// Counts the times this node may have missed other nodes' events (Redis went away and
    /// came back). A subscriber that sees it change reloads from the store, as after lagging.
    fn gaps(&self) -> watch::Receiver<u64>;
}

/// Tells the inbox, the customer's socket and the other nodes that a conversation changed (its
/// status, owner, team, labels, priority…).
pub fn publish_change(bus: &dyn EventBus, conversation: &Conversation) {
    bus.publish(BusEvent::ConversationChanged {
        org_id: conversation.org_id.clone(),
        inbox_id: conversation.inbox_id.clone(),
        conversation_id: conversation.id.clone(),
        status: conversation.status,
    });
}

/// The bus of a single node: a bounded broadcast channel.
pub struct LocalBus {
    sender: broadcast::Sender<Arc<BusEvent>>,
    gaps: watch::Sender<u64>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            sender: broadcast::channel(capacity).0,
            gaps: watch::Sender::new(0),
        }
    }

    /// Tells the subscribers that events may have been missed.
    pub(crate) fn gap(&self) {
        metrics::counter!("switchboard_bus_gaps_total").increment(1);
        self.gaps.send_modify(|gaps| *gaps += 1);
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: BusEvent) {
        metrics::counter!("switchboard_bus_events_total").increment(1);
        // No subscriber is not an error: nobody is watching right now.
        let _ = self.sender.send(Arc::new(event));
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>> {
        self.sender.subscribe()
    }

    fn gaps(&self) -> watch::Receiver<u64> {
        self.gaps.subscribe()
    }
}

/// The Redis pub/sub channel every node publishes to and listens on.
const REDIS_CHANNEL: &str = "switchboard:events";
/// Events waiting to be published to Redis; beyond this the bus drops them (and counts it)
/// rather than letting a slow Redis hold up the requests that publish.
const REDIS_OUTBOX: usize = 16 * 1024;

/// What travels through Redis: the event and the node it came from, so that a node does not
/// deliver its own events twice.
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    node: &'a str,
    event: std::borrow::Cow<'a, BusEvent>,
}

/// Fans events out across nodes. Local subscribers get an event at once; other nodes get it
/// through Redis. Events are notifications of committed changes, not the changes themselves:
/// a node that misses some while Redis is away catches up from the store (web-chat `resume`,
/// the inbox refetching), so a Redis outage degrades fan-out and never loses a message.
pub struct RedisBus {
    local: Arc<LocalBus>,
    outgoing: mpsc::Sender<BusEvent>,
    /// Set while the subscription is up.
    subscribed: Arc<AtomicBool>,
}

impl RedisBus {
    /// Connects to `url` and starts the publishing and listening tasks, which run until
    /// `shutdown` is cancelled and reconnect with backoff when Redis goes away.
    pub async fn connect(
        url: &str,
        local: LocalBus,
        shutdown: CancellationToken,
    ) -> Result<RedisBus, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = client.get_connection_manager().await?;
        let node: Arc<str> = switchboard_model::new_id().into();
        let local = Arc::new(local);
        let (outgoing, queued) = mpsc::channel(REDIS_OUTBOX);
        tokio::spawn(publish_loop(
            publisher,
            node.clone(),
            queued,
            shutdown.clone(),
        ));
        let subscribed = Arc::new(AtomicBool::new(false));
        tokio::spawn(listen_loop(
            client,
            node.clone(),
            local.clone(),
            subscribed.clone(),
            shutdown,
        ));
        Ok(RedisBus {
            local,
            outgoing,
            subscribed,
        })
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: BusEvent) {
        self.local.publish(event.clone());
        if self.outgoing.try_send(event).is_err() {
            metrics::counter!("switchboard_bus_redis_dropped_total").increment(1);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>> {
        self.local.subscribe()
    }

    fn hears_other_nodes(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    fn gaps(&self) -> watch::Receiver<u64> {
        self.local.gaps()
    }
}

async fn publish_loop(
    mut redis: redis::aio::ConnectionManager,
    node: Arc<str>,
    mut queued: mpsc::Receiver<BusEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = queued.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let envelope = Envelope {
            node: &node,
            event: std::borrow::Cow::Owned(event),
        };
        let payload = match serde_json::to_vec(&envelope) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(%err, "failed to encode a bus event");
                continue;
            }
        };
        // The connection manager reconnects by itself; an event that fails is counted and
        // dropped, the other nodes catch up from the store.
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(REDIS_CHANNEL)
            .arg(payload)
            .query_async(&mut redis)
            .await;
        if let Err(err) = sent {
            metrics::counter!("switchboard_bus_redis_errors_total").increment(1);
            tracing::warn!(%err, "failed to publish a bus event to Redis");
        }
    }
}

async fn listen_loop(
    client: redis::Client,
    node: Arc<str>,
    local: Arc<LocalBus>,
    subscribed: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    // Set at the first subscription: each later one follows a loss.
    let mut ever = false;
    while !shutdown.is_cancelled() {
        let listened = tokio::select! {
            _ = shutdown.cancelled() => return,
            listened = listen_once(&client, &node, &local, &subscribed, &mut ever) => listened,
        };
        subscribed.store(false, Ordering::Relaxed);
        match listened {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(err) => {
                metrics::counter!("switchboard_bus_redis_errors_total").increment(1);
                tracing::warn!(%err, ?backoff, "lost the Redis subscription; reconnecting");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Subscribes and delivers other nodes' events locally until the subscription ends.
async fn listen_once(
    client: &redis::Client,
    node: &str,
    local: &LocalBus,
    subscribed: &AtomicBool,
    ever: &mut bool,
) -> Result<(), redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(REDIS_CHANNEL).await?;
    subscribed.store(true, Ordering::Relaxed);
    // Subscribed again after losing it: what other nodes published meanwhile never came.
    if std::mem::replace(ever, true) {
        local.gap();
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload = message.get_payload_bytes();
        match serde_json::from_slice::<Envelope<'_>>(payload) {
            Ok(envelope) if envelope.node == node => {}
            Ok(envelope) => local.publish(envelope.event.into_owned()),
            Err(err) => tracing::warn!(%err, "ignored an undecodable event from Redis"),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use switchboard_model::ConversationStatus;

    #[tokio::test]
    async fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = LocalBus::new(8);
        bus.publish(BusEvent::ConversationChanged {
            org_id: "o".into(),
            inbox_id: "i".into(),
            conversation_id: "before".into(),
            status: ConversationStatus::Bot,
        });
        let mut receiver = bus.subscribe();
        bus.publish(BusEvent::ConversationChanged {
            org_id: "o".into(),
            inbox_id: "i".into(),
            conversation_id: "after".into(),
            status: ConversationStatus::Escalated,
        });
        let event = receiver.recv().await.expect("receives");
        assert_eq!(event.conversation_id(), "after");
    }

    fn changed(conversation_id: &str) -> BusEvent {
        BusEvent::ConversationChanged {
            org_id: "o".into(),
            inbox_id: "i".into(),
            conversation_id: conversation_id.into(),
            status: ConversationStatus::Bot,
        }
    }

    /// The test Redis, or `None` (and the test is skipped) outside CI without one.
    pub(crate) fn redis_url() -> Option<String> {
        let url = std::env::var("SWITCHBOARD_TEST_REDIS_URL").ok();
        if url.is_none() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide SWITCHBOARD_TEST_REDIS_URL"
            );
            eprintln!("skipped: SWITCHBOARD_TEST_REDIS_URL is not set");
        }
        url
    }

    /// A loopback TCP proxy to `target`, whose open connections `cut` closes (as Redis going
    /// away would), new ones being accepted again at once.
    async fn proxy(target: String, cut: Arc<tokio::sync::Notify>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let cut = cut.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        addr
    }

    /// Redis goes away and comes back: the node subscribes again, says it did not hear the
    /// others meanwhile (`/readyz`), and tells its subscribers to reload (a gap).
    #[tokio::test]
    async fn a_lost_redis_subscription_comes_back_as_a_gap() {
        let Some(url) = redis_url() else {
            return;
        };
        let target = url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let cut = Arc::new(tokio::sync::Notify::new());
        let through = proxy(target, cut.clone()).await;
        let shutdown = CancellationToken::new();
        let bus = RedisBus::connect(
            &format!("redis://{through}"),
            LocalBus::new(64),
            shutdown.clone(),
        )
        .await
        .expect("connects");
        let mut gaps = bus.gaps();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !bus.hears_other_nodes() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("subscribed");
        assert_eq!(
            *gaps.borrow_and_update(),
            0,
            "no gap at the first subscription"
        );
        cut.notify_waiters();
        tokio::time::timeout(Duration::from_secs(15), gaps.changed())
            .await
            .expect("a gap once subscribed again")
            .expect("the bus is open");
        assert_eq!(*gaps.borrow(), 1);
        assert!(bus.hears_other_nodes());
        shutdown.cancel();
    }

    /// Two nodes on one Redis: each event reaches the other node's subscribers exactly once,
    /// and the publishing node's subscribers once (not again through Redis).
    #[tokio::test]
    async fn redis_fans_events_out_to_other_nodes_once() {
        let Some(url) = redis_url() else {
            return;
        };
        let shutdown = CancellationToken::new();
        let a = RedisBus::connect(&url, LocalBus::new(64), shutdown.clone())
            .await
            .expect("node a connects");
        let b = RedisBus::connect(&url, LocalBus::new(64), shutdown.clone())
            .await
            .expect("node b connects");
        let mut on_a = a.subscribe();
        let mut on_b = b.subscribe();
        // The subscriptions are set up in the background: publish until b hears one.
        let marker = format!("probe-{}", switchboard_model::new_id());
        let heard = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                a.publish(changed(&marker));
                if let Ok(Ok(event)) =
                    tokio::time::timeout(Duration::from_millis(100), on_b.recv()).await
                {
                    break event;
                }
            }
        })
        .await
        .expect("node b hears node a");
        assert_eq!(heard.conversation_id(), marker);
        // Drain the probes, then check exact-once delivery of one event each way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while on_a.try_recv().is_ok() {}
        while on_b.try_recv().is_ok() {}
        b.publish(changed("from-b"));
        let on_a_event = tokio::time::timeout(Duration::from_secs(5), on_a.recv())
            .await
            .expect("a hears b in time")
            .expect("a receives");
        assert_eq!(on_a_event.conversation_id(), "from-b");
        let on_b_event = on_b.recv().await.expect("b hears itself");
        assert_eq!(on_b_event.conversation_id(), "from-b");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(on_a.try_recv().is_err(), "a got the event twice");
        assert!(
            on_b.try_recv().is_err(),
            "b got its own event back from Redis"
        );
        shutdown.cancel();
    }
}
