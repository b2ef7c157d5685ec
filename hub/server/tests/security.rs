//! Regression tests for the holes issue 23 found probing the hub: inbox URLs that point at
//! cloud metadata or other schemes, the platform's text echoed by `register-webhook`, API keys
//! that outlive their creator or mint admins, and an agent taking another's conversation. On
//! SQLite and PostgreSQL.

mod support;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::{ChannelKind, Clock};
use switchboard_testkit::{FakePlatform, FakeResponse, TestDatabase, backend_tests};

backend_tests!(
    inbox_urls_never_point_at_metadata_or_other_schemes,
    register_webhook_answers_the_status_not_the_platforms_text,
    api_keys_stop_with_their_creator,
    api_keys_cannot_give_more_than_they_have,
    api_keys_record_when_they_were_last_used,
    agents_cannot_assign_themselves_anothers_conversation,
    the_last_admin_stays_an_admin,
);

const TG_TOKEN: &str = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// A valid config of each channel with an outbound URL, and the field that holds it.
fn channels() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "telegram",
            "api_base_url",
            json!({ "bot_token": TG_TOKEN, "secret_token": "s3cret",
                    "api_base_url": "https://api.telegram.org" }),
        ),
        (
            "slack",
            "api_base_url",
            json!({ "signing_secret": "s", "bot_token": "xoxb-1",
                    "api_base_url": "https://slack.com/api" }),
        ),
        (
            "whatsapp",
            "api_base_url",
            json!({ "app_secret": "s", "verify_token": "v", "access_token": "a",
                    "phone_number_id": "1", "api_base_url": "https://graph.facebook.com/v21.0" }),
        ),
        (
            "zendesk",
            "base_url",
            json!({ "base_url": "https://acme.zendesk.com", "email": "bot@acme.test",
                    "api_token": "t", "webhook_secret": "w" }),
        ),
        (
            "freshdesk",
            "base_url",
            json!({ "base_url": "https://acme.freshdesk.com", "api_key": "k",
                    "webhook_secret": "w" }),
        ),
        (
            "email",
            "smtp_url",
            json!({ "address": "help@acme.test", "inbound_secret": "s",
                    "smtp_url": "smtps://mail.acme.test" }),
        ),
    ]
}

/// URLs no inbox may point at: metadata services in every spelling, link-local and
/// unspecified addresses, other schemes.
fn refused_urls(field: &str) -> Vec<String> {
    let (scheme, other) = if field == "smtp_url" {
        ("smtp", "https://mail.acme.test")
    } else {
        ("http", "gopher://127.0.0.1:6379/_INFO")
    };
    let mut urls: Vec<String> = [
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "2852039166",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.1.1:8080",
        "metadata.google.internal",
        "METADATA.google.internal.",
        "metadata",
        "0.0.0.0",
        "[::]",
    ]
    .iter()
    .map(|host| format!("{scheme}://{host}/latest/meta-data"))
    .collect();
    urls.push(other.to_owned());
    urls.push("file:///etc/passwd".to_owned());
    urls
}

fn with(config: &Value, field: &str, value: &str) -> Value {
    let mut config = config.clone();
    config[field] = json!(value);
    config
}

