//! Several hub nodes on one PostgreSQL database and one Redis: what happens on one node reaches
//! the subscribers of the others, so a customer connected to node B sees what node A stored.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    TestApp,
    cluster::{postgres_and_redis, two_nodes, two_nodes_with},
};
use switchboard::Settings;
use switchboard_model::{BusEvent, MessageRole};
use switchboard_testkit::TestDatabase;

#[tokio::test]
async fn a_message_stored_on_one_node_reaches_subscribers_on_another() {
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    let (node_a, node_b) = two_nodes(db, &redis).await;
    let mut on_b = node_b.state.bus.subscribe();

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
                && let BusEvent::MessageCreated {
                    message, inbox_id, ..
                } = event.as_ref()
                && *inbox_id == inbox
            {
                return message.text.clone();
            }
        }
        unreachable!()
    })
    .await
    .expect("node b hears node a's messages");
    assert!(texts.contains(&first));

    // One more message, then a marker after it: once node B hears the marker, it has heard
    // all it will of the message before. The earlier tries, and the bot's answers to them, may
    // still be on their way: only the customer's new messages count.
    for (id, text) in [("last", "the last one"), ("marker", "the marker")] {
        let body = json!({ "thread": "t", "from": "ada@customer.test", "id": id, "text": text });
        assert!(node_a.webhook(&inbox, "s3cret", body).await.is_success());
    }
    let mut created = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while created.last().map(String::as_str) != Some("the marker") {
            // A lagging receiver skips what it missed; the marker still comes.
            let Ok(event) = on_b.recv().await else {
                continue;
            };
            // Other tests' hubs share the Redis: only this inbox's events count.
            if let BusEvent::MessageCreated {
                message, inbox_id, ..
            } = event.as_ref()
                && *inbox_id == inbox
                && message.role == MessageRole::Customer
                && !texts.contains(&message.text)
            {
                created.push(message.text.clone());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("node b never heard the marker: {created:?}"));
    assert_eq!(
        created,
        ["the last one", "the marker"],
        "exactly once on node b, in order"
    );
    node_b.stop().await;
    node_a.stop().await;
}

/// Two nodes on one database and one Redis count an organization's API requests together
/// (`limits.rs`): a burst spent half on each node is spent on both.
#[tokio::test]
async fn nodes_count_an_organizations_api_requests_together() {
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    // One request a minute after a burst of six: the test never waits for more.
    let limited = |settings| Settings {
        api_requests_per_minute: 1,
        api_burst: 6,
        ..settings
    };
    let (node_a, node_b) = two_nodes_with(db, &redis, limited).await;
    let node_b_url = node_b.url("");
    // Signing in is not an API request of the organization's: it has its own throttle.
    let admin = node_a.admin().await;
    let me = |base: String| {
        let request = node_a
            .client
            .get(format!("{base}/api/v1/auth/me"))
            .bearer_auth(&admin)
            .send();
        async move { request.await.expect("sends").status() }
    };
    for n in 0..6 {
        let base = if n % 2 == 0 {
            node_a.url("")
        } else {
            node_b_url.clone()
        };
        assert_eq!(me(base).await, reqwest::StatusCode::OK, "request {n}");
    }
    for base in [node_a.url(""), node_b_url.clone()] {
        assert_eq!(
            me(base.clone()).await,
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            "{base} counts the other node's requests"
        );
    }
    node_b.stop().await;
    node_a.stop().await;
}

