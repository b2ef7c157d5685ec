//! Switchboard's storage: sea-orm on SQLite (the embedded default) and PostgreSQL.
//!
//! [`Store`] is the one handle to the database. Every query that reads or writes tenant data
//! takes the organization's id and filters by it; nothing here returns a row of another
//! organization. Writes that belong together (a message, its sequence number and its delivery job)
//! commit in one transaction.

mod analytics;
mod answers;
mod auth;
mod canned;
mod chat;
mod contact_merge;
mod contacts;
mod conversations;
mod convert;
mod directory;
mod entities;
mod gdpr;
mod helpdesk;
mod ingest;
mod knowledge;
mod labels;
mod notifications;
mod outbox;
mod retention;
mod routing;
mod sealing;
mod search;
mod slack_desk;
mod snooze;
mod understanding;
mod webhooks;

use std::{sync::Arc, time::Duration};

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    TransactionTrait,
};
use switchboard_migration::{Migrator, MigratorTrait};
use switchboard_model::Clock;
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use analytics::ReportFilter;
pub use auth::{NewApiKey, Principal, PrincipalKind};
pub use contact_merge::MergedContact;
pub use contacts::ContactPage;
pub use conversations::{BotTurn, ConversationFilter, ConversationPage, NewMessage};
pub use directory::InboxWithSecrets;
pub use gdpr::Erased;
pub use helpdesk::{HelpdeskTicket, OpenedTicket, TicketRole};
pub use ingest::IngestOutcome;
pub use knowledge::{ArticleChange, ArticleFilter, NewArticle, UpdatedArticle};
pub use labels::{MAX_LABELS_PER_CONVERSATION, label_name};
pub use outbox::{AI_AUTHOR_NAME, ClaimedJob, RetryPolicy};
pub use retention::{PurgedBatch, REMOVED_TEXT, RetentionDue, RetentionMode, RetentionPolicy};
pub use routing::{
    NewHandoff, ROUTING_ACTOR, Released, RoutingApplied, RoutingChange, RoutingInputs, SlaBreach,
    SlaFilter,
};
pub use sealing::{SealingError, SecretKeys};
pub use search::{SearchHit, SearchResults, SearchScope, search_terms};
pub use slack_desk::SlackMirror;
pub use snooze::WokenConversation;
pub use understanding::StoredTopicModel;
pub use webhooks::{
    ClaimedWebhook, WEBHOOK_EVENTS, WebhookDelivery, WebhookOutcome, WebhookSubscription,
};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The write breaks a uniqueness rule (an email already taken, a slug in use).
    #[error("{0}")]
    Conflict(String),
    /// The request makes no sense for the data (an unknown role, a config that is not an object).
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store cannot take the write now (it is shutting down).
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database behind the hub.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite allows one writer at a time; writers in this process queue here instead of
    /// failing with `SQLITE_BUSY` when a read transaction upgrades. `None` on PostgreSQL.
    write_gate: Option<WriteGate>,
    /// SQLite's one connection for writing, used only under the write gate: a writer never
    /// waits behind readers for a pooled connection while everything queues behind it, and its
    /// page cache stays warm with the pages writes touch. `None` on PostgreSQL.
    write_db: Option<DatabaseConnection>,
    /// "Now" for routing, SLA clocks and presence; tests set it (`Store::with_clock`).
    clock: Clock,
    /// Seal and open the secrets kept at rest (`sealing.rs`; `Store::with_secret_keys`).
    keys: Arc<SecretKeys>,
    /// PostgreSQL's pool for the group-commit writers alone, so that an acknowledgement never
    /// waits for a connection behind the API, routing or the bot. `None` on SQLite, where the
    /// writers use `write_db`.
    writers_db: Option<DatabaseConnection>,
    /// The ingest writers, which commit the customer messages that arrive together in one
    /// transaction (`ingest.rs`): one on SQLite, [`PG_INGEST_WRITERS`] side by side on
    /// PostgreSQL. `None` in a writer's own copy of the store.
    ingest_queue: Option<ingest::IngestQueue>,
    /// The answer writer, which commits the bot's answers that finish together in one
    /// transaction (`answers.rs`). `None` in a writer's own copy of the store.
    answer_queue: Option<answers::AnswerQueue>,
    /// Where the database is, for [`Store::with_own_readers`].
    url: Arc<str>,
    /// Held by every copy of the store: SQLite's own thread (the checkpointer) stops when the
    /// last one drops.
    _alive: Arc<()>,
}