async fn inbox_urls_never_point_at_metadata_or_other_schemes(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    for (channel, field, good) in channels() {
        for bad in refused_urls(field) {
            let (status, body) = app
                .post(
                    &admin,
                    "/api/v1/inboxes",
                    json!({ "name": channel, "channel": channel, "config": with(&good, field, &bad) }),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "create {channel} with {bad}: {body}"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(field)),
                "{body}"
            );
        }
        let (status, created) = app
            .post(
                &admin,
                "/api/v1/inboxes",
                json!({ "name": channel, "channel": channel, "config": good }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}: {created}");
        let id = created["id"].as_str().expect("an id").to_owned();
        let path = format!("/api/v1/inboxes/{id}");
        for bad in refused_urls(field) {
            let (status, body) = app
                .send(
                    Method::PATCH,
                    &admin,
                    &path,
                    json!({ "config": with(&good, field, &bad) }),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "patch {channel} with {bad}: {body}"
            );
        }
        // Loopback and private networks stay allowed: tests, relays and self-hosted servers.
        let allowed = if field == "smtp_url" {
            ["smtp://127.0.0.1:2525", "smtp://10.1.2.3:25?tls=none"]
        } else {
            ["http://127.0.0.1:9", "https://10.1.2.3:8443/api"]
        };
        for url in allowed {
            // Secrets left out of a PATCH are kept, and the config is checked with them.
            let mut public = with(&good, field, url);
            let kind = ChannelKind::parse(channel).expect("a channel");
            if let Some(config) = public.as_object_mut() {
                config.retain(|name, _| {
                    name == field || !kind.secret_fields().contains(&name.as_str())
                });
            }
            let (status, body) = app
                .send(Method::PATCH, &admin, &path, json!({ "config": public }))
                .await;
            assert_eq!(status, StatusCode::OK, "patch {channel} with {url}: {body}");
        }
    }
    // A PATCH gets the connector's own checks too, on the config it would leave behind.
    let (_, inboxes) = app.get(&admin, "/api/v1/inboxes").await;
    for (channel, field, value) in [
        ("telegram", "secret_token", "has spaces!"),
        ("email", "address", "nobody"),
    ] {
        let inbox = inboxes
            .as_array()
            .and_then(|all| all.iter().find(|inbox| inbox["channel"] == channel))
            .expect("the inbox");
        let mut config = inbox["config"].clone();
        config[field] = json!(value);
        let (status, body) = app
            .send(
                Method::PATCH,
                &admin,
                &format!("/api/v1/inboxes/{}", inbox["id"].as_str().expect("id")),
                json!({ "config": config }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{channel} {field}: {body}"
        );
    }
    app.stop().await;
}

async fn register_webhook_answers_the_status_not_the_platforms_text(db: TestDatabase) {
    let app = TestApp::spawn_quiet_with(db, |db| switchboard::Settings {
        public_url: Some("https://hub.example.com/".into()),
        ..support::settings(db)
    })
    .await;
    let admin = app.admin().await;
    let platform = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": true }),
    ))
    .await;
    let (status, inbox) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "tg", "channel": "telegram", "config": {
                "bot_token": TG_TOKEN, "secret_token": "s3cret", "api_base_url": platform.url() } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let path = format!(
        "/api/v1/inboxes/{}/register-webhook",
        inbox["id"].as_str().expect("id")
    );
    let cases = [
        (
            FakeResponse::json(
                400,
                json!({ "ok": false, "error_code": 400, "description": "internal-detail-400" }),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "400",
        ),
        (
            FakeResponse {
                status: 500,
                headers: Vec::new(),
                body: "<html>internal-detail-500</html>".into(),
            },
            StatusCode::BAD_GATEWAY,
            "500",
        ),
        (
            FakeResponse {
                status: 404,
                headers: Vec::new(),
                body: "internal-detail-404".into(),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "404",
        ),
    ];
    for (answer, expected, code) in cases {
        platform.respond_next(answer);
        let (status, body) = app.post(&admin, &path, json!({})).await;
        assert_eq!(status, expected, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(code), "{body}");
        assert!(!message.contains("internal-detail"), "{body}");
    }

    // A redirect is not followed: the platform's answer is the answer.
    let elsewhere = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": true }),
    ))
    .await;
    platform
        .respond_next(FakeResponse::json(307, json!({})).with_header("location", &elsewhere.url()));
    let (status, body) = app.post(&admin, &path, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    app.stop().await;
}

