//! Several hub nodes on one PostgreSQL database and one Redis: what happens on one node reaches
//! the subscribers of the others, so a customer connected to node B sees what node A stored.

mod support;

use std::time::Duration;

use serde_json::json;
use support::TestApp;
use switchboard::{Application, ConnectorRegistry, Settings};
use switchboard_model::BusEvent;
use switchboard_testkit::TestDatabase;

fn redis_url() -> Option<String> {
    let url = std::env::var("SWITCHBOARD_TEST_REDIS_URL").ok();
    assert!(
        url.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but SWITCHBOARD_TEST_REDIS_URL is not set"
    );
    url
}

#[tokio::test]
async fn a_message_stored_on_one_node_reaches_subscribers_on_another() {
    let (Some(redis), Some(db)) = (redis_url(), TestDatabase::postgres().await) else {
        eprintln!("skipped: needs SWITCHBOARD_TEST_REDIS_URL and SWITCHBOARD_TEST_DATABASE_URL");
        return;
    };
    let with_redis = |db: &TestDatabase| Settings {
        redis_url: Some(redis.clone()),
        ..support::settings(db)
    };
    let node_a = TestApp::spawn_with(db, with_redis).await;
    let node_b = Application::build(with_redis(&node_a.db), ConnectorRegistry::default())
        .await
        .expect("node b builds");
    let mut on_b = node_b.state().bus.subscribe();

    let admin = node_a.admin().await;
    let inbox = node_a
        .test_inbox(&admin, json!({ "inbound_secret": "s3cret" }))
        .await;
    // Node B's Redis subscription starts in the background: send until one message gets
    // through, then check that each later one arrives exactly once.
    let mut texts = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        for attempt in 0.. {
            let text = format!("hello {attempt}");
            let id = format!("m{attempt}");
            let body =
                json!({ "thread": "t", "from": "ada@customer.test", "id": id, "text": text });
            assert!(node_a.webhook(&inbox, "s3cret", body).await.is_success());
            texts.push(text);
            let heard = tokio::time::timeout(Duration::from_millis(200), on_b.recv()).await;
            if let Ok(Ok(event)) = heard
                && let BusEvent::MessageCreated { message, .. } = event.as_ref()
            {
                return message.text.clone();
            }
        }
        unreachable!()
    })
    .await
    .expect("node b hears node a's messages");
    assert!(texts.contains(&first));

    tokio::time::sleep(Duration::from_millis(300)).await;
    while on_b.try_recv().is_ok() {}
    let body =
        json!({ "thread": "t", "from": "ada@customer.test", "id": "last", "text": "the last one" });
    assert!(node_a.webhook(&inbox, "s3cret", body).await.is_success());
    let mut created = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, on_b.recv()).await {
        if let BusEvent::MessageCreated { message, .. } = event.as_ref() {
            created.push(message.text.clone());
        }
    }
    assert_eq!(
        created,
        vec!["the last one".to_owned()],
        "exactly once on node b"
    );
    drop(node_b);
    node_a.stop().await;
}
