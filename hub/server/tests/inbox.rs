//! What the agent inbox needs from the server: the live event stream, takeover and hand-back,
//! counts per view, canned responses. On SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    events_stream_the_organizations_changes_live,
    events_need_credentials_and_the_permission,
    idle_event_streams_get_keep_alive_comments,
    takeover_and_handback_move_the_conversation,
    counts_per_view_follow_the_conversations,
    canned_responses_crud_with_permissions,
    the_list_carries_each_conversations_sla_clock,
);

async fn open_events(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sends")
}

/// The next frame (blank-line separated) of the stream, within a few seconds.
async fn next_frame(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<Vec<u8>>> + Unpin),
    buffer: &mut String,
) -> String {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame = buffer[..end].to_owned();
            buffer.drain(..end + 2);
            return frame;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("reads");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The next event of `kind`, skipping others (a new conversation also announces itself).
async fn next_of_type(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<Vec<u8>>> + Unpin),
    buffer: &mut String,
    kind: &str,
) -> Value {
    for _ in 0..20 {
        let Some(data) = data_of(&next_frame(stream, buffer).await) else {
            continue;
        };
        assert!(
            !data.to_string().contains("theirs"),
            "another organization's event: {data}"
        );
        if data["type"] == kind {
            return data;
        }
    }
    panic!("no {kind} event");
}

fn data_of(frame: &str) -> Option<Value> {
    frame
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .and_then(|data| serde_json::from_str(data.trim()).ok())
}

async fn events_stream_the_organizations_changes_live(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;

    let response = open_events(&app, &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/event-stream")
    );
    let mut stream = response
        .bytes_stream()
        .map(|chunk| chunk.map(|b| b.to_vec()));
    let mut buffer = String::new();
    let ready = next_frame(&mut stream, &mut buffer).await;
    assert!(ready.contains("event: ready"), "{ready}");

    // Another organization's activity never shows up on this stream.
    let store = switchboard_store::Store::connect(&app.db.url)
        .await
        .expect("store");
    let other = store.create_org("globex", "Globex").await.expect("org");
    store
        .create_user(
            &other.id,
            "boss@globex.test",
            "Boss",
            switchboard_model::Role::Admin,
            "long enough",
        )
        .await
        .expect("user");
    let globex = app.login("boss@globex.test", "long enough").await;
    let globex_inbox = app.test_inbox(&globex, json!({})).await;
    app.customer_writes(&globex, &globex_inbox, "theirs").await;

    let conversation_id = app.customer_writes(&admin, &inbox_id, "ours").await;
    let created = next_of_type(&mut stream, &mut buffer, "message_created").await;
    assert_eq!(
        created["message"]["conversation_id"],
        conversation_id.as_str()
    );
    assert_eq!(created["message"]["text"], "Help with ours");

    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let changed = next_of_type(&mut stream, &mut buffer, "conversation_changed").await;
    assert_eq!(changed["conversation_id"], conversation_id.as_str());
    assert_eq!(changed["status"], "assigned");

    // Graceful shutdown ends open streams instead of waiting for them.
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;
    assert!(stopped.is_ok(), "shutdown waited for the event stream");
}

async fn events_need_credentials_and_the_permission(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A token in the query string is not accepted: tokens stay out of URLs and logs.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events?access_token={admin}")))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let response = open_events(&app, &editor).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");
}

async fn idle_event_streams_get_keep_alive_comments(db: TestDatabase) {
    let app = TestApp::spawn_quiet_with(db, |db| switchboard::Settings {
        events_keepalive_secs: 1,
        ..support::settings(db)
    })
    .await;
    let admin = app.admin().await;
    let response = open_events(&app, &admin).await;
    let mut stream = response
        .bytes_stream()
        .map(|chunk| chunk.map(|b| b.to_vec()));
    let mut buffer = String::new();
    let ready = next_frame(&mut stream, &mut buffer).await;
    assert!(ready.contains("ready"));
    let idle = next_frame(&mut stream, &mut buffer).await;
    assert!(idle.starts_with(':'), "a comment line, got {idle:?}");
}

