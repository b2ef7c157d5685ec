//! The background lane: work that may wait while customers' messages are committed and
//! acknowledged. Routing after the ack and the bot's turns run here, on a runtime of its own
//! whose threads the OS runs only on what the connections and the writer leave (Linux's idle
//! scheduling class); its database readers run at the hub's priority. When more arrives than the node can
//! take, answers come later; acknowledgements do not.
//!
//! The idle class gives way to every process it shares the cores with, not only to the hub:
//! with other work keeping them busy (a build, a neighbour in the same CPU group: a hub started
//! from a shell, or beside other programs in one container), the lane got nothing: with two busy
//! loops, 0 and 3,557 of 30,000 questions were answered (BENCHMARKS.md). A watch ([`watch`])
//! looks at how long the oldest work spawned into the lane, or a bot turn, waited to start; past
//! [`RESCUE_AFTER`], the lane's threads leave the idle class for nice 10, then 0 while it stays
//! behind ([`RESCUE_NICE`]), until it has caught up. Leaving the idle class needs
//! `CAP_SYS_NICE` or an `RLIMIT_NICE` of 20 (systemd's `LimitNICE=20`, `ulimit -e 20`); without
//! either the hub says so in its log once and the lane stays where it is.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

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
/// How long the oldest work spawned into the lane (or a bot turn) may wait to start before the
/// lane leaves the idle class: the product's promise of an answer (3 s) is broken by then. Under
/// its own load on 2 cores the lane waits 0.2–0.3 s on average (BENCHMARKS.md); the hub alone
/// sets it off only where its answers are late already (with a model on PostgreSQL on a slow
/// machine, p95 8–9 s), and a turn that waited for a slow model's place counts too.
const RESCUE_AFTER: Duration = Duration::from_secs(3);
/// The lane's nice values out of the idle class, in turn while it stays behind: at nice 10 a
/// runnable thread at nice 0 weighs about 9 times as much as one of the lane's, so the
/// acknowledgements still come first; at nice 0 the lane takes its share like the hub's other
/// threads (with two busy loops on 2 cores, nice 10 answered 19,704 of 30,000 questions, nice 0
/// all of them; BENCHMARKS.md). The idle class weighs 340 times less than nice 0.
const RESCUE_NICE: [i32; 2] = [10, 0];
/// How long a rescue level lasts before the next, if the lane has not caught up by then.
const RESCUE_STEP: Duration = Duration::from_secs(5);
/// How long a rescue lasts at least: the other work that starved the lane is likely still there.
const RESCUE_FOR: Duration = Duration::from_secs(30);
/// Caught up: the oldest waiting work has waited less than `CAUGHT_UP` for `CALM_FOR`.
const CAUGHT_UP: Duration = Duration::from_millis(500);
const CALM_FOR: Duration = Duration::from_secs(10);
/// How often the watch looks.
const WATCH_EVERY: Duration = Duration::from_millis(250);
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
        let waiting = waiting().enter();
        self.tasks.spawn_on(
            async move {
                drop(waiting);
                work.await
            },
            &self.handle,
        )
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
            .on_thread_start(|| lane_threads().enter())
            .on_thread_stop(|| lane_threads().leave())
            .enable_all()
            .build()
            .inspect_err(|err| tracing::warn!(%err, "cannot start the background runtime"))
            .ok()
    });
    match started {
        Some(runtime) => {
            watch(runtime.handle().clone());
            runtime.handle().clone()
        }
        None => Handle::current(),
    }
}

/// Work spawned into the lane that has not started yet, each by when it was spawned.
#[derive(Default)]
struct Waiting {
    next: AtomicU64,
    queued: Mutex<BTreeMap<u64, Instant>>,
}

