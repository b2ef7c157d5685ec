//! Slack, WhatsApp and Telegram end to end: the real hub on loopback, each platform's webhooks
//! signed as the platform signs them, and a fake platform API on loopback that checks what the
//! hub sends — verified requests stored once, forged and stale ones refused with nothing
//! stored, echoes ignored, agents' replies delivered through the outbox with the documented
//! body and credentials, 429 / 5xx retried, permanent errors shown as failed messages.

mod support;

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::{ChannelKind, Clock, MessageRole, Secret};
use switchboard_store::NewMessage;
use switchboard_testkit::{FakePlatform, FakeResponse, TestDatabase, backend_tests};

backend_tests!(
    slack_end_to_end,
    whatsapp_end_to_end,
    telegram_end_to_end,
    a_reply_that_may_have_gone_out_before_a_crash_is_not_sent_again,
    webhook_registration_is_per_channel,
);

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
const WA_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
const WA_TOKEN: &str = "EAAJB3m8Xb2gBO0ZBtestaccesstoken";
const WA_PHONE_ID: &str = "106540352242922";
const TG_TOKEN: &str = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
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

async fn conversations(app: &TestApp, admin: &str, inbox_id: &str) -> Vec<Value> {
    let (status, body) = app
        .get(admin, &format!("/api/v1/conversations?inbox_id={inbox_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn messages(app: &TestApp, admin: &str, conversation_id: &str) -> Vec<Value> {
    let (_, body) = app
        .get(admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    body["messages"].as_array().cloned().unwrap_or_default()
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (StatusCode, String) {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("sends");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// An agent's reply, then the message as it stands once the outbox is done with it.
async fn reply_and_wait(app: &TestApp, admin: &str, conversation_id: &str, text: &str) -> Value {
    let (status, message) = app
        .post(
            admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": text }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let id = message["id"].as_str().expect("an id").to_owned();
    let body = app
        .wait_for(admin, conversation_id, |body| {
            body["messages"].as_array().into_iter().flatten().any(|m| {
                m["id"] == id.as_str()
                    && ["sent", "failed"].contains(&m["delivery_status"].as_str().unwrap_or(""))
            })
        })
        .await;
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == id.as_str())
        .cloned()
        .expect("the reply")
}

// ----- Slack -----

fn slack_headers(body: &[u8], at: i64) -> Vec<(&'static str, String)> {
    let timestamp = at.to_string();
    vec![
        ("x-slack-request-timestamp", timestamp.clone()),
        (
            "x-slack-signature",
            switchboard_slack::sign(&Secret::new(SLACK_SECRET), &timestamp, body),
        ),
    ]
}

/// `switchboard_inbound_dropped_total{channel="slack",reason="unknown_shape"}` on `/metrics`
/// (the recorder is the process's: other tests may add to it, never take from it).
async fn ignored_webhooks(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "switchboard_inbound_dropped_total{channel=\"slack\",reason=\"unknown_shape\"} ",
            )
        })
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

async fn slack_end_to_end(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let slack = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "channel": "C2147483705", "ts": "1700000400.000900",
                "message": { "type": "message", "text": "ok", "ts": "1700000400.000900" } }),
    ))
    .await;
    let inbox = create_inbox(
        &app,
        &admin,
        "slack",
        json!({ "signing_secret": SLACK_SECRET, "bot_token": SLACK_TOKEN, "api_base_url": slack.url() }),
    )
    .await;
    let hook = format!("/webhooks/slack/{inbox}");
    let now = Utc::now().timestamp();

    // The URL check is answered only when it is signed.
    let challenge = include_bytes!("../../../fixtures/slack/url_verification.json");
    let (status, body) = post_raw(&app, &hook, &slack_headers(challenge, now), challenge).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::OK,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        )
    );
    let (status, body) = post_raw(&app, &hook, &[], challenge).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("3eZbrw1a"));

    // Forged, tampered and stale requests: 401 and nothing stored.
    let first = include_bytes!("../../../fixtures/slack/message_channel.json");
    let mut forged = slack_headers(first, now);
    forged[1].1 = switchboard_slack::sign(&Secret::new("not the secret"), &now.to_string(), first);
    assert_eq!(
        post_raw(&app, &hook, &forged, first).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = first.to_vec();
    tampered[40] ^= 1;
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(first, now), &tampered)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(first, now - 6 * 60), first)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(first, now + 6 * 60), first)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(conversations(&app, &admin, &inbox).await.is_empty());

    // Stored once, whatever Slack's retries.
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(first, now), first)
            .await
            .0,
        StatusCode::OK
    );
    let mut retry = slack_headers(first, now + 1);
    retry.push(("x-slack-retry-num", "1".into()));
    retry.push(("x-slack-retry-reason", "http_timeout".into()));
    assert_eq!(post_raw(&app, &hook, &retry, first).await.0, StatusCode::OK);
    // The reply in the thread joins the same conversation; our own bot's echo is ignored.
    for fixture in [
        &include_bytes!("../../../fixtures/slack/message_thread_reply.json")[..],
        &include_bytes!("../../../fixtures/slack/message_from_our_bot.json")[..],
        &include_bytes!("../../../fixtures/slack/message_changed.json")[..],
    ] {
        assert_eq!(
            post_raw(&app, &hook, &slack_headers(fixture, now), fixture)
                .await
                .0,
            StatusCode::OK
        );
    }
    // A message in a shape the connector does not read: acknowledged (Slack would only send it
    // again), stored as no message, and counted rather than dropped in silence (issue 23,
    // finding 10; `tests/dead_letters.rs` lists it).
    let ignored_before = ignored_webhooks(&app).await;
    let unknown = include_bytes!("../../../fixtures/slack/message_in_an_unknown_shape.json");
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(unknown, now), unknown)
            .await
            .0,
        StatusCode::OK
    );
    assert!(ignored_webhooks(&app).await > ignored_before);
    let listed = conversations(&app, &admin, &inbox).await;
    assert_eq!(listed.len(), 1, "one thread, one conversation");
    let conversation_id = listed[0]["id"].as_str().expect("an id").to_owned();
    let texts: Vec<_> = messages(&app, &admin, &conversation_id)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "Hi, my invoice shows the wrong VAT number.",
            "It is VAT GB123456789, not the old one."
        ]
    );
    // A DM is its own conversation.
    let dm = include_bytes!("../../../fixtures/slack/message_im.json");
    assert_eq!(
        post_raw(&app, &hook, &slack_headers(dm, now), dm).await.0,
        StatusCode::OK
    );
    assert_eq!(conversations(&app, &admin, &inbox).await.len(), 2);

    // The agent's reply goes to chat.postMessage in the thread, with the bot token.
    let sent = reply_and_wait(
        &app,
        &admin,
        &conversation_id,
        "We have corrected the VAT number.",
    )
    .await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    assert_eq!(sent["channel_message_id"], "C2147483705:1700000400.000900");
    let requests = slack.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/chat.postMessage");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {SLACK_TOKEN}").as_str())
    );
    assert_eq!(
        requests[0].json(),
        json!({ "channel": "C2147483705", "text": "We have corrected the VAT number.", "thread_ts": "1700000000.000100" })
    );
    // Slack echoes our message back as an event: it is already stored, so nothing new appears.
    let echo = json!({ "type": "event_callback", "team_id": "T061EG9R6", "api_app_id": "A0PNCHHK2",
        "event_id": "Ev0ECHO", "event_time": 1700000400,
        "event": { "type": "message", "channel": "C2147483705", "user": "U0SOMEONE", "text": "We have corrected the VAT number.",
                   "ts": "1700000400.000900", "thread_ts": "1700000000.000100", "channel_type": "channel" } })
    .to_string();
    assert_eq!(
        post_raw(
            &app,
            &hook,
            &slack_headers(echo.as_bytes(), now),
            echo.as_bytes()
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(messages(&app, &admin, &conversation_id).await.len(), 3);

    // Rate limited, then accepted: retried after Slack's Retry-After.
    slack.respond_next(
        FakeResponse::json(429, json!({ "ok": false, "error": "ratelimited" }))
            .with_header("retry-after", "1"),
    );
    // Slack gives every message its own ts (and the hub stores each id once).
    slack.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "channel": "C2147483705", "ts": "1700000500.000100", "message": { "type": "message", "text": "ok", "ts": "1700000500.000100" } }),
    ));
    let started = std::time::Instant::now();
    let sent = reply_and_wait(&app, &admin, &conversation_id, "Anything else?").await;
    assert_eq!(sent["delivery_status"], "sent");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(slack.requests().len(), 3);

    // `ok: false` with HTTP 200 is a failure; channel_not_found is permanent.
    slack.respond_next(FakeResponse::json(
        200,
        json!({ "ok": false, "error": "channel_not_found" }),
    ));
    let failed = reply_and_wait(&app, &admin, &conversation_id, "Hello?").await;
    assert_eq!(failed["delivery_status"], "failed");
    assert!(
        failed["delivery_error"]
            .as_str()
            .unwrap_or("")
            .contains("channel_not_found"),
        "{failed}"
    );
    assert_eq!(
        slack.requests().len(),
        4,
        "a permanent error is not retried"
    );
    app.stop().await;
}

