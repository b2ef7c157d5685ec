//! No silent drops (issue 23): what Slack, Telegram and WhatsApp send that the hub cannot or
//! will not store — a body that is not JSON, an event in a shape the connector does not read,
//! a kind it does not take — is answered as the platform expects (200, so that it is not sent
//! again and again), counted by channel and reason, and kept as a dead letter that an admin
//! lists over the API, paged, once per platform event; on SQLite and PostgreSQL.

mod support;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::Secret;
use switchboard_testkit::{FakePlatform, FakeResponse, TestDatabase, backend_tests};

backend_tests!(dropped_payloads_are_kept_as_dead_letters);

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WA_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
const WA_PHONE_ID: &str = "106540352242922";
const TG_SECRET: &str = "sb_9f8e7d6c5b4a-secret";

async fn create_inbox(app: &TestApp, admin: &str, channel: &str, config: Value) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": channel, "channel": channel, "config": config }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    inbox["id"].as_str().expect("an id").to_owned()
}

/// Posts a webhook as the platform would; its status.
async fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: &[u8]) -> StatusCode {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("sends").status()
}

fn slack_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = Utc::now().timestamp().to_string();
    vec![
        ("x-slack-request-timestamp", timestamp.clone()),
        (
            "x-slack-signature",
            switchboard_slack::sign(&Secret::new(SLACK_SECRET), &timestamp, body),
        ),
    ]
}

fn whatsapp_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![(
        "x-hub-signature-256",
        switchboard_whatsapp::sign(&Secret::new(WA_SECRET), body),
    )]
}

fn telegram_headers() -> Vec<(&'static str, String)> {
    vec![("x-telegram-bot-api-secret-token", TG_SECRET.to_owned())]
}

/// Every dead letter the admin can list, newest first, read `page` at a time through the
/// cursor.
async fn all_dead_letters(app: &TestApp, token: &str, page: usize) -> Vec<Value> {
    let mut letters = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/dead-letters?limit={page}&cursor={cursor}"),
            None => format!("/api/v1/dead-letters?limit={page}"),
        };
        let (status, body) = app.get(token, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let listed = body["dead_letters"].as_array().expect("a list").clone();
        assert!(listed.len() <= page, "{body}");
        letters.extend(listed);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return letters,
        }
    }
}