/// One piece of work waiting in [`Waiting`]: it has started (or will never) when dropped.
struct Entered(&'static Waiting, u64);

impl Waiting {
    fn enter(&'static self) -> Entered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Instant::now());
        Entered(self, id)
    }

    /// How long the oldest waiting work has waited at `now` (zero when none waits).
    fn oldest(&self, now: Instant) -> Duration {
        self.lock()
            .first_key_value()
            .map_or(Duration::ZERO, |(_, since)| {
                now.saturating_duration_since(*since)
            })
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.queued
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

/// The longest a bot turn has waited to start since the watch last looked, in milliseconds: the
/// turns run in the lane, and a lane rescued too little starts their tasks in time but not enough
/// of them.
static TURN_WAIT_MS: AtomicU64 = AtomicU64::new(0);

/// Tells the lane's watch that a bot turn started after `waited` in the queue.
pub fn turn_waited(waited: Duration) {
    let millis = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
    TURN_WAIT_MS.fetch_max(millis, Ordering::Relaxed);
}

fn waiting() -> &'static Waiting {
    static WAITING: OnceLock<Waiting> = OnceLock::new();
    WAITING.get_or_init(Waiting::default)
}

/// Whether the lane should be rescued, and how far, from how long its oldest work has waited.
#[derive(Debug, Default)]
struct Rescue {
    /// The index in [`RESCUE_NICE`] the lane runs at (`None`: the idle class).
    level: Option<usize>,
    /// When the level last changed.
    since: Option<Instant>,
    /// Since when the lane has been caught up.
    calm: Option<Instant>,
}

impl Rescue {
    /// The level to move the lane to, when it changes.
    fn next(&mut self, oldest: Duration, now: Instant) -> Option<Option<usize>> {
        let held = self
            .since
            .map_or(Duration::MAX, |since| now.duration_since(since));
        let calm = if oldest < CAUGHT_UP {
            now.duration_since(*self.calm.get_or_insert(now))
        } else {
            self.calm = None;
            Duration::ZERO
        };
        let level = match self.level {
            None if oldest >= RESCUE_AFTER => Some(0),
            Some(level)
                if oldest >= CAUGHT_UP && held >= RESCUE_STEP && level + 1 < RESCUE_NICE.len() =>
            {
                Some(level + 1)
            }
            Some(_) if calm >= CALM_FOR && held >= RESCUE_FOR => None,
            _ => return None,
        };
        self.level = level;
        self.since = Some(now);
        Some(level)
    }
}

/// Starts the lane's watch, once: a thread at the hub's priority that rescues the lane's threads
/// from the idle class while its work waits too long ([`RESCUE_AFTER`]): the work spawned into it,
/// and the bot's turns, which start in it from their own queue ([`turn_waited`]). When nothing
/// waits, it spawns an empty task into the lane (`lane`) and counts its wait as the others': a
/// lane that gets no cores starts no turn to tell of its wait.
fn watch(lane: Handle) {
    static WATCH: OnceLock<()> = OnceLock::new();
    WATCH.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name("lane-watch".into())
            .spawn(move || {
                let mut rescue = Rescue::default();
                let mut refused = false;
                loop {
                    if waiting().is_empty() {
                        let probe = waiting().enter();
                        lane.spawn(async move { drop(probe) });
                    }
                    std::thread::sleep(WATCH_EVERY);
                    let now = Instant::now();
                    let turns = Duration::from_millis(TURN_WAIT_MS.swap(0, Ordering::Relaxed));
                    let oldest = waiting().oldest(now).max(turns);
                    let Some(level) = rescue.next(oldest, now) else {
                        continue;
                    };
                    let nice = level.map(|level| RESCUE_NICE[level]);
                    match lane_threads().set_rescued(nice) {
                        Ok(()) => match nice {
                            Some(nice) => {
                                metrics::counter!("switchboard_lane_rescues_total").increment(1);
                                tracing::warn!(
                                    waited_secs = oldest.as_secs_f64(),
                                    "the background lane has waited too long for the cores \
                                     (other work on the machine, or the hub's own load, takes \
                                     them): it runs at nice {nice} until it has caught up"
                                );
                            }
                            None => tracing::info!("the background lane has caught up"),
                        },
                        Err(err) if !refused => {
                            refused = true;
                            tracing::warn!(
                                %err,
                                "the background lane has waited {:.1} s for the cores and \
                                 cannot leave the idle class: answers stay late while other \
                                 work keeps the machine busy; give the hub CAP_SYS_NICE or \
                                 an RLIMIT_NICE of 20 (systemd's LimitNICE=20)",
                                oldest.as_secs_f64()
                            );
                        }
                        Err(_) => {}
                    }
                    metrics::gauge!("switchboard_lane_rescue_nice")
                        .set(nice.map_or(f64::from(NICE + 1), f64::from));
                }
            });
        if let Err(err) = started {
            tracing::warn!(%err, "cannot start the background lane's watch");
        }
    });
}

/// The lane's threads, by their POSIX and kernel ids, while they run, and whether they are
/// rescued from the idle class.
#[derive(Default)]
struct LaneThreads(Mutex<Threads>);

#[derive(Default)]
struct Threads {
    running: Vec<(thread_priority::ThreadId, rustix::process::Pid)>,
    /// The nice value of a rescue (`None`: the idle class).
    rescued: Option<i32>,
}