/// Two nodes on one database and one Redis count a client address's web-chat connections and
/// messages together (`chat/limits.rs`): new visitors on the other node start no new allowance.
#[tokio::test]
async fn nodes_count_an_addresss_web_chat_together() {
    use support::chat::{ORIGIN, open_from, refusal, webchat_inbox};
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    let (node_a, node_b) = two_nodes(db, &redis).await;
    let node_b_addr = node_b.addr;
    let admin = node_a.admin().await;
    // Keys are per inbox: other tests' hubs on the same Redis count elsewhere.
    let inbox = webchat_inbox(
        &node_a,
        &admin,
        json!({ "address_connections_per_minute": 3, "address_messages_per_minute": 2 }),
    )
    .await;
    let query = format!("inbox={inbox}");
    let address = Some("198.51.100.7");
    let mut visitors = Vec::new();
    for node in [node_a.addr, node_b_addr, node_a.addr] {
        let mut chat = open_from(node, &query, Some(ORIGIN), address)
            .await
            .expect("connects");
        chat.next_of("session").await;
        visitors.push(chat);
    }
    for node in [node_a.addr, node_b_addr] {
        let (status, retry_after) = refusal(open_from(node, &query, Some(ORIGIN), address).await);
        assert_eq!(status, 429, "{node} counts the other node's connections");
        assert!(retry_after.is_some_and(|seconds| seconds >= 1));
    }
    // One message on each node spends the address's two.
    visitors[0].say("a-1", "hi from node a").await;
    visitors[1].say("b-1", "hi from node b").await;
    for (n, chat) in visitors.iter_mut().enumerate() {
        chat.message(&format!("late-{n}"), "one too many").await;
        let error = chat.next_of("error").await;
        assert_eq!(error["code"], "rate_limited", "visitor {n}: {error}");
    }
    node_b.stop().await;
    node_a.stop().await;
}