// ----- WhatsApp -----

fn wa_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![(
        "x-hub-signature-256",
        switchboard_whatsapp::sign(&Secret::new(WA_SECRET), body),
    )]
}

async fn whatsapp_end_to_end(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let meta = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "messaging_product": "whatsapp", "contacts": [{ "input": "16315551181", "wa_id": "16315551181" }],
                "messages": [{ "id": "wamid.OURS0001" }] }),
    ))
    .await;
    let inbox = create_inbox(
        &app,
        &admin,
        "whatsapp",
        json!({ "app_secret": WA_SECRET, "verify_token": "meta-verify-me", "access_token": WA_TOKEN,
                "phone_number_id": WA_PHONE_ID, "api_base_url": meta.url() }),
    )
    .await;
    let hook = format!("/webhooks/whatsapp/{inbox}");

    // Meta's GET check: the challenge echoed as text with our token, 403 otherwise.
    let response = app
        .client
        .get(app.url(&format!(
            "{hook}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-me"
        )))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.expect("text"), "1158201444");
    let response = app
        .client
        .get(app.url(&format!(
            "{hook}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess"
        )))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Other channels have no GET check.
    let slack_inbox = create_inbox(
        &app,
        &admin,
        "slack",
        json!({ "signing_secret": "s", "bot_token": "t" }),
    )
    .await;
    let response = app
        .client
        .get(app.url(&format!("/webhooks/slack/{slack_inbox}")))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Unsigned and forged: 401, nothing stored.
    let text = include_bytes!("../../../fixtures/whatsapp/text.json");
    assert_eq!(
        post_raw(&app, &hook, &[], text).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_raw(
            &app,
            &hook,
            &[("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))],
            text
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(conversations(&app, &admin, &inbox).await.is_empty());

    // Stored once, with the contact's profile name; an echo of the business's side is ignored.
    for _ in 0..2 {
        assert_eq!(
            post_raw(&app, &hook, &wa_headers(text), text).await.0,
            StatusCode::OK
        );
    }
    let echo = include_bytes!("../../../fixtures/whatsapp/message_echo.json");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(echo), echo).await.0,
        StatusCode::OK
    );
    let image = include_bytes!("../../../fixtures/whatsapp/image.json");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(image), image).await.0,
        StatusCode::OK
    );
    let listed = conversations(&app, &admin, &inbox).await;
    assert_eq!(listed.len(), 1);
    let conversation_id = listed[0]["id"].as_str().expect("an id").to_owned();
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(detail["contact"]["name"], "Kerry Fisher");
    assert_eq!(detail["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        detail["messages"][1]["attachments"][0]["url"],
        format!("{}/v21.0/1003383421387256", meta.url())
    );
    assert_eq!(detail["reply_window"]["open"], true, "{detail}");
    assert!(detail["reply_window"]["closes_at"].is_string());

    // The reply (the window is open: the hub told the connector when the customer wrote).
    let sent = reply_and_wait(&app, &admin, &conversation_id, "It ships tomorrow.").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    assert_eq!(sent["channel_message_id"], "wamid.OURS0001");
    let request = &meta.requests()[0];
    assert_eq!(request.path, format!("/v21.0/{WA_PHONE_ID}/messages"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {WA_TOKEN}").as_str())
    );
    assert_eq!(
        request.json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16315551181",
                "type": "text", "text": { "preview_url": false, "body": "It ships tomorrow." } })
    );

    // Statuses move it forward; a late `sent` does not move it back.
    let delivered = include_bytes!("../../../fixtures/whatsapp/status_delivered.json");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(delivered), delivered)
            .await
            .0,
        StatusCode::OK
    );
    let read = String::from_utf8_lossy(delivered).replace("\"delivered\"", "\"read\"");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(read.as_bytes()), read.as_bytes())
            .await
            .0,
        StatusCode::OK
    );
    let late = String::from_utf8_lossy(delivered).replace("\"delivered\"", "\"sent\"");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(late.as_bytes()), late.as_bytes())
            .await
            .0,
        StatusCode::OK
    );
    let status_of = |messages: &[Value], id: &str| {
        messages
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["delivery_status"].clone())
    };
    let id = sent["id"].as_str().expect("an id");
    assert_eq!(
        status_of(&messages(&app, &admin, &conversation_id).await, id),
        Some(json!("read"))
    );

    // A 5xx, then accepted: retried.
    meta.respond_next(FakeResponse::json(
        500,
        json!({ "error": { "message": "An unknown error occurred", "code": 1 } }),
    ));
    meta.respond_next(FakeResponse::json(
        200,
        json!({ "messages": [{ "id": "wamid.OURS0002" }] }),
    ));
    let sent = reply_and_wait(&app, &admin, &conversation_id, "Tracking: ZX123.").await;
    assert_eq!(sent["delivery_status"], "sent");
    assert_eq!(sent["channel_message_id"], "wamid.OURS0002");
    assert_eq!(meta.requests().len(), 3);
    // Meta reports it failed later: shown with its reason.
    let failed = include_bytes!("../../../fixtures/whatsapp/status_failed.json");
    assert_eq!(
        post_raw(&app, &hook, &wa_headers(failed), failed).await.0,
        StatusCode::OK
    );
    let after = messages(&app, &admin, &conversation_id).await;
    let reported = after
        .iter()
        .find(|m| m["channel_message_id"] == "wamid.OURS0002")
        .expect("the reply");
    assert_eq!(reported["delivery_status"], "failed");
    assert!(
        reported["delivery_error"]
            .as_str()
            .unwrap_or("")
            .contains("131047")
    );

    // A permanent refusal is a failed message.
    meta.respond_next(FakeResponse::json(
        400,
        json!({ "error": { "message": "(#100) Invalid parameter", "code": 100 } }),
    ));
    let refused = reply_and_wait(&app, &admin, &conversation_id, "Hello?").await;
    assert_eq!(refused["delivery_status"], "failed");
    assert!(
        refused["delivery_error"]
            .as_str()
            .unwrap_or("")
            .contains("Invalid parameter"),
        "{refused}"
    );
    app.stop().await;
}

