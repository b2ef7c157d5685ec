//! Switchboard's storage: sea-orm on SQLite (the embedded default) and PostgreSQL.
//!
//! [`Store`] is the one handle to the database. Every query that reads or writes tenant data
//! takes the organization's id and filters by it; nothing here returns a row of another
//! organization. Writes that belong together (a message, its sequence number and its delivery job)
//! commit in one transaction.

mod auth;
mod canned;
mod chat;
mod contacts;
mod conversations;
mod convert;
mod directory;
mod entities;
mod ingest;
mod knowledge;
mod outbox;
mod routing;
mod slack_desk;
mod understanding;

use std::{sync::Arc, time::Duration};

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    TransactionTrait,
};
use switchboard_migration::{Migrator, MigratorTrait};
use switchboard_model::Clock;
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use auth::{NewApiKey, Principal, PrincipalKind};
pub use contacts::ContactPage;
pub use conversations::{ConversationFilter, ConversationPage, NewMessage};
pub use directory::InboxWithSecrets;
pub use ingest::IngestOutcome;
pub use knowledge::{ArticleChange, ArticleFilter, NewArticle, UpdatedArticle};
pub use outbox::{AI_AUTHOR_NAME, ClaimedJob, RetryPolicy};
pub use routing::{
    CustomerValue, DUE_SOON_MINUTES, MAX_CAPACITY, MAX_RULES, NewHandoff, ROUTING_ACTOR, Released,
    RoutingApplied, RoutingChange, RoutingState, RuleSpec, SlaBreach, SlaFilter, SlaPolicySpec,
    default_rules, default_sla_policies,
};
pub use slack_desk::SlackMirror;
pub use understanding::StoredTopicModel;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database behind the hub.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite allows one writer at a time; writers in this process queue here instead of
    /// failing with `SQLITE_BUSY` when a read transaction upgrades. `None` on PostgreSQL.
    write_gate: Option<Arc<Mutex<()>>>,
    /// "Now" for routing, SLA clocks and presence; tests set it (`Store::with_clock`).
    clock: Clock,
}

/// A write transaction, holding the SQLite write gate until it commits or drops.
pub(crate) struct WriteTxn {
    pub txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
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
        let mut options = ConnectOptions::new(database_url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        let sqlite = database_url.starts_with("sqlite:");
        if sqlite {
            // WAL lets readers run beside the writer; NORMAL sync in WAL mode never corrupts and
            // loses nothing on a process crash (only on power loss).
            options
                .max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|opts| {
                    opts.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(15))
                        .create_if_missing(true)
                });
        } else {
            options.max_connections(32).min_connections(1);
        }
        let db = Database::connect(options).await?;
        Ok(Store {
            db,
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            clock: Clock::system(),
        })
    }

    /// The same store with routing, SLA clocks and presence reading `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
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

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub async fn close(self) -> Result<()> {
        self.db.close().await?;
        Ok(())
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTxn> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = self.db.begin().await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
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