impl LaneThreads {
    /// Adds the calling thread, in the idle class or, during a rescue, as rescued: the lane
    /// starts threads while it runs (its blocking pool's), and one started in the idle class
    /// then would take the work the rescue is for.
    fn enter(&self) {
        let tid = rustix::thread::gettid();
        let native = thread_priority::thread_native_id();
        let mut threads = self.lock();
        threads.running.push((native, tid));
        if let Some(nice) = threads.rescued {
            if let Err(err) = set_class(native, tid, Some(nice)) {
                tracing::debug!(%err, "cannot rescue a new background thread");
            }
        } else {
            lower_priority();
        }
    }

    /// Takes out the calling thread, before it ends (the lock keeps a rescue from reaching a
    /// thread that has ended).
    fn leave(&self) {
        let tid = rustix::thread::gettid();
        self.lock().running.retain(|(_, id)| *id != tid);
    }

    /// Moves every lane thread out of the idle class at nice `rescued`, or back (`None`).
    fn set_rescued(&self, rescued: Option<i32>) -> Result<(), String> {
        let mut threads = self.lock();
        threads.rescued = rescued;
        threads
            .running
            .iter()
            .try_for_each(|(native, tid)| set_class(*native, *tid, rescued))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Threads> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Puts the lane's thread `native` (`tid` to the kernel) out of the idle class at nice
/// `rescued`, or back in it at nice [`NICE`] (`None`).
fn set_class(
    native: thread_priority::ThreadId,
    tid: rustix::process::Pid,
    rescued: Option<i32>,
) -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
    };
    let (policy, nice) = match rescued {
        Some(nice) => (NormalThreadSchedulePolicy::Other, nice),
        None => (NormalThreadSchedulePolicy::Idle, NICE),
    };
    // The class is set on the lane's thread; the priority given is applied to the calling
    // thread (the crate sets the nice value of its caller): its own, unchanged. The lane
    // thread's nice value follows, after the class (setting it resets the nice value), and
    // even where the class is refused: nice 19 is then what keeps the lane below the hub.
    let class = own_priority().and_then(|own| {
        set_thread_priority_and_policy(native, own, ThreadSchedulePolicy::Normal(policy))
            .map_err(|err| format!("cannot change the lane's scheduling class: {err:?}"))
    });
    let nice = rustix::process::setpriority_process(Some(tid), nice)
        .map_err(|err| format!("cannot set the lane's nice value: {err}"));
    class.and(nice)
}

fn lane_threads() -> &'static LaneThreads {
    static THREADS: OnceLock<LaneThreads> = OnceLock::new();
    THREADS.get_or_init(LaneThreads::default)
}

/// The calling thread's nice value as the priority that `thread_priority` maps to it for a normal
/// class (0 to 99 spread over nice 19 to -20), so that setting it changes nothing.
fn own_priority() -> Result<thread_priority::ThreadPriority, String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let nice = rustix::process::getpriority_process(None)
        .map_err(|err| format!("cannot read the watch's nice value: {err}"))?;
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    (0..=99u8)
        .filter_map(|value| ThreadPriorityValue::try_from(value).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|priority| priority.to_posix(other) == Ok(nice))
        .ok_or_else(|| format!("no priority maps to the watch's nice value {nice}"))
}

