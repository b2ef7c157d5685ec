//! Test support shared by the hub's crates: a fresh database for every test, on SQLite always
//! and on PostgreSQL whenever `SWITCHBOARD_TEST_DATABASE_URL` is set; a mail server on loopback
//! that records what it receives ([`SmtpSink`]); a fake platform HTTP server ([`FakePlatform`]);
//! Zendesk and Freshdesk accounts with state ([`FakeZendesk`], [`FakeFreshdesk`]) and the
//! [`helpdesk`] checks made against them; a fake
//! OpenAI-compatible model server ([`FakeLlm`]); and the [`conformance`] suite every connector
//! passes, with [`fuzz`], its never-panics property over arbitrary and mangled payloads.
//!
//! Under `CI=true` a missing PostgreSQL fails the test instead of skipping it, so CI can never
//! pass without exercising PostgreSQL.

pub mod conformance;
pub mod fake_freshdesk;
mod fake_limits;
pub mod fake_llm;
pub mod fake_platform;
pub mod fake_zendesk;
pub mod fuzz;
pub mod helpdesk;
pub mod smtp;

pub use fake_freshdesk::{
    FakeFreshdesk, FormPart, FreshdeskContact, FreshdeskConversation, FreshdeskRequest,
    FreshdeskTicket,
};
pub use fake_llm::{FakeLlm, LlmReply, LlmRequest, LlmTask};
pub use fake_platform::{FakePlatform, FakeResponse, RecordedRequest};
pub use fake_zendesk::{FakeZendesk, ZendeskComment, ZendeskTicket, zendesk_signature};
pub use smtp::{SmtpClient, SmtpSink};

use sea_orm::{ConnectionTrait, Database};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed after it.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// Holds the SQLite file's folder (and anything else the test keeps on disk).
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database on `backend`, or `None` when PostgreSQL is not configured (outside CI).
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("switchboard.db").display()
        );
        TestDatabase {
            url,
            backend: Backend::Sqlite,
            dir,
            postgres: None,
        }
    }

    /// A new, empty PostgreSQL database beside the one `SWITCHBOARD_TEST_DATABASE_URL` names.
    pub async fn postgres() -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but SWITCHBOARD_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
            );
            eprintln!("skipping: SWITCHBOARD_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("sb_test_{}", switchboard_model::new_id().replace('-', ""));
        let admin = Database::connect(&admin_url)
            .await
            .expect("PostgreSQL is reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("can create a test database");
        admin.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        let dir = tempfile::tempdir().expect("a temporary directory");
        Some(TestDatabase {
            url,
            backend: Backend::Postgres,
            dir,
            postgres: Some((admin_url, name)),
        })
    }

    /// Runs `sql` on the database directly, past the hub's own checks: for a test that needs
    /// the data an older version could have written.
    pub async fn execute(&self, sql: &str) {
        let connection = Database::connect(&self.url)
            .await
            .expect("the test database is reachable");
        connection
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        connection.close().await.ok();
    }
}

impl TestDatabase {
    /// The first column of each row `sql` returns, as text (cast it in the query where it is
    /// not): what the hub actually wrote, read past the hub.
    pub async fn query_text(&self, sql: &str) -> Vec<String> {
        let connection = Database::connect(&self.url)
            .await
            .expect("the test database is reachable");
        let rows = connection
            .query_all_raw(sea_orm::Statement::from_string(
                connection.get_database_backend(),
                sql,
            ))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        connection.close().await.ok();
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0).expect("a text column"))
            .collect()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// Runs each listed `async fn name(db: TestDatabase)` once per backend, as the tests
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDatabase::new($crate::Backend::Sqlite).await.expect("sqlite");
                    super::$name(db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDatabase::new($crate::Backend::Postgres).await else {
                        return;
                    };
                    super::$name(db).await;
                }
            )+
        }
    };
}
