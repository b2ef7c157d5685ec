//! The fan-out to web-chat connections. One bus subscriber routes each event to the
//! connections of its conversation through a registry `conversation_id → senders`, instead of
//! every socket receiving (and discarding) every event. Each connection's queue is bounded: a
//! connection whose queue is full is told to close, and resumes after reconnecting.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::extract::ws::Utf8Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_model::{BusEvent, ConversationStatus, Message, MessageRole};
use switchboard_store::Store;
use switchboard_webchat::{ChatMessage, ServerFrame, WebchatConfig};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::limits::ChatLimits;
use crate::{attachments::FileLinks, bus::EventBus, limits::Counters};

const SHARDS: usize = 32;
/// An inbox's config is read again after this long, so that changes apply without a restart.
const INBOX_TTL: Duration = Duration::from_secs(10);

/// What the router hands a connection.
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    /// A frame to send as is (`delta`, `typing`), serialized once for every connection.
    Frame(Utf8Bytes),
    /// A `message` frame; the connection skips a `seq` it has already sent.
    Message {
        seq: i64,
        id: String,
        frame: Utf8Bytes,
    },
    /// A piece of the answer `message_id`; skipped once the whole answer has been sent (the
    /// router may deliver it after a replay already sent the answer).
    Delta {
        message_id: String,
        frame: Utf8Bytes,
    },
    /// The conversation's status is now this; the connection tells the visitor when it changed.
    Status(ConversationStatus),
    /// The router missed events: reload from the store.
    Resync,
}

/// A connection as the registry sees it.
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub id: u64,
    pub queue: mpsc::Sender<Outgoing>,
    /// Cancelled when the connection cannot keep up.
    pub too_slow: CancellationToken,
}

impl Subscriber {
    /// Queues `item` without waiting; a full queue tells the connection to close.
    fn offer(&self, item: Outgoing) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(item) {
            if !self.too_slow.is_cancelled() {
                metrics::counter!("switchboard_webchat_slow_consumers_total").increment(1);
            }
            self.too_slow.cancel();
        }
    }
}

/// A web-chat inbox as the connections use it: its validated config and its visitors' rate
/// limiter.
pub(crate) struct ChatInbox {
    pub org_id: String,
    pub inbox_id: String,
    pub config: WebchatConfig,
    /// Keyed by the visitor's thread key, so that all of a visitor's connections share it.
    pub limiter: Arc<DefaultKeyedRateLimiter<String>>,
    loaded_at: Instant,
}