/// SQLite's one turn at writing, which the process's writers take in order, except that the
/// ingest writer, whose batches the acknowledgements wait for, goes before every other writer
/// waiting: it waits at most for the one write under way.
///
/// The others line up in `others` first, so that at most one of them asks for `turn` at a
/// time; and everyone asks for `turn` through `next`, held only while asking, so an ingest
/// batch never finds another writer queued for `turn` ahead of it.
#[derive(Clone, Default)]
pub(crate) struct WriteGate {
    turn: Arc<Mutex<()>>,
    next: Arc<Mutex<()>>,
    others: Arc<Mutex<()>>,
    /// When the last turn ended: the checkpointer restarts the log when nobody has written
    /// for a while ([`WriteGate::quiet_for`]).
    last_ended: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// Who asks for the write gate.
#[derive(Clone, Copy)]
pub(crate) enum Writer {
    /// The ingest writer: first in line.
    Ingest,
    /// Any other: in order, after it.
    Other,
}

/// A turn at the write gate, until it drops (the turn first, then the place in line).
pub(crate) struct GateTurn {
    _turn: OwnedMutexGuard<()>,
    _others: Option<OwnedMutexGuard<()>>,
    last_ended: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Drop for GateTurn {
    fn drop(&mut self) {
        if let Ok(mut last_ended) = self.last_ended.lock() {
            *last_ended = Some(std::time::Instant::now());
        }
    }
}

impl WriteGate {
    /// Waits for the turn to write, as `writer`. The wait goes into
    /// `switchboard_write_gate_wait_seconds`.
    pub(crate) async fn enter(&self, writer: Writer) -> GateTurn {
        let asked = std::time::Instant::now();
        let others = match writer {
            Writer::Ingest => None,
            Writer::Other => Some(self.others.clone().lock_owned().await),
        };
        let next = self.next.lock().await;
        let turn = self.turn.clone().lock_owned().await;
        drop(next);
        metrics::histogram!("switchboard_write_gate_wait_seconds")
            .record(asked.elapsed().as_secs_f64());
        GateTurn {
            _turn: turn,
            _others: others,
            last_ended: self.last_ended.clone(),
        }
    }

    /// Whether nobody holds the gate now and nobody has held it for `quiet`.
    fn quiet_for(&self, quiet: Duration) -> bool {
        let idle = self.turn.try_lock().is_ok();
        let last_ended = self.last_ended.lock().ok().and_then(|last| *last);
        idle && last_ended.is_none_or(|ended| ended.elapsed() >= quiet)
    }
}

/// A write transaction, holding the SQLite write gate until it commits or drops.
pub(crate) struct WriteTxn {
    pub txn: DatabaseTransaction,
    _gate: Option<GateTurn>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await?;
        Ok(())
    }

