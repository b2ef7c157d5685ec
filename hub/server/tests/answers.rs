//! The whole hub as `switchboard serve` runs it, offline: a visitor on the demo's web chat asks
//! what the knowledge base answers and gets a grounded AI answer with its source; asks what it
//! does not cover and is handed to a person with a handoff, an SLA and a knowledge gap. And with
//! a model: the customer's mood comes with the model's answer, not from a second call, nor from
//! one after an offline answer the model was passed over for.

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::TestApp;
use switchboard::Settings;
use switchboard_testkit::{FakeLlm, LlmReply, LlmTask, TestDatabase, backend_tests};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    the_offline_ai_answers_from_the_knowledge_base_or_hands_over,
    a_question_whose_turn_was_lost_is_answered_once,
    the_models_answer_tells_the_customers_mood_without_a_second_call,
);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The visitor sends `text` as the message `client_id`.
async fn say(socket: &mut Socket, client_id: &str, text: &str) {
    let frame = json!({ "type": "message", "client_id": client_id, "text": text });
    socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("sends");
}

async fn frame(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = next {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// Sends `text` and returns the first `message` frame that is not the visitor's own.
async fn ask(socket: &mut Socket, client_id: &str, text: &str) -> Value {
    say(socket, client_id, text).await;
    loop {
        let frame = frame(socket).await;
        if frame["type"] == "message" && frame["message"]["role"] != "customer" {
            return frame["message"].clone();
        }
    }
}

/// A visitor on the demo's web-chat inbox, past its `session` frame.
async fn visit(app: &TestApp, admin: &str) -> (Socket, Value, String) {
    let (_, inboxes) = app.get(admin, "/api/v1/inboxes").await;
    let inbox = inboxes
        .as_array()
        .expect("inboxes")
        .iter()
        .find(|inbox| inbox["channel"] == "webchat")
        .and_then(|inbox| inbox["id"].as_str())
        .expect("the demo's web-chat inbox")
        .to_owned();
    let url = format!("ws://{}/chat/ws?inbox={inbox}", app.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let session = frame(&mut socket).await;
    assert_eq!(session["type"], "session");
    (socket, session, inbox)
}

/// The visitor's conversation: named in `session` when it existed, else the inbox's only one.
async fn conversation_of(app: &TestApp, admin: &str, session: &Value, inbox: &str) -> String {
    if let Some(id) = session["conversation_id"]
        .as_str()
        .filter(|id| !id.is_empty())
    {
        return id.to_owned();
    }
    let (_, list) = app
        .get(admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    list["conversations"][0]["id"]
        .as_str()
        .expect("the conversation")
        .to_owned()
}

/// Asserts that `answer` names the article `title` among its sources.
fn assert_cites(answer: &Value, title: &str) {
    let cited = answer["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .any(|source| source["title"] == title);
    assert!(cited, "{title} in {answer}");
}

async fn the_offline_ai_answers_from_the_knowledge_base_or_hands_over(db: TestDatabase) {
    let settings = support::settings(&db);
    let app = TestApp::spawn_full(db, settings, None).await;
    let admin = app.admin().await;
    let (mut socket, session, inbox) = visit(&app, &admin).await;

    // Covered by "Delivery codes for couriers" in the demo knowledge base.
    let answer = ask(
        &mut socket,
        "q-1",
        "How long is a delivery code valid if the courier doesn't use it?",
    )
    .await;
    assert_eq!(answer["role"], "ai", "{answer}");
    assert_cites(&answer, "Delivery codes for couriers");
    let confidence = answer["confidence"].as_f64().expect("a confidence");
    assert!((0.5..=1.0).contains(&confidence), "{confidence}");

    // Nothing in the knowledge base covers this: no answer from a loosely related article.
    let handover = ask(
        &mut socket,
        "q-2",
        "Can you recommend a good pizza restaurant near the harbour? Mail me at joe.bloggs@example.com",
    )
    .await;
    assert_eq!(handover["role"], "system", "{handover}");
    let conversation_id = conversation_of(&app, &admin, &session, &inbox).await;
    let detail = app
        .wait_for(&admin, &conversation_id, |body| {
            body["conversation"]["status"] == "escalated" && !body["handoff"].is_null()
        })
        .await;
    assert!(!detail["sla"].is_null(), "an SLA clock starts: {detail}");
    let (_, gaps) = app.get(&admin, "/api/v1/kb/gaps").await;
    assert!(
        gaps["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .any(|gap| gap["question"].as_str().unwrap_or("").contains("pizza")),
        "the unanswered question is a knowledge gap: {gaps}"
    );
    // Issue 23, finding 7: knowledge editors read the gaps; the customer's address is not there.
    assert!(!gaps.to_string().contains("joe.bloggs"), "{gaps}");
    assert!(gaps.to_string().contains("[EMAIL]"), "{gaps}");
    app.stop().await;
}

/// A customer's message stored as a node stores it before the ack, whose node then died
/// before routing it or queueing the bot's turn: the node holding the `lost-turns` lease
/// routes and answers it once `bot_recover_secs` passed, and only once.
async fn a_question_whose_turn_was_lost_is_answered_once(db: TestDatabase) {
    use switchboard_model::{ChannelKind, ContactRef, InboundMessage};
    let settings = Settings {
        bot_recover_secs: 1,
        ..support::settings(&db)
    };
    let app = TestApp::spawn_full(db, settings, None).await;
    let admin = app.admin().await;
    let (_, inboxes) = app.get(&admin, "/api/v1/inboxes").await;
    let inbox = inboxes
        .as_array()
        .expect("inboxes")
        .iter()
        .find(|inbox| inbox["channel"] == "webchat")
        .expect("the demo's web-chat inbox")
        .clone();
    let message = InboundMessage {
        thread_key: "visitor-lost".into(),
        channel_message_id: Some("lost-1".into()),
        sender: ContactRef {
            external_id: "visitor-lost".into(),
            ..Default::default()
        },
        text: "How long is a delivery code valid if the courier doesn't use it?".into(),
        ..Default::default()
    };
    let stored = app
        .state
        .store
        .ingest(
            inbox["org_id"].as_str().expect("an organization"),
            inbox["id"].as_str().expect("an id"),
            ChannelKind::Webchat,
            &message,
            None,
        )
        .await
        .expect("stores");
    let switchboard_store::IngestOutcome::Stored { conversation, .. } = stored else {
        panic!("a new message: {stored:?}");
    };
    let answered = |detail: &Value| {
        detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|message| message["role"] == "ai")
            .count()
    };
    let detail = app
        .wait_for(&admin, &conversation.id, |detail| answered(detail) > 0)
        .await;
    let answer = detail["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|message| message["role"] == "ai")
        .expect("an answer");
    assert_cites(answer, "Delivery codes for couriers");
    // Passes go on every 250 ms: none answers it again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, detail) = app
        .get(
            &admin,
            &format!("/api/v1/conversations/{}", conversation.id),
        )
        .await;
    assert_eq!(answered(&detail), 1, "{detail}");
    app.stop().await;
}

/// The bot answers from a model whose answer ends with the customer's mood: the visitor sees
/// neither closing line, the message's score and the conversation's trend are the model's, and
/// the model is not asked for the sentiment on its own (if it were, it would say 90).
async fn the_models_answer_tells_the_customers_mood_without_a_second_call(db: TestDatabase) {
    let llm = FakeLlm::start().await;
    llm.reply(
        LlmTask::Answer,
        LlmReply::Content(
            "A delivery code stays valid for 24 hours [1].\nSENTIMENT: 30\nCONFIDENCE: 0.9".into(),
        ),
    );
    llm.reply(
        LlmTask::Sentiment,
        LlmReply::Content("{\"score\": 90}".into()),
    );
    let settings = Settings {
        llm_base_url: Some(llm.url()),
        llm_model: Some("hub-model".into()),
        // Short enough for the hanging model's turn below, long enough that a loaded test
        // machine reaches the first two turns within it (at 500 ms one run of the suite on
        // PostgreSQL answered the first question offline).
        llm_first_piece_ms: 2_000,
        ..support::settings(&db)
    };
    let app = TestApp::spawn_full(db, settings, None).await;
    let admin = app.admin().await;
    let (mut socket, session, inbox) = visit(&app, &admin).await;
    let question = "How long is a delivery code valid if the courier doesn't use it?";
    say(&mut socket, "q-1", question).await;
    let mut streamed = String::new();
    let answer = loop {
        let frame = frame(&mut socket).await;
        if frame["type"] == "delta" {
            streamed.push_str(frame["text"].as_str().expect("a piece"));
        }
        if frame["type"] == "message" && frame["message"]["role"] != "customer" {
            break frame["message"].clone();
        }
    };
    assert_eq!(answer["role"], "ai", "{answer}");
    assert_eq!(
        answer["text"],
        "A delivery code stays valid for 24 hours [1]."
    );
    assert!(
        !streamed.contains("SENTIMENT") && !streamed.contains("CONFIDENCE"),
        "{streamed}"
    );
    let conversation_id = conversation_of(&app, &admin, &session, &inbox).await;
    let detail = app
        .wait_for(&admin, &conversation_id, |body| {
            body["conversation"]["sentiment"] == 30
        })
        .await;
    let customer = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["role"] == "customer")
        .expect("the question");
    assert_eq!(customer["sentiment"], 30, "{detail}");
    assert!(llm.requests_for(LlmTask::Sentiment).is_empty());
    assert_eq!(llm.requests_for(LlmTask::Answer).len(), 1);

    // A second question, a happier customer: its score is the model's, and the trend is
    // folded from both scores, as ingest and `rescore_message` fold it.
    llm.reply(
        LlmTask::Answer,
        LlmReply::Content("It lasts a day [1].\nSENTIMENT: 70\nCONFIDENCE: 0.9".into()),
    );
    say(
        &mut socket,
        "q-2",
        "How do I give a courier a delivery code?",
    )
    .await;
    let expected = switchboard_model::sentiment::trend(&[30, 70])
        .map(|trend| i32::from(trend.level))
        .expect("a trend of two scores");
    assert_ne!(expected, 30, "the second score moves the trend");
    let detail = app
        .wait_for(&admin, &conversation_id, |body| {
            body["conversation"]["sentiment"] == expected
        })
        .await;
    let scores: Vec<_> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["role"] == "customer")
        .map(|message| message["sentiment"].clone())
        .collect();
    assert_eq!(scores, [json!(30), json!(70)], "{detail}");
    assert!(llm.requests_for(LlmTask::Sentiment).is_empty());

    // The model does not start within the bound: the visitor gets the offline answer, and the
    // model is not asked for the customer's mood on its own either, which would add to what
    // it cannot keep up with (it would say 90).
    llm.reply(LlmTask::Answer, LlmReply::Hang);
    say(
        &mut socket,
        "q-3",
        "Is a delivery code still valid the next day?",
    )
    .await;
    // The frames before it (the second answer's) first.
    let mut asked = false;
    let answer = loop {
        let frame = frame(&mut socket).await;
        asked |= frame["type"] == "ack" && frame["client_id"] == "q-3";
        if asked && frame["type"] == "message" && frame["message"]["role"] != "customer" {
            break frame["message"].clone();
        }
    };
    assert_eq!(answer["role"], "ai", "{answer}");
    assert!(answer["model"].is_null(), "answered offline: {answer}");
    assert_eq!(llm.requests_for(LlmTask::Answer).len(), 3, "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(llm.requests_for(LlmTask::Sentiment).is_empty());
    app.stop().await;
}