// ----- Telegram -----

async fn telegram_end_to_end(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let telegram = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": 1400, "date": 1700001000, "chat": { "id": 1111111, "type": "private" },
                "text": "ok" } }),
    ))
    .await;
    let inbox = create_inbox(
        &app,
        &admin,
        "telegram",
        json!({ "bot_token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": telegram.url() }),
    )
    .await;
    let hook = format!("/webhooks/telegram/{inbox}");
    let secret = [("x-telegram-bot-api-secret-token", TG_SECRET.to_owned())];

    let first = include_bytes!("../../../fixtures/telegram/message_private.json");
    assert_eq!(
        post_raw(&app, &hook, &[], first).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_raw(
            &app,
            &hook,
            &[("x-telegram-bot-api-secret-token", "guess".into())],
            first
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(conversations(&app, &admin, &inbox).await.is_empty());

    // The same update twice is one message; an edit is a second one, also once.
    for fixture in [
        &first[..],
        &first[..],
        &include_bytes!("../../../fixtures/telegram/edited_message.json")[..],
        &include_bytes!("../../../fixtures/telegram/edited_message.json")[..],
        &include_bytes!("../../../fixtures/telegram/message_reply.json")[..],
        &include_bytes!("../../../fixtures/telegram/message_from_a_bot.json")[..],
        &include_bytes!("../../../fixtures/telegram/callback_query.json")[..],
    ] {
        assert_eq!(
            post_raw(&app, &hook, &secret, fixture).await.0,
            StatusCode::OK
        );
    }
    let listed = conversations(&app, &admin, &inbox).await;
    assert_eq!(listed.len(), 1, "one chat, one conversation");
    let conversation_id = listed[0]["id"].as_str().expect("an id").to_owned();
    let texts: Vec<_> = messages(&app, &admin, &conversation_id)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "Hello, my card was charged twice.",
            "(edited) Hello, my card was charged three times.",
            "> Sorry about that! Were both charges on the same day?\nYes, both on Monday."
        ]
    );

    let sent = reply_and_wait(
        &app,
        &admin,
        &conversation_id,
        "We have refunded one charge.",
    )
    .await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    assert_eq!(sent["channel_message_id"], "1111111:1400");
    let request = &telegram.requests()[0];
    assert_eq!(request.path, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(
        request.json(),
        json!({ "chat_id": 1111111, "text": "We have refunded one charge." })
    );

    // 429 with parameters.retry_after, then accepted.
    telegram.respond_next(FakeResponse::json(
        429,
        json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } }),
    ));
    // Telegram gives every message its own id (and the hub stores each id once).
    telegram.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": 1401, "date": 1700001100, "chat": { "id": 1111111, "type": "private" } } }),
    ));
    let started = std::time::Instant::now();
    let sent = reply_and_wait(&app, &admin, &conversation_id, "Anything else?").await;
    assert_eq!(sent["delivery_status"], "sent");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(telegram.requests().len(), 3);

    telegram.respond_next(FakeResponse::json(
        400,
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: chat not found" }),
    ));
    let failed = reply_and_wait(&app, &admin, &conversation_id, "Hello?").await;
    assert_eq!(failed["delivery_status"], "failed");
    let reason = failed["delivery_error"].as_str().unwrap_or("");
    assert!(reason.contains("chat not found"), "{reason}");
    assert!(!reason.contains(TG_TOKEN));
    app.stop().await;
}

