//! The database's connections: the pools of each backend (PostgreSQL's general, writers' and
//! own pools; SQLite's readers and its one write connection), SQLite's own thread with its
//! checkpointer, PostgreSQL's statistics keeper, and the threads the writers run on, at their
//! priority.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use crate::{Result, WriteGate, Writer};

/// SQLite page cache of each reading connection, and of the one writing connection, in KiB.
/// Writes touch index and conversation pages all over the file; a cache that holds them spares
/// the writer, which everything waits for, a read of each from the file.
const READ_CACHE_KIB: i64 = 2_000;
const WRITE_CACHE_KIB: i64 = 64_000;

/// Prepared statements the writing connection keeps. A batch's statements change with its size
/// (one placeholder a row, one a value of an `IN` list), so a writer's statements come in
/// hundreds of shapes: with sqlx's default of 100, each was prepared again on most uses.
const WRITE_STATEMENTS: usize = 4_096;

/// How long a caller waits for a pooled connection before its statement fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

fn base_options(database_url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(ACQUIRE_TIMEOUT);
    options
}

/// Connections of PostgreSQL's general pool: the API, the inbox's reads, delivery and the
/// timers (the background lane has a pool of its own, [`Store::with_own_readers`]).
const PG_GENERAL: u32 = 16;
/// PostgreSQL's ingest writers, side by side (a message goes to one by its thread, so that one
/// node's writers never wait for each other's row locks). Each commits a batch at a time: a
/// commit waits for the log's `fsync`, and while one writer waits the others gather and write.
pub(crate) const PG_INGEST_WRITERS: usize = 4;
/// The answer writer's and the topic writer's connections, beside the ingest writers'.
const PG_WRITERS: u32 = PG_INGEST_WRITERS as u32 + 2;

/// What a pool of PostgreSQL connections is for.
#[derive(Clone, Copy)]
pub(crate) enum PostgresPool {
    /// The API, the inbox's reads, delivery and timers.
    General,
    /// The group-commit writers, a connection each.
    Writers,
    /// This many connections of a store's own ([`Store::with_own_readers`]).
    Own(u32),
}

/// A pool of connections to the PostgreSQL database at `database_url`, set up for `pool`.
pub(crate) fn postgres_options(database_url: &str, pool: PostgresPool) -> ConnectOptions {
    let (connections, statements) = match pool {
        PostgresPool::General => (PG_GENERAL, 100),
        // A batch's statements change shape with its size (one row of values a message):
        // with sqlx's default of 100 most would be prepared again on each use.
        PostgresPool::Writers => (PG_WRITERS, WRITE_STATEMENTS),
        PostgresPool::Own(connections) => (connections, 100),
    };
    let writers = matches!(pool, PostgresPool::Writers);
    let generic = !matches!(pool, PostgresPool::General);
    let own = matches!(pool, PostgresPool::Own(_));
    let loopback_without_sslmode = is_loopback_without_sslmode(database_url);
    let mut options = base_options(database_url);
    if own {
        // Opened at start on the lane's read thread and kept, none closed for being idle or
        // old: a connection opened again later would be watched by whichever runtime's task
        // opened it, the idle-class lane's (`Background::start`).
        options
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    }
    options
        .max_connections(connections)
        .min_connections(if own { connections } else { 1 })
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_postgres_opts(move |opts| {
            let mut opts = opts.statement_cache_capacity(statements);
            if loopback_without_sslmode {
                // TLS on the machine's own loopback protects nothing, and it cost 3.5% of the
                // CPU (both ends' encryption) at 1,000 messages a second. A URL that names its
                // `sslmode` keeps it.
                opts = opts.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable);
            }
            if generic {
                // The writers and the background lane look rows up by their keys, the same
                // few statements thousands of times a second. Left to choose, PostgreSQL plans
                // a prepared statement again on each of its first five runs on a connection,
                // after every `ANALYZE` of a table it reads ([`keep_statistics`]), and whenever
                // it finds the generic plan dearer: at 10,000 conversations routing's read was
                // planned in 9,746 of its 30,000 runs, 0.45 ms each, and planning was a fifth
                // of PostgreSQL's time. A generic plan is made once per connection.
                opts = opts.options([("plan_cache_mode", "force_generic_plan")]);
            }
            if writers {
                // The writers only look rows up by their keys, a batch's keys at a time, from
                // a JSON array that the planner takes for 100 rows whatever its length: it
                // then hashed whole tables (`threads`, `messages`) rather than look up a few
                // keys in their indexes, 5 to 40 ms a batch at 10,000 conversations. Index
                // lookups in nested loops are always the right plan here.
                opts.options([
                    ("enable_seqscan", "off"),
                    ("enable_hashjoin", "off"),
                    ("enable_mergejoin", "off"),
                ])
            } else {
                opts
            }
        });
    if matches!(pool, PostgresPool::Own(_)) {
        // The background lane waits for its connections by design (its work is what may wait
        // when the node is saturated): sqlx's warning for an acquire over 2 s came 45,000 times
        // a minute at 10,000 conversations. A wait up to the acquire timeout is not news.
        options.map_sqlx_postgres_pool_opts(|opts| opts.acquire_slow_threshold(ACQUIRE_TIMEOUT));
    }
    options
}

