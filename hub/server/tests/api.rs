//! The hub over HTTP: auth, permissions, tenant isolation, bad input, webhooks, the outbox and
//! restarts. Every test boots the real server on its own fresh database, on SQLite and on
//! PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    login_gives_a_token_and_wrong_credentials_do_not,
    requests_without_valid_credentials_get_401,
    each_role_gets_403_outside_its_permissions,
    organizations_cannot_see_each_others_data,
    malformed_bodies_get_400_or_422_with_a_json_error,
    huge_bodies_get_413,
    webhooks_verify_store_once_and_ignore_duplicates,
    agent_replies_are_retried_until_delivered,
    permanent_delivery_failures_are_visible,
    notes_are_never_delivered,
    inbox_secrets_are_write_only,
    conversations_filter_and_paginate,
    data_survives_a_restart,
    operational_routes_and_the_openapi_description,
);

fn message(id: &str, text: &str) -> Value {
    json!({ "thread": "thread-1", "from": "ada@customer.test", "id": id, "text": text })
}

/// The agent's reply among a conversation's messages (the bot's acknowledgement may come
/// before it).
fn agent_message(detail: &Value) -> &Value {
    detail["messages"]
        .as_array()
        .and_then(|messages| messages.iter().find(|m| m["role"] == "agent"))
        .unwrap_or(&Value::Null)
}

fn customer_messages(detail: &Value) -> usize {
    detail["messages"].as_array().map_or(0, |messages| {
        messages.iter().filter(|m| m["role"] == "customer").count()
    })
}

/// Sends one customer message through the test inbox and returns the conversation's id.
async fn customer_writes(app: &TestApp, admin: &str, inbox_id: &str, id: &str) -> String {
    assert_eq!(
        app.webhook(inbox_id, "s3cret", message(id, "My parcel never arrived"))
            .await,
        StatusCode::OK
    );
    let (_, list) = app
        .get(admin, &format!("/api/v1/conversations?inbox_id={inbox_id}"))
        .await;
    list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned()
}