/// The crash soak's case (`switchboard-bench soak`): a worker hands a reply to Telegram and
/// dies before it writes down the answer. Telegram takes no idempotency key, so whoever takes
/// the job over cannot tell whether the customer has it: the reply is marked failed for an
/// agent to check rather than sent a second time.
async fn a_reply_that_may_have_gone_out_before_a_crash_is_not_sent_again(db: TestDatabase) {
    let clock = Clock::manual(Utc::now());
    // The outbox looks for due jobs only when woken, so that the dead worker below claims first.
    let app = TestApp::spawn_quiet_with_clock(
        db,
        |db| switchboard::Settings {
            delivery_poll_ms: 3_600_000,
            ..support::settings(db)
        },
        clock.clone(),
    )
    .await;
    let admin = app.admin().await;
    let telegram = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": 1400, "date": 1700001000, "chat": { "id": 1111111, "type": "private" } } }),
    ))
    .await;
    let inbox = create_inbox(
        &app,
        &admin,
        "telegram",
        json!({ "bot_token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": telegram.url() }),
    )
    .await;
    let secret = [("x-telegram-bot-api-secret-token", TG_SECRET.to_owned())];
    let update = include_bytes!("../../../fixtures/telegram/message_private.json");
    let (status, _) = post_raw(
        &app,
        &format!("/webhooks/telegram/{inbox}"),
        &secret,
        update,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed = conversations(&app, &admin, &inbox).await;
    let conversation_id = listed[0]["id"].as_str().expect("an id");
    let org_id = listed[0]["org_id"].as_str().expect("an org");

    // A worker claims an agent's reply, sends it (or not) and dies: its lease runs out.
    let store = &app.state.store;
    let (_, in_doubt) = store
        .append_message(
            org_id,
            conversation_id,
            NewMessage {
                role: MessageRole::Agent,
                private: false,
                text: "We have refunded one charge.".into(),
                author_id: None,
                mentions: Vec::new(),
                attachments: Vec::new(),
                sources: Vec::new(),
                confidence: None,
                model: None,
                tokens: None,
            },
        )
        .await
        .expect("stored");
    let claimed = store
        .claim_jobs(&[ChannelKind::Telegram], 10, Duration::from_secs(30))
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 1);
    clock.advance(chrono::Duration::seconds(60));

    // The next reply wakes the outbox, which finds the lapsed job beside it.
    let sent = reply_and_wait(&app, &admin, conversation_id, "Anything else?").await;
    assert_eq!(sent["delivery_status"], "sent", "{sent}");
    let detail = app
        .wait_for(&admin, conversation_id, |body| {
            body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["id"] == in_doubt.id.as_str() && m["delivery_status"] == "failed")
        })
        .await;
    let texts: Vec<Value> = telegram
        .requests()
        .iter()
        .map(|request| request.json()["text"].clone())
        .collect();
    assert_eq!(texts, [json!("Anything else?")], "nothing sent twice");
    let failed = detail["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == in_doubt.id.as_str())
        .expect("the reply in doubt");
    let reason = failed["delivery_error"].as_str().unwrap_or_default();
    assert!(reason.contains("may or may not have reached"), "{reason}");
    app.stop().await;
}

