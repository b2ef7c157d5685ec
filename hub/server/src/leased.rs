//! Jobs that run on one node of a cluster at a time: every period, the node that takes the
//! job's lease in PostgreSQL (`Store::take_lease`, with a fencing token) does one round. A node
//! that dies hands the job on when its lease runs out; one that stops gives it back at once.

use std::time::Duration;

use switchboard_model::new_id;
use switchboard_store::Store;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// One job's rounds on this node.
pub struct Leased {
    store: Store,
    name: &'static str,
    holder: String,
    ttl: Duration,
    tick: Interval,
}

impl Leased {
    /// A round every `every`, under the lease `name` held for `ttl`.
    pub fn new(store: Store, name: &'static str, every: Duration, ttl: Duration) -> Leased {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Leased {
            store,
            name,
            holder: new_id(),
            ttl,
            tick,
        }
    }

    /// This node's name as the lease's holder.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Waits for the next round this node holds the lease for, and answers its fencing token;
    /// `None` once `shutdown` is cancelled, after giving the lease back.
    pub async fn next_round(&mut self, shutdown: &CancellationToken) -> Option<i64> {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Let another node take over at once.
                    let _ = self.store.release_lease(self.name, &self.holder).await;
                    return None;
                }
                _ = self.tick.tick() => {}
            }
            match self
                .store
                .take_lease(self.name, &self.holder, self.ttl)
                .await
            {
                Ok(Some(token)) => return Some(token),
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, lease = self.name, "cannot take a lease"),
            }
        }
    }
}
