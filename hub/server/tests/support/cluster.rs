//! Two hub nodes in the test's process on one PostgreSQL database and one Redis: node A a
//! [`TestApp`], node B built on node A's database with the same settings and every connector,
//! as a second replica of a deployment is.

use std::net::SocketAddr;

use switchboard::{AppState, Application, Settings};
use switchboard_testkit::TestDatabase;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// The second node, running until [`SecondNode::stop`].
pub struct SecondNode {
    pub addr: SocketAddr,
    /// Its state: its bus, to hear what reaches it from node A.
    pub state: AppState,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl SecondNode {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the node gracefully.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.expect("joins").expect("node b stops");
    }
}

/// A fresh PostgreSQL database and the Redis URL, or `None` (the test is skipped, and says so)
/// without `SWITCHBOARD_TEST_DATABASE_URL` and `SWITCHBOARD_TEST_REDIS_URL`; with `CI=true`
/// they must be there.
pub async fn postgres_and_redis() -> Option<(TestDatabase, String)> {
    let redis = std::env::var("SWITCHBOARD_TEST_REDIS_URL").ok();
    let found = match (TestDatabase::postgres().await, redis) {
        (Some(db), Some(redis)) => Some((db, redis)),
        _ => None,
    };
    assert!(
        found.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs PostgreSQL and Redis"
    );
    if found.is_none() {
        eprintln!("skipped: needs SWITCHBOARD_TEST_REDIS_URL and SWITCHBOARD_TEST_DATABASE_URL");
    }
    found
}

/// Node A on `db` and node B on the same database, both with the Redis at `redis`.
pub async fn two_nodes(db: TestDatabase, redis: &str) -> (TestApp, SecondNode) {
    two_nodes_with(db, redis, |settings| settings).await
}

/// [`two_nodes`] with both nodes' settings changed by `configure`.
pub async fn two_nodes_with(
    db: TestDatabase,
    redis: &str,
    configure: impl Fn(Settings) -> Settings,
) -> (TestApp, SecondNode) {
    let settings = |db: &TestDatabase| {
        configure(Settings {
            redis_url: Some(redis.to_owned()),
            ..super::settings(db)
        })
    };
    let node_a = TestApp::spawn_with(db, &settings).await;
    let node_b = Application::build(settings(&node_a.db), switchboard::connectors())
        .await
        .expect("node b builds");
    let second = SecondNode {
        addr: node_b.local_addr(),
        state: node_b.state().clone(),
        shutdown: node_b.shutdown_token(),
        server: tokio::spawn(node_b.run_until_stopped()),
    };
    (node_a, second)
}
