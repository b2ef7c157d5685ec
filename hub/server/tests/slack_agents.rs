//! The Slack agent desk end to end: a conversation on another channel escalates and is
//! mirrored into the desk's agent channel (the fake Slack checks the documented
//! `chat.postMessage` with the bot token); the customer's next message lands in the thread;
//! agents' thread replies, signed as Slack signs events, reach the customer on their own
//! channel (once, whatever Slack's retries), `note:` stays internal, and forged requests,
//! strangers, top-level chatter and our bot's own echo change nothing.

mod support;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::Secret;
use switchboard_testkit::{
    FakePlatform, FakeResponse, RecordedRequest, TestDatabase, backend_tests,
};

backend_tests!(
    escalations_are_mirrored_and_agents_answer_from_slack,
    the_agent_channel_must_be_a_channel_id,
);

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TOKEN: &str = "xoxb-17653672481-19874698323-deskDeskDesk";
const AGENT_CHANNEL: &str = "C0AGENTS";
const THREAD_TS: &str = "1700000500.000100";
const OUR_BOT: &str = "U0BOTUSER1";
const AGENT_SLACK_ID: &str = "UAGENT0001";
const STRANGER_SLACK_ID: &str = "USTRANGER1";
const AGENT_EMAIL: &str = "dana@acme.test";

/// Slack's answer to `chat.postMessage`, with the `ts` it gave the new message.
fn posted(ts: &str) -> FakeResponse {
    FakeResponse::json(
        200,
        json!({ "ok": true, "channel": AGENT_CHANNEL, "ts": ts,
                "message": { "type": "message", "text": "…", "ts": ts } }),
    )
}

/// `users.info` as Slack documents it, trimmed to what matters.
fn user_info(id: &str, email: &str) -> FakeResponse {
    FakeResponse::json(
        200,
        json!({ "ok": true, "user": { "id": id, "team_id": "T061EG9R6", "name": "dana",
                "deleted": false, "is_bot": false,
                "profile": { "real_name": "Dana", "display_name": "dana", "email": email } } }),
    )
}

/// A `message` event callback in the agent channel, in the shape of Slack's Events API.
fn thread_event(user: &str, ts: &str, thread_ts: Option<&str>, text: &str) -> Vec<u8> {
    let mut event = json!({
        "type": "message",
        "channel": AGENT_CHANNEL,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel"
    });
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
        event["parent_user_id"] = json!(OUR_BOT);
    }
    json!({
        "token": "one-long-verification-token",
        "team_id": "T061EG9R6",
        "api_app_id": "A0PNCHHK2",
        "event": event,
        "type": "event_callback",
        "authorizations": [{ "team_id": "T061EG9R6", "user_id": OUR_BOT, "is_bot": true }],
        "event_id": format!("Ev{}", ts.replace('.', "")),
        "event_time": 1700000600
    })
    .to_string()
    .into_bytes()
}