/// Whether a PostgreSQL URL names a loopback host (`localhost`, `127.0.0.1`, `::1`) and no
/// `sslmode`: libpq's default (`prefer`) then encrypts what never leaves the machine.
fn is_loopback_without_sslmode(database_url: &str) -> bool {
    let Ok(url) = url::Url::parse(database_url) else {
        return false;
    };
    let loopback = match url.host() {
        // A `postgres:` URL's host is not parsed as an address: an IPv4 one comes as a name.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    loopback && !url.query_pairs().any(|(key, _)| key == "sslmode")
}

/// How often [`keep_statistics`] looks at the tables (PostgreSQL publishes its counts about
/// once a second).
const STATISTICS_EVERY: Duration = Duration::from_secs(1);

/// Keeps PostgreSQL's planner statistics up with tables that grow fast, while `alive` can be
/// upgraded: a table changed by 500 rows or more since it was last analyzed is analyzed now,
/// from a small sample, when it has doubled since this task last analyzed it (the first time:
/// when it was changed by more rows than it holds, [`due`]).
///
/// A new database fills in seconds under load, and autovacuum looks at most once a minute.
/// Until then the planner guesses, and each connection keeps the plan it made for a statement
/// on its first runs: made against nearly empty tables, reading a conversation by its id went
/// through the (organization, status) index, row by row through every conversation (2–3 ms a
/// read at 10,000), and an `IN` list of senders was filtered rather than looked up. `ANALYZE`
/// also makes every connection plan its statements again. A table is analyzed each time it
/// doubles, a few times in its youth and then seldom; the sample (target 10: 3,000 rows) keeps
/// each run to milliseconds, and autovacuum later replaces the figures with finer ones.
pub(crate) fn keep_statistics(db: DatabaseConnection, alive: std::sync::Weak<()>) {
    use sea_orm::ConnectionTrait;
    tokio::spawn(async move {
        // Each table's rows when this task last analyzed it.
        let mut analyzed = std::collections::HashMap::<String, i64>::new();
        while alive.upgrade().is_some() {
            tokio::time::sleep(STATISTICS_EVERY).await;
            let changed = db
                .query_all_raw(sea_orm::Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT relname, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables \
                     WHERE n_mod_since_analyze > 500",
                ))
                .await;
            let tables = match changed {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::debug!(%err, "cannot read the tables' statistics");
                    continue;
                }
            };
            for row in tables {
                let read = (
                    row.try_get::<String>("", "relname"),
                    row.try_get::<i64>("", "n_live_tup"),
                    row.try_get::<i64>("", "n_mod_since_analyze"),
                );
                let (Ok(table), Ok(rows), Ok(changed)) = read else {
                    continue;
                };
                if !due(rows, changed, analyzed.get(&table).copied()) {
                    continue;
                }
                // The name comes from the catalog; quoted as an identifier all the same.
                let analyze = format!("ANALYZE \"{}\"", table.replace('"', "\"\""));
                let done = async {
                    let txn = db.begin().await?;
                    txn.execute_unprepared("SET LOCAL default_statistics_target = 10")
                        .await?;
                    txn.execute_unprepared(&analyze).await?;
                    txn.commit().await
                };
                match done.await {
                    Ok(()) => {
                        analyzed.insert(table, rows);
                    }
                    Err(err) => tracing::debug!(%err, table, "cannot analyze the table"),
                }
            }
        }
    });
}