/// Attachments go to the configured folder (a volume every node mounts, so that any node serves
/// a file another received), not to the node's own data dir.
#[tokio::test]
async fn attachments_are_kept_in_the_configured_shared_folder() {
    use switchboard_model::{ContactRef, InboundEvent, InboundFile, InboundMessage, new_id};
    let db = TestDatabase::sqlite();
    let shared = tempfile::tempdir().expect("a shared folder");
    let node_a = TestApp::spawn_with(db, |db| Settings {
        attachments_dir: Some(shared.path().to_owned()),
        ..support::settings(db)
    })
    .await;
    let admin = node_a.admin().await;
    let inbox_id = node_a.test_inbox(&admin, json!({})).await;
    let (_, me) = node_a.get(&admin, "/api/v1/auth/me").await;
    let org_id = me["org_id"].as_str().expect("an org").to_owned();
    let inbox = node_a
        .state
        .store
        .inbox(&org_id, &inbox_id)
        .await
        .expect("reads")
        .expect("the inbox");
    let message = InboundMessage {
        thread_key: "t".into(),
        channel_message_id: Some(new_id()),
        sender: ContactRef {
            external_id: "ada@customer.test".into(),
            ..Default::default()
        },
        text: "A photo of the box".into(),
        files: vec![InboundFile {
            filename: "box.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"the box's own bytes".to_vec(),
        }],
        ..Default::default()
    };
    switchboard::ingest_events(
        &node_a.state,
        &inbox,
        vec![InboundEvent::Message(message)],
        b"",
    )
    .await
    .expect("ingests");
    assert!(
        shared.path().join(&org_id).is_dir(),
        "kept in the shared folder"
    );
    assert!(!node_a.db.dir.path().join("attachments").exists());
    let conversations = node_a
        .get(
            &admin,
            &format!("/api/v1/conversations?inbox_id={inbox_id}"),
        )
        .await
        .1;
    let conversation_id = conversations["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned();
    let detail = node_a.conversation(&admin, &conversation_id).await;
    let url = detail["messages"][0]["attachments"][0]["url"]
        .as_str()
        .expect("a kept file")
        .to_owned();
    let response = node_a
        .client
        .get(node_a.url(&url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("bytes").as_ref(),
        b"the box's own bytes"
    );
    node_a.stop().await;
}

/// A hub node of its own: `switchboard serve` in a child process, on the shared PostgreSQL
/// database and Redis, killed (`SIGKILL`) when dropped.
struct Node {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    /// Its data dir and log (`hub.log`).
    dir: tempfile::TempDir,
}

impl Node {
    async fn start(database_url: &str, redis: &str) -> Node {
        Node::start_with(database_url, redis, &[]).await
    }

    /// [`Node::start`] with more settings in its environment.
    async fn start_with(database_url: &str, redis: &str, settings: &[(&str, &str)]) -> Node {
        // reqwest's TLS needs a process-wide provider; the hub installs the same in `main`.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("a data dir");
        // A free port, given back to the OS for the child to take.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let log = std::fs::File::create(dir.path().join("hub.log")).expect("a log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--database-url", database_url, "--redis-url", redis])
            .env("SWITCHBOARD_ADMIN_EMAIL", support::ADMIN_EMAIL)
            .env("SWITCHBOARD_ADMIN_PASSWORD", support::ADMIN_PASSWORD)
            // Both nodes' SLA timers look often, so that they race for each breach.
            .env("SWITCHBOARD_SLA_CHECK_MS", "100")
            // Two hubs encoding the demo's passages would share the CI's two cores with the test.
            .env("SWITCHBOARD_OFFLINE_ENCODER", "false")
            .envs(settings.iter().copied())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the hub starts");
        let node = Node {
            child,
            addr,
            client: reqwest::Client::new(),
            dir,
        };
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let url = format!("http://{addr}/readyz");
                if let Ok(response) = node.client.get(url).send().await
                    && response.status().is_success()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "the node is not ready:\n{}", node.log());
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hub.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn login(&self) -> String {
        self.login_as(support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
            .await
    }

    async fn login_as(&self, email: &str, password: &str) -> String {
        let body: serde_json::Value = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("signs in")
            .json()
            .await
            .expect("JSON");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Whether the conversation's first response is marked breached within 20 s.
    async fn first_response_breached(&self, token: &str, conversation_id: &str) -> bool {
        let path = format!("/api/v1/conversations/{conversation_id}");
        tokio::time::timeout(Duration::from_secs(20), async {
            while self.call(reqwest::Method::GET, token, &path, None).await["sla"]["first_response"]
                != "breached"
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .is_ok()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sends");
        let status = response.status();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Opens the inbox's event stream as `token`'s user, as an agent's open inbox does; it
    /// stays open while the response lives.
    async fn events(&self, token: &str) -> reqwest::Response {
        let response = self
            .client
            .get(self.url("/api/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .expect("streams");
        assert!(response.status().is_success(), "{}", response.status());
        response
    }

    /// Whether each agent is online, by user id, as `GET /api/v1/presence` says.
    async fn online(&self, token: &str) -> std::collections::HashMap<String, bool> {
        let presence = self
            .call(reqwest::Method::GET, token, "/api/v1/presence", None)
            .await;
        presence
            .as_array()
            .expect("agents")
            .iter()
            .map(|agent| {
                let user_id = agent["user_id"].as_str().expect("a user").to_owned();
                (user_id, agent["online"] == true)
            })
            .collect()
    }

    /// Kills the process at once, as a crash or `kill -9` would.
    async fn kill(&mut self) {
        self.child.kill().await.expect("killed");
    }
}

/// A visitor chats on node A while an agent works on node B; node A then dies with `kill -9`
/// and the visitor, reconnecting to node B, gets every acknowledged message back exactly once.
/// Two real hub processes on one PostgreSQL database and one Redis.
#[tokio::test]
async fn two_hub_processes_serve_one_conversation_and_survive_a_kill() {
    use support::chat::{Chat, open_at};
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    // The first start creates the demo organization; the second finds it.
    let mut node_a = Node::start(&db.url, &redis).await;
    let node_b = Node::start(&db.url, &redis).await;
    let admin = node_b.login().await;
    let inboxes = node_b
        .call(reqwest::Method::GET, &admin, "/api/v1/inboxes", None)
        .await;
    let inbox = inboxes
        .as_array()
        .and_then(|all| all.iter().find(|inbox| inbox["channel"] == "webchat"))
        .and_then(|inbox| inbox["id"].as_str())
        .expect("the demo's web-chat inbox")
        .to_owned();

    // A first-response target of 2 s for high priority, and a customer on node A who asks for
    // a person (high) and whom nobody answers: both nodes' timers find the breach.
    let policies = node_b
        .call(reqwest::Method::GET, &admin, "/api/v1/sla-policies", None)
        .await;
    let high = policies
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|policy| policy["priority"] == "high" && policy["team_id"].is_null())
        })
        .and_then(|policy| policy["id"].as_str())
        .expect("the default high policy")
        .to_owned();
    node_b
        .call(
            reqwest::Method::PUT,
            &admin,
            &format!("/api/v1/sla-policies/{high}"),
            Some(
                json!({ "name": "Fast", "priority": "high", "first_response_seconds": 2,
                         "resolution_seconds": 3600 }),
            ),
        )
        .await;
    let mut waiting = open_at(node_a.addr, &format!("inbox={inbox}"), None)
        .await
        .expect("connects to node a");
    waiting.next_of("session").await;
    waiting.say("w-1", "talk to a human").await;
    // `bot` with the ack, then `escalated` once routing (after the ack) has run.
    while waiting.next_of("status").await["status"] != "escalated" {}

    // The visitor on node A; the bot (node A's lane) answers.
    let mut on_a = open_at(node_a.addr, &format!("inbox={inbox}"), None)
        .await
        .expect("connects to node a");
    let session = on_a.next_of("session").await;
    let token = session["visitor_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let mut acked = vec![on_a.say("c-1", "Hello, where is my parcel?").await];
    on_a.next_of("message").await;
    let conversations = node_b
        .call(
            reqwest::Method::GET,
            &admin,
            &format!("/api/v1/conversations?inbox_id={inbox}"),
            None,
        )
        .await;
    let conversation_id = conversations["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["status"] == "bot"))
        .and_then(|c| c["id"].as_str())
        .expect("the visitor's conversation")
        .to_owned();
    let waiting_id = conversations["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["status"] == "escalated"))
        .and_then(|c| c["id"].as_str())
        .expect("the waiting customer's conversation")
        .to_owned();

    // The same visitor in a second tab, on node B.
    let mut on_b = open_at(node_b.addr, &format!("inbox={inbox}&visitor={token}"), None)
        .await
        .expect("connects to node b");
    assert_eq!(
        on_b.next_of("session").await["conversation_id"],
        conversation_id.as_str()
    );

    // Node B → node A: the agent takes over and replies on node B; the tab on node A shows it.
    // Node B's Redis subscription is set up in the background, so the first reply may be
    // sent before it: the agent writes until one arrives, then each later one must.
    node_b
        .call(
            reqwest::Method::POST,
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/takeover"),
            Some(json!({})),
        )
        .await;
    let messages = format!("/api/v1/conversations/{conversation_id}/messages");
    let reply = node_b
        .call(
            reqwest::Method::POST,
            &admin,
            &messages,
            Some(json!({ "text": "Sam here, on node B." })),
        )
        .await;
    let frame = on_a.next_of("message").await;
    assert_eq!(frame["message"]["id"], reply["id"], "{frame}");
    assert_eq!(frame["message"]["role"], "agent");

    // Node A → node B: the visitor writes on node A; the tab on node B shows it.
    acked.push(on_a.say("c-2", "Thanks Sam, it was order 5521").await);
    let frame = on_b.next_of("message").await;
    let frame = if frame["message"]["role"] == "agent" {
        on_b.next_of("message").await
    } else {
        frame
    };
    assert_eq!(frame["message"]["id"], acked[1]["message_id"], "{frame}");

    // The breach, marked once however many ticks of the two nodes saw it.
    let breached = node_b.first_response_breached(&admin, &waiting_id).await;
    assert!(breached, "the first response is breached");
    // A second customer who waits in vain from now: once their breach is marked too, both
    // timers have looked many times (every 100 ms, for 2 s) since the first one.
    let mut later = open_at(node_b.addr, &format!("inbox={inbox}"), None)
        .await
        .expect("connects to node b");
    later.next_of("session").await;
    later.say("l-1", "talk to a human").await;
    while later.next_of("status").await["status"] != "escalated" {}
    let later_id = node_b
        .call(
            reqwest::Method::GET,
            &admin,
            &format!("/api/v1/conversations?inbox_id={inbox}&status=escalated"),
            None,
        )
        .await["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] != waiting_id.as_str()))
        .and_then(|c| c["id"].as_str())
        .expect("the second waiting customer's conversation")
        .to_owned();
    let breached_too = node_b.first_response_breached(&admin, &later_id).await;
    assert!(breached_too, "the second first response is breached");
    let audit = node_b
        .call(
            reqwest::Method::GET,
            &admin,
            "/api/v1/audit?limit=200",
            None,
        )
        .await;
    let breaches: Vec<&serde_json::Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| {
            event["action"] == "sla.breached" && event["subject_id"] == waiting_id.as_str()
        })
        .collect();
    assert_eq!(breaches.len(), 1, "one breach on two nodes: {breaches:?}");

    // Node A dies. The visitor reconnects to node B and resumes from the start: every
    // acknowledged message and the reply, each once, in order.
    node_a.kill().await;
    drop(on_a);
    let mut again: Chat = open_at(node_b.addr, &format!("inbox={inbox}&visitor={token}"), None)
        .await
        .expect("reconnects to node b");
    again.next_of("session").await;
    again
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    let mut replayed = Vec::new();
    while let Some(frame) = again.try_next(Duration::from_secs(2)).await {
        if frame["type"] == "message" {
            replayed.push(frame["message"].clone());
        }
    }
    let seqs: Vec<i64> = replayed.iter().filter_map(|m| m["seq"].as_i64()).collect();
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "nothing twice: {seqs:?}");
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "in order: {seqs:?}"
    );
    for ack in &acked {
        assert!(
            replayed.iter().any(|m| m["id"] == ack["message_id"]),
            "acknowledged {ack} is replayed: {replayed:?}"
        );
    }
    assert!(replayed.iter().any(|m| m["id"] == reply["id"]));
    // And node B goes on taking the visitor's messages.
    acked.push(again.say("c-3", "Still there?").await);
    assert!(acked[2]["seq"].as_i64() > seqs.last().copied());
    drop(node_b);
}

/// An agent's presence is a heartbeat in Redis from the node holding their inbox: when that
/// node dies with `kill -9`, the agent is offline within the heartbeat's TTL (not after the
/// database's `presence_stale_secs`, five minutes) and their unanswered conversation goes to
/// an agent still online, while the agent on the surviving node stays online.
#[tokio::test]
async fn a_killed_nodes_agents_go_offline_within_the_presence_ttl() {
    use support::chat::open_at;
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    const TTL: Duration = Duration::from_secs(3);
    let ttl = [("SWITCHBOARD_PRESENCE_TTL_SECS", "3")];
    let mut node_a = Node::start_with(&db.url, &redis, &ttl).await;
    let node_b = Node::start_with(&db.url, &redis, &ttl).await;
    let admin = node_b.login().await;
    let users = node_b
        .call(reqwest::Method::GET, &admin, "/api/v1/users", None)
        .await;
    let admin_id = users
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|user| user["email"] == support::ADMIN_EMAIL)
        })
        .and_then(|user| user["id"].as_str())
        .expect("the admin")
        .to_owned();
    let password = "a-long-agent-password";
    let agent_id = node_b
        .call(
            reqwest::Method::POST,
            &admin,
            "/api/v1/users",
            Some(
                json!({ "email": "sam@parcelo.test", "name": "Sam", "role": "support_agent",
                         "password": password }),
            ),
        )
        .await["id"]
        .as_str()
        .expect("the agent")
        .to_owned();

    // Sam works on node A, the admin on node B; both online, each with an open inbox. The
    // admin is away at first, so that the customer below goes to Sam.
    let sam = node_a.login_as("sam@parcelo.test", password).await;
    let presence = |status: &str| Some(json!({ "status": status }));
    node_b
        .call(
            reqwest::Method::POST,
            &admin,
            "/api/v1/me/presence",
            presence("away"),
        )
        .await;
    node_a
        .call(
            reqwest::Method::POST,
            &sam,
            "/api/v1/me/presence",
            presence("online"),
        )
        .await;
    let sams_inbox = node_a.events(&sam).await;
    let inbox = node_b
        .call(reqwest::Method::GET, &admin, "/api/v1/inboxes", None)
        .await
        .as_array()
        .and_then(|all| all.iter().find(|inbox| inbox["channel"] == "webchat"))
        .and_then(|inbox| inbox["id"].as_str())
        .expect("the demo's web-chat inbox")
        .to_owned();
    let mut customer = open_at(node_b.addr, &format!("inbox={inbox}"), None)
        .await
        .expect("connects to node b");
    customer.next_of("session").await;
    customer.say("c-1", "talk to a human").await;
    let conversations = format!("/api/v1/conversations?inbox_id={inbox}");
    // Whom the customer's conversation is assigned to, and its id, once it is assigned.
    let assigned = || async {
        let listed = node_b
            .call(reqwest::Method::GET, &admin, &conversations, None)
            .await;
        let conversation = listed["conversations"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["assignee_id"].is_string()))?;
        Some((
            conversation["id"].as_str()?.to_owned(),
            conversation["assignee_id"].as_str()?.to_owned(),
        ))
    };
    let conversation_id = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some((id, assignee)) = assigned().await {
                assert_eq!(assignee, agent_id, "Sam is the one online");
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the customer goes to Sam, online on node A");
    node_b
        .call(
            reqwest::Method::POST,
            &admin,
            "/api/v1/me/presence",
            presence("online"),
        )
        .await;
    let admins_inbox = node_b.events(&admin).await;

    // Both nodes beat for their agents: everyone stays online for three TTLs, long after the
    // heartbeat that saying "online" gave.
    let until = tokio::time::Instant::now() + TTL * 3;
    while tokio::time::Instant::now() < until {
        let online = node_b.online(&admin).await;
        assert_eq!(online.get(&agent_id), Some(&true), "Sam is online");
        assert_eq!(online.get(&admin_id), Some(&true), "the admin is online");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Node A dies: once the TTL has run (and a moment for a beat that was on its way), Sam is
    // offline on node B, and the admin is not. The hub is asked after that moment, so that a
    // slow answer on a busy machine does not count against it.
    node_a.kill().await;
    let killed = tokio::time::Instant::now();
    drop(sams_inbox);
    tokio::time::sleep_until(killed + TTL + Duration::from_millis(500)).await;
    let online = node_b.online(&admin).await;
    assert_eq!(
        online.get(&agent_id),
        Some(&false),
        "Sam is still online {:?} after node A died",
        killed.elapsed()
    );
    assert_eq!(online.get(&admin_id), Some(&true), "the admin is online");
    // Sam never answered: the customer goes back to the queue and to the admin, who is online.
    let moved = tokio::time::timeout(Duration::from_secs(10), async {
        while assigned().await != Some((conversation_id.clone(), admin_id.clone())) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(moved.is_ok(), "the conversation moves to the admin");
    let audit = node_b
        .call(
            reqwest::Method::GET,
            &admin,
            "/api/v1/audit?limit=200",
            None,
        )
        .await;
    assert!(
        audit["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|event| {
                event["action"] == "conversation.reassigned"
                    && event["subject_id"] == conversation_id.as_str()
                    && event["data"]["reason"] == "stale"
            }),
        "{audit}"
    );
    // The admin's node lives on: they stay online past the TTL.
    let until = tokio::time::Instant::now() + TTL * 2;
    while tokio::time::Instant::now() < until {
        assert_eq!(
            node_b.online(&admin).await.get(&admin_id),
            Some(&true),
            "the admin is online"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(admins_inbox);
    drop(node_b);
}