async fn api_key(app: &TestApp, token: &str, scopes: &[&str]) -> String {
    let (status, created) = app
        .post(
            token,
            "/api/v1/api-keys",
            json!({ "name": "script", "scopes": scopes }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["secret"].as_str().expect("the key").to_owned()
}

async fn patch_user(app: &TestApp, token: &str, user_id: &str, change: Value) -> StatusCode {
    let (status, body) = app
        .send(
            Method::PATCH,
            token,
            &format!("/api/v1/users/{user_id}"),
            change,
        )
        .await;
    assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    status
}

const ALL_SCOPES: &[&str] = &[
    "conversations:read",
    "conversations:reply",
    "conversations:assign",
    "contacts:read",
    "contacts:write",
    "contacts:erase",
    "inboxes:read",
    "inboxes:manage",
    "users:read",
    "users:manage",
    "apikeys:manage",
    "knowledge:read",
    "knowledge:write",
    "analytics:read",
    "settings:manage",
    "audit:read",
    "webhooks:manage",
    "retention:manage",
];

async fn api_keys_stop_with_their_creator(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (second_id, second) = app.user(&admin, "admin").await;
    let managing = api_key(&app, &second, &["users:read", "users:manage"]).await;
    let reading = api_key(&app, &second, &["conversations:read"]).await;
    let root = api_key(&app, &second, ALL_SCOPES).await;
    // A key made by a key answers to the same person.
    let child = api_key(&app, &root, &["users:read"]).await;
    for key in [&managing, &reading, &child] {
        assert_eq!(
            app.get(key, "/api/v1/users").await.0.is_success(),
            key != &reading
        );
    }
    assert_eq!(
        app.get(&reading, "/api/v1/conversations").await.0,
        StatusCode::OK
    );

    // Demoted below a key's permissions, the key stops; keys within the new role go on.
    assert_eq!(
        patch_user(&app, &admin, &second_id, json!({ "role": "support_agent" })).await,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&managing, "/api/v1/users").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&root, "/api/v1/users").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&reading, "/api/v1/conversations").await.0,
        StatusCode::OK
    );
    assert_eq!(app.get(&child, "/api/v1/users").await.0, StatusCode::OK);

    // Deactivated, every key they made (and the keys those made) stops.
    assert_eq!(
        patch_user(&app, &admin, &second_id, json!({ "active": false })).await,
        StatusCode::OK
    );
    for key in [&reading, &child] {
        assert_eq!(
            app.get(key, "/api/v1/users").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    app.stop().await;
}

async fn api_keys_cannot_give_more_than_they_have(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let create = |token: String, role: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    &token,
                    "/api/v1/users",
                    json!({ "email": format!("{}@acme.test", switchboard_model::new_id()),
                            "role": role, "password": "long enough" }),
                )
                .await;
            (status, body["id"].as_str().unwrap_or_default().to_owned())
        }
    };

    // `users:manage` alone gives nobody anything.
    let bare = api_key(&app, &admin, &["users:manage"]).await;
    assert_eq!(create(bare.clone(), "admin").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        create(bare.clone(), "support_agent").await.0,
        StatusCode::FORBIDDEN
    );

    // A key with an agent's permissions may add agents, and no more.
    let provisioning = api_key(
        &app,
        &admin,
        &[
            "users:manage",
            "users:read",
            "conversations:read",
            "conversations:reply",
            "contacts:read",
            "contacts:write",
            "inboxes:read",
            "knowledge:read",
        ],
    )
    .await;
    let (status, agent_id) = create(provisioning.clone(), "support_agent").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        create(provisioning.clone(), "admin").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(provisioning.clone(), "support_manager").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch_user(&app, &provisioning, &agent_id, json!({ "role": "admin" })).await,
        StatusCode::FORBIDDEN
    );
    // Nor change someone who has more than it: the admin stays active.
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let admin_id = me["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        patch_user(&app, &provisioning, &admin_id, json!({ "active": false })).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get(&admin, "/api/v1/users").await.0, StatusCode::OK);
    assert_eq!(
        patch_user(&app, &provisioning, &agent_id, json!({ "active": false })).await,
        StatusCode::OK
    );

    // An admin's key with every permission may add an admin.
    let full = api_key(&app, &admin, ALL_SCOPES).await;
    assert_eq!(create(full, "admin").await.0, StatusCode::CREATED);
    app.stop().await;
}

