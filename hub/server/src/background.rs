//! The background lane: work that may wait while customers' messages are committed and
//! acknowledged. Routing after the ack and the bot's turns run here, on a runtime of its own
//! whose threads, and the database readers they open, the OS runs at a lower priority than the
//! connections and the writer. When more arrives than the node can take, answers come later;
//! acknowledgements do not.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use switchboard_store::Store;
use tokio::{
    runtime::Handle,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::task::TaskTracker;

/// The lane's threads' nice value, the lowest: they run on what the connections and the writer
/// leave of the cores (a runnable one weighs about 70 times as much).
const NICE: i32 = 19;
/// Database connections that the lane reads on (SQLite; on PostgreSQL it shares the pool).
const READERS: u32 = 4;
/// Stored messages waiting for routing: a connection that finds the lane this far behind waits
/// before it reads its next frame, rather than growing memory.
const BACKLOG: usize = 65_536;

/// The lane, shared by every state of one hub.
pub struct Background {
    handle: Handle,
    /// The hub's store reading through the lane's own connections.
    store: Store,
    /// Work in flight, waited for at shutdown.
    tasks: TaskTracker,
    room: Arc<Semaphore>,
}

impl Background {
    /// Starts the lane's readers for `store`, on the lane's runtime (one per process, started
    /// with the first hub).
    pub async fn start(store: &Store) -> anyhow::Result<Background> {
        let handle = runtime();
        let opening = store.clone();
        let store = handle
            .spawn(async move { opening.with_own_readers(READERS).await })
            .await
            .context("the background runtime stopped")?
            .context("failed to open the background readers")?;
        Ok(Background {
            handle,
            store,
            tasks: TaskTracker::new(),
            room: Arc::new(Semaphore::new(BACKLOG)),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until the lane has room for one more stored message; hold the permit until it is
    /// routed.
    pub async fn room(&self) -> Option<OwnedSemaphorePermit> {
        self.room.clone().acquire_owned().await.ok()
    }

    /// Runs `work` in the lane, tracked for shutdown.
    pub fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn_on(work, &self.handle)
    }

    /// Stops taking work and waits for what is in flight.
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The lane's runtime, or the caller's when it cannot start (then nothing has a lower
/// priority, and nothing else changes).
fn runtime() -> Handle {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    let started = RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("background")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .inspect_err(|err| tracing::warn!(%err, "cannot start the background runtime"))
            .ok()
    });
    match started {
        Some(runtime) => runtime.handle().clone(),
        None => Handle::current(),
    }
}

/// Lowers the calling thread's priority (on Linux, `setpriority` with no id applies to the
/// calling thread; threads it starts, such as SQLite's connection threads, inherit it).
fn lower_priority() {
    if let Err(err) = rustix::process::setpriority_process(None, NICE) {
        tracing::debug!(%err, "cannot lower the background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_lane_runs_at_a_lower_priority_than_the_hub() {
        let hub = rustix::process::getpriority_process(None).expect("the hub's priority");
        let lane = runtime()
            .spawn(async { rustix::process::getpriority_process(None) })
            .await
            .expect("the lane runs it")
            .expect("the lane's priority");
        assert!(lane >= NICE, "the lane runs at nice {lane}");
        assert!(lane > hub, "the lane ({lane}) is below the hub ({hub})");
    }
}
