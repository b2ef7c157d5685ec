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
mod chained;
mod chat;
mod connection;
mod contact_merge;
mod contacts;
mod conversations;
mod convert;
mod dead_letters;
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

use sea_orm::{
    Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use switchboard_migration::{Migrator, MigratorTrait};
use switchboard_model::Clock;
use tokio::sync::{Mutex, OwnedMutexGuard};

use connection::{
    LogLimits, PG_INGEST_WRITERS, PostgresPool, Priority, SqlitePool, keep_statistics,
    on_own_thread, postgres_options, sqlite_options, start_sqlite_thread,
};

pub use analytics::{
    DEFAULT_REOPEN_WINDOW_SECS, EventFilter, MAX_REOPEN_WINDOW_SECS, ReportFilter,
};
pub use answers::CustomerScore;
pub use auth::{NewApiKey, Principal, PrincipalKind};
pub use chat::ChatConversation;
pub use contact_merge::MergedContact;
pub use contacts::ContactPage;
pub use conversations::{BotTurn, ConversationFilter, ConversationPage, NewMessage};
pub use dead_letters::{DEAD_LETTER_BODY_LIMIT, DeadLetter};
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
    /// transaction (`ingest.rs`): one on SQLite, [`connection::PG_INGEST_WRITERS`] side by side on
    /// PostgreSQL. `None` in a writer's own copy of the store.
    ingest_queue: Option<ingest::IngestQueue>,
    /// The answer writer, which commits the bot's answers that finish together in one
    /// transaction (`answers.rs`). `None` in a writer's own copy of the store.
    answer_queue: Option<answers::AnswerQueue>,
    /// The topic writer, which commits the conversations' topics set together in one
    /// transaction (`understanding.rs`). `None` in a writer's own copy of the store.
    topic_queue: Option<understanding::TopicQueue>,
    /// Where the database is, for [`Store::with_own_readers`].
    url: Arc<str>,
    /// Inboxes read lately, secrets opened (`directory.rs`).
    inboxes: Arc<directory::InboxCache>,
    /// Held by every copy of the store: SQLite's own thread (the checkpointer) stops when the
    /// last one drops.
    _alive: Arc<()>,
}

/// SQLite's one turn at writing, which the process's writers take in order, except that the
/// ingest writer, whose batches the acknowledgements wait for, and the answer writer, whose
/// batches the customers wait for, go before every other writer waiting: each waits at most
/// for the write under way and the one asking before it.
///
/// The others line up in `others` first, so that at most one of them asks for `turn` at a
/// time; and everyone asks for `turn` through `next`, held only while asking, so an ingest or
/// answer batch never finds a line of other writers queued for `turn` ahead of it.
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
    /// The ingest writer: ahead of the line.
    Ingest,
    /// The answer writer: ahead of the line too. Under load the others (a topic, a
    /// rescored sentiment, routing's writes) queue by the hundred, and a customer's answer
    /// waited for every one of them (BENCHMARKS.md, issue 25).
    Answers,
    /// Any other: in order, after them.
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
            Writer::Ingest | Writer::Answers => None,
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
            connection::prepare_sqlite_file(database_url).await?;
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
            topic_queue: None,
            url: Arc::from(database_url),
            inboxes: Arc::default(),
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
        let db = Database::connect(options).await?;
        // All of them now, on the caller's thread and runtime, rather than later on whichever
        // task first finds the pool short (the background lane's, in the idle class). Each
        // SQLite connection runs on a thread of its own, at the priority of the thread that
        // opens it; each PostgreSQL connection's socket is watched by the runtime that opens it.
        if self.is_sqlite() {
            connection::open_all(db.get_sqlite_connection_pool(), connections).await?;
        } else {
            connection::open_all(db.get_postgres_connection_pool(), connections).await?;
        }
        Ok(Store { db, ..self.clone() })
    }

    /// The same store sealing the secrets it writes with `keys`, and opening them.
    pub fn with_secret_keys(mut self, keys: SecretKeys) -> Store {
        self.keys = Arc::new(keys);
        // Opened with the keys before: read again with these.
        self.inboxes = Arc::default();
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

    /// Starts the group-commit writers for customer messages, the bot's answers and the
    /// conversations' topics.
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
            topic_queue: None,
            ..self.clone()
        };
        let gate = self.write_gate.clone();
        let ingest_writers = if gate.is_some() { 1 } else { PG_INGEST_WRITERS };
        self.ingest_queue = Some(ingest::start_ingest_writers(
            writer.clone(),
            gate.clone(),
            ingest_writers,
        ));
        self.answer_queue = Some(answers::start_answer_writer(writer.clone(), gate.clone()));
        self.topic_queue = Some(understanding::start_topic_writer(writer, gate));
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
/// left to the others. Beyond `queue` items waiting, senders wait for a place.
///
/// The task runs on a thread of its own (a single-threaded runtime), not on the hub's: each of
/// its round trips would otherwise wait for a turn behind thousands of connection tasks, and the
/// one writer everything queues behind must not wait. It stops when every sender is dropped.
pub(crate) fn group_commit<T, F, Fut>(
    writer: &'static str,
    queue: usize,
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
    let (queue, mut waiting) = tokio::sync::mpsc::channel::<T>(queue);
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

    /// The order in which writers got their turn.
    #[derive(Clone, Default)]
    struct Order(Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl Order {
        /// Waits for a turn at `gate` as `writer`, in a task, and notes `name` when it has it.
        fn wait(
            &self,
            gate: &WriteGate,
            writer: Writer,
            name: &'static str,
        ) -> tokio::task::JoinHandle<()> {
            let (gate, order) = (gate.clone(), self.clone());
            tokio::spawn(async move {
                let _turn = gate.enter(writer).await;
                order.0.lock().expect("the order").push(name);
            })
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Vec<&'static str>> {
            self.0.lock().expect("the order")
        }
    }

    #[tokio::test]
    async fn the_ingest_writer_goes_before_the_other_writers_waiting() {
        let gate = WriteGate::default();
        let under_way = gate.enter(Writer::Other).await;
        let order = Order::default();
        let waiting = |writer, name| order.wait(&gate, writer, name);
        let other = waiting(Writer::Other, "other");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ingest = waiting(Writer::Ingest, "ingest");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            order.lock().is_empty(),
            "nobody wrote while the gate was held"
        );
        drop(under_way);
        other.await.expect("the other writer");
        ingest.await.expect("the ingest writer");
        assert_eq!(*order.lock(), ["ingest", "other"]);
    }

    #[tokio::test]
    async fn the_answer_writer_goes_before_a_line_of_other_writers() {
        let gate = WriteGate::default();
        let under_way = gate.enter(Writer::Other).await;
        let order = Order::default();
        let waiting = |writer, name| order.wait(&gate, writer, name);
        let mut others = Vec::new();
        for name in ["other 1", "other 2", "other 3"] {
            others.push(waiting(Writer::Other, name));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let answers = waiting(Writer::Answers, "answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(under_way);
        answers.await.expect("the answer writer");
        for other in others {
            other.await.expect("an other writer");
        }
        let order = order.lock().clone();
        assert_eq!(order[0], "answers", "{order:?}");
        assert_eq!(&order[1..], ["other 1", "other 2", "other 3"]);
    }
}
