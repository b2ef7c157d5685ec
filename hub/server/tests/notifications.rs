//! Mentions in private notes and notifications over HTTP, on SQLite and on PostgreSQL: who a
//! note's `@name`s notify (and who never), assignment notifications, the bell's routes, and the
//! live `notification_created` event on the recipient's stream alone.

mod support;

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{
    TestApp,
    cluster::{postgres_and_redis, two_nodes_with},
};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    a_note_notifies_the_agents_it_mentions_and_nobody_else,
    mentions_of_strangers_and_unknown_names_notify_nobody,
    assignment_by_someone_else_notifies_and_self_assignment_does_not,
    routing_notifies_the_agent_it_assigns,
    the_bell_counts_unread_and_marks_read,
    nobody_reads_or_marks_anothers_notifications,
    the_live_notification_reaches_the_recipients_stream_alone,
);

/// Another node of the cluster streams the notification to its recipient (through Redis).
#[tokio::test]
async fn a_notification_reaches_the_recipient_on_another_node() {
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    let quiet = |settings| switchboard::Settings {
        bot_enabled: false,
        ..settings
    };
    let (node_a, node_b) = two_nodes_with(db, &redis, quiet).await;
    let base_b = node_b.url("");
    let hears = node_b.state.bus.clone();
    for _ in 0..400 {
        if hears.hears_other_nodes() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(hears.hears_other_nodes(), "node b subscribes to Redis");

    let Desk {
        admin,
        conversation,
        ann,
        bea,
        cy,
    } = desk(&node_a, "t1").await;
    let mut beas = Events::open_at(&node_a.client, &base_b, &bea.token).await;
    let mut cys = Events::open_at(&node_a.client, &base_b, &cy.token).await;

    let message = note(&node_a, &ann.token, &conversation, "@bea on node b?").await;
    let seen = beas.until("notification_created").await;
    let event = seen.last().expect("the event");
    assert_eq!(event["user_id"], bea.id.as_str());
    assert_eq!(event["notification"]["message_id"], message["id"]);
    let (status, _) = node_a
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation}/priority"),
            json!({ "priority": "high" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let seen = cys.until("conversation_changed").await;
    assert!(
        seen.iter()
            .all(|event| event["type"] != "notification_created"),
        "{seen:?}"
    );
    node_b.stop().await;
}

struct Agent {
    id: String,
    token: String,
}

/// A user of `role` named `name`, with the email `<local>@acme.test`, signed in.
async fn person(app: &TestApp, admin: &str, role: &str, name: &str, local: &str) -> Agent {
    let email = format!("{local}@acme.test");
    let (status, created) = app
        .post(
            admin,
            "/api/v1/users",
            json!({ "email": email, "name": name, "role": role, "password": "long enough" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Agent {
        id: created["id"].as_str().expect("an id").to_owned(),
        token: app.login(&email, "long enough").await,
    }
}

async fn agent(app: &TestApp, admin: &str, name: &str, local: &str) -> Agent {
    person(app, admin, "support_agent", name, local).await
}

/// What most tests start from: the admin, a customer's conversation and three agents, Ann Lee
/// (ann@acme.test), Bea Brown (bea@…) and Cy Clark (cy@…).
struct Desk {
    admin: String,
    conversation: String,
    ann: Agent,
    bea: Agent,
    cy: Agent,
}

async fn desk(app: &TestApp, thread: &str) -> Desk {
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let conversation = app.customer_writes(&admin, &inbox, thread).await;
    Desk {
        ann: agent(app, &admin, "Ann Lee", "ann").await,
        bea: agent(app, &admin, "Bea Brown", "bea").await,
        cy: agent(app, &admin, "Cy Clark", "cy").await,
        admin,
        conversation,
    }
}

/// Posts a reply or note; returns the status and the message.
async fn write(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(
        token,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        body,
    )
    .await
}

async fn note(app: &TestApp, token: &str, conversation_id: &str, text: &str) -> Value {
    let (status, message) = write(
        app,
        token,
        conversation_id,
        json!({ "text": text, "private": true }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

/// The caller's notifications (`GET /notifications` with `query`).
async fn bell(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .get(token, &format!("/api/v1/notifications{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn items(bell: &Value) -> Vec<Value> {
    bell["notifications"].as_array().expect("a list").clone()
}

async fn assign(app: &TestApp, token: &str, conversation_id: &str, assignee: &str) {
    let (status, body) = app
        .post(
            token,
            &format!("/api/v1/conversations/{conversation_id}/assign"),
            json!({ "assignee_id": assignee }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_note_notifies_the_agents_it_mentions_and_nobody_else(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let Desk {
        admin,
        conversation,
        ann,
        bea,
        cy,
    } = desk(&app, "order-5521").await;

    // By display name (the autocomplete's text), the author naming herself too.
    let message = note(
        &app,
        &ann.token,
        &conversation,
        "@Bea Brown can you check the parcel? cc @Ann Lee",
    )
    .await;
    assert_eq!(message["mentions"], json!([bea.id]));
    let beas = bell(&app, &bea.token, "").await;
    assert_eq!(beas["unread_count"], 1, "{beas}");
    let first = &items(&beas)[0];
    assert_eq!(first["kind"], "mention");
    assert_eq!(first["user_id"], bea.id.as_str());
    assert_eq!(first["conversation_id"], conversation.as_str());
    assert_eq!(first["message_id"], message["id"]);
    assert_eq!(first["actor_id"], ann.id.as_str());
    assert_eq!(first["actor_name"], "Ann Lee");
    assert!(
        first["contact_name"]
            .as_str()
            .is_some_and(|name| name.contains("order-5521")),
        "{first}"
    );
    assert!(first["read_at"].is_null());
    assert!(
        first["preview"]
            .as_str()
            .is_some_and(|preview| preview.contains("check the parcel")),
        "{first}"
    );
    for nobody in [&ann, &cy] {
        assert_eq!(bell(&app, &nobody.token, "").await["unread_count"], 0);
    }

    // By the email's local part, and by id as the autocomplete sends it: one notification
    // each, however often the note names them.
    let message = app
        .post(
            &ann.token,
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({ "text": "@cy and @bea, look (also @cy)", "private": true,
                    "mentions": [cy.id, cy.id] }),
        )
        .await
        .1;
    assert_eq!(message["mentions"], json!([cy.id, bea.id]));
    assert_eq!(bell(&app, &cy.token, "").await["unread_count"], 1);
    assert_eq!(bell(&app, &bea.token, "").await["unread_count"], 2);
    // The note carries its mentions in the conversation too.
    let detail = app.conversation(&admin, &conversation).await;
    let notes: Vec<&Value> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["private"] == true)
        .collect();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1]["mentions"], json!([cy.id, bea.id]));

    // A public reply mentions nobody: `@` there is for the customer to read.
    let (status, reply) = write(
        &app,
        &ann.token,
        &conversation,
        json!({ "text": "Hi @bea, thanks", "private": false }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert!(reply.get("mentions").is_none(), "{reply}");
    let (status, refused) = write(
        &app,
        &ann.token,
        &conversation,
        json!({ "text": "Hi", "mentions": [bea.id] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(bell(&app, &bea.token, "").await["unread_count"], 2);

    // A deactivated agent and one who cannot read conversations are not notified.
    let editor = person(&app, &admin, "knowledge_editor", "Ed Itor", "ed").await;
    let (status, _) = app
        .send(
            Method::PATCH,
            &admin,
            &format!("/api/v1/users/{}", cy.id),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let message = note(&app, &ann.token, &conversation, "@cy @Ed Itor @ed").await;
    assert!(message.get("mentions").is_none(), "{message}");
    let store = &app.state.store;
    let org_id = detail["conversation"]["org_id"].as_str().expect("org");
    assert_eq!(
        store
            .unread_notifications(org_id, &cy.id)
            .await
            .expect("reads"),
        1
    );
    assert_eq!(
        store
            .unread_notifications(org_id, &editor.id)
            .await
            .expect("reads"),
        0
    );
}

async fn mentions_of_strangers_and_unknown_names_notify_nobody(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let conversation = app.customer_writes(&admin, &inbox, "t1").await;
    let ann = agent(&app, &admin, "Ann Lee", "ann").await;
    let globex = app.second_organization().await;
    let (_, boss) = app.get(&globex, "/api/v1/auth/me").await;
    let boss_id = boss["user"]["id"].as_str().expect("an id").to_owned();

    // Globex's boss is "Boss", boss@globex.test: no name of theirs means anything here, nor
    // does a name nobody has, nor an address written in passing.
    let message = note(
        &app,
        &ann.token,
        &conversation,
        "@Boss @boss @boss@globex.test @nobody, mail ann@acme.test",
    )
    .await;
    assert!(message.get("mentions").is_none(), "{message}");
    for id in [boss_id.as_str(), "no-such-user"] {
        let (status, refused) = write(
            &app,
            &ann.token,
            &conversation,
            json!({ "text": "fyi", "private": true, "mentions": [id] }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|text| text.contains(id)),
            "{refused}"
        );
    }
    assert_eq!(bell(&app, &globex, "").await["unread_count"], 0);
    assert_eq!(bell(&app, &ann.token, "").await["unread_count"], 0);
    assert_eq!(bell(&app, &admin, "").await["unread_count"], 0);
    let detail = app.conversation(&admin, &conversation).await;
    let notes = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["private"] == true)
        .count();
    assert_eq!(notes, 1, "a refused note is not stored");
}

async fn assignment_by_someone_else_notifies_and_self_assignment_does_not(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let admin_id = me["user"]["id"].as_str().expect("an id").to_owned();
    let inbox = app.test_inbox(&admin, json!({})).await;
    let first = app.customer_writes(&admin, &inbox, "t1").await;
    let second = app.customer_writes(&admin, &inbox, "t2").await;
    let third = app.customer_writes(&admin, &inbox, "t3").await;
    let bea = agent(&app, &admin, "Bea Brown", "bea").await;
    let cy = agent(&app, &admin, "Cy Clark", "cy").await;

    assign(&app, &admin, &first, &bea.id).await;
    let beas = bell(&app, &bea.token, "").await;
    assert_eq!(beas["unread_count"], 1, "{beas}");
    let notification = &items(&beas)[0];
    assert_eq!(notification["kind"], "assigned");
    assert_eq!(notification["conversation_id"], first.as_str());
    assert_eq!(notification["actor_id"], admin_id.as_str());
    assert!(notification["message_id"].is_null());
    // Assigning it to her again tells her nothing new.
    assign(&app, &admin, &first, &bea.id).await;
    assert_eq!(bell(&app, &bea.token, "").await["unread_count"], 1);

    // Taking a conversation, or assigning it to oneself, notifies nobody.
    let (status, _) = app
        .post(
            &cy.token,
            &format!("/api/v1/conversations/{second}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assign(&app, &cy.token, &third, &cy.id).await;
    assign(&app, &admin, &first, &admin_id).await;
    assert_eq!(bell(&app, &cy.token, "").await["unread_count"], 0);
    assert_eq!(bell(&app, &admin, "").await["unread_count"], 0);

    // Bulk: one notification per conversation that was not hers already.
    let (status, result) = app
        .post(
            &admin,
            "/api/v1/conversations/bulk",
            json!({ "ids": [first, second, third], "action": "assign", "assignee_id": bea.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let beas = bell(&app, &bea.token, "?unread=true").await;
    assert_eq!(beas["unread_count"], 4, "{beas}");
    let mut conversations: Vec<String> = items(&beas)
        .iter()
        .map(|item| item["conversation_id"].as_str().expect("id").to_owned())
        .collect();
    conversations.sort();
    let mut expected = vec![first.clone(), first, second, third];
    expected.sort();
    assert_eq!(conversations, expected);
    // Unassigning notifies nobody.
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/conversations/bulk",
            json!({ "ids": [expected[0]], "action": "assign", "assignee_id": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bell(&app, &bea.token, "").await["unread_count"], 4);
}

async fn routing_notifies_the_agent_it_assigns(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let dee = agent(&app, &admin, "Dee Dunn", "dee").await;

    // Asking for a person escalates; with nobody online it waits in the queue, and the
    // queue goes to Dee when she comes online.
    let queued = app
        .customer_says(&admin, &inbox, "t0", "real person please")
        .await;
    app.wait_for(&admin, &queued, |detail| {
        detail["conversation"]["status"] == "escalated"
    })
    .await;
    assert_eq!(bell(&app, &dee.token, "").await["unread_count"], 0);
    let (status, presence) = app
        .post(
            &dee.token,
            "/api/v1/me/presence",
            json!({ "status": "online" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{presence}");
    app.wait_for(&admin, &queued, |detail| {
        detail["conversation"]["assignee_id"] == dee.id.as_str()
    })
    .await;
    // Then a new escalation goes straight to her, the one agent online.
    let direct = app
        .customer_says(&admin, &inbox, "t1", "real person please")
        .await;
    app.wait_for(&admin, &direct, |detail| {
        detail["conversation"]["assignee_id"] == dee.id.as_str()
    })
    .await;

    // Routing's notifications follow its commits: wait for them.
    let mut found = Vec::new();
    for _ in 0..200 {
        found = items(&bell(&app, &dee.token, "").await);
        if found.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut conversations: Vec<&str> = found
        .iter()
        .map(|item| item["conversation_id"].as_str().expect("an id"))
        .collect();
    conversations.sort_unstable();
    let mut expected = vec![queued.as_str(), direct.as_str()];
    expected.sort_unstable();
    assert_eq!(conversations, expected, "{found:?}");
    for item in &found {
        assert_eq!(item["kind"], "assigned");
        assert!(item["actor_id"].is_null(), "routing is nobody: {item}");
        assert!(item["actor_name"].is_null());
    }
}

async fn the_bell_counts_unread_and_marks_read(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let conversation = app.customer_writes(&admin, &inbox, "t1").await;
    let bea = agent(&app, &admin, "Bea Brown", "bea").await;
    for n in 0..3 {
        note(&app, &admin, &conversation, &format!("@bea number {n}")).await;
    }
    let all = bell(&app, &bea.token, "").await;
    assert_eq!(all["unread_count"], 3);
    let listed = items(&all);
    assert_eq!(listed.len(), 3);
    // Newest first.
    assert!(
        listed[0]["preview"]
            .as_str()
            .is_some_and(|text| text.ends_with("number 2")),
        "{all}"
    );
    assert_eq!(items(&bell(&app, &bea.token, "?limit=2").await).len(), 2);

    let oldest = listed[2]["id"].as_str().expect("an id");
    let (status, read) = app
        .post(
            &bea.token,
            &format!("/api/v1/notifications/{oldest}/read"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert!(read["read_at"].is_string(), "{read}");
    // Reading it again keeps the first time.
    let (_, again) = app
        .post(
            &bea.token,
            &format!("/api/v1/notifications/{oldest}/read"),
            json!({}),
        )
        .await;
    assert_eq!(again["read_at"], read["read_at"]);
    let unread = bell(&app, &bea.token, "?unread=true").await;
    assert_eq!(unread["unread_count"], 2);
    assert_eq!(items(&unread).len(), 2);
    assert!(items(&unread).iter().all(|item| item["id"] != oldest));

    let (status, marked) = app
        .post(&bea.token, "/api/v1/notifications/read-all", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(marked, json!({ "marked": 2, "unread_count": 0 }));
    let after = bell(&app, &bea.token, "").await;
    assert_eq!(after["unread_count"], 0);
    assert_eq!(items(&after).len(), 3, "read ones stay listed");
    assert!(items(&after).iter().all(|item| item["read_at"].is_string()));
    assert!(items(&bell(&app, &bea.token, "?unread=true").await).is_empty());
    let (status, _) = app
        .get(&bea.token, "/api/v1/notifications?unread=maybe")
        .await;
    assert!(status.is_client_error(), "{status}");

    // Erasing the customer erases the conversation's notifications with it.
    let detail = app.conversation(&admin, &conversation).await;
    let contact = detail["conversation"]["contact_id"]
        .as_str()
        .expect("a contact");
    let (status, erased) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/contacts/{contact}"),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {erased}");
    assert!(items(&bell(&app, &bea.token, "").await).is_empty());

    let (_, openapi) = app.get(&admin, "/api/v1/openapi.json").await;
    for path in [
        "/api/v1/notifications",
        "/api/v1/notifications/{id}/read",
        "/api/v1/notifications/read-all",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
}

async fn nobody_reads_or_marks_anothers_notifications(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let conversation = app.customer_writes(&admin, &inbox, "t1").await;
    let ann = agent(&app, &admin, "Ann Lee", "ann").await;
    let bea = agent(&app, &admin, "Bea Brown", "bea").await;
    note(&app, &bea.token, &conversation, "@ann over to you").await;
    let anns = bell(&app, &ann.token, "").await;
    let id = items(&anns)[0]["id"].as_str().expect("an id").to_owned();

    // Bea wrote the note but the notification is Ann's: not listed for Bea, 404 to mark.
    assert!(items(&bell(&app, &bea.token, "").await).is_empty());
    let (status, _) = app
        .post(
            &bea.token,
            &format!("/api/v1/notifications/{id}/read"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let globex = app.second_organization().await;
    let (status, _) = app
        .post(
            &globex,
            &format!("/api/v1/notifications/{id}/read"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Marking all of one's own leaves others' alone.
    let (_, marked) = app
        .post(&bea.token, "/api/v1/notifications/read-all", json!({}))
        .await;
    assert_eq!(marked["marked"], 0);
    assert_eq!(bell(&app, &ann.token, "").await["unread_count"], 1);

    // API keys have no notifications; a role without conversations has no bell.
    let (status, created) = app
        .post(
            &admin,
            "/api/v1/api-keys",
            json!({ "name": "k", "scopes": ["conversations:read"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["secret"].as_str().expect("the key");
    let (status, _) = app.get(key, "/api/v1/notifications").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let editor = person(&app, &admin, "knowledge_editor", "Ed Itor", "ed").await;
    let (status, _) = app.get(&editor.token, "/api/v1/notifications").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// An open `/api/v1/events` stream, read frame by frame.
struct Events {
    stream: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl Events {
    async fn open(app: &TestApp, token: &str) -> Events {
        Events::open_at(&app.client, &app.url(""), token).await
    }

    /// The stream of the hub at `base` (`http://host:port`).
    async fn open_at(client: &reqwest::Client, base: &str, token: &str) -> Events {
        let response = client
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sends");
        assert_eq!(response.status(), StatusCode::OK);
        let mut events = Events {
            stream: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: String::new(),
        };
        let ready = events.next_frame().await;
        assert!(ready.contains("event: ready"), "{ready}");
        events
    }

    async fn next_frame(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return frame;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("an event in time")
                .expect("the stream is open")
                .expect("reads");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The events up to and including the first of type `until`.
    async fn until(&mut self, until: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let frame = self.next_frame().await;
            let Some(data) = frame
                .lines()
                .find_map(|line| line.strip_prefix("data:"))
                .and_then(|data| serde_json::from_str::<Value>(data.trim()).ok())
            else {
                continue;
            };
            let done = data["type"] == until;
            seen.push(data);
            if done {
                return seen;
            }
        }
    }
}

async fn the_live_notification_reaches_the_recipients_stream_alone(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let Desk {
        admin,
        conversation,
        ann,
        bea,
        cy,
    } = desk(&app, "t1").await;
    let mut beas = Events::open(&app, &bea.token).await;
    let mut cys = Events::open(&app, &cy.token).await;
    let mut anns = Events::open(&app, &ann.token).await;

    let message = note(
        &app,
        &ann.token,
        &conversation,
        "@Bea Brown please call them",
    )
    .await;
    let seen = beas.until("notification_created").await;
    let event = seen.last().expect("the event");
    assert_eq!(event["user_id"], bea.id.as_str());
    let notification = &event["notification"];
    assert_eq!(notification["kind"], "mention");
    assert_eq!(notification["message_id"], message["id"]);
    assert_eq!(notification["conversation_id"], conversation.as_str());
    assert_eq!(notification["actor_name"], "Ann Lee");
    assert_eq!(
        notification["id"],
        items(&bell(&app, &bea.token, "").await)[0]["id"]
    );

    // Then a change everyone sees: the others' streams carry it, and no notification before.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation}/priority"),
            json!({ "priority": "high" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for stream in [&mut cys, &mut anns] {
        let seen = stream.until("conversation_changed").await;
        assert!(
            seen.iter().any(|event| event["type"] == "message_created"),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .all(|event| event["type"] != "notification_created"),
            "{seen:?}"
        );
    }

    // An assignment's notification travels the same way.
    assign(&app, &admin, &conversation, &cy.id).await;
    let seen = cys.until("notification_created").await;
    let event = seen.last().expect("the event");
    assert_eq!(event["notification"]["kind"], "assigned");
    assert_eq!(event["user_id"], cy.id.as_str());
}