/// Whether a table of `rows` rows, changed by `changed` since its last `ANALYZE`, is analyzed
/// now, given its rows when [`keep_statistics`] last analyzed it. Growth, not change: a table
/// whose rows are updated (a conversation's, once for each of its messages) is changed by more
/// rows than it holds every few seconds under load, and each `ANALYZE` made every connection
/// plan its statements again (`conversations` was analyzed 4 to 5 times a minute at 1,000
/// messages a second, 45–100 ms each).
fn due(rows: i64, changed: i64, analyzed_at: Option<i64>) -> bool {
    match analyzed_at {
        None => changed > rows,
        Some(at) => rows > 2 * at,
    }
}

/// What a pool of SQLite connections is for.
#[derive(Clone, Copy)]
pub(crate) enum SqlitePool {
    /// This many connections that read.
    Readers(u32),
    /// The one connection that writes, under the write gate.
    Writer,
}

/// A pool of connections to the SQLite database at `database_url`, set up for `pool`.
pub(crate) fn sqlite_options(database_url: &str, pool: SqlitePool) -> ConnectOptions {
    let (connections, cache_kib) = match pool {
        SqlitePool::Readers(connections) => (connections, READ_CACHE_KIB),
        SqlitePool::Writer => (1, WRITE_CACHE_KIB),
    };
    let mut options = base_options(database_url);
    // A pooled SQLite connection is a file handle in this process: it cannot have dropped,
    // and a ping before each use would cost a round trip to its thread.
    options.test_before_acquire(false);
    // A connection is kept for the life of the store once opened: each runs on a thread of its
    // own at the priority of the thread that opened it (the writers' raised), and one opened
    // again later would take whatever task's opened it. (Opening every reader at once at start
    // raced the first connection's switch to WAL: "database is locked".)
    options
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>);
    options
        .max_connections(connections)
        .min_connections(1)
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = sqlite_file(opts).pragma("cache_size", format!("-{cache_kib}"));
            match pool {
                SqlitePool::Readers(_) => opts,
                // A statement that writes many rows keeps what it would undo in a statement
                // journal, a temporary file once it outgrows 64 KiB: in memory instead.
                // The writer never checkpoints: a checkpoint ends with an `fsync`, which took
                // up to 400 ms here under load, and every acknowledgement would wait for it.
                // The checkpointer does them all (`start_sqlite_thread`).
                SqlitePool::Writer => opts
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("temp_store", "memory")
                    .statement_cache_capacity(WRITE_STATEMENTS),
            }
        });
    options
}

/// How every connection opens the SQLite file: created if missing, in WAL mode, which lets
/// readers run beside the writer; NORMAL sync in WAL mode never corrupts and loses nothing on a
/// process crash (only on power loss).
fn sqlite_file(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    opts.journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(15))
        .create_if_missing(true)
}

/// Creates the SQLite database at `database_url` if it is missing and puts it in WAL mode, on
/// one connection, before any pool opens: a pool opens its first connections side by side (the
/// one asked for and the one sqlx's pool opens in a task of its own to keep `min_connections`),
/// and the switch to WAL needs the file to itself, so on a first start one of them failed with
/// "database is locked" (2 starts in 6 of the release binary).
/// Once the file is in WAL mode, a connection asking for it has nothing to change.
pub(crate) async fn prepare_sqlite_file(database_url: &str) -> Result<()> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let connection = sqlite_file(database_url.parse().map_err(failed)?)
        .connect()
        .await
        .map_err(failed)?;
    connection.close().await.map_err(failed)?;
    Ok(())
}

