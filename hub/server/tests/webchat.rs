//! The web-chat WebSocket against the real hub, with a real WebSocket client: every row of the
//! protocol table, reconnect and resume, idempotent resends, bad frames, the Origin allow-list,
//! identity verification, notes, slow and dead clients, the rate limit and CSAT. On SQLite and on
//! PostgreSQL.

mod support;

use std::{sync::Arc, time::Duration};

use futures::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    TestApp,
    chat::{Chat, ORIGIN, open, open_from, refusal, webchat_inbox},
};
use switchboard_model::{
    Answer, BusEvent, Deltas, MessageRole, Question, Responder, ResponderError, Response, Source,
};
use switchboard_testkit::{TestDatabase, backend_tests};
use tokio_tungstenite::tungstenite::{self, Message};

backend_tests!(
    a_visitor_chats_and_the_bot_hands_over,
    reconnect_and_resume_lose_nothing_and_duplicate_nothing,
    a_resent_client_id_is_acknowledged_once_and_stored_once,
    bad_frames_get_error_frames_and_the_connection_stays_usable,
    origins_off_the_allow_list_are_refused_before_the_upgrade,
    a_verified_identity_follows_the_user_and_a_forged_one_is_refused,
    agent_replies_reach_the_visitor_and_notes_never_do,
    ai_answers_stream_as_deltas_then_arrive_whole,
    handoff_typing_resolve_and_csat,
    a_visitor_over_the_rate_limit_gets_rate_limited,
    an_address_is_limited_across_its_visitors,
    new_connections_over_an_addresss_limit_get_429_with_retry_after,
    an_inbox_is_limited_across_every_visitor,
    a_client_that_does_not_read_is_disconnected_and_resumes,
    silent_connections_are_culled,
    the_bot_answers_on_every_channel_through_the_outbox,
    a_failing_responder_hands_over_politely,
);

/// A responder for tests: after `delay`, streams `pieces`, then answers with their
/// concatenation.
struct Scripted {
    pieces: Vec<String>,
    delay: Duration,
    /// The whole answer, when it is not the pieces put together.
    answer: Option<String>,
}

#[async_trait::async_trait]
impl Responder for Scripted {
    async fn respond(
        &self,
        _question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        tokio::time::sleep(self.delay).await;
        for (index, piece) in self.pieces.iter().enumerate() {
            deltas.push(piece);
            if index % 8 == 7 {
                // Lets the bus router keep up, as a model's network stream would.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok(Response::Answered(Answer {
            text: self.answer.clone().unwrap_or_else(|| self.pieces.concat()),
            sources: vec![Source {
                article_id: "kb-1".into(),
                title: "Shipping times".into(),
            }],
            confidence: Some(0.82),
            model: Some("scripted".into()),
            tokens: Some(42),
        }))
    }
}

async fn with_responder(db: TestDatabase, responder: Arc<dyn Responder>) -> TestApp {
    let settings = support::settings(&db);
    TestApp::spawn_full(db, settings, Some(responder)).await
}

fn answering() -> Arc<dyn Responder> {
    Arc::new(Scripted {
        pieces: vec!["Parcels ".into(), "arrive in ".into(), "3 days.".into()],
        delay: Duration::ZERO,
        answer: None,
    })
}