async fn api_keys_record_when_they_were_last_used(db: TestDatabase) {
    let started: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
    let clock = Clock::manual(started);
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock.clone()).await;
    let admin = app.admin().await;
    let key = api_key(&app, &admin, &["conversations:read"]).await;
    let last_used = || async {
        let (_, keys) = app.get(&admin, "/api/v1/api-keys").await;
        let used = keys[0]["last_used_at"].clone();
        used.as_str()
            .map(|at| at.parse::<DateTime<Utc>>().expect("a time"))
    };
    assert_eq!(last_used().await, None);
    assert_eq!(
        app.get(&key, "/api/v1/conversations").await.0,
        StatusCode::OK
    );
    assert_eq!(last_used().await, Some(started));
    // At most one write a minute per key.
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(
        app.get(&key, "/api/v1/conversations").await.0,
        StatusCode::OK
    );
    assert_eq!(last_used().await, Some(started));
    clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        app.get(&key, "/api/v1/conversations").await.0,
        StatusCode::OK
    );
    assert_eq!(
        last_used().await,
        Some(started + chrono::Duration::seconds(61))
    );
    app.stop().await;
}

async fn agents_cannot_assign_themselves_anothers_conversation(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let owned = app.customer_writes(&admin, &inbox_id, "owned").await;
    let free = app.customer_writes(&admin, &inbox_id, "free").await;
    let (ana_id, ana) = app.user(&admin, "support_agent").await;
    let (ben_id, ben) = app.user(&admin, "support_agent").await;
    let (_, manager) = app.user(&admin, "support_manager").await;
    let assign = |token: &str, id: &str, assignee: &str| {
        let (app, token, id, assignee) =
            (&app, token.to_owned(), id.to_owned(), assignee.to_owned());
        async move {
            app.post(
                &token,
                &format!("/api/v1/conversations/{id}/assign"),
                json!({ "assignee_id": assignee }),
            )
            .await
        }
    };

    let (status, body) = assign(&ana, &owned, &ana_id).await;
    assert_eq!(status, StatusCode::OK, "an unassigned conversation: {body}");
    let (status, body) = assign(&ana, &owned, &ana_id).await;
    assert_eq!(status, StatusCode::OK, "their own conversation: {body}");
    let (status, body) = assign(&ben, &owned, &ben_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let detail = app.conversation(&admin, &owned).await;
    assert_eq!(detail["conversation"]["assignee_id"], ana_id.as_str());

    let (status, body) = assign(&ben, &free, &ben_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A supervisor may move a conversation from one agent to another.
    let (status, body) = assign(&manager, &owned, &ben_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assignee_id"], ben_id.as_str());
    app.stop().await;
}

/// An organization never loses its last active admin (nobody could manage it again): demoting
/// or deactivating them is 409, until another admin exists.
async fn the_last_admin_stays_an_admin(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let admin_id = me["user"]["id"]
        .as_str()
        .expect("signed in as a user")
        .to_owned();
    let demote = json!({ "role": "support_agent" });
    assert_eq!(
        patch_user(&app, &admin, &admin_id, demote.clone()).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        patch_user(&app, &admin, &admin_id, json!({ "active": false })).await,
        StatusCode::CONFLICT
    );
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["role"], "admin", "unchanged");

    let (second_id, second) = app.user(&admin, "admin").await;
    assert_eq!(
        patch_user(&app, &admin, &admin_id, demote).await,
        StatusCode::OK
    );
    assert_eq!(
        patch_user(&app, &second, &second_id, json!({ "active": false })).await,
        StatusCode::CONFLICT,
        "the second admin is now the last"
    );
    app.stop().await;
}