/// Puts the calling thread in the idle scheduling class (`SCHED_IDLE`), at nice [`NICE`] as
/// well; threads it starts, such as SQLite's connection threads, inherit both.
///
/// Nice 19 alone was not enough: a connection's task or the writer that wakes while the lane
/// runs waits for the lane's time slice to end, and the bot's answers, which keep the lane busy
/// under load, doubled the acknowledgements' p99 (BENCHMARKS.md). A thread of the idle class
/// gives way at once to any other that wakes. Any thread may put itself there.
fn lower_priority() {
    let (native, tid) = (
        thread_priority::thread_native_id(),
        rustix::thread::gettid(),
    );
    if let Err(err) = set_class(native, tid, None) {
        tracing::debug!(%err, "cannot lower the background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_counts_as_waiting_until_it_starts_or_is_dropped() {
        let waiting: &'static Waiting = Box::leak(Box::default());
        let start = Instant::now();
        assert_eq!(waiting.oldest(start), Duration::ZERO);
        let first = waiting.enter();
        let second = waiting.enter();
        let later = Instant::now() + Duration::from_secs(2);
        assert!(waiting.oldest(later) >= Duration::from_secs(2));
        drop(first);
        assert!(!waiting.is_empty(), "the second still waits");
        assert!(waiting.oldest(later) <= later.duration_since(start));
        drop(second);
        assert!(waiting.is_empty());
        assert_eq!(waiting.oldest(later), Duration::ZERO);
    }

    #[test]
    fn a_rescue_starts_when_the_lane_waits_steps_up_and_ends_once_caught_up() {
        let t0 = Instant::now();
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut rescue = Rescue::default();
        assert_eq!(
            rescue.next(Duration::from_secs(1), at(0.0)),
            None,
            "a short wait"
        );
        assert_eq!(rescue.next(RESCUE_AFTER, at(1.0)), Some(Some(0)), "nice 10");
        assert_eq!(
            rescue.next(Duration::from_secs(2), at(3.0)),
            None,
            "behind, but the level is young"
        );
        assert_eq!(
            rescue.next(CAUGHT_UP, at(6.0)),
            Some(Some(1)),
            "still behind after a step: nice 0"
        );
        assert_eq!(rescue.next(CAUGHT_UP, at(12.0)), None, "the last level");
        assert_eq!(
            rescue.next(Duration::ZERO, at(13.0)),
            None,
            "calm from here"
        );
        assert_eq!(
            rescue.next(Duration::ZERO, at(30.0)),
            None,
            "calm for long enough, but the rescue is younger than its least"
        );
        assert_eq!(
            rescue.next(CAUGHT_UP, at(35.0)),
            None,
            "a wait breaks the calm"
        );
        assert_eq!(rescue.next(Duration::ZERO, at(36.0)), None);
        assert_eq!(rescue.next(Duration::ZERO, at(45.0)), None, "calm for 9 s");
        assert_eq!(
            rescue.next(Duration::ZERO, at(46.0)),
            Some(None),
            "caught up: the idle class again"
        );
        assert_eq!(rescue.next(Duration::ZERO, at(47.0)), None);
        assert_eq!(
            rescue.next(RESCUE_AFTER, at(48.0)),
            Some(Some(0)),
            "and again"
        );
    }

    /// A thread of a lane (`threads`) that reports its class and nice value when asked, until
    /// told to stop.
    fn lane_thread(
        threads: &'static LaneThreads,
    ) -> (
        std::sync::mpsc::Sender<bool>,
        std::sync::mpsc::Receiver<(thread_priority::ThreadSchedulePolicy, i32)>,
    ) {
        let (ask, asked) = std::sync::mpsc::channel::<bool>();
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            threads.enter();
            while asked.recv() == Ok(true) {
                let class = thread_priority::thread_schedule_policy().expect("its class");
                let nice = rustix::process::getpriority_process(None).expect("its nice value");
                let _ = tell.send((class, nice));
            }
            threads.leave();
        });
        (ask, told)
    }

    #[test]
    fn a_rescue_takes_the_lanes_threads_out_of_the_idle_class_and_back() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let threads: &'static LaneThreads = Box::leak(Box::default());
        let ask = |thread: &(std::sync::mpsc::Sender<bool>, std::sync::mpsc::Receiver<_>)| {
            thread.0.send(true).expect("asks");
            thread.1.recv().expect("answers")
        };
        let first = lane_thread(threads);
        assert_eq!(
            ask(&first),
            (idle, NICE),
            "a lane thread starts in the idle class"
        );
        match threads.set_rescued(Some(RESCUE_NICE[0])) {
            Ok(()) => {
                assert_eq!(ask(&first), (other, RESCUE_NICE[0]));
                let second = lane_thread(threads);
                assert_eq!(
                    ask(&second),
                    (other, RESCUE_NICE[0]),
                    "a thread the lane starts during a rescue starts rescued"
                );
                threads.set_rescued(None).expect("back to the idle class");
                assert_eq!(ask(&first), (idle, NICE));
                assert_eq!(ask(&second), (idle, NICE));
                second.0.send(false).expect("stops");
            }
            // Without CAP_SYS_NICE or a nice limit, the kernel refuses: the lane stays idle.
            Err(err) => {
                assert!(err.contains("OS(1)") || err.contains("permitted"), "{err}");
                assert_eq!(ask(&first).0, idle);
            }
        }
        first.0.send(false).expect("stops");
    }

    #[tokio::test]
    async fn the_lane_runs_at_a_lower_priority_than_the_hub() {
        let hub = rustix::process::getpriority_process(None).expect("the hub's priority");
        let lane = runtime()
            .spawn(async { rustix::process::getpriority_process(None) })
            .await
            .expect("the lane runs it")
            .expect("the lane's priority");
        // Unless a busy test machine set off a rescue: then at the rescue's nice value.
        if let Some(nice) = lane_threads().lock().rescued {
            assert_eq!(lane, nice, "a rescued lane");
            return;
        }
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
        if lane_threads().lock().rescued.is_none() {
            assert_eq!(lane.expect("the lane's class"), idle);
            assert_eq!(started.expect("the blocking thread's class"), idle);
        }
        let hub = thread_priority::thread_schedule_policy().expect("the hub's class");
        assert_ne!(hub, idle, "the hub's own threads are not idle");
    }
}