async fn webhook_registration_is_per_channel(db: TestDatabase) {
    let app = TestApp::spawn_quiet_with(db, |db| switchboard::Settings {
        public_url: Some("https://hub.example.com/".into()),
        ..support::settings(db)
    })
    .await;
    let admin = app.admin().await;
    let telegram = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": true }),
    ))
    .await;
    let inbox = create_inbox(
        &app,
        &admin,
        "telegram",
        json!({ "bot_token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": telegram.url() }),
    )
    .await;
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/inboxes/{inbox}/register-webhook"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = format!("https://hub.example.com/webhooks/telegram/{inbox}");
    assert_eq!(body["webhook_url"], url.as_str());
    assert_eq!(
        telegram.requests()[0].json(),
        json!({ "url": url, "secret_token": TG_SECRET, "allowed_updates": ["message", "edited_message"] })
    );
    // Telegram's refusal: its status for the admin, its words for the hub's log only.
    telegram.respond_next(FakeResponse::json(
        400,
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: bad webhook: HTTPS url must be provided for webhook" }),
    ));
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/inboxes/{inbox}/register-webhook"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "platform_refused");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("400"), "{body}");
    assert!(!message.contains("HTTPS url"), "{body}");

    // Slack's Events URL is set in Slack's console.
    let slack = create_inbox(
        &app,
        &admin,
        "slack",
        json!({ "signing_secret": "s", "bot_token": "t" }),
    )
    .await;
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/inboxes/{slack}/register-webhook"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "not_supported");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("/webhooks/slack/{slack}"))
    );
    // Agents may not; unknown inboxes are 404.
    let agent = app.user_token(&admin, "support_agent").await;
    let (status, _) = app
        .post(
            &agent,
            &format!("/api/v1/inboxes/{inbox}/register-webhook"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(&admin, "/api/v1/inboxes/nope/register-webhook", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