    /// Undoes the transaction before the gate opens, so the next writer never finds the
    /// database still locked by a rollback that dropping would only schedule.
    pub async fn rollback(self) -> Result<()> {
        self.txn.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl Store {
    /// Connects to `sqlite://path?mode=rwc` or `postgres://…`. Does not migrate.
    pub async fn connect(database_url: &str) -> Result<Store> {
        Store::connect_with(database_url, LogLimits::DEFAULT).await
    }

    /// [`Store::connect`], with SQLite's log restarted within `limits`.
    async fn connect_with(database_url: &str, limits: LogLimits) -> Result<Store> {
        let sqlite = database_url.starts_with("sqlite:");
        let (db, writers_db) = if sqlite {
            let readers = sqlite_options(database_url, SqlitePool::Readers(8));
            (Database::connect(readers).await?, None)
        } else {
            let general = postgres_options(database_url, PostgresPool::General);
            let writers = postgres_options(database_url, PostgresPool::Writers);
            (
                Database::connect(general).await?,
                Some(Database::connect(writers).await?),
            )
        };
        let alive = Arc::new(());
        let write_gate = sqlite.then(WriteGate::default);
        let write_db = if let Some(gate) = &write_gate {
            let connection =
                start_sqlite_thread(database_url, gate.clone(), limits, Arc::downgrade(&alive));
            let connection = connection.await.map_err(|_| {
                StoreError::Unavailable("cannot start SQLite's write connection".into())
            })?;
            Some(connection?)
        } else {
            None
        };
        let mut store = Store {
            db,
            write_gate,
            write_db,
            writers_db,
            clock: Clock::system(),
            keys: Arc::new(SecretKeys::none()),
            ingest_queue: None,
            answer_queue: None,
            url: Arc::from(database_url),
            _alive: alive,
        };
        if sqlite {
            if store.sqlite_plans_are_stable().await? == Some(false) {
                tracing::warn!(
                    "SQLite was built without SQLITE_ENABLE_QPSG: every query with a LIMIT is \
                     compiled again each time it runs; build with the project's \
                     .cargo/config.toml"
                );
            }
        } else {
            keep_statistics(store.db.clone(), Arc::downgrade(&store._alive));
        }
        store.start_writers();
        Ok(store)
    }

    /// On SQLite, whether the library keeps a statement's plan whatever values are bound
    /// (`SQLITE_ENABLE_QPSG`, set in `.cargo/config.toml`). Without it, every statement with a
    /// `LIMIT ?` is compiled again on each run. `None` on PostgreSQL.
    pub async fn sqlite_plans_are_stable(&self) -> Result<Option<bool>> {
        use sea_orm::ConnectionTrait;
        if self.backend() != DbBackend::Sqlite {
            return Ok(None);
        }
        let options = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA compile_options",
            ))
            .await?;
        for row in options {
            if row.try_get::<String>("", "compile_options")? == "ENABLE_QPSG" {
                return Ok(Some(true));
            }
        }
        Ok(Some(false))
    }

    /// The same store reading (and, on PostgreSQL, writing what does not go through the
    /// group-commit writers) through a pool of `connections` of its own, for work that may
    /// wait, so that it never holds a connection the API or acknowledgements wait for. On
    /// SQLite each connection is a thread, which the task that opens it starts, so a store made
    /// by a task on a lower-priority runtime reads on lower-priority threads; writes still go
    /// through the one writer.
    pub async fn with_own_readers(&self, connections: u32) -> Result<Store> {
        let options = if self.is_sqlite() {
            sqlite_options(&self.url, SqlitePool::Readers(connections))
        } else {
            postgres_options(&self.url, PostgresPool::Own(connections))
        };
        Ok(Store {
            db: Database::connect(options).await?,
            ..self.clone()
        })
    }

    /// The same store sealing the secrets it writes with `keys`, and opening them.
    pub fn with_secret_keys(mut self, keys: SecretKeys) -> Store {
        self.keys = Arc::new(keys);
        self
    }