async fn detail(app: &TestApp, admin: &str, conversation_id: &str) -> Value {
    let (status, body) = app
        .get(admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_visitor_chats_and_the_bot_hands_over(db: TestDatabase) {
    // The default responder (no AI on this hub) acknowledges and hands over.
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;

    let session = chat.next().await;
    assert_eq!(session["type"], "session");
    assert_eq!(session["conversation_id"], Value::Null);
    assert_eq!(session["last_seq"], 0);
    let token = session["visitor_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert_eq!(token.len(), 43);

    chat.message("c-1", "  Where is my parcel?  ").await;
    let ack = chat.next().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["client_id"], "c-1");
    assert_eq!(ack["seq"], 1);
    let message_id = ack["message_id"].as_str().expect("an id").to_owned();
    assert_eq!(
        chat.next().await,
        json!({ "type": "status", "status": "bot", "detail": "Our assistant is answering." })
    );

    let system = chat.next_of("message").await;
    assert_eq!(system["message"]["role"], "system");
    assert_eq!(system["message"]["seq"], 2);
    assert!(
        system["message"]["text"]
            .as_str()
            .expect("text")
            .contains("a person")
    );
    let status = chat.next_of("status").await;
    assert_eq!(status["status"], "escalated");

    // Committed before the ack: the agent sees it, once, with the visitor as a contact.
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let conversation_id = list["conversations"][0]["id"]
        .as_str()
        .expect("one")
        .to_owned();
    let body = detail(&app, &admin, &conversation_id).await;
    assert_eq!(body["conversation"]["status"], "escalated");
    assert_eq!(body["conversation"]["channel"], "webchat");
    assert_eq!(body["messages"][0]["id"], message_id.as_str());
    assert_eq!(body["messages"][0]["text"], "Where is my parcel?");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(2));
    let identity = body["contact"]["identities"][0]["external_id"]
        .as_str()
        .expect("an identity");
    assert!(
        identity.starts_with("visitor:") && !identity.contains(&token),
        "only a hash of the token is stored"
    );
    drop(chat);

    // The same token continues the same conversation.
    let mut again = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    let session = again.next().await;
    assert_eq!(session["visitor_token"], token.as_str());
    assert_eq!(session["conversation_id"], conversation_id.as_str());
    assert_eq!(session["last_seq"], 2);
    assert_eq!(again.next().await["status"], "escalated");
    again
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    assert_eq!(again.next().await["message"]["seq"], 1);
    assert_eq!(again.next().await["message"]["seq"], 2);
    again.nothing_before_marker().await;

    // A token the hub never made is a new visitor, not an error.
    let mut stranger = Chat::connect(&app, &format!("inbox={inbox}&visitor=forged")).await;
    let session = stranger.next().await;
    assert_eq!(session["conversation_id"], Value::Null);
    assert_ne!(session["visitor_token"], "forged");
    app.stop().await;
}

async fn reconnect_and_resume_lose_nothing_and_duplicate_nothing(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let session = chat.next().await;
    let token = session["visitor_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    chat.say("c-1", "Hello").await;
    let answer = chat.next_of("message").await;
    assert_eq!(answer["message"]["role"], "ai");
    let seen = answer["message"]["seq"].as_i64().expect("a seq");
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;
    // The visitor takes a human: the bot stops answering.
    chat.send(json!({ "type": "handoff" })).await;
    assert_eq!(chat.next_of("status").await["status"], "escalated");
    drop(chat);

    // While the visitor is away: three agent replies and a note.
    let mut expected = Vec::new();
    for (text, private) in [
        ("One", false),
        ("note", true),
        ("Two", false),
        ("Three", false),
    ] {
        let (status, message) = app
            .post(
                &admin,
                &format!("/api/v1/conversations/{conversation_id}/messages"),
                json!({ "text": text, "private": private }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        if !private {
            expected.push(message["seq"].as_i64().expect("a seq"));
        }
    }
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    let session = chat.next().await;
    assert_eq!(session["conversation_id"], conversation_id.as_str());
    chat.send(json!({ "type": "resume", "after_seq": seen }))
        .await;
    let mut replayed = Vec::new();
    while replayed.len() < expected.len() {
        let frame = chat.next().await;
        if frame["type"] == "message" {
            assert_eq!(frame["message"]["role"], "agent");
            replayed.push(frame["message"]["seq"].as_i64().expect("a seq"));
        }
    }
    assert_eq!(replayed, expected, "every missed reply once, in order");
    // Live messages after the resume are not sent twice, and a second resume only sends what
    // this connection has not sent.
    let (_, live) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Four" }),
        )
        .await;
    let frame = chat.next_of("message").await;
    assert_eq!(frame["message"]["id"], live["id"]);
    chat.send(json!({ "type": "resume", "after_seq": 0 })).await;
    let mut again = Vec::new();
    while let Some(frame) = chat.try_next(Duration::from_millis(500)).await {
        again.push(frame["message"]["seq"].as_i64().expect("a message"));
    }
    assert_eq!(again, vec![1, seen], "only what this connection never sent");
    drop(chat);

    // Caught up: a visitor that has everything its session shows gets what is committed after,
    // once, live (the hub reads nothing more for its resume).
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    let session = chat.next().await;
    let last = session["last_seq"].as_i64().expect("the last seq");
    assert_eq!(last, live["seq"].as_i64().expect("a seq"));
    let (_, after) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Five" }),
        )
        .await;
    chat.send(json!({ "type": "resume", "after_seq": last }))
        .await;
    let mut sent = Vec::new();
    while let Some(frame) = chat.try_next(Duration::from_millis(500)).await {
        if frame["type"] == "message" {
            sent.push(frame["message"]["seq"].as_i64().expect("a seq"));
        }
    }
    assert_eq!(sent, vec![after["seq"].as_i64().expect("a seq")]);
    app.stop().await;
}

/// The id of the (only) conversation on the inbox.
async fn chat_conversation(app: &TestApp, admin: &str, inbox: &str) -> String {
    let (_, list) = app
        .get(admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned()
}

async fn a_resent_client_id_is_acknowledged_once_and_stored_once(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let token = chat.next().await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let first = chat.say("same-id", "Is this stored twice?").await;
    let second = chat.say("same-id", "Is this stored twice?").await;
    assert_eq!(first, second, "the same ack");
    drop(chat);
    // After a reconnect (the ack was lost with the connection), the resend is still one message.
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    chat.next_of("session").await;
    let third = chat.say("same-id", "Is this stored twice?").await;
    assert_eq!(first, third);
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;
    let body = detail(&app, &admin, &conversation_id).await;
    let customer = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["role"] == "customer")
        .count();
    assert_eq!(customer, 1);
    // Another visitor may use the same client id: ids are per visitor.
    let mut other = Chat::connect(&app, &format!("inbox={inbox}")).await;
    other.next_of("session").await;
    let theirs = other.say("same-id", "Mine").await;
    assert_ne!(theirs["message_id"], first["message_id"]);
    app.stop().await;
}

async fn bad_frames_get_error_frames_and_the_connection_stays_usable(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    chat.next_of("session").await;
    let too_long = json!({ "type": "message", "client_id": "x", "text": "a".repeat(5000) });
    let cases = [
        ("this is not json".to_owned(), "invalid_json"),
        (json!({ "type": "shout" }).to_string(), "unknown_type"),
        (json!({ "text": "no type" }).to_string(), "unknown_type"),
        (
            json!({ "type": "message", "text": "no client id" }).to_string(),
            "invalid_frame",
        ),
        (
            json!({ "type": "message", "client_id": "x" }).to_string(),
            "invalid_frame",
        ),
        (
            json!({ "type": "resume", "after_seq": "ten" }).to_string(),
            "invalid_frame",
        ),
        (
            json!({ "type": "message", "client_id": "x", "text": " " }).to_string(),
            "empty_text",
        ),
        (too_long.to_string(), "text_too_long"),
        (json!({ "type": "handoff" }).to_string(), "no_conversation"),
        (
            json!({ "type": "csat", "score": 5 }).to_string(),
            "no_conversation",
        ),
    ];
    for (frame, code) in cases {
        chat.send_raw(&frame).await;
        let error = chat.next().await;
        assert_eq!(error["type"], "error", "{frame}");
        assert_eq!(error["code"], code, "{frame}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    chat.socket
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("sends");
    assert_eq!(chat.next().await["code"], "invalid_frame");
    // Still usable, and nothing was stored by the bad frames.
    let ack = chat.say("ok-1", "Now a real question").await;
    assert_eq!(ack["seq"], 1);
    app.stop().await;
}

async fn origins_off_the_allow_list_are_refused_before_the_upgrade(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let refused = |result: Result<Chat, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("connected"),
    };
    for origin in ["https://evil.example", "http://shop.example", "null"] {
        let status = refused(open(&app, &format!("inbox={inbox}"), Some(origin)).await);
        assert_eq!(status, 403, "{origin}");
    }
    assert_eq!(refused(open(&app, "inbox=nope", Some(ORIGIN)).await), 404);
    assert_eq!(refused(open(&app, "", Some(ORIGIN)).await), 400);
    // The refusal is a JSON error for anyone who reads it.
    let response = app
        .client
        .get(app.url(&format!("/chat/ws?inbox={inbox}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    // A plain GET without an upgrade is a clear 4xx, not a crash.
    let response = app
        .client
        .get(app.url(&format!("/chat/ws?inbox={inbox}")))
        .send()
        .await
        .expect("sends");
    assert!(response.status().is_client_error());
    // Allowed: exact, wildcard port, and no Origin at all (not a browser).
    for origin in [Some(ORIGIN), Some("http://localhost:5173"), None] {
        let mut chat = open(&app, &format!("inbox={inbox}"), origin)
            .await
            .expect("connects");
        assert_eq!(chat.next().await["type"], "session");
    }
    // A web-chat inbox needs a valid config.
    let (status, body) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "x", "channel": "webchat", "config": { "allowed_origins": ["not an origin"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("a message")
            .contains("allowed_origins")
    );
    app.stop().await;
}

/// hex(HMAC-SHA256(SECRET, "user-42")), computed independently with Python's hmac module.
const USER_42_HASH: &str = "ee7b968837525aac105d2bb40af588fb7b103f39e556d2297161c8c354162116";

async fn a_verified_identity_follows_the_user_and_a_forged_one_is_refused(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let identity = format!("inbox={inbox}&user_id=user-42&user_hash={USER_42_HASH}");
    let mut laptop = Chat::connect(&app, &identity).await;
    laptop.next_of("session").await;
    let ack = laptop.say("l-1", "Hi from my laptop").await;
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;

    // Another device, no visitor token: the same conversation, with its history.
    let mut phone = Chat::connect(&app, &identity).await;
    let session = phone.next_of("session").await;
    assert_eq!(session["conversation_id"], conversation_id.as_str());
    phone
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    let first = phone.next_of("message").await;
    assert_eq!(first["message"]["id"], ack["message_id"]);
    // What one device sends, the other sees.
    let from_phone = phone.say("p-1", "And from my phone").await;
    let seen = loop {
        let frame = laptop.next_of("message").await;
        if frame["message"]["role"] == "customer" {
            break frame;
        }
    };
    assert_eq!(seen["message"]["id"], from_phone["message_id"]);
    let body = detail(&app, &admin, &conversation_id).await;
    assert_eq!(body["contact"]["identities"][0]["external_id"], "user-42");
    // The user id is the business's own: agents find the contact by it (an anonymous
    // visitor's hashed token is not searched, `anonymous_visitors_are_shown_by_a_stable_friendly_name`).
    let (status, found) = app
        .get(&admin, "/api/v1/search?q=user-4&type=contacts")
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["contacts"][0]["id"], body["contact"]["id"], "{found}");

    // A forged hash: a clear error, and the connection is closed.
    for forged in [
        format!("inbox={inbox}&user_id=user-43&user_hash={USER_42_HASH}"),
        format!("inbox={inbox}&user_id=user-42&user_hash=00"),
        format!("inbox={inbox}&user_id=user-42"),
    ] {
        let mut chat = Chat::connect(&app, &forged).await;
        let error = chat.next().await;
        assert_eq!(error["type"], "error", "{forged}");
        assert_eq!(error["code"], "identity_invalid");
        assert!(
            error["message"]
                .as_str()
                .expect("a message")
                .contains("user_hash")
        );
        assert_eq!(chat.closed().await, Some(4003));
    }
    let refused = open(
        &app,
        &format!("inbox={inbox}&user_hash={USER_42_HASH}"),
        Some(ORIGIN),
    )
    .await;
    assert!(matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 400));
    app.stop().await;
}

async fn agent_replies_reach_the_visitor_and_notes_never_do(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    chat.next_of("session").await;
    chat.say("c-1", "Can a person help?").await;
    chat.next_of("message").await; // the AI's answer
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    let (_, note) = app
        .post(
            &admin,
            &path,
            json!({ "text": "secret note", "private": true }),
        )
        .await;
    let (_, reply) = app
        .post(&admin, &path, json!({ "text": "I'm Sam, happy to help." }))
        .await;
    let frame = chat.next_of("message").await;
    assert_eq!(frame["message"]["id"], reply["id"]);
    assert_eq!(frame["message"]["role"], "agent");
    assert_eq!(frame["message"]["text"], "I'm Sam, happy to help.");
    // Nothing else: the note, written before the reply, would have come before it on the bus.
    chat.nothing_before_marker().await;
    // Never live, never replayed.
    chat.send(json!({ "type": "resume", "after_seq": 0 })).await;
    let mut frames = Vec::new();
    while let Some(frame) = chat.try_next(Duration::from_millis(500)).await {
        frames.push(frame);
    }
    assert!(
        frames
            .iter()
            .all(|frame| frame["message"]["id"] != note["id"])
    );
    assert!(
        !frames
            .iter()
            .any(|frame| frame.to_string().contains("secret note"))
    );
    // The outbox marks web-chat replies sent: they reached the visitor through the socket.
    app.wait_for(&admin, &conversation_id, |body| {
        body["messages"].as_array().is_some_and(|messages| {
            messages
                .iter()
                .any(|m| m["id"] == reply["id"] && m["delivery_status"] == "sent")
        })
    })
    .await;
    app.stop().await;
}

async fn ai_answers_stream_as_deltas_then_arrive_whole(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    chat.next_of("session").await;
    // The first message opens the conversation; the socket follows it from then on, so the
    // second answer is the one whose pieces must all stream (the first may be answered before
    // the socket is registered, and then only arrives whole).
    chat.say("c-0", "Hello").await;
    while chat.next_of("message").await["message"]["role"] != "ai" {}
    chat.say("c-1", "How long does shipping take?").await;
    let mut streamed = String::new();
    let mut answer_id = None;
    let whole = loop {
        let frame = chat.next().await;
        match frame["type"].as_str() {
            Some("delta") => {
                let id = frame["message_id"].as_str().expect("an id").to_owned();
                assert_eq!(answer_id.get_or_insert(id.clone()), &id, "one answer");
                streamed.push_str(frame["text"].as_str().expect("text"));
            }
            // The visitor's own message may come back as a frame too.
            Some("message") if frame["message"]["role"] == "customer" => {}
            Some("message") => break frame,
            Some("status" | "ack") => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(streamed, "Parcels arrive in 3 days.");
    let message = &whole["message"];
    assert_eq!(
        message["id"].as_str(),
        answer_id.as_deref(),
        "the answer has the streamed id"
    );
    assert_eq!(message["role"], "ai");
    assert_eq!(message["text"], "Parcels arrive in 3 days.");
    assert_eq!(
        message["sources"],
        json!([{ "article_id": "kb-1", "title": "Shipping times" }])
    );
    assert_eq!(message["confidence"], 0.82);
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;
    let body = detail(&app, &admin, &conversation_id).await;
    assert_eq!(
        body["conversation"]["status"], "bot",
        "an answer keeps the bot in charge"
    );
    assert_eq!(body["messages"][3]["model"], "scripted");
    app.stop().await;
}

async fn handoff_typing_resolve_and_csat(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let token = chat.next_of("session").await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    chat.say("c-1", "Hello").await;
    // Wait for the whole answer, so that its frames do not arrive among the ones below.
    while chat.next_of("message").await["message"]["role"] != "ai" {}
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;

    // The visitor's typing reaches the agents' side (the bus).
    let mut bus = app.state.bus.subscribe();
    chat.send(json!({ "type": "typing" })).await;
    let typing = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let BusEvent::Typing {
                conversation_id,
                role,
                ..
            } = &*bus.recv().await.expect("an event")
            {
                break (conversation_id.clone(), *role);
            }
        }
    })
    .await
    .expect("the visitor's typing is published");
    assert_eq!(typing, (conversation_id.clone(), MessageRole::Customer));
    // An agent's typing reaches the visitor.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/typing"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(chat.next().await, json!({ "type": "typing" }));
    let (status, _) = app
        .post(&admin, "/api/v1/conversations/nope/typing", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rating before the conversation is resolved is refused.
    chat.send(json!({ "type": "csat", "score": 5 })).await;
    assert_eq!(chat.next().await["code"], "csat_not_requested");

    // "Talk to a human".
    chat.send(json!({ "type": "handoff" })).await;
    assert_eq!(chat.next().await["status"], "escalated");
    chat.send(json!({ "type": "handoff" })).await;
    assert_eq!(
        chat.next().await["status"],
        "escalated",
        "answered even when nothing changed"
    );
    let body = detail(&app, &admin, &conversation_id).await;
    assert_eq!(body["conversation"]["status"], "escalated");

    // An agent takes it and resolves it: status frames, then the CSAT request.
    let me = app.get(&admin, "/api/v1/auth/me").await.1["user"]["id"].clone();
    app.post(
        &admin,
        &format!("/api/v1/conversations/{conversation_id}/assign"),
        json!({ "assignee_id": me }),
    )
    .await;
    assert_eq!(chat.next().await["status"], "assigned");
    app.post(
        &admin,
        &format!("/api/v1/conversations/{conversation_id}/resolve"),
        json!({}),
    )
    .await;
    assert_eq!(chat.next().await["status"], "resolved");
    assert_eq!(chat.next().await, json!({ "type": "csat_request" }));

    chat.send(json!({ "type": "csat", "score": 9 })).await;
    assert_eq!(chat.next().await["code"], "invalid_score");
    chat.send(json!({ "type": "csat", "score": 4, "comment": "Quick, thanks" }))
        .await;
    let body = app
        .wait_for(&admin, &conversation_id, |body| !body["csat"].is_null())
        .await;
    assert_eq!(body["csat"]["score"], 4);
    assert_eq!(body["csat"]["comment"], "Quick, thanks");
    // Rating again replaces the rating.
    chat.send(json!({ "type": "csat", "score": 5 })).await;
    app.wait_for(&admin, &conversation_id, |body| body["csat"]["score"] == 5)
        .await;

    // Writing again reopens it: the visitor's other tab hears the status change too.
    let mut tab = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    tab.next_of("session").await;
    assert_eq!(tab.next().await["status"], "resolved");
    chat.say("c-2", "One more thing").await;
    assert_eq!(chat.next_of("status").await["status"], "assigned");
    assert_eq!(tab.next_of("status").await["status"], "assigned");
    app.stop().await;
}

async fn a_visitor_over_the_rate_limit_gets_rate_limited(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(
        &app,
        &admin,
        json!({ "rate_limit_per_minute": 1, "rate_limit_burst": 3 }),
    )
    .await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let token = chat.next_of("session").await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for n in 0..3 {
        chat.say(&format!("c-{n}"), "hi").await;
    }
    chat.message("c-3", "one too many").await;
    let error = chat.next_of("error").await;
    assert_eq!(error["code"], "rate_limited");
    // The same visitor on another connection shares the allowance…
    let mut second = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    second.next_of("session").await;
    // …except for the connection's first `resume`, part of reconnecting, which replays what the
    // visitor missed however much of the allowance is spent…
    second
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    let replayed = second.next_of("message").await;
    assert_eq!(replayed["message"]["role"], "customer", "{replayed}");
    assert_eq!(replayed["message"]["text"], "hi", "{replayed}");
    second.message("c-4", "from another tab").await;
    assert_eq!(second.next_of("error").await["code"], "rate_limited");
    // …and a second `resume` counts like any frame.
    second
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    assert_eq!(second.next_of("error").await["code"], "rate_limited");
    // …typing is not counted, the connection stays open, and other visitors are not affected.
    second.send(json!({ "type": "typing" })).await;
    let mut other = Chat::connect(&app, &format!("inbox={inbox}")).await;
    other.next_of("session").await;
    other.say("o-1", "I am someone else").await;
    app.stop().await;
}

/// A visitor of `inbox` from the client address `address` (through the loopback proxy the hub
/// trusts by default), past its `session` frame.
async fn visitor_from(app: &TestApp, inbox: &str, address: &str) -> Chat {
    let mut chat = open_from(
        app.addr,
        &format!("inbox={inbox}"),
        Some(ORIGIN),
        Some(address),
    )
    .await
    .expect("connects");
    chat.next_of("session").await;
    chat
}

/// The seconds a `rate_limited` frame asks to wait.
fn wait_of(error: &Value) -> u64 {
    assert_eq!(error["code"], "rate_limited", "{error}");
    let message = error["message"].as_str().expect("a message");
    message
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {message}"))
}

async fn an_address_is_limited_across_its_visitors(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    // Three frames a minute from one address, whatever the visitors' own limits.
    let inbox = webchat_inbox(&app, &admin, json!({ "address_messages_per_minute": 3 })).await;
    let mut first = visitor_from(&app, &inbox, "198.51.100.7").await;
    first.say("a-1", "hi").await;
    first.say("a-2", "anyone there?").await;
    // A new visitor token from the same address starts no new allowance.
    let mut second = visitor_from(&app, &inbox, "198.51.100.7").await;
    second.say("b-1", "hello").await;
    second.message("b-2", "one too many").await;
    let wait = wait_of(&second.next_of("error").await);
    assert!(
        (1..=20).contains(&wait),
        "a third of a minute at most: {wait}"
    );
    first.message("a-3", "and me").await;
    wait_of(&first.next_of("error").await);
    // The client's own claims on the left of the header are not believed…
    let mut spoofing = visitor_from(&app, &inbox, "203.0.113.1, 198.51.100.7").await;
    spoofing.message("s-1", "it's not me").await;
    wait_of(&spoofing.next_of("error").await);
    // …and another address has its own.
    let mut elsewhere = visitor_from(&app, &inbox, "198.51.100.8").await;
    elsewhere.say("e-1", "hi from next door").await;
    // Refused frames were not stored.
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let stored: usize = list["conversations"]
        .as_array()
        .expect("conversations")
        .len();
    assert_eq!(stored, 3, "{list}");
    app.stop().await;
}

async fn new_connections_over_an_addresss_limit_get_429_with_retry_after(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({ "address_connections_per_minute": 2 })).await;
    let query = format!("inbox={inbox}");
    for _ in 0..2 {
        visitor_from(&app, &inbox, "198.51.100.7").await;
    }
    let refused = open_from(app.addr, &query, Some(ORIGIN), Some("198.51.100.7")).await;
    let (status, retry_after) = refusal(refused);
    assert_eq!(status, 429);
    let retry_after = retry_after.expect("a Retry-After");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    // The refusal is the API's JSON error, before any upgrade.
    let response = app
        .client
        .get(app.url(&format!("/chat/ws?{query}")))
        .header("x-forwarded-for", "198.51.100.7")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Other addresses, and other inboxes from the same address, connect.
    visitor_from(&app, &inbox, "198.51.100.8").await;
    let other = webchat_inbox(&app, &admin, json!({})).await;
    visitor_from(&app, &other, "198.51.100.7").await;
    app.stop().await;
}

async fn an_inbox_is_limited_across_every_visitor(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({ "inbox_messages_per_minute": 3 })).await;
    for (n, address) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .into_iter()
        .enumerate()
    {
        visitor_from(&app, &inbox, address)
            .await
            .say(&format!("c-{n}"), "hi")
            .await;
    }
    let mut fourth = visitor_from(&app, &inbox, "198.51.100.4").await;
    fourth.message("c-3", "the inbox is full").await;
    wait_of(&fourth.next_of("error").await);
    // The connection stays usable, and another inbox is not affected.
    fourth.nothing_before_marker().await;
    let other = webchat_inbox(&app, &admin, json!({})).await;
    visitor_from(&app, &other, "198.51.100.4")
        .await
        .say("o-1", "elsewhere")
        .await;
    app.stop().await;
}

async fn a_client_that_does_not_read_is_disconnected_and_resumes(db: TestDatabase) {
    // A long answer streamed in many large pieces to a visitor who stops reading.
    let piece = "x".repeat(8 * 1024);
    let responder = Arc::new(Scripted {
        pieces: vec![piece; 3000],
        // The visitor reads its ack, then stops reading.
        delay: Duration::from_millis(300),
        answer: Some("Everything, in short.".into()),
    });
    let app = {
        let mut settings = support::settings(&db);
        settings.webchat_queue_frames = 8;
        TestApp::spawn_full(db, settings, Some(responder)).await
    };
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let token = chat.next_of("session").await["visitor_token"]
        .as_str()
        .expect("token")
        .to_owned();
    chat.say("c-1", "Tell me everything").await;
    let conversation_id = chat_conversation(&app, &admin, &inbox).await;
    // Not reading: the hub's queue for this socket fills and the hub lets go of it.
    let chat_hub = app.state.chat.clone();
    let mut dropped = false;
    for _ in 0..300 {
        if chat_hub.connections_of(&conversation_id) == 0 {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        dropped,
        "the slow connection was disconnected and unregistered"
    );
    assert_eq!(chat.closed().await.unwrap_or(1008), 1008);
    // It reconnects and resumes: the whole answer, nothing lost.
    app.wait_for(&admin, &conversation_id, |body| {
        body["messages"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    chat.next_of("session").await;
    chat.send(json!({ "type": "resume", "after_seq": 1 })).await;
    let answer = chat.next_of("message").await;
    assert_eq!(answer["message"]["role"], "ai");
    assert_eq!(answer["message"]["text"], "Everything, in short.");
    app.stop().await;
}

async fn silent_connections_are_culled(db: TestDatabase) {
    let app = {
        let mut settings = support::settings(&db);
        settings.webchat_ping_secs = 1;
        TestApp::spawn_with(db, move |_| settings).await
    };
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut alive = Chat::connect(&app, &format!("inbox={inbox}")).await;
    alive.next_of("session").await;
    let mut dead = Chat::connect(&app, &format!("inbox={inbox}")).await;
    dead.next_of("session").await;
    dead.say("d-1", "then I vanish").await;
    let dead_conversation = chat_conversation(&app, &admin, &inbox).await;
    assert_eq!(app.state.chat.connections_of(&dead_conversation), 1);
    // `dead` is no longer polled, so it never answers a ping; `alive` reads (and pongs).
    let hub = app.state.chat.clone();
    let watch = async {
        while hub.connections_of(&dead_conversation) != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        _ = watch => {}
        _ = alive.silent(Duration::from_secs(8)) => panic!("the silent connection is still registered"),
    }
    alive.say("a-1", "still here").await;
    drop(dead);
    app.stop().await;
}

async fn the_bot_answers_on_every_channel_through_the_outbox(db: TestDatabase) {
    let app = with_responder(db, answering()).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let webhook =
        json!({ "thread": "t1", "from": "ada@customer.test", "id": "e1", "text": "Shipping?" });
    assert_eq!(app.webhook(&inbox, "s3cret", webhook).await, StatusCode::OK);
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let conversation_id = list["conversations"][0]["id"]
        .as_str()
        .expect("one")
        .to_owned();
    let body = app
        .wait_for(&admin, &conversation_id, |body| {
            body["messages"][1]["delivery_status"] == "sent"
        })
        .await;
    assert_eq!(body["messages"][1]["role"], "ai");
    assert_eq!(body["messages"][1]["sources"][0]["title"], "Shipping times");
    let delivered = app.deliveries.attempts();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].text, "Parcels arrive in 3 days.");
    assert_eq!(delivered[0].recipient.external_id, "ada@customer.test");
    app.stop().await;
}

#[derive(Default)]
struct Failing {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Responder for Failing {
    async fn respond(
        &self,
        _question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        deltas.push("Let me ");
        Err(ResponderError::Failed("the model is down".into()))
    }
}

async fn a_failing_responder_hands_over_politely(db: TestDatabase) {
    let failing = Arc::new(Failing::default());
    let app = with_responder(db, failing.clone()).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    chat.next_of("session").await;
    chat.say("c-1", "Hello?").await;
    let system = chat.next_of("message").await;
    assert_eq!(system["message"]["role"], "system");
    assert!(
        !system.to_string().contains("the model is down"),
        "internals stay inside"
    );
    assert_eq!(chat.next_of("status").await["status"], "escalated");
    // A person has it now: the next message does not wake the bot.
    chat.say("c-2", "Still there?").await;
    // Its routing runs in the background lane after the ack, and would queue a bot turn there.
    support::eventually("the message routed", || {
        (app.state.background.is_idle() && app.state.bot.is_empty()).then_some(())
    })
    .await;
    chat.nothing_before_marker().await;
    assert_eq!(failing.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    app.stop().await;
}

/// Says a first piece at once and the rest a second later: a model's stream, slowed down.
struct Pausing;

#[async_trait::async_trait]
impl Responder for Pausing {
    async fn respond(
        &self,
        _question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        deltas.push("Let me see. ");
        tokio::time::sleep(Duration::from_secs(1)).await;
        deltas.push("Parcels arrive in 3 days.");
        Ok(Response::Answered(Answer {
            text: "Let me see. Parcels arrive in 3 days.".into(),
            sources: Vec::new(),
            confidence: Some(0.82),
            model: Some("scripted".into()),
            tokens: None,
        }))
    }
}

/// With one bot worker, a turn that has its answer and waits to store it leaves its place to
/// the next conversation's turn. On PostgreSQL, where a conversation's row locked by another
/// transaction holds up the answer writer's batch that holds its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_waiting_to_store_its_answer_leaves_its_place_to_the_next() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(db) = TestDatabase::new(switchboard_testkit::Backend::Postgres).await else {
        return;
    };
    let url = db.url.clone();
    let mut settings = support::settings(&db);
    settings.bot_workers = 1;
    let app = TestApp::spawn_full(db, settings, Some(Arc::new(Pausing))).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    // Two conversations, each answered once (a first answer may come before the socket follows
    // its conversation: the second ones stream).
    let mut first = Chat::connect(&app, &format!("inbox={inbox}")).await;
    first.next_of("session").await;
    first.say("a-0", "Hello").await;
    while first.next_of("message").await["message"]["role"] != "ai" {}
    let held = chat_conversation(&app, &admin, &inbox).await;
    let mut second = Chat::connect(&app, &format!("inbox={inbox}")).await;
    second.next_of("session").await;
    second.say("b-0", "Hello").await;
    while second.next_of("message").await["message"]["role"] != "ai" {}

    // The first conversation's next turn has begun answering; its row is locked until the end.
    first.say("a-1", "How long does shipping take?").await;
    first.next_of("delta").await;
    let locker = sea_orm::Database::connect(&url).await.expect("connects");
    let lock = locker.begin().await.expect("begins");
    lock.execute_unprepared(&format!(
        "SELECT id FROM conversations WHERE id = '{held}' FOR UPDATE"
    ))
    .await
    .expect("locks the row");
    // Its answer is done a second later and cannot be stored; the other conversation's turn
    // runs meanwhile.
    second.say("b-1", "How long does shipping take?").await;
    let streamed = second.try_next(Duration::from_secs(8)).await;
    let mut streamed = streamed.expect("the second conversation's turn ran");
    while streamed["type"] != "delta" {
        streamed = second
            .try_next(Duration::from_secs(8))
            .await
            .expect("the second conversation's answer streams while the first waits to be stored");
    }
    assert_eq!(streamed["text"], "Let me see. ");
    lock.rollback().await.expect("unlocks");
    // Both answers are stored once the row is free.
    for chat in [&mut first, &mut second] {
        while chat.next_of("message").await["message"]["role"] != "ai" {}
    }
}
