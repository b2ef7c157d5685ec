//! The event bus: after a commit the hub publishes what changed, and whatever shows it (web-chat
//! sockets, the agent inbox) subscribes. In-process now; a Redis implementation will fan events
//! out across nodes behind the same trait.

use std::sync::Arc;

use switchboard_model::BusEvent;
use tokio::sync::broadcast;

/// Publishes committed changes to every subscriber on this node (and, later, on other nodes).
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: BusEvent);
    /// A receiver of every event published from now on. A subscriber that falls too far behind
    /// gets `RecvError::Lagged` and must reload from the store, which is the source of truth.
    fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>>;
}

/// The bus of a single node: a bounded broadcast channel.
pub struct LocalBus {
    sender: broadcast::Sender<Arc<BusEvent>>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            sender: broadcast::channel(capacity).0,
        }
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
}

#[cfg(test)]
mod tests {
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
}