    /// The same store with routing, SLA clocks and presence reading `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        if self.ingest_queue.is_some() {
            self.start_writers();
        }
        self
    }

    /// Starts the group-commit writers for customer messages and the bot's answers.
    /// Each writes through a copy of the store without queues (on PostgreSQL, on the writers'
    /// own pool), and stops when the last copy of its queue is dropped. On SQLite a writer
    /// holds the write gate for a whole batch itself ([`group_commit`]), so its copy does not
    /// take the gate again.
    fn start_writers(&mut self) {
        let writer = Store {
            db: self.writers_db.clone().unwrap_or_else(|| self.db.clone()),
            write_gate: None,
            ingest_queue: None,
            answer_queue: None,
            ..self.clone()
        };
        let gate = self.write_gate.clone();
        let ingest_writers = if gate.is_some() { 1 } else { PG_INGEST_WRITERS };
        self.ingest_queue = Some(ingest::start_ingest_writers(
            writer.clone(),
            gate.clone(),
            ingest_writers,
        ));
        self.answer_queue = Some(answers::start_answer_writer(writer, gate));
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, by the store's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await?;
        Ok(())
    }

    /// Whether the database is SQLite (the embedded default) rather than PostgreSQL.
    pub fn is_sqlite(&self) -> bool {
        self.backend() == DbBackend::Sqlite
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Closes the readers of a store made by [`Store::with_own_readers`], not what it shares
    /// with the store it came from.
    pub async fn close_own_readers(self) -> Result<()> {
        self.db.close().await?;
        Ok(())
    }

    pub async fn close(self) -> Result<()> {
        for own in [self.write_db, self.writers_db].into_iter().flatten() {
            own.close().await?;
        }
        self.db.close().await?;
        Ok(())
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTxn> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.enter(Writer::Other).await),
            None => None,
        };
        let txn = self.write_db.as_ref().unwrap_or(&self.db).begin().await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// SQLite page cache of each reading connection, and of the one writing connection, in KiB.
/// Writes touch index and conversation pages all over the file; a cache that holds them spares
/// the writer, which everything waits for, a read of each from the file.
const READ_CACHE_KIB: i64 = 2_000;
const WRITE_CACHE_KIB: i64 = 64_000;

/// Prepared statements the writing connection keeps. A batch's statements change with its size
/// (one placeholder a row, one a value of an `IN` list), so a writer's statements come in
/// hundreds of shapes: with sqlx's default of 100, each was prepared again on most uses.
const WRITE_STATEMENTS: usize = 4_096;

fn base_options(database_url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    options
}

/// Connections of PostgreSQL's general pool: the API, the inbox's reads, delivery and the
/// timers (the background lane has a pool of its own, [`Store::with_own_readers`]).
const PG_GENERAL: u32 = 16;
/// PostgreSQL's ingest writers, side by side (a message goes to one by its thread, so that one
/// node's writers never wait for each other's row locks). Each commits a batch at a time: a
/// commit waits for the log's `fsync`, and while one writer waits the others gather and write.
const PG_INGEST_WRITERS: usize = 4;
/// The answer writer's connection, beside the ingest writers'.
const PG_WRITERS: u32 = PG_INGEST_WRITERS as u32 + 1;

/// What a pool of PostgreSQL connections is for.
#[derive(Clone, Copy)]
enum PostgresPool {
    /// The API, the inbox's reads, delivery and timers.
    General,
    /// The group-commit writers, a connection each.
    Writers,
    /// This many connections of a store's own ([`Store::with_own_readers`]).
    Own(u32),
}