/// An error of sqlx's, used directly rather than through sea-orm, as sea-orm reports its own.
pub(crate) fn failed(err: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into()))
}

/// When the checkpointer restarts SQLite's log ([`start_sqlite_thread`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogLimits {
    /// How often the checkpointer copies the log into the database.
    every: Duration,
    /// Pages in the log past which it restarts the log at the first quiet moment.
    restart_after_pages: i64,
    /// How long nobody must have written for that.
    quiet: Duration,
    /// Pages past which it restarts the log even while writes keep coming.
    max_pages: i64,
    /// How long it waits before forcing again, when writes kept the last one from finishing.
    forced_every: Duration,
}

impl LogLimits {
    /// Restart past 40 MiB (at SQLite's 4 KiB pages) when nobody has written for 50 ms; under
    /// sustained peak load the log grows rather than make every writer wait for the disk, up
    /// to 2 GiB (about a minute of this machine's peak, BENCHMARKS.md).
    pub(crate) const DEFAULT: LogLimits = LogLimits {
        every: Duration::from_millis(100),
        restart_after_pages: 10_000,
        quiet: Duration::from_millis(50),
        max_pages: 524_288,
        forced_every: Duration::from_secs(1),
    };
}

/// Starts SQLite's own thread, which opens the write connection and then checkpoints until
/// `alive` can no longer be upgraded. Returns the write connection.
///
/// The write connection is opened here at the writers' priority ([`WRITER_NICE`]), so that its
/// SQLite thread, which runs every write, inherits it; this thread then goes back to its own
/// priority. Its runtime lives as long as the store: sqlx returns a connection to its pool on
/// the runtime that dropped it, and the one the pool opens with is dropped here.
///
/// The checkpointer copies what the log holds into the database file and flushes it, beside
/// the writer, on a connection of its own (a passive checkpoint takes no lock that writers or
/// readers wait for). The writer itself never checkpoints: a checkpoint ends with an `fsync`,
/// and every acknowledgement would wait for the disk.
///
/// The log starts again from its beginning only when a write begins with all of it copied, and
/// while writes keep coming a checkpoint never catches up with them. So once the log holds
/// `limits.restart_after_pages`, the checkpointer waits for a moment when nobody has written
/// for `limits.quiet`, takes the write gate and copies the rest (a few pages, since it copied
/// the bulk just before without the gate); the next write then restarts the log. Past
/// `limits.max_pages` it takes the gate without waiting for quiet: writers then wait for one
/// checkpoint's `fsync`, once per that much log.
pub(crate) fn start_sqlite_thread(
    database_url: &str,
    gate: WriteGate,
    limits: LogLimits,
    alive: std::sync::Weak<()>,
) -> tokio::sync::oneshot::Receiver<Result<DatabaseConnection, DbErr>> {
    let write_options = sqlite_options(database_url, SqlitePool::Writer);
    let options = sqlite_options(database_url, SqlitePool::Readers(1));
    let (connected, connection) = tokio::sync::oneshot::channel();
    let run = async move {
        let own = rustix::process::getpriority_process(None);
        raise_priority();
        let write_db = Database::connect(write_options).await;
        if let Ok(own) = own {
            let _ = rustix::process::setpriority_process(None, own);
        }
        let opened = write_db.is_ok();
        let _ = connected.send(write_db);
        if !opened {
            return;
        }
        let db = match Database::connect(options).await {
            Ok(db) => db,
            Err(err) => {
                tracing::warn!(%err, "cannot open the checkpointer's connection");
                return;
            }
        };
        let (mut pages_before, mut next_forced) = (0, std::time::Instant::now());
        while alive.upgrade().is_some() {
            tokio::time::sleep(limits.every).await;
            let Some(log) = checkpoint(&db).await else {
                continue;
            };
            metrics::gauge!("switchboard_sqlite_log_pages").set(log.pages as f64);
            if log.pages < pages_before {
                metrics::counter!("switchboard_sqlite_log_restarts_total").increment(1);
            }
            pages_before = log.pages;
            if log.pages < limits.restart_after_pages || log.copied < log.pages / 2 {
                // Short, or a reader on an old snapshot holds most of it back: next time.
                continue;
            }
            if !gate.quiet_for(limits.quiet) {
                if log.pages < limits.max_pages || next_forced > std::time::Instant::now() {
                    continue;
                }
                next_forced = std::time::Instant::now() + limits.forced_every;
                metrics::counter!("switchboard_sqlite_log_forced_restarts_total").increment(1);
            }
            let turn = gate.enter(Writer::Other).await;
            checkpoint(&db).await;
            drop(turn);
        }
        let _ = db.close().await;
    };
    on_own_thread("sqlite", Priority::Normal, move || run);
    connection
}