async fn login_gives_a_token_and_wrong_credentials_do_not(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let token = app.admin().await;
    let (status, me) = app.get(&token, "/api/v1/auth/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], support::ADMIN_EMAIL);
    assert_eq!(me["user"]["role"], "admin");

    let (status, body) = app
        .post(
            "",
            "/api/v1/auth/login",
            json!({ "email": support::ADMIN_EMAIL, "password": "wrong" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");

    let (status, _) = app.post(&token, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&token, "/api/v1/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
}

async fn requests_without_valid_credentials_get_401(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    for path in [
        "/api/v1/conversations",
        "/api/v1/inboxes",
        "/api/v1/users",
        "/api/v1/contacts",
        "/api/v1/auth/me",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("sends");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = app.get("sbs_not-a-real-token", path).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a forged token"
        );
    }
    // Credentials are checked before the body is: no 400 leaks through for an anonymous caller.
    let response = app
        .client
        .post(app.url("/api/v1/inboxes"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn each_role_gets_403_outside_its_permissions(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let manager = app.user_token(&admin, "support_manager").await;
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let inbox = json!({ "name": "x", "channel": "webchat", "config": {} });
    let user = json!({ "email": "new@acme.test", "role": "admin", "password": "long enough" });
    let key = json!({ "name": "k", "scopes": ["conversations:read"] });

    let forbidden = [
        (&agent, Method::POST, "/api/v1/inboxes", inbox.clone()),
        (&agent, Method::POST, "/api/v1/users", user.clone()),
        (&agent, Method::GET, "/api/v1/audit", Value::Null),
        (
            &agent,
            Method::POST,
            "/api/v1/teams",
            json!({ "name": "Billing" }),
        ),
        (&manager, Method::POST, "/api/v1/users", user.clone()),
        (&manager, Method::POST, "/api/v1/api-keys", key.clone()),
        (&manager, Method::POST, "/api/v1/inboxes", inbox.clone()),
        (&editor, Method::GET, "/api/v1/conversations", Value::Null),
        (&editor, Method::GET, "/api/v1/contacts", Value::Null),
        (&editor, Method::GET, "/api/v1/inboxes", Value::Null),
    ];
    for (token, method, path, body) in forbidden {
        let (status, error) = app.send(method.clone(), token, path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error["error"]["code"], "forbidden");
    }
    let allowed = [
        (&agent, "/api/v1/conversations"),
        (&agent, "/api/v1/inboxes"),
        (&manager, "/api/v1/audit"),
        (&manager, "/api/v1/conversations"),
    ];
    for (token, path) in allowed {
        assert_eq!(app.get(token, path).await.0, StatusCode::OK, "{path}");
    }
    let (status, _) = app
        .post(&manager, "/api/v1/teams", json!({ "name": "Billing" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // An API key can do exactly what its scopes say.
    let (status, created) = app.post(&admin, "/api/v1/api-keys", key).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["secret"].as_str().expect("the key").to_owned();
    assert_eq!(
        app.get(&secret, "/api/v1/conversations").await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&secret, "/api/v1/inboxes").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!(
                "/api/v1/api-keys/{}",
                created["key"]["id"].as_str().expect("id")
            ),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&secret, "/api/v1/conversations").await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
}

async fn organizations_cannot_see_each_others_data(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let conversation_id = customer_writes(&app, &admin, &inbox_id, "m1").await;
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    let contact_id = detail["conversation"]["contact_id"]
        .as_str()
        .expect("contact")
        .to_owned();

    // A second organization with its own admin, made the way an operator would.
    let intruder = app.second_organization().await;

    for path in [
        format!("/api/v1/conversations/{conversation_id}"),
        format!("/api/v1/inboxes/{inbox_id}"),
        format!("/api/v1/contacts/{contact_id}"),
    ] {
        assert_eq!(
            app.get(&intruder, &path).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (status, _) = app
        .post(
            &intruder,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "hi" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &intruder,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get(&intruder, "/api/v1/conversations").await;
    assert_eq!(list["conversations"], json!([]));
    let (_, inboxes) = app.get(&intruder, "/api/v1/inboxes").await;
    assert_eq!(inboxes, json!([]));
}

async fn malformed_bodies_get_400_or_422_with_a_json_error(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let raw = |path: &str, body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            "/api/v1/auth/login",
            "{\"email\": ",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/inboxes",
            "{\"name\": 1}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/inboxes",
            "{\"name\": \"x\", \"channel\": \"fax\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/inboxes",
            "{\"name\": \"x\", \"channel\": \"slack\", \"config\": [1]}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/users",
            "{\"email\": \"a@b.c\", \"role\": \"king\", \"password\": \"long enough\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/inboxes",
            "\u{0}\u{1}binary",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/inboxes",
            "{}",
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (path, body, content_type, expected) in cases {
        let response = raw(path, body, content_type).await.expect("sends");
        assert_eq!(response.status(), expected, "{path} {body:?}");
        let error: Value = response.json().await.expect("a JSON error body");
        assert!(
            error["error"]["code"].is_string() && error["error"]["message"].is_string(),
            "{error}"
        );
    }
    let (status, _) = app
        .get(&admin, "/api/v1/conversations?status=shouting")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get(&admin, "/api/v1/conversations?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(&admin, "/api/v1/conversations?cursor=garbage")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/conversations/nope/messages",
            json!({ "text": "" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn huge_bodies_get_413(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let twenty_megabytes = vec![b'a'; 20 * 1024 * 1024];
    // The hub answers 413 without reading the rest and then closes the connection: a client
    // that kept it for reuse would see the close on its next request, so keep none.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client");
    for path in [
        "/api/v1/inboxes".to_owned(),
        format!("/webhooks/freshdesk/{inbox_id}"),
    ] {
        let response = client
            .post(app.url(&path))
            .bearer_auth(&admin)
            .header("x-test-secret", "s3cret")
            .header("content-type", "application/json")
            .body(twenty_megabytes.clone())
            .send()
            .await
            .expect("sends");
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    let (_, list) = app.get(&admin, "/api/v1/conversations").await;
    assert_eq!(list["conversations"], json!([]), "nothing stored");
}

async fn webhooks_verify_store_once_and_ignore_duplicates(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;

    assert_eq!(
        app.webhook(&inbox_id, "wrong", message("m1", "hello"))
            .await,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = app.get(&admin, "/api/v1/conversations").await;
    assert_eq!(
        list["conversations"],
        json!([]),
        "a rejected request stores nothing"
    );

    for _ in 0..3 {
        assert_eq!(
            app.webhook(&inbox_id, "s3cret", message("m1", "hello"))
                .await,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.webhook(&inbox_id, "s3cret", message("m2", "anyone there?"))
            .await,
        StatusCode::OK
    );
    let (_, list) = app.get(&admin, "/api/v1/conversations").await;
    let conversations = list["conversations"].as_array().expect("a list");
    assert_eq!(conversations.len(), 1);
    let id = conversations[0]["id"].as_str().expect("id");
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{id}"))
        .await;
    let texts: Vec<_> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "customer")
        .map(|m| m["text"].clone())
        .collect();
    // The bot's acknowledgement may take a sequence number in between.
    assert_eq!(texts, vec![json!("hello"), json!("anyone there?")]);
    assert_eq!(detail["messages"][0]["seq"], 1);
    assert_eq!(
        detail["contact"]["identities"][0]["external_id"],
        "ada@customer.test"
    );

    assert_eq!(
        app.webhook(&inbox_id, "s3cret", json!({ "thread": "t" }))
            .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.webhook("no-such-inbox", "s3cret", message("m3", "x"))
            .await,
        StatusCode::NOT_FOUND
    );
    let status = app
        .client
        .post(app.url(&format!("/webhooks/slack/{inbox_id}")))
        .body("{}")
        .send()
        .await
        .expect("sends")
        .status();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the inbox is not a Slack inbox"
    );
}

async fn agent_replies_are_retried_until_delivered(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let inbox_id = app.test_inbox(&admin, json!({ "fail_first": 2 })).await;
    let conversation_id = customer_writes(&app, &admin, &inbox_id, "m1").await;

    let (status, reply) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Sorry! Checking now." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["role"], "agent");
    assert_eq!(reply["delivery_status"], "pending");
    let detail = app
        .wait_for(&agent, &conversation_id, |detail| {
            agent_message(detail)["delivery_status"] == "sent"
        })
        .await;
    let message_id = reply["id"].as_str().expect("id");
    assert_eq!(
        agent_message(&detail)["channel_message_id"],
        format!("sent-{message_id}")
    );
    assert_eq!(
        detail["conversation"]["status"], "assigned",
        "the replying agent took it over"
    );
    let attempts: Vec<u32> = app
        .deliveries
        .attempts()
        .iter()
        .map(|m| m.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3], "two failures, then success");
    let delivered = &app.deliveries.attempts()[2];
    assert_eq!(delivered.recipient.external_id, "ada@customer.test");
    assert_eq!(delivered.in_reply_to.as_deref(), Some("m1"));
    assert_eq!(delivered.text, "Sorry! Checking now.");
}

async fn permanent_delivery_failures_are_visible(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({ "reject": true })).await;
    let conversation_id = customer_writes(&app, &admin, &inbox_id, "m1").await;
    app.post(
        &admin,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        json!({ "text": "Hello?" }),
    )
    .await;
    let detail = app
        .wait_for(&admin, &conversation_id, |detail| {
            agent_message(detail)["delivery_status"] == "failed"
        })
        .await;
    assert_eq!(
        agent_message(&detail)["delivery_error"],
        "400 recipient rejected"
    );
    assert_eq!(
        app.deliveries.attempts().len(),
        1,
        "a permanent error is not retried"
    );

    // A retriable error that never clears gives up after the configured attempts.
    let flaky = app.test_inbox(&admin, json!({ "fail_first": 100 })).await;
    let webhook = json!({ "thread": "t2", "from": "bob@customer.test", "id": "b1", "text": "hi" });
    assert_eq!(app.webhook(&flaky, "s3cret", webhook).await, StatusCode::OK);
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={flaky}"))
        .await;
    let id = list["conversations"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(
        &admin,
        &format!("/api/v1/conversations/{id}/messages"),
        json!({ "text": "Hello?" }),
    )
    .await;
    let detail = app
        .wait_for(&admin, &id, |detail| {
            agent_message(detail)["delivery_status"] == "failed"
        })
        .await;
    assert!(
        agent_message(&detail)["delivery_error"]
            .as_str()
            .expect("reason")
            .starts_with("gave up after 4 attempts")
    );
}

async fn notes_are_never_delivered(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let conversation_id = customer_writes(&app, &admin, &inbox_id, "m1").await;
    let (status, note) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "VIP, be nice", "private": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(note["private"], true);
    assert_eq!(note["delivery_status"], "internal");
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(
        detail["conversation"]["assignee_id"],
        Value::Null,
        "a note does not take the conversation over"
    );
    // A reply after it is delivered; by then the note would have been, before it.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "On it" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let delivered = support::eventually("the reply is delivered", || {
        let attempts = app.deliveries.attempts();
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    let texts: Vec<&str> = delivered.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["On it"], "the reply alone");
    let (_, audit) = app.get(&admin, "/api/v1/audit").await;
    assert!(
        audit["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "message.note")
    );
}

async fn inbox_secrets_are_write_only(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let config = json!({ "signing_secret": "sign", "bot_token": "xoxb-1", "api_base_url": "http://127.0.0.1:1" });
    let (status, inbox) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "Slack", "channel": "slack", "config": config }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        inbox["config"],
        json!({ "api_base_url": "http://127.0.0.1:1" })
    );
    assert_eq!(inbox["secrets_set"], json!(["bot_token", "signing_secret"]));
    let id = inbox["id"].as_str().expect("id");
    let (_, fetched) = app.get(&admin, &format!("/api/v1/inboxes/{id}")).await;
    assert!(!fetched.to_string().contains("xoxb-1"));
    let (_, listed) = app.get(&admin, "/api/v1/inboxes").await;
    assert!(!listed.to_string().contains("xoxb-1") && !listed.to_string().contains("\"sign\""));
}

async fn conversations_filter_and_paginate(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    for i in 0..5 {
        let body = json!({ "thread": format!("t{i}"), "from": format!("c{i}@x.test"), "id": format!("m{i}"), "text": "hi" });
        assert_eq!(app.webhook(&inbox_id, "s3cret", body).await, StatusCode::OK);
    }
    // The bot's turns touch the conversations: let them finish so the order stays put.
    support::eventually("the bot's turns done", || {
        (app.state.bot.is_empty() && app.state.background.is_idle()).then_some(())
    })
    .await;
    let (_, first) = app.get(&admin, "/api/v1/conversations?limit=2").await;
    let mut ids: Vec<Value> = first["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let (_, page) = app
            .get(
                &admin,
                &format!("/api/v1/conversations?limit=2&cursor={next}"),
            )
            .await;
        ids.extend(
            page["conversations"]
                .as_array()
                .expect("list")
                .iter()
                .map(|c| c["id"].clone()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(ids.len(), 5);
    let first_id = ids[0].as_str().expect("id").to_owned();

    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{first_id}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, resolved) = app
        .get(&admin, "/api/v1/conversations?status=resolved")
        .await;
    assert_eq!(resolved["conversations"].as_array().expect("list").len(), 1);
    let (_, open) = app
        .get(
            &admin,
            "/api/v1/conversations?status=bot,escalated&channel=freshdesk&assignee=none",
        )
        .await;
    assert_eq!(open["conversations"].as_array().expect("list").len(), 4);
    let (_, mine) = app.get(&admin, "/api/v1/conversations?assignee=me").await;
    assert_eq!(mine["conversations"], json!([]));

    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let (status, assigned) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{first_id}/reopen"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, assigned["status"].clone()),
        (StatusCode::OK, json!("escalated"))
    );
    let (status, assigned) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{first_id}/assign"),
            json!({ "assignee_id": me["user"]["id"] }),
        )
        .await;
    assert_eq!(
        (status, assigned["status"].clone()),
        (StatusCode::OK, json!("assigned"))
    );
    let (_, mine) = app.get(&admin, "/api/v1/conversations?assignee=me").await;
    assert_eq!(mine["conversations"][0]["id"], first_id.as_str());
}

async fn data_survives_a_restart(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let conversation_id = customer_writes(&app, &admin, &inbox_id, "m1").await;
    let db = app.stop().await;

    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let (status, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["messages"][0]["text"], "My parcel never arrived");
    let (_, users) = app.get(&admin, "/api/v1/users").await;
    assert_eq!(
        users.as_array().expect("users").len(),
        1,
        "the first start runs once"
    );
    // The channel still recognises a redelivery from before the restart.
    assert_eq!(
        app.webhook(
            &inbox_id,
            "s3cret",
            message("m1", "My parcel never arrived")
        )
        .await,
        StatusCode::OK
    );
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(customer_messages(&detail), 1);
}

async fn operational_routes_and_the_openapi_description(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    assert_eq!(
        get("/healthz").await.expect("sends").status(),
        StatusCode::OK
    );
    assert_eq!(
        get("/readyz").await.expect("sends").status(),
        StatusCode::OK
    );
    app.admin().await;
    let metrics = get("/metrics")
        .await
        .expect("sends")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/auth/login\""),
        "labelled by route template"
    );

    let openapi: Value = get("/api/v1/openapi.json")
        .await
        .expect("sends")
        .json()
        .await
        .expect("json");
    assert!(
        openapi["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/conversations", "get"),
        ("/api/v1/conversations/{id}", "get"),
        ("/api/v1/conversations/{id}/messages", "post"),
        ("/api/v1/inboxes", "get"),
        ("/api/v1/inboxes", "post"),
        ("/api/v1/inboxes/{id}", "get"),
        ("/api/v1/analytics/overview", "get"),
        ("/api/v1/analytics/timeseries", "get"),
        ("/api/v1/analytics/agents", "get"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    // Enums are described as they are sent (issue 23: `Permission` was documented as
    // `conversations_read` and sent as `conversations:read`).
    let permissions = &openapi["components"]["schemas"]["Permission"]["enum"];
    assert!(
        permissions
            .as_array()
            .is_some_and(|values| values.contains(&json!("conversations:read"))),
        "{permissions}"
    );
    assert_description_is_whole(&openapi);
    assert_eq!(
        get("/no/such/route").await.expect("sends").status(),
        StatusCode::NOT_FOUND
    );
}

/// The description's integrity, which schemathesis (`.ci/schemathesis.sh`) relies on and
/// checks only by sending requests: every `{param}` of a path is declared as a path parameter
/// (and no other is), every operation that takes a token documents 401 and 429, and every
/// response has a description and, for an error, the `ErrorBody` the hub sends.
fn assert_description_is_whole(openapi: &Value) {
    let paths = openapi["paths"].as_object().expect("paths");
    let mut problems = Vec::new();
    for (path, item) in paths {
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{} {path}", method.to_uppercase());
            let mut declared: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "path")
                .filter_map(|parameter| parameter["name"].as_str())
                .collect();
            declared.sort_unstable();
            let mut expected = in_path.clone();
            expected.sort_unstable();
            if declared != expected {
                problems.push(format!(
                    "{name}: path parameters {declared:?}, not {expected:?}"
                ));
            }
            let responses = operation["responses"].as_object().expect("responses");
            let takes_token = operation["security"] != json!([{}]);
            for status in ["401", "429"] {
                if takes_token && !responses.contains_key(status) {
                    problems.push(format!("{name}: no {status}"));
                }
            }
            for (status, response) in responses {
                let response = resolve(openapi, response);
                if response["description"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{name} {status}: no description"));
                }
                let error_body = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with(['4', '5']) && error_body != "#/components/schemas/ErrorBody"
                {
                    problems.push(format!("{name} {status}: not an ErrorBody"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A response, or the component response its `$ref` names.
fn resolve<'a>(openapi: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .expect("a response reference");
            &openapi["components"]["responses"][name]
        }
        None => response,
    }
}
