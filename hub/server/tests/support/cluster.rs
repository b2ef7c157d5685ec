//! Two hub nodes in the test's process on one database and one Redis: node A a [`TestApp`],
//! node B built the same way on node A's database, as a second replica of a deployment is.

use std::net::SocketAddr;

use switchboard::{AppState, Application, ConnectorRegistry, Settings};
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
    let node_b = Application::build(settings(&node_a.db), ConnectorRegistry::default())
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