/// The log after a checkpoint: its pages, and how many of them are in the database file.
#[derive(Clone, Copy)]
struct LogState {
    pages: i64,
    copied: i64,
}

/// Copies what the log holds into the database file, as far as readers allow, and flushes it
/// (a passive checkpoint: it waits for nobody). `None` when it failed (logged).
async fn checkpoint(db: &DatabaseConnection) -> Option<LogState> {
    use sea_orm::ConnectionTrait;
    let started = std::time::Instant::now();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await;
    metrics::histogram!("switchboard_checkpoint_seconds").record(started.elapsed().as_secs_f64());
    let state = row.and_then(|row| {
        let row = row.ok_or_else(|| DbErr::Custom("a checkpoint without a result".into()))?;
        Ok(LogState {
            pages: row.try_get::<i64>("", "log")?,
            copied: row.try_get::<i64>("", "checkpointed")?,
        })
    });
    state
        .inspect_err(|err| tracing::warn!(%err, "checkpoint failed"))
        .ok()
}

/// The priority a thread started by [`on_own_thread`] runs at.
#[derive(Clone, Copy)]
pub(crate) enum Priority {
    /// The process's own.
    Normal,
    /// [`WRITER_NICE`], where the process may raise a thread's priority (root, or
    /// `CAP_SYS_NICE`, or an `RLIMIT_NICE` that allows it); its own elsewhere.
    Writer,
}

/// The nice value of the threads that write SQLite: the group-commit writers and the write
/// connection's thread. Every acknowledgement waits for them, one batch after another; on a
/// busy machine, at the process's priority, they spent about as long waiting for a core as
/// running, behind the connections' tasks they are there to answer.
const WRITER_NICE: i32 = -10;

/// Raises the calling thread's priority to [`WRITER_NICE`] where the process may (on Linux,
/// `setpriority` with no id applies to the calling thread).
fn raise_priority() {
    if let Err(err) = rustix::process::setpriority_process(None, WRITER_NICE) {
        tracing::debug!(%err, "cannot raise a SQLite writer's priority");
    }
}

/// Opens `connections` of `pool`'s connections at once, on the caller's thread, and leaves
/// them open and idle in the pool.
pub(crate) async fn open_all<DB: sea_orm::sqlx::Database>(
    pool: &sea_orm::sqlx::Pool<DB>,
    connections: u32,
) -> Result<(), DbErr> {
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(pool.acquire().await.map_err(failed)?);
    }
    Ok(())
}

