//! The hub with an LLM configured, against the test kit's OpenAI-compatible server on loopback:
//! the model's sentiment replaces the offline score before routing reads it (message score,
//! conversation trend, the "Upset customer" rule), the handoff's summary and suggested reply
//! come from the model, and a model that fails (500, garbled, never answers) leaves the offline
//! score and the extractive note, within the bound. Also `eval sentiment` with the model.
//! Every hub test runs on SQLite and on PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard::Settings;
use switchboard_testkit::{FakeLlm, LlmReply, LlmTask, TestDatabase, backend_tests};

backend_tests!(
    the_models_sentiment_moves_the_trend_and_routing_and_it_writes_the_handoff,
    a_failing_model_leaves_the_offline_score_and_the_extractive_note_within_the_bound,
);

fn with_llm(url: String, timeout_secs: u64) -> impl FnOnce(&TestDatabase) -> Settings {
    move |db| Settings {
        llm_base_url: Some(url),
        llm_api_key: Some(switchboard_model::Secret::new("sk-hub-key")),
        llm_model: Some("hub-model".into()),
        llm_timeout_secs: timeout_secs,
        ..support::settings(db)
    }
}

/// Posts a customer message on `thread` and returns the conversation's detail (routing has run
/// when the webhook answers), and how long the webhook took.
async fn customer_says(
    app: &TestApp,
    admin: &str,
    inbox: &str,
    thread: &str,
    text: &str,
) -> (Value, Duration) {
    let body = json!({
        "thread": thread,
        "from": format!("{thread}@customer.test"),
        "id": switchboard_model::new_id(),
        "text": text,
    });
    let started = Instant::now();
    assert_eq!(app.webhook(inbox, "s3cret", body).await, StatusCode::OK);
    let took = started.elapsed();
    let (_, list) = app
        .get(admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let id = list["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|conversation| conversation["thread_key"] == thread)
        .and_then(|conversation| conversation["id"].as_str())
        .expect("the thread's conversation")
        .to_owned();
    let (status, detail) = app.get(admin, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    (detail, took)
}

fn customer_scores(detail: &Value) -> Vec<i64> {
    detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["role"] == "customer")
        .map(|message| message["sentiment"].as_i64().expect("a score"))
        .collect()
}

const NOTE: &str = r#"{"wants": "To know where parcel 1234 is.",
 "tried": "Nothing yet; the customer wrote once.",
 "mood": "very upset",
 "suggested_reply": "Hi, I'm sorry for the wait. I'm checking parcel 1234 right now."}"#;

/// Mild words: offline they score neutral, and no rule escalates them.
const MILD: &str = "Could you tell me where parcel 1234 is? Reach me at ada@example.com, \
     card 4111 1111 1111 1111.";

async fn the_models_sentiment_moves_the_trend_and_routing_and_it_writes_the_handoff(
    db: TestDatabase,
) {
    let offline = i64::from(switchboard_ai::sentiment::score(MILD));
    assert!(offline >= 25, "offline the rule would not fire: {offline}");
    let llm = FakeLlm::start().await;
    llm.reply(
        LlmTask::Sentiment,
        LlmReply::Content("{\"score\": 5}".into()),
    );
    llm.reply(LlmTask::Handoff, LlmReply::Content(NOTE.into()));
    let app = TestApp::spawn_quiet_with(db, with_llm(llm.url(), 20)).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;

    let (detail, _) = customer_says(&app, &admin, &inbox, "mild", MILD).await;
    assert_eq!(customer_scores(&detail), vec![5], "{detail}");
    assert_eq!(detail["conversation"]["sentiment"], 5, "the trend");
    assert_eq!(detail["conversation"]["status"], "escalated", "{detail}");
    let handoff = &detail["handoff"];
    assert_eq!(handoff["rule_name"], "Upset customer", "{handoff}");
    assert_eq!(handoff["sentiment"], 5);
    assert_eq!(handoff["summary_source"], "llm");
    assert_eq!(
        handoff["summary"],
        json!([
            "Wants: To know where parcel 1234 is.",
            "Tried: Nothing yet; the customer wrote once.",
            "Mood: very upset (sentiment 5/100).",
        ])
    );
    assert_eq!(
        handoff["suggested_reply"],
        "Hi, I'm sorry for the wait. I'm checking parcel 1234 right now."
    );

    // What left for the model: its name, the key, the text redacted and fenced.
    let scored = llm.requests_for(LlmTask::Sentiment);
    assert_eq!(scored.len(), 1);
    assert_eq!(scored[0].body["model"], "hub-model");
    assert_eq!(scored[0].body["stream"], false);
    assert_eq!(scored[0].headers["authorization"], "Bearer sk-hub-key");
    let noted = llm.requests_for(LlmTask::Handoff);
    assert_eq!(noted.len(), 1);
    for request in scored.iter().chain(&noted) {
        let sent = request.prompt_text();
        assert!(sent.contains("where parcel 1234 is"), "{sent}");
        for private in ["ada@example.com", "4111 1111"] {
            assert!(!sent.contains(private), "{private} left for the model");
        }
        assert!(
            sent.contains("[EMAIL]") && sent.contains("[CARD]"),
            "{sent}"
        );
    }
    let user = scored[0].body["messages"][1]["content"]
        .as_str()
        .expect("user");
    assert!(
        user.contains("<<<CUSTOMER ") && user.contains("<<<END CUSTOMER "),
        "{user}"
    );

    // A second message: the model's score, with the first as context, moves the trend by the
    // same formula ingest uses (0.6 × new + 0.4 × level).
    llm.reply(
        LlmTask::Sentiment,
        LlmReply::Content("{\"score\": 80}".into()),
    );
    let (detail, _) =
        customer_says(&app, &admin, &inbox, "mild", "Oh I see it now, thank you!").await;
    assert_eq!(customer_scores(&detail), vec![5, 80], "{detail}");
    assert_eq!(
        detail["conversation"]["sentiment"], 50,
        "round(0.6*80 + 0.4*5)"
    );
    let scored = llm.requests_for(LlmTask::Sentiment);
    assert_eq!(scored.len(), 2);
    let context = scored[1].body["messages"][1]["content"]
        .as_str()
        .expect("user");
    assert!(
        context.contains("previous message") && context.contains("where parcel 1234 is"),
        "{context}"
    );
    app.stop().await;
}

async fn a_failing_model_leaves_the_offline_score_and_the_extractive_note_within_the_bound(
    db: TestDatabase,
) {
    let llm = FakeLlm::start().await;
    // A one-second LLM timeout bounds both waits (sentiment and note) at one second each.
    let app = TestApp::spawn_quiet_with(db, with_llm(llm.url(), 1)).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;

    let text = "I'm FURIOUS, this is unacceptable!! Where is my parcel?";
    let offline = i64::from(switchboard_ai::sentiment::score(text));
    for (thread, reply) in [
        ("status-500", LlmReply::Status(500)),
        ("garbled", LlmReply::Garbled),
        ("not-json", LlmReply::Content("Very negative.".into())),
        ("hang", LlmReply::Hang),
    ] {
        llm.reply(LlmTask::Sentiment, reply.clone());
        llm.reply(LlmTask::Handoff, reply);
        let asked = llm.requests().len();
        let (detail, took) = customer_says(&app, &admin, &inbox, thread, text).await;
        assert!(took < Duration::from_secs(5), "{thread}: {took:?}");
        assert_eq!(customer_scores(&detail), vec![offline], "{thread}");
        assert_eq!(detail["conversation"]["sentiment"], offline, "{thread}");
        assert_eq!(detail["conversation"]["status"], "escalated", "{thread}");
        let handoff = &detail["handoff"];
        assert_eq!(handoff["summary_source"], "extractive", "{thread}");
        let summary = handoff["summary"].as_array().expect("lines");
        assert_eq!(summary.len(), 3);
        assert!(
            summary[0]
                .as_str()
                .expect("a line")
                .starts_with("Wants: \""),
            "{handoff}"
        );
        assert!(
            handoff["suggested_reply"]
                .as_str()
                .expect("a reply")
                .starts_with("Hi there"),
            "{handoff}"
        );
        // The model was asked both times (side by side: the score no longer waits in front of
        // routing), and failed both times.
        let tasks: Vec<LlmTask> = llm.requests()[asked..]
            .iter()
            .map(|request| request.task)
            .collect();
        assert_eq!(tasks.len(), 2, "{thread}: {tasks:?}");
        for task in [LlmTask::Sentiment, LlmTask::Handoff] {
            assert!(tasks.contains(&task), "{thread}: {tasks:?}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_sentiment_asks_the_configured_model() {
    let llm = FakeLlm::start().await;
    llm.reply(
        LlmTask::Sentiment,
        LlmReply::Content("{\"score\": 10}".into()),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "text,label\n\"Thanks, the locker worked great!\",positive\nWhere is my parcel?,neutral\n",
    )
    .expect("writes");
    let run = |json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .args(["eval", "sentiment"])
            .arg(&csv)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("SWITCHBOARD_LLM_BASE_URL", llm.url())
            .env("SWITCHBOARD_LLM_MODEL", "eval-model")
            .env("SWITCHBOARD_LLM_TIMEOUT_SECS", "5");
        if json {
            command.arg("--json");
        }
        command
    };
    let (mut text_run, mut json_run) = (run(false), run(true));
    let out = tokio::task::spawn_blocking(move || {
        let text = text_run.output().expect("runs");
        let json = json_run.output().expect("runs");
        (text, json)
    })
    .await
    .expect("joins");
    let (text, json) = out;
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(stdout.contains("rows:             2"), "{stdout}");
    assert!(
        stdout.contains("scorer:           llm (0 of 2 rows fell back to offline)"),
        "{stdout}"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["score"], 10, "{line}");
        assert_eq!(line["predicted"], "negative", "{line}");
    }
    let asked = llm.requests_for(LlmTask::Sentiment);
    assert_eq!(asked.len(), 4);
    assert!(
        asked
            .iter()
            .all(|request| request.body["model"] == "eval-model")
    );
}