async fn post_event(app: &TestApp, inbox: &str, body: &[u8], secret: &str) -> StatusCode {
    let timestamp = Utc::now().timestamp().to_string();
    app.client
        .post(app.url(&format!("/webhooks/slack/{inbox}")))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &timestamp)
        .header(
            "x-slack-signature",
            switchboard_slack::sign(&Secret::new(secret), &timestamp, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("sends")
        .status()
}

fn posts(slack: &FakePlatform) -> Vec<RecordedRequest> {
    slack
        .requests()
        .into_iter()
        .filter(|request| request.path == "/chat.postMessage")
        .collect()
}

/// Waits until the fake Slack got `count` posts, and returns them.
async fn wait_for_posts(slack: &FakePlatform, count: usize) -> Vec<RecordedRequest> {
    for _ in 0..400 {
        let posts = posts(slack);
        if posts.len() >= count {
            return posts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("Slack got {} posts, expected {count}", posts(slack).len());
}

async fn create_inbox(app: &TestApp, admin: &str, config: Value) -> (StatusCode, Value) {
    app.post(
        admin,
        "/api/v1/inboxes",
        json!({ "name": "Agent desk", "channel": "slack", "config": config }),
    )
    .await
}

fn agent_messages(detail: &Value) -> Vec<Value> {
    detail["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["role"] == "agent")
        .cloned()
        .collect()
}

async fn escalations_are_mirrored_and_agents_answer_from_slack(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let slack = FakePlatform::start(posted("1700000999.000999")).await;
    slack.respond_to(
        &format!("/users.info?user={AGENT_SLACK_ID}"),
        user_info(AGENT_SLACK_ID, "Dana@Acme.test"),
    );
    slack.respond_to(
        &format!("/users.info?user={STRANGER_SLACK_ID}"),
        user_info(STRANGER_SLACK_ID, "someone@elsewhere.test"),
    );
    let (status, agent) = app
        .post(
            &admin,
            "/api/v1/users",
            json!({ "email": AGENT_EMAIL, "name": "Dana Agent", "role": "support_agent",
                    "password": "long enough" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_id = agent["id"].as_str().expect("an id").to_owned();
    // The organization's customers write before it has a desk: the hub remembers it has none…
    let customer_inbox = app.test_inbox(&admin, json!({})).await;
    let early = json!({ "thread": "t-0", "from": "sam@customer.test", "id": "m-early",
                        "text": "Hi, just looking" });
    assert_eq!(
        app.webhook(&customer_inbox, "s3cret", early).await,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, desk) = create_inbox(
        &app,
        &admin,
        json!({ "signing_secret": SECRET, "bot_token": TOKEN, "api_base_url": slack.url(),
                "agent_channel": AGENT_CHANNEL }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{desk}");
    assert_eq!(desk["config"]["agent_channel"], AGENT_CHANNEL);
    let desk = desk["id"].as_str().expect("an id").to_owned();
    // …for a few seconds only: then the desk is seen.
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;

    // A first message, with no thread in the desk: the desk remembers that, and must forget
    // it when the conversation escalates.
    for (id, text) in [("m-0", "Hello there"), ("m-0b", "Anyone?")] {
        let hello = json!({ "thread": "t-1", "from": "pat@customer.test", "id": id,
                            "text": text });
        assert_eq!(
            app.webhook(&customer_inbox, "s3cret", hello).await,
            StatusCode::OK
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The customer asks for a person on their channel: the conversation escalates and the
    // desk gets a top-level post with the handoff.
    slack.respond_next(posted(THREAD_TS));
    let asked = json!({ "thread": "t-1", "from": "pat@customer.test", "id": "m-1",
                        "text": "My invoice is wrong, I want to talk to a human please" });
    assert_eq!(
        app.webhook(&customer_inbox, "s3cret", asked).await,
        StatusCode::OK
    );
    let (_, list) = app
        .get(
            &admin,
            &format!("/api/v1/conversations?inbox_id={customer_inbox}"),
        )
        .await;
    let conversation = list["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|conversation| conversation["status"] == "escalated")
        .and_then(|conversation| conversation["id"].as_str())
        .unwrap_or_else(|| panic!("the escalated conversation in {list}"))
        .to_owned();
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(detail["conversation"]["status"], "escalated", "{detail}");
    let first = wait_for_posts(&slack, 1).await;
    let escalation = &first[0];
    assert_eq!(
        escalation.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = escalation.json();
    assert_eq!(body["channel"], AGENT_CHANNEL);
    assert!(body.get("thread_ts").is_none_or(Value::is_null), "{body}");
    let text = body["text"].as_str().expect("text");
    assert!(text.contains("pat@customer.test"), "{text}");
    assert!(text.contains("freshdesk"), "{text}");
    assert!(text.contains(&format!("#/inbox/{conversation}")), "{text}");
    assert!(text.contains("First response due"), "{text}");
    for line in detail["handoff"]["summary"].as_array().expect("a summary") {
        let line = line.as_str().expect("a line");
        let escaped = line
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(text.contains(&escaped), "{line} in {text}");
    }

    // The customer's next message goes into the thread.
    slack.respond_next(posted("1700000510.000100"));
    let more = json!({ "thread": "t-1", "from": "pat@customer.test", "id": "m-2",
                       "text": "It is invoice 4711 <urgent>" });
    assert_eq!(
        app.webhook(&customer_inbox, "s3cret", more).await,
        StatusCode::OK
    );
    let in_thread = wait_for_posts(&slack, 2).await[1].json();
    assert_eq!(in_thread["channel"], AGENT_CHANNEL);
    assert_eq!(in_thread["thread_ts"], THREAD_TS);
    let text = in_thread["text"].as_str().expect("text");
    assert!(text.contains("It is invoice 4711 &lt;urgent&gt;"), "{text}");

    // A forged event: 401, nothing stored.
    let reply = thread_event(
        AGENT_SLACK_ID,
        "1700000600.000100",
        Some(THREAD_TS),
        "We have refunded invoice 4711.",
    );
    assert_eq!(
        post_event(&app, &desk, &reply, "not the secret").await,
        StatusCode::UNAUTHORIZED
    );
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert!(agent_messages(&detail).is_empty());

    // The agent's reply in the thread reaches the customer on their own channel, authored by
    // the Switchboard user with the same email, who now has the conversation.
    assert_eq!(
        post_event(&app, &desk, &reply, SECRET).await,
        StatusCode::OK
    );
    let detail = app
        .wait_for(&admin, &conversation, |body| {
            agent_messages(body)
                .iter()
                .any(|message| message["delivery_status"] == "sent")
        })
        .await;
    let replies = agent_messages(&detail);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["text"], "We have refunded invoice 4711.");
    assert_eq!(replies[0]["author_id"], agent_id.as_str());
    assert_eq!(replies[0]["private"], false);
    assert_eq!(detail["conversation"]["assignee_id"], agent_id.as_str());
    assert_eq!(detail["conversation"]["status"], "assigned");
    assert!(
        detail["sla"]["first_response_at"].is_string(),
        "{}",
        detail["sla"]
    );
    let delivered: Vec<_> = app
        .deliveries
        .attempts()
        .into_iter()
        .filter(|attempt| attempt.conversation_id == conversation)
        .collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].text, "We have refunded invoice 4711.");

    // Slack retries the same event: still one reply.
    assert_eq!(
        post_event(&app, &desk, &reply, SECRET).await,
        StatusCode::OK
    );

    // `note:` keeps it among agents.
    let note = thread_event(
        AGENT_SLACK_ID,
        "1700000610.000100",
        Some(THREAD_TS),
        "Note: VIP, refund approved by finance",
    );
    assert_eq!(post_event(&app, &desk, &note, SECRET).await, StatusCode::OK);

    // A stranger in the thread is told how to become an agent, and nothing is stored.
    slack.respond_next(posted("1700000620.000200"));
    let stranger = thread_event(
        STRANGER_SLACK_ID,
        "1700000620.000100",
        Some(THREAD_TS),
        "I can answer that!",
    );
    assert_eq!(
        post_event(&app, &desk, &stranger, SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        post_event(&app, &desk, &stranger, SECRET).await,
        StatusCode::OK
    );
    let refusal = wait_for_posts(&slack, 3).await[2].json();
    assert_eq!(refusal["thread_ts"], THREAD_TS);
    assert!(
        refusal["text"]
            .as_str()
            .is_some_and(|text| text.starts_with("Only Switchboard agents can answer here")),
        "{refusal}"
    );

    // Our bot's own post coming back, and chatter outside the threads, are ignored.
    let mut echo: Value = serde_json::from_slice(&thread_event(
        OUR_BOT,
        "1700000630.000100",
        Some(THREAD_TS),
        "*Pat*: hi",
    ))
    .expect("json");
    echo["event"]["bot_id"] = json!("B0BOT00001");
    let echo = echo.to_string().into_bytes();
    assert_eq!(post_event(&app, &desk, &echo, SECRET).await, StatusCode::OK);
    let chatter = thread_event(AGENT_SLACK_ID, "1700000640.000100", None, "Lunch anyone?");
    assert_eq!(
        post_event(&app, &desk, &chatter, SECRET).await,
        StatusCode::OK
    );
    let other_thread = thread_event(
        AGENT_SLACK_ID,
        "1700000650.000100",
        Some("1600000000.000100"),
        "Replying to something else",
    );
    assert_eq!(
        post_event(&app, &desk, &other_thread, SECRET).await,
        StatusCode::OK
    );

    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    let agent_side = agent_messages(&detail);
    assert_eq!(
        agent_side.len(),
        2,
        "one reply and one note: {agent_side:?}"
    );
    let note = agent_side
        .iter()
        .find(|message| message["private"] == true)
        .expect("the note");
    assert_eq!(note["text"], "VIP, refund approved by finance");
    assert_eq!(note["author_id"], agent_id.as_str());
    assert_eq!(note["delivery_status"], "internal");
    // Nothing became a conversation of the desk inbox itself.
    let (_, desk_conversations) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={desk}"))
        .await;
    assert_eq!(desk_conversations["conversations"], json!([]));
    // The reply was audited as the agent's.
    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=100").await;
    let audited = audit["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["action"] == "message.reply")
        .filter(|entry| entry["actor"] == format!("user:{agent_id}").as_str())
        .count();
    assert_eq!(audited, 1, "{audit}");

    // An agent's reply from the inbox goes into the thread too; the Slack reply, the note
    // and the retries were never posted back.
    slack.respond_next(posted("1700000700.000100"));
    let dana = app.login(AGENT_EMAIL, "long enough").await;
    let (status, _) = app
        .post(
            &dana,
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({ "text": "Anything else?" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let all = wait_for_posts(&slack, 4).await;
    let from_inbox = all[3].json();
    assert_eq!(from_inbox["thread_ts"], THREAD_TS);
    assert_eq!(from_inbox["text"], "*Dana Agent*: Anything else?");
    // The deliveries the note must never have: one reply and the inbox reply only.
    let delivered = || {
        app.deliveries
            .attempts()
            .into_iter()
            .filter(|attempt| attempt.conversation_id == conversation)
            .count()
    };
    support::eventually("the inbox reply is delivered", || {
        (delivered() >= 2).then_some(())
    })
    .await;
    assert_eq!(delivered(), 2);
    // Resolving says so in the thread, in the next post: nothing else was posted before it.
    slack.respond_next(posted("1700000800.000100"));
    let (status, _) = app
        .post(
            &dana,
            &format!("/api/v1/conversations/{conversation}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let all = wait_for_posts(&slack, 5).await;
    assert_eq!(all.len(), 5, "nothing else was posted");
    let resolved = all[4].json();
    assert_eq!(resolved["thread_ts"], THREAD_TS);
    assert!(
        resolved["text"]
            .as_str()
            .is_some_and(|text| text.contains("Resolved in Switchboard (assigned to Dana Agent)")),
        "{resolved}"
    );
    // Only the agent who wrote was looked up; never our bot.
    assert!(
        slack
            .requests()
            .iter()
            .all(|request| !request.path.contains(OUR_BOT)),
        "our bot's echo was looked up"
    );
}

async fn the_agent_channel_must_be_a_channel_id(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (status, body) = create_inbox(
        &app,
        &admin,
        json!({ "signing_secret": SECRET, "bot_token": TOKEN, "agent_channel": "#agents" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("agent_channel")),
        "{body}"
    );
}