/// Runs the future `make` makes on a thread named `name` with a runtime of its own, at
/// `priority` (threads the future starts, such as SQLite's connection threads, inherit it).
pub(crate) fn on_own_thread<Fut: Future<Output = ()>>(
    name: &str,
    priority: Priority,
    make: impl FnOnce() -> Fut + Send + 'static,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => {
            let spawned = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    if let Priority::Writer = priority {
                        raise_priority();
                    }
                    runtime.block_on(make())
                });
            if let Err(err) = spawned {
                tracing::error!(%err, name, "cannot start the thread");
            }
        }
        Err(err) => tracing::error!(%err, name, "cannot start the thread's runtime"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn a_table_is_analyzed_as_it_grows_not_as_its_rows_change() {
        // Never analyzed here: once changed by more rows than it holds.
        assert!(due(600, 700, None));
        assert!(!due(10_000, 6_000, None));
        // Analyzed at 1,000 rows: again past 2,000, however often its rows change.
        assert!(!due(1_500, 9_000, Some(1_000)));
        assert!(!due(2_000, 50_000, Some(1_000)));
        assert!(due(2_001, 600, Some(1_000)));
        // A table emptied and filled again (the reports' marks) is analyzed again only past
        // twice the rows it had when last analyzed.
        assert!(!due(300, 5_000, Some(200)));
        assert!(due(401, 5_000, Some(200)));
    }

    /// The nice value of each of this process's threads named `name`.
    fn nice_of_threads(name: &str) -> Vec<i32> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim() == name)
            })
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                // The fields after the command's closing parenthesis: state is the 3rd field of
                // the line, nice the 19th.
                let rest = &stat[stat.rfind(')')? + 2..];
                rest.split_whitespace().nth(16)?.parse().ok()
            })
            .collect()
    }

    #[test]
    fn tls_is_left_out_only_on_loopback_and_only_unless_asked_for() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:p@localhost/db?application_name=hub",
            "postgresql://u@[::1]:5432/db",
        ] {
            assert!(is_loopback_without_sslmode(url), "{url}");
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/test?sslmode=require",
            "postgres://u@db.internal:5432/db",
            "postgres://u@10.0.0.7/db",
            "not a url",
        ] {
            assert!(!is_loopback_without_sslmode(url), "{url}");
        }
    }

    #[tokio::test]
    async fn sqlite_writes_on_threads_at_the_writers_priority_where_allowed() {
        let may_raise =
            std::thread::spawn(|| rustix::process::setpriority_process(None, WRITER_NICE).is_ok())
                .join()
                .expect("the probe thread");
        let database = switchboard_testkit::TestDatabase::sqlite();
        let store = Store::connect(&database.url).await.expect("connects");
        // A new thread names itself, then raises its priority, as it starts: give it a moment.
        let mut writers = nice_of_threads("ingest-writer");
        for _ in 0..100 {
            let settled = !writers.is_empty()
                && (!may_raise || writers.iter().all(|nice| *nice == WRITER_NICE));
            if settled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            writers = nice_of_threads("ingest-writer");
        }
        assert!(
            !writers.is_empty(),
            "the ingest writer runs on a thread of its own"
        );
        if may_raise {
            assert!(
                writers.iter().all(|nice| *nice == WRITER_NICE),
                "the ingest writers run at {writers:?}, not {WRITER_NICE}"
            );
        }
        store.close().await.expect("closes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_new_sqlite_database_opens_at_the_first_try() {
        // Without `prepare_sqlite_file`, 2 first starts of the release binary in 6 failed
        // ("database is locked"); this test's runs did not lose that race in debug builds, so it
        // guards the path rather than reproduces the race at will.
        for _ in 0..30 {
            let database = switchboard_testkit::TestDatabase::sqlite();
            let store = Store::connect(&database.url)
                .await
                .expect("a new database opens");
            store.close().await.expect("closes");
        }
    }

    /// The `plan_cache_mode` a connection of `db` runs with.
    async fn plan_cache_mode(db: &impl sea_orm::ConnectionTrait) -> String {
        db.query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SHOW plan_cache_mode",
        ))
        .await
        .expect("shows")
        .expect("a row")
        .try_get::<String>("", "plan_cache_mode")
        .expect("a text")
    }

    #[tokio::test]
    async fn postgres_plans_the_writers_and_the_lanes_statements_once() {
        let Some(database) = switchboard_testkit::TestDatabase::postgres().await else {
            return;
        };
        let store = Store::connect(&database.url).await.expect("connects");
        let lane = store.with_own_readers(2).await.expect("the lane's pool");
        let writers = store.writers_db.as_ref().expect("the writers' pool");
        assert_eq!(plan_cache_mode(writers).await, "force_generic_plan");
        assert_eq!(plan_cache_mode(lane.db()).await, "force_generic_plan");
        // The API's reads filter and sort by what the caller asks: they keep the choice.
        assert_eq!(plan_cache_mode(store.db()).await, "auto");
        lane.close().await.expect("closes");
        store.close().await.expect("closes");
    }

    /// A lane's pool holds every connection it was given before the lane reads: on SQLite each
    /// is a thread started by the caller, on PostgreSQL a socket watched by the caller's
    /// runtime (`Background::start` opens them on the lane's read thread), kept for good.
    #[tokio::test]
    async fn a_lanes_connections_are_all_open_before_it_reads() {
        let sqlite = switchboard_testkit::TestDatabase::sqlite();
        let store = Store::connect(&sqlite.url).await.expect("connects");
        let lane = store.with_own_readers(3).await.expect("the lane's pool");
        // (Idle only once sqlx's release tasks have pinged them: not checked here.)
        let open = lane.db().get_sqlite_connection_pool().size();
        assert_eq!(open, 3, "every SQLite reader is open before the lane reads");
        lane.close().await.expect("closes");
        store.close().await.expect("closes");
        let Some(postgres) = switchboard_testkit::TestDatabase::postgres().await else {
            return;
        };
        let store = Store::connect(&postgres.url).await.expect("connects");
        let lane = store.with_own_readers(5).await.expect("the lane's pool");
        let pool = lane.db().get_postgres_connection_pool();
        let open = pool.size();
        assert_eq!(
            open, 5,
            "every PostgreSQL connection is open before the lane reads"
        );
        let options = pool.options();
        assert_eq!(options.get_min_connections(), 5, "and kept open");
        assert_eq!(options.get_idle_timeout(), None, "however long idle");
        assert_eq!(options.get_max_lifetime(), None, "however old");
        lane.close().await.expect("closes");
        store.close().await.expect("closes");
    }

    /// Runs `sql` in a write transaction of its own.
    async fn commit_alone(store: &Store, sql: &str) {
        use sea_orm::ConnectionTrait;
        let write = store.begin_write().await.expect("a write");
        write.execute_unprepared(sql).await.expect("runs");
        write.commit().await.expect("commits");
    }

    /// Commits one row of about a page, `rows` times in a row with no pause, and returns the
    /// size of SQLite's log file at the end, in pages.
    async fn log_pages_after_writing(limits: LogLimits, rows: usize) -> u64 {
        let database = switchboard_testkit::TestDatabase::sqlite();
        let store = Store::connect_with(&database.url, limits)
            .await
            .expect("connects");
        commit_alone(
            &store,
            "CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)",
        )
        .await;
        for _ in 0..rows {
            commit_alone(
                &store,
                "INSERT INTO filler (data) VALUES (randomblob(3000))",
            )
            .await;
        }
        let log = database.dir.path().join("switchboard.db-wal");
        let log_bytes = std::fs::metadata(log).map_or(0, |log| log.len());
        store.close().await.expect("closes");
        log_bytes / 4096
    }

    #[tokio::test]
    async fn the_log_restarts_while_writes_keep_coming_once_it_is_full() {
        // Never quiet: writes follow one another without a pause.
        let limits = LogLimits {
            every: Duration::from_millis(10),
            restart_after_pages: 100,
            quiet: Duration::from_secs(3600),
            max_pages: 400,
            forced_every: Duration::ZERO,
        };
        // Each row takes a page and the commit's page of the table: about 6,000 pages of log
        // without a restart.
        let pages = log_pages_after_writing(limits, 3_000).await;
        assert!(
            pages < 3_000,
            "the log grew to {pages} pages against a limit of {}",
            limits.max_pages
        );
    }

    #[tokio::test]
    async fn the_writer_does_not_checkpoint() {
        // The checkpointer never takes the gate, so the log restarts only where one of its
        // checkpoints happens to finish between two writes (rarely, and leaving at least one
        // run of 1,500 pages); if the writer checkpointed (SQLite's default: every 1,000
        // pages), it would restart at about 1,000 pages, every time.
        let limits = LogLimits {
            restart_after_pages: i64::MAX,
            max_pages: i64::MAX,
            ..LogLimits::DEFAULT
        };
        let pages = log_pages_after_writing(limits, 1_500).await;
        assert!(pages >= 1_500, "the log restarted at {pages} pages");
    }
}
