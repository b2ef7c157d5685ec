//! The background lane: work that may wait while customers' messages are committed and
//! acknowledged. Routing after the ack and the bot's turns run here, on a runtime of its own
//! whose threads the OS runs only on what the connections and the writer leave (Linux's idle
//! scheduling class); its database readers run at the hub's priority. When more arrives than the node can
//! take, answers come later; acknowledgements do not.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use switchboard_store::Store;
use tokio::{
    runtime::Handle,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::task::TaskTracker;

/// The lane's threads' nice value, the lowest, for where the idle class is refused: a runnable
/// thread of the hub's then weighs about 70 times as much as one of the lane's.
const NICE: i32 = 19;
/// Database connections that the lane reads on (on SQLite, threads of their own). On
/// PostgreSQL the lane also writes on them (what does not go through the group-commit writers:
/// routing, handoffs), and each waits for the server rather than for a core, so it has more;
/// but each is a server process that competes for the cores with those of the ingest writers,
/// which the acknowledgements wait for. At 10,000 conversations and 2,000 messages a second on
/// 2 cores, 16 gave ack p50s of 40–43 ms and p99s of 325–394 ms, 8 gave 25–28 ms and
/// 178–352 ms, the first answers as late (p95 5–8 s either way); at 1,000 a second the two
/// measure alike (BENCHMARKS.md).
const SQLITE_READERS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;
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
    /// Starts the lane (its runtime and its read thread are one per process, started with the
    /// first hub) and opens all of its connections to `store` on the read thread: a SQLite
    /// connection's thread takes the priority of the thread that opens it (the read thread's is
    /// the hub's), and a PostgreSQL connection's socket is watched by the runtime that opens it
    /// (the read thread's, where nothing queues in front of a read's answer; opened later by
    /// the lane's own runtime, a read's reply waited for the lane's idle-class threads).
    pub async fn start(store: &Store) -> anyhow::Result<Background> {
        // Started here, on the hub's threads, so that the read thread runs at the hub's priority.
        reads();
        let handle = runtime();
        let connections = if store.is_sqlite() {
            SQLITE_READERS
        } else {
            POSTGRES_CONNECTIONS
        };
        let store = {
            let store = store.clone();
            read(async move { store.with_own_readers(connections).await })
                .await
                .context("failed to open the background readers")?
        };
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

    /// No stored message is waiting for its routing (tests wait for this before checking that
    /// nothing came of a message).
    pub fn is_idle(&self) -> bool {
        self.room.available_permits() == BACKLOG
    }

    /// Stops taking work and waits for what is in flight.
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Runs one of the lane's reads (`read`, a statement on [`Background::store`]) on the lane's
/// read thread, and waits for what it read.
///
/// A pooled connection goes back to its pool only after a task that the pool spawns, on the
/// runtime that dropped it, has sent the connection a ping and had the answer (sqlx's
/// `PoolConnection::drop`). Spawned from the lane, those tasks queue behind the lane's own work,
/// which yields to everything else the hub does: at 10,000 conversations and 1,000 messages a
/// second, the lane's four connections were each held about 3 ms for a statement of a tenth of
/// that, all four were taken all the time, and a bot turn waited 1.5–3 s on average to read its
/// conversation (BENCHMARKS.md). On a thread of their own, with nothing else to run, a read
/// and its release take what the statement takes.
pub async fn read<F>(read: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match reads().spawn(read).await {
        Ok(read) => read,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// The lane's read thread: a single-threaded runtime on a thread of its own, started by the
/// first hub (at the priority of the thread that starts it: the hub's).
fn reads() -> &'static Handle {
    static READS: OnceLock<Handle> = OnceLock::new();
    READS.get_or_init(|| {
        let (handle, started) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("lane-reads".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the lane's read runtime starts");
                let _ = handle.send(runtime.handle().clone());
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("the lane's read thread starts");
        started.recv().expect("the lane's read runtime starts")
    })
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

/// Puts the calling thread in the idle scheduling class (`SCHED_IDLE`), at nice [`NICE`] as
/// well; threads it starts, such as SQLite's connection threads, inherit both.
///
/// Nice 19 alone was not enough: a connection's task or the writer that wakes while the lane
/// runs waits for the lane's time slice to end, and the bot's answers, which keep the lane busy
/// under load, doubled the acknowledgements' p99 (BENCHMARKS.md). A thread of the idle class
/// gives way at once to any other that wakes. Any thread may put itself there.
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let idle = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(err) = idle {
        tracing::debug!(?err, "cannot put the background thread in the idle class");
    }
    // After the class: setting it resets the nice value.
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

    #[tokio::test]
    async fn the_lanes_reads_run_on_a_thread_of_their_own_at_the_hubs_priority() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let hub = rustix::process::getpriority_process(None).expect("the hub's priority");
        // As `Background::start` does, on the hub's thread.
        reads();
        let (thread, priority, class) = runtime()
            .spawn(read(async {
                (
                    std::thread::current().name().map(str::to_owned),
                    rustix::process::getpriority_process(None).expect("its priority"),
                    thread_priority::thread_schedule_policy().expect("its class"),
                )
            }))
            .await
            .expect("the lane asks for the read");
        assert_eq!(thread.as_deref(), Some("lane-reads"));
        assert_eq!(priority, hub);
        assert_ne!(
            class,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        let failed = tokio::spawn(read(async { panic!("the read failed") })).await;
        assert!(failed.is_err(), "a read that panics panics its caller");
    }

    #[tokio::test]
    async fn the_lane_runs_in_the_idle_class_and_so_do_the_threads_it_starts() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let (lane, started) = runtime()
            .spawn(async {
                let lane = thread_priority::thread_schedule_policy();
                let started = tokio::task::spawn_blocking(thread_priority::thread_schedule_policy)
                    .await
                    .expect("a blocking thread of the lane");
                (lane, started)
            })
            .await
            .expect("the lane runs it");
        assert_eq!(lane.expect("the lane's class"), idle);
        assert_eq!(started.expect("the blocking thread's class"), idle);
        let hub = thread_priority::thread_schedule_policy().expect("the hub's class");
        assert_ne!(hub, idle, "the hub's own threads are not idle");
    }
}