async fn dropped_payloads_are_kept_as_dead_letters(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let platform = FakePlatform::start(FakeResponse::json(200, json!({ "ok": true }))).await;
    let slack = create_inbox(
        &app,
        &admin,
        "slack",
        json!({ "signing_secret": SLACK_SECRET, "bot_token": "xoxb-1", "api_base_url": platform.url() }),
    )
    .await;
    let telegram = create_inbox(
        &app,
        &admin,
        "telegram",
        json!({ "bot_token": "7000000001:AAH", "secret_token": TG_SECRET, "api_base_url": platform.url() }),
    )
    .await;
    let whatsapp = create_inbox(
        &app,
        &admin,
        "whatsapp",
        json!({ "app_secret": WA_SECRET, "verify_token": "v", "access_token": "EAAJ",
                "phone_number_id": WA_PHONE_ID, "api_base_url": platform.url() }),
    )
    .await;
    let malformed_telegram =
        "switchboard_inbound_dropped_total{channel=\"telegram\",reason=\"malformed\"}";
    let counted_before = app.metric(malformed_telegram).await;

    // Slack: a body that is not JSON, larger than a dead letter keeps; a message in a shape
    // the connector does not read, sent twice as Slack retries (the same `event_id`); an event
    // type the hub does not take.
    let slack_hook = format!("/webhooks/slack/{slack}");
    let huge = vec![b'x'; 100 * 1024];
    let unknown = include_bytes!("../../../fixtures/slack/message_in_an_unknown_shape.json");
    let reaction = br#"{"type":"event_callback","team_id":"T1","api_app_id":"A1","event_id":"EvREACT1","event_time":1700000000,
        "event":{"type":"reaction_added","user":"U1","reaction":"thumbsup","item":{"type":"message","channel":"C1","ts":"1700000000.000100"},"event_ts":"1700000000.000200"}}"#;
    for body in [&huge[..], unknown, unknown, reaction] {
        assert_eq!(
            post(&app, &slack_hook, &slack_headers(body), body).await,
            StatusCode::OK
        );
    }
    // Still checked first: a forged one is refused and kept nowhere.
    assert_eq!(
        post(&app, &slack_hook, &[], b"not json").await,
        StatusCode::UNAUTHORIZED
    );

    // Telegram: not JSON; an update whose message has a field of another type; an update of a
    // kind the hub does not take; a sticker, which it does not read.
    let telegram_hook = format!("/webhooks/telegram/{telegram}");
    let odd_update = br#"{"update_id": 520000100, "message": {"message_id": "eighty", "chat": {"id": 1}, "date": 1700000000}}"#;
    for body in [
        &b"<html>not an update</html>"[..],
        odd_update,
        include_bytes!("../../../fixtures/telegram/callback_query.json"),
        include_bytes!("../../../fixtures/telegram/message_sticker.json"),
    ] {
        assert_eq!(
            post(&app, &telegram_hook, &telegram_headers(), body).await,
            StatusCode::OK
        );
    }

    // WhatsApp: not JSON; one notification with a message in a shape the connector does not
    // read beside one it stores; a reaction.
    let whatsapp_hook = format!("/webhooks/whatsapp/{whatsapp}");
    let mixed = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "phone_number_id": WA_PHONE_ID },
            "messages": [
                { "from": 16315551181u64, "id": "wamid.ODD0001", "type": "text" },
                { "from": "16315551181", "id": "wamid.FINE0001", "timestamp": "1700000000",
                  "type": "text", "text": { "body": "Is my order on its way?" } },
            ],
        } }] }],
    })
    .to_string();
    for body in [
        &b"{\"object\": "[..],
        mixed.as_bytes(),
        include_bytes!("../../../fixtures/whatsapp/reaction.json"),
    ] {
        assert_eq!(
            post(&app, &whatsapp_hook, &whatsapp_headers(body), body).await,
            StatusCode::OK
        );
    }

    // Each kept once, newest first, with its channel, reason and body; read in pages of 3.
    let letters = all_dead_letters(&app, &admin, 3).await;
    let seen: Vec<(&str, &str, &str)> = letters
        .iter()
        .map(|letter| {
            (
                letter["channel"].as_str().expect("a channel"),
                letter["reason"].as_str().expect("a reason"),
                letter["event_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("whatsapp", "unsupported", "wamid.REACTION0001"),
            ("whatsapp", "unknown_shape", "wamid.ODD0001"),
            ("whatsapp", "malformed", ""),
            ("telegram", "unsupported", "520000010"),
            ("telegram", "unsupported", "520000008"),
            ("telegram", "unknown_shape", "520000100"),
            ("telegram", "malformed", ""),
            ("slack", "unsupported", "EvREACT1"),
            ("slack", "unknown_shape", "Ev0000000009"),
            ("slack", "malformed", ""),
        ],
        "{letters:#?}"
    );
    let inbox_of = |channel: &str| match channel {
        "slack" => &slack,
        "telegram" => &telegram,
        _ => &whatsapp,
    };
    for letter in &letters {
        assert_eq!(
            letter["inbox_id"],
            inbox_of(letter["channel"].as_str().unwrap_or("")).as_str()
        );
        assert!(
            !letter["detail"].as_str().unwrap_or("").is_empty(),
            "{letter}"
        );
    }
    let cut = &letters[9];
    assert_eq!(cut["body_bytes"], 100 * 1024);
    assert_eq!(cut["body"].as_str().map(str::len), Some(64 * 1024));
    assert_eq!(
        letters[5]["body"],
        String::from_utf8_lossy(odd_update).as_ref()
    );
    assert!(
        letters[1]["body"]
            .as_str()
            .is_some_and(|body| body.contains("wamid.FINE0001")),
        "the whole request is kept"
    );
    assert!(app.metric(malformed_telegram).await > counted_before);

    // What was readable beside a dead letter is stored as usual; nothing else became a message.
    let (_, listed) = app
        .get(
            &admin,
            &format!("/api/v1/conversations?inbox_id={whatsapp}"),
        )
        .await;
    assert_eq!(listed["conversations"].as_array().map(Vec::len), Some(1));
    for inbox in [&slack, &telegram] {
        let (_, listed) = app
            .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
            .await;
        assert_eq!(listed["conversations"], json!([]), "{inbox}");
    }

    // Admins only; another organization sees none of them.
    let agent = app.user_token(&admin, "support_agent").await;
    let (status, _) = app.get(&agent, "/api/v1/dead-letters").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let manager = app.user_token(&admin, "support_manager").await;
    let (status, _) = app.get(&manager, "/api/v1/dead-letters").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let globex = app.second_organization().await;
    assert!(all_dead_letters(&app, &globex, 50).await.is_empty());
    app.stop().await;
}