async fn takeover_and_handback_move_the_conversation(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let id = app.customer_writes(&admin, &inbox_id, "t1").await;
    let agent = app.user_token(&admin, "support_agent").await;
    let (_, me) = app.get(&agent, "/api/v1/auth/me").await;
    let agent_id = me["user"]["id"].as_str().expect("id").to_owned();

    let (status, taken) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["status"], "assigned");
    assert_eq!(taken["assignee_id"], agent_id.as_str());

    // Another agent may not take it away; a manager may.
    let other = app.user_token(&admin, "support_agent").await;
    let (status, _) = app
        .post(
            &other,
            &format!("/api/v1/conversations/{id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &other,
            &format!("/api/v1/conversations/{id}/handback"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, back) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{id}/handback"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["status"], "bot");
    assert_eq!(back["assignee_id"], Value::Null);

    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{id}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(&agent, "/api/v1/conversations/nope/takeover", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An API key is nobody to assign to.
    let (_, key) = app
        .post(
            &admin,
            "/api/v1/api-keys",
            json!({ "name": "k", "scopes": ["conversations:reply", "conversations:read"] }),
        )
        .await;
    let key = key["secret"].as_str().expect("the key");
    let (status, _) = app
        .post(
            key,
            &format!("/api/v1/conversations/{id}/takeover"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, audit) = app.get(&admin, "/api/v1/audit").await;
    let text = audit.to_string();
    assert!(text.contains("conversation.handed_back"), "{text}");
}

async fn counts_per_view_follow_the_conversations(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let first = app.customer_writes(&admin, &inbox_id, "c1").await;
    let second = app.customer_writes(&admin, &inbox_id, "c2").await;
    let third = app.customer_writes(&admin, &inbox_id, "c3").await;

    let counts_path = format!("/api/v1/conversations/counts?inbox_id={inbox_id}");
    let (status, before) = app.get(&admin, &counts_path).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["all"], 3);
    assert_eq!(before["mine"], 0);

    app.post(
        &admin,
        &format!("/api/v1/conversations/{first}/takeover"),
        json!({}),
    )
    .await;
    app.post(
        &admin,
        &format!("/api/v1/conversations/{second}/assign"),
        json!({ "assignee_id": null }),
    )
    .await;
    app.post(
        &admin,
        &format!("/api/v1/conversations/{third}/resolve"),
        json!({}),
    )
    .await;
    let (_, after) = app.get(&admin, &counts_path).await;
    assert_eq!(after["all"], 3, "{after}");
    assert_eq!(after["mine"], 1, "{after}");
    assert_eq!(after["escalated"], 1, "{after}");
    assert_eq!(after["unassigned"], 1, "{after}");

    // The list under each view's filter agrees with its count.
    let (_, escalated) = app
        .get(
            &admin,
            &format!("/api/v1/conversations?status=escalated&inbox_id={inbox_id}"),
        )
        .await;
    assert_eq!(escalated["conversations"][0]["id"], second.as_str());

    let (status, _) = app
        .get(
            &admin,
            "/api/v1/conversations/counts?channel=carrier-pigeon",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let (status, _) = app.get(&editor, "/api/v1/conversations/counts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn canned_responses_crud_with_permissions(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;

    let (status, created) = app
        .post(&admin, "/api/v1/canned-responses",
            json!({ "shortcut": "/Refund", "title": "Refund policy", "text": "Refunds take 5 days." }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["shortcut"], "refund");
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, _) = app
        .post(
            &admin,
            "/api/v1/canned-responses",
            json!({ "shortcut": "refund", "text": "again" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .post(
            &admin,
            "/api/v1/canned-responses",
            json!({ "shortcut": "no spaces", "text": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_request");
    let (status, _) = app
        .post(&admin, "/api/v1/canned-responses", json!({ "shortcut": 5 }))
        .await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY);

    // Agents use them but do not edit them.
    let (status, list) = app.get(&agent, "/api/v1/canned-responses").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["text"], "Refunds take 5 days.");
    let (status, _) = app
        .post(
            &agent,
            "/api/v1/canned-responses",
            json!({ "shortcut": "x", "text": "y" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, updated) = app
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/canned-responses/{id}"),
            json!({ "text": "Refunds take 3 days." }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["text"], "Refunds take 3 days.");
    assert_eq!(updated["shortcut"], "refund");

    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/canned-responses/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/canned-responses/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get(&agent, "/api/v1/canned-responses").await;
    assert_eq!(list, json!([]));

    let (_, openapi) = app.get(&admin, "/api/v1/openapi.json").await;
    for path in [
        "/api/v1/events",
        "/api/v1/conversations/counts",
        "/api/v1/conversations/{id}/takeover",
        "/api/v1/conversations/{id}/handback",
        "/api/v1/canned-responses/{id}",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
}

/// The list's countdown: each item carries the SLA clock the detail shows (null before an
/// escalation), read with the page, and pages still follow each other.
async fn the_list_carries_each_conversations_sla_clock(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let calm = app.customer_writes(&admin, &inbox_id, "calm").await;
    let status = app
        .webhook(
            &inbox_id,
            "s3cret",
            json!({ "thread": "upset", "from": "upset@customer.test",
                    "id": switchboard_model::new_id(), "text": "talk to a human please" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => {
                format!("/api/v1/conversations?inbox_id={inbox_id}&limit=1&cursor={cursor}")
            }
            None => format!("/api/v1/conversations?inbox_id={inbox_id}&limit=1"),
        };
        let (status, page) = app.get(&admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        items.extend(
            page["conversations"]
                .as_array()
                .expect("a list")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(items.len() < 10, "the cursor moves on");
    }
    assert_eq!(items.len(), 2, "{items:?}");
    let item = |thread: &str| {
        items
            .iter()
            .find(|item| item["thread_key"] == thread)
            .expect("the thread's item")
            .clone()
    };
    let calm_item = item("calm");
    assert_eq!(calm_item["id"], calm.as_str());
    assert_eq!(
        calm_item["status"], "bot",
        "the conversation's own fields stay: {calm_item}"
    );
    assert!(
        calm_item.get("sla").is_some_and(Value::is_null),
        "{calm_item}"
    );

    let upset_item = item("upset");
    let upset = upset_item["id"].as_str().expect("an id");
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{upset}"))
        .await;
    assert_eq!(upset_item["status"], "escalated", "{upset_item}");
    let sla = &upset_item["sla"];
    assert_eq!(sla["first_response"], "pending", "{upset_item}");
    assert_eq!(sla["breached"], false);
    assert_eq!(
        sla["first_response_due_at"],
        detail["sla"]["first_response_due_at"]
    );
    assert_eq!(sla["resolution_due_at"], detail["sla"]["resolution_due_at"]);

    // Filters on the joined table still name their columns unambiguously.
    let (status, breached) = app
        .get(
            &admin,
            &format!("/api/v1/conversations?inbox_id={inbox_id}&sla=breached"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{breached}");
    assert_eq!(breached["conversations"], json!([]));
}