/// A pool of connections to the PostgreSQL database at `database_url`, set up for `pool`.
fn postgres_options(database_url: &str, pool: PostgresPool) -> ConnectOptions {
    let (connections, statements) = match pool {
        PostgresPool::General => (PG_GENERAL, 100),
        // A batch's statements change shape with its size (one row of values a message):
        // with sqlx's default of 100 most would be prepared again on each use.
        PostgresPool::Writers => (PG_WRITERS, WRITE_STATEMENTS),
        PostgresPool::Own(connections) => (connections, 100),
    };
    let writers = matches!(pool, PostgresPool::Writers);
    let mut options = base_options(database_url);
    options
        .max_connections(connections)
        .min_connections(1)
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_postgres_opts(move |opts| {
            let opts = opts.statement_cache_capacity(statements);
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
    options
}

/// How often [`keep_statistics`] looks at the tables (PostgreSQL publishes its counts about
/// once a second).
const STATISTICS_EVERY: Duration = Duration::from_secs(1);

/// Keeps PostgreSQL's planner statistics up with tables that grow fast, while `alive` can be
/// upgraded: a table changed by more rows than it holds (and by 500) since it was last analyzed
/// is analyzed now, from a small sample.
///
/// A new database fills in seconds under load, and autovacuum looks at most once a minute.
/// Until then the planner guesses, and each connection keeps the plan it made for a statement
/// on its first runs: made against nearly empty tables, reading a conversation by its id went
/// through the (organization, status) index, row by row through every conversation (2–3 ms a
/// read at 10,000), and an `IN` list of senders was filtered rather than looked up. `ANALYZE`
/// also makes every connection plan its statements again. A table is analyzed each time it
/// doubles, a few times in its youth and then seldom; the sample (target 10: 3,000 rows) keeps
/// each run to milliseconds, and autovacuum later replaces the figures with finer ones.
fn keep_statistics(db: DatabaseConnection, alive: std::sync::Weak<()>) {
    use sea_orm::ConnectionTrait;
    tokio::spawn(async move {
        while alive.upgrade().is_some() {
            tokio::time::sleep(STATISTICS_EVERY).await;
            let stale = db
                .query_all_raw(sea_orm::Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT relname FROM pg_stat_user_tables \
                     WHERE n_mod_since_analyze > 500 AND n_mod_since_analyze > n_live_tup",
                ))
                .await;
            let tables = match stale {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::debug!(%err, "cannot read the tables' statistics");
                    continue;
                }
            };
            for row in tables {
                let Ok(table) = row.try_get::<String>("", "relname") else {
                    continue;
                };
                // The name comes from the catalog; quoted as an identifier all the same.
                let analyze = format!("ANALYZE \"{}\"", table.replace('"', "\"\""));
                let analyzed = async {
                    let txn = db.begin().await?;
                    txn.execute_unprepared("SET LOCAL default_statistics_target = 10")
                        .await?;
                    txn.execute_unprepared(&analyze).await?;
                    txn.commit().await
                };
                if let Err(err) = analyzed.await {
                    tracing::debug!(%err, table, "cannot analyze the table");
                }
            }
        }
    });
}

/// What a pool of SQLite connections is for.
#[derive(Clone, Copy)]
enum SqlitePool {
    /// This many connections that read.
    Readers(u32),
    /// The one connection that writes, under the write gate.
    Writer,
}