fn limiter(config: &WebchatConfig) -> Arc<DefaultKeyedRateLimiter<String>> {
    let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

/// Why a web-chat inbox cannot take connections.
pub(crate) enum InboxUnavailable {
    NotFound,
    Misconfigured(String),
    Store(switchboard_store::StoreError),
}

/// One part of the registry: conversation id → the connections that show it.
type Shard = Mutex<HashMap<String, Vec<Subscriber>>>;

/// The open web-chat connections of this node.
pub struct ChatHub {
    shards: Box<[Shard]>,
    hasher: RandomState,
    next_id: AtomicU64,
    inboxes: Mutex<HashMap<String, Arc<ChatInbox>>>,
    /// Cancelled when the hub shuts down: connections close with 1001.
    pub(crate) shutdown: CancellationToken,
    /// Every connection task, so that shutdown can wait for them to close.
    pub(crate) connections: TaskTracker,
    pub(crate) queue_frames: usize,
    pub(crate) ping_every: Duration,
    /// Signs the links visitors download agents' files from.
    file_links: Arc<FileLinks>,
    /// Connections and frames per client address and per inbox, counted across nodes.
    pub(crate) limits: ChatLimits,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ChatHub {
    pub fn new(
        file_links: Arc<FileLinks>,
        counters: Arc<Counters>,
        queue_frames: usize,
        ping_every: Duration,
        shutdown: CancellationToken,
    ) -> ChatHub {
        ChatHub {
            file_links,
            limits: ChatLimits::new(counters),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
            inboxes: Mutex::new(HashMap::new()),
            shutdown,
            connections: TaskTracker::new(),
            queue_frames: queue_frames.max(4),
            ping_every: ping_every.max(Duration::from_millis(100)),
        }
    }

    /// The visitor's view of a stored message, its files linked for the visitor; `None` for a
    /// private note.
    pub fn visible(&self, message: &Message) -> Option<ChatMessage> {
        ChatMessage::visible(message, |attachment| {
            self.file_links.visitor_url(&message.org_id, attachment)
        })
    }

    fn shard(&self, conversation_id: &str) -> &Shard {
        let index = self.hasher.hash_one(conversation_id) as usize % self.shards.len();
        &self.shards[index]
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, conversation_id: &str, subscriber: Subscriber) {
        lock(self.shard(conversation_id))
            .entry(conversation_id.to_owned())
            .or_default()
            .push(subscriber);
    }

    pub(crate) fn unregister(&self, conversation_id: &str, id: u64) {
        let mut shard = lock(self.shard(conversation_id));
        if let Some(subscribers) = shard.get_mut(conversation_id) {
            subscribers.retain(|subscriber| subscriber.id != id);
            if subscribers.is_empty() {
                shard.remove(conversation_id);
            }
        }
    }

    /// Open connections registered under a conversation, on this node.
    pub fn connections_of(&self, conversation_id: &str) -> usize {
        lock(self.shard(conversation_id))
            .get(conversation_id)
            .map_or(0, Vec::len)
    }

    /// Conversations with at least one registered connection, on this node.
    pub fn conversations(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Hands `item` (made only when someone listens) to every connection of the conversation.
    fn fan_out(&self, conversation_id: &str, item: impl FnOnce() -> Option<Outgoing>) {
        let shard = lock(self.shard(conversation_id));
        let Some(subscribers) = shard.get(conversation_id) else {
            return;
        };
        let Some(item) = item() else {
            return;
        };
        for subscriber in subscribers {
            subscriber.offer(item.clone());
        }
    }

    fn route(&self, event: &BusEvent) {
        let text = |frame: ServerFrame| Utf8Bytes::from(frame.to_json());
        match event {
            BusEvent::MessageCreated { message, .. } => {
                self.fan_out(&message.conversation_id, || {
                    // Private notes never leave the agents' side.
                    self.visible(message).map(|visible| Outgoing::Message {
                        seq: visible.seq,
                        id: message.id.clone(),
                        frame: text(ServerFrame::Message { message: visible }),
                    })
                })
            }
            BusEvent::ConversationChanged {
                conversation_id,
                status,
                ..
            } => self.fan_out(conversation_id, || Some(Outgoing::Status(*status))),
            BusEvent::AnswerDelta {
                conversation_id,
                message_id,
                text: piece,
                ..
            } => self.fan_out(conversation_id, || {
                Some(Outgoing::Delta {
                    message_id: message_id.clone(),
                    frame: text(ServerFrame::Delta {
                        message_id: message_id.clone(),
                        text: piece.clone(),
                    }),
                })
            }),
            BusEvent::Typing {
                conversation_id,
                role,
                ..
            } => {
                // The visitor's own typing is for the agents.
                if *role != MessageRole::Customer {
                    self.fan_out(conversation_id, || {
                        Some(Outgoing::Frame(text(ServerFrame::Typing)))
                    })
                }
            }
            // Agents' business: never a visitor's.
            BusEvent::DeliveryChanged { .. } | BusEvent::NotificationCreated { .. } => {}
        }
    }

    /// Tells every connection to reload what it may have missed.
    fn resync_all(&self) {
        for shard in self.shards.iter() {
            for subscribers in lock(shard).values() {
                for subscriber in subscribers {
                    subscriber.offer(Outgoing::Resync);
                }
            }
        }
    }

    /// The inbox's chat settings, from a short-lived cache (a reconnect storm reads each inbox
    /// once, not once per connection).
    pub(crate) async fn inbox(
        &self,
        store: &Store,
        inbox_id: &str,
    ) -> Result<Arc<ChatInbox>, InboxUnavailable> {
        let cached = lock(&self.inboxes).get(inbox_id).cloned();
        if let Some(inbox) = &cached
            && inbox.loaded_at.elapsed() < INBOX_TTL
        {
            return Ok(inbox.clone());
        }
        let stored = store
            .inbox_for_channel(inbox_id)
            .await
            .map_err(InboxUnavailable::Store)?
            .filter(|stored| stored.inbox.channel == switchboard_model::ChannelKind::Webchat)
            .ok_or(InboxUnavailable::NotFound)?;
        let config = WebchatConfig::from_json(&stored.full_config)
            .map_err(|err| InboxUnavailable::Misconfigured(err.to_string()))?;
        // Visitors keep their allowance across a reload unless the limits changed.
        let limiter = match cached {
            Some(old)
                if old.config.rate_limit_per_minute == config.rate_limit_per_minute
                    && old.config.rate_limit_burst == config.rate_limit_burst =>
            {
                old.limiter.clone()
            }
            _ => limiter(&config),
        };
        let inbox = Arc::new(ChatInbox {
            org_id: stored.inbox.org_id,
            inbox_id: stored.inbox.id,
            config,
            limiter,
            loaded_at: Instant::now(),
        });
        lock(&self.inboxes).insert(inbox_id.to_owned(), inbox.clone());
        Ok(inbox)
    }

    /// Forgets rate-limit state of visitors who have been quiet, and stale inboxes.
    fn prune(&self) {
        let mut inboxes = lock(&self.inboxes);
        inboxes.retain(|_, inbox| inbox.loaded_at.elapsed() < INBOX_TTL * 30);
        for inbox in inboxes.values() {
            inbox.limiter.retain_recent();
            inbox.limiter.shrink_to_fit();
        }
    }
}

/// The one bus subscriber of the web chat: routes events to `hub`'s connections until
/// `shutdown`.
pub async fn route_events(hub: Arc<ChatHub>, bus: Arc<dyn EventBus>, shutdown: CancellationToken) {
    let mut events = bus.subscribe();
    let mut gaps = bus.gaps();
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            Ok(()) = gaps.changed() => {
                tracing::warn!("events from other nodes may have been missed; connections resync");
                hub.resync_all();
            }
            event = events.recv() => match event {
                Ok(event) => hub.route(&event),
                Err(RecvError::Lagged(missed)) => {
                    metrics::counter!("switchboard_webchat_router_lagged_total").increment(missed);
                    tracing::warn!(missed, "the web-chat router fell behind the bus; connections resync");
                    hub.resync_all();
                }
                Err(RecvError::Closed) => return,
            },
            _ = prune.tick() => hub.prune(),
            _ = shutdown.cancelled() => return,
        }
    }
}