/// A pool of connections to the SQLite database at `database_url`, set up for `pool`.
fn sqlite_options(database_url: &str, pool: SqlitePool) -> ConnectOptions {
    let (connections, cache_kib) = match pool {
        SqlitePool::Readers(connections) => (connections, READ_CACHE_KIB),
        SqlitePool::Writer => (1, WRITE_CACHE_KIB),
    };
    let mut options = base_options(database_url);
    // A pooled SQLite connection is a file handle in this process: it cannot have dropped,
    // and a ping before each use would cost a round trip to its thread.
    options.test_before_acquire(false);
    if let SqlitePool::Writer = pool {
        // Kept for the life of the store: a connection opened again later would run on a thread
        // at the priority of whatever task opened it, not the writers'.
        options
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    }
    // WAL lets readers run beside the writer; NORMAL sync in WAL mode never corrupts and
    // loses nothing on a process crash (only on power loss).
    options
        .max_connections(connections)
        .min_connections(1)
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(15))
                .pragma("cache_size", format!("-{cache_kib}"))
                .create_if_missing(true);
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
    const DEFAULT: LogLimits = LogLimits {
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
fn start_sqlite_thread(
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
enum Priority {
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

/// Runs the future `make` makes on a thread named `name` with a runtime of its own, at
/// `priority` (threads the future starts, such as SQLite's connection threads, inherit it).
fn on_own_thread<Fut: Future<Output = ()>>(
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

/// Starts a group-commit writer: one task that takes what arrived while its last batch was
/// written, up to `max` items, and hands them to `write` together. SQLite has one writer at a
/// time, and a transaction costs mostly its round trips to the database thread and its commit,
/// not its rows.
///
/// The writer takes the write `gate`, as the writer it names, before it closes its batch and
/// holds it while `write` runs: what arrives while another writer has the database joins this
/// batch, so that the busier the database, the fewer and larger the transactions. `write` must
/// not take the gate.
/// A writer lets a batch gather for `linger` before it asks for the gate: fewer, larger
/// transactions, each costing mostly its round trips and its commit, and more turns of the gate
/// left to the others.
///
/// The task runs on a thread of its own (a single-threaded runtime), not on the hub's: each of
/// its round trips would otherwise wait for a turn behind thousands of connection tasks, and the
/// one writer everything queues behind must not wait. It stops when every sender is dropped.
pub(crate) fn group_commit<T, F, Fut>(
    writer: &'static str,
    max: usize,
    linger: Duration,
    gate: Option<(WriteGate, Writer)>,
    mut write: F,
) -> tokio::sync::mpsc::Sender<T>
where
    T: Send + 'static,
    F: FnMut(Vec<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (queue, mut waiting) = tokio::sync::mpsc::channel::<T>(4 * max);
    let run = move || async move {
        let mut batch = Vec::with_capacity(max);
        while waiting.recv_many(&mut batch, max).await > 0 {
            if !linger.is_zero() && batch.len() < max {
                tokio::time::sleep(linger).await;
            }
            let held = match &gate {
                Some((gate, writer)) => Some(gate.enter(*writer).await),
                None => None,
            };
            while batch.len() < max
                && let Ok(item) = waiting.try_recv()
            {
                batch.push(item);
            }
            let started = std::time::Instant::now();
            write(std::mem::replace(&mut batch, Vec::with_capacity(max))).await;
            drop(held);
            metrics::histogram!("switchboard_group_commit_seconds", "writer" => writer)
                .record(started.elapsed().as_secs_f64());
        }
    };
    on_own_thread(&format!("{writer}-writer"), Priority::Writer, run);
    queue
}

/// A group-commit writer's batch: written by `together` in one transaction, which gives each
/// item its outcome, or, when that fails, each item on its own by `alone`. A batch of one goes
/// the same way: `together` takes fewer statements. `reply` hands each item its outcome.
pub(crate) async fn together_or_alone<T, R>(
    batch: Vec<T>,
    together: impl AsyncFnOnce(&[T]) -> Result<Vec<Result<R>>>,
    alone: impl AsyncFn(&T) -> Result<R>,
    reply: impl Fn(T, Result<R>),
) {
    if let Ok(outcomes) = together(&batch).await {
        for (item, outcome) in batch.into_iter().zip(outcomes) {
            reply(item, outcome);
        }
        return;
    }
    for item in batch {
        let outcome = alone(&item).await;
        reply(item, outcome);
    }
}

/// Turns a unique-constraint violation into [`StoreError::Conflict`] with `what` as the reason.
pub(crate) fn conflict_as(what: &str) -> impl FnOnce(DbErr) -> StoreError + '_ {
    move |err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            StoreError::Conflict(what.to_owned())
        }
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn the_ingest_writer_goes_before_the_other_writers_waiting() {
        let gate = WriteGate::default();
        let under_way = gate.enter(Writer::Other).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiting = |writer: Writer, name: &'static str| {
            let (gate, order) = (gate.clone(), order.clone());
            tokio::spawn(async move {
                let _turn = gate.enter(writer).await;
                order.lock().expect("the order").push(name);
            })
        };
        let other = waiting(Writer::Other, "other");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ingest = waiting(Writer::Ingest, "ingest");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            order.lock().expect("the order").is_empty(),
            "nobody wrote while the gate was held"
        );
        drop(under_way);
        other.await.expect("the other writer");
        ingest.await.expect("the ingest writer");
        assert_eq!(*order.lock().expect("the order"), ["ingest", "other"]);
    }
}
