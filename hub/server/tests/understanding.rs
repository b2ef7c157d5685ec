//! Sentiment and topics through the hub: customer messages arrive with a score and move the
//! conversation's trend, the organization's trained model sets the topic, and the `topics
//! train`, `eval topics` and `eval sentiment` commands as an operator runs them.

mod support;

use std::process::{Command, Output};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard_ai::{labelled, topics};
use switchboard_store::{Store, StoredTopicModel};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(customer_messages_carry_sentiment_and_the_trained_model_sets_the_topic);

fn fixture(path: &str) -> String {
    format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

async fn train_for_demo(db: &TestDatabase) {
    let store = Store::connect(&db.url).await.expect("connects");
    let org = store
        .org_by_slug("demo")
        .await
        .expect("reads")
        .expect("the demo organization");
    let rows = labelled::read(std::fs::File::open(fixture("topics/train.csv")).expect("fixture"))
        .expect("parses");
    let examples: Vec<topics::Example> = rows.into_iter().map(Into::into).collect();
    let model = topics::train(&examples, &topics::TrainConfig::default()).expect("trains");
    store
        .save_topic_model(StoredTopicModel {
            org_id: org.id,
            model: model.to_bytes(),
            labels: model.topics().into_iter().map(str::to_owned).collect(),
            unknown_threshold: f64::from(model.unknown_threshold()),
            metrics: json!({}),
            trained_at: Utc::now(),
        })
        .await
        .expect("saves");
}

async fn conversation_of_thread(
    app: &TestApp,
    admin: &str,
    thread: &str,
    id: &str,
    text: &str,
) -> Value {
    let body = json!({ "thread": thread, "from": format!("{thread}@customer.test"), "id": id, "text": text });
    assert_eq!(app.webhook_inbox(admin, body).await, StatusCode::OK);
    let (_, list) = app.get(admin, "/api/v1/conversations").await;
    let id = list["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["thread_key"] == thread)
        .and_then(|c| c["id"].as_str())
        .expect("the thread's conversation")
        .to_owned();
    let (status, conversation) = app.get(admin, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    conversation
}

trait WebhookInbox {
    async fn webhook_inbox(&self, admin: &str, body: Value) -> StatusCode;
}

impl WebhookInbox for TestApp {
    /// Posts to the one test inbox of the demo organization, creating it the first time.
    async fn webhook_inbox(&self, admin: &str, body: Value) -> StatusCode {
        let (_, inboxes) = self.get(admin, "/api/v1/inboxes").await;
        let existing = inboxes
            .as_array()
            .or_else(|| inboxes["inboxes"].as_array())
            .and_then(|all| all.iter().find(|i| i["channel"] == "freshdesk"))
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned);
        let inbox_id = match existing {
            Some(id) => id,
            None => self.test_inbox(admin, json!({})).await,
        };
        self.webhook(&inbox_id, "s3cret", body).await
    }
}

async fn customer_messages_carry_sentiment_and_the_trained_model_sets_the_topic(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;

    // Before any model is trained: a score, no topic.
    let calm = conversation_of_thread(
        &app,
        &admin,
        "t-calm",
        "c1",
        "Hi! Thanks, the locker worked great 😊",
    )
    .await;
    let message = &calm["messages"][0];
    assert!(
        message["sentiment"].as_i64().expect("a score") > 58,
        "{message}"
    );
    assert!(calm["conversation"]["topic"].is_null(), "{calm}");
    assert!(
        calm["conversation"]["sentiment"].as_i64().is_some(),
        "{calm}"
    );

    train_for_demo(&app.db).await;
    // The hub's cache rechecks the database; a restart makes the new model visible at once.
    let db = app.stop().await;
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    // A rule on the topic: it fires on the message that gave the conversation its topic.
    let (status, rule) = app
        .post(
            &admin,
            "/api/v1/escalation-rules",
            json!({
                "name": "Billing goes to a person",
                "triggers": [{ "type": "topic", "any": ["billing"] }],
                "actions": { "escalate": true, "tags": ["by-topic"] },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");

    let angry = conversation_of_thread(
        &app,
        &admin,
        "t-angry",
        "a1",
        "I was charged twice for one delivery and I'm FURIOUS. Refund the double payment NOW!!",
    )
    .await;
    let score = angry["messages"][0]["sentiment"].as_i64().expect("a score");
    assert!(score < 30, "{angry}");
    assert_eq!(
        angry["conversation"]["sentiment"].as_i64(),
        Some(score),
        "the first message sets the trend"
    );
    assert_eq!(angry["conversation"]["topic"], "billing", "{angry}");
    // Calm, so that the first rule to fire is the topic's.
    let invoice = conversation_of_thread(
        &app,
        &admin,
        "t-invoice",
        "i1",
        "Hello, could you send me an invoice for my last payment please?",
    )
    .await;
    assert_eq!(invoice["conversation"]["topic"], "billing", "{invoice}");
    assert!(
        invoice["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("by-topic")),
        "routing saw the topic of the first message: {invoice}"
    );

    let outside = conversation_of_thread(
        &app,
        &admin,
        "t-oos",
        "o1",
        "tell me a joke about the weather",
    )
    .await;
    assert!(
        outside["conversation"]["topic"].is_null(),
        "out of scope stays without a topic: {outside}"
    );

    // A second, calmer message moves the trend up, but not all the way.
    let later =
        conversation_of_thread(&app, &admin, "t-angry", "a2", "ok thanks, that helps a lot").await;
    let trend = later["conversation"]["sentiment"]
        .as_i64()
        .expect("a trend");
    let second = later["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|message| message["role"] == "customer")
        .nth(1)
        .and_then(|message| message["sentiment"].as_i64())
        .expect("a score");
    assert!(
        score < trend && trend < second,
        "{score} < {trend} < {second}"
    );
    assert_eq!(later["conversation"]["topic"], "billing", "the topic stays");
    app.stop().await;
}

fn switchboard(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[test]
fn topics_train_then_eval_topics_reports_accuracy_and_macro_f1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let org = switchboard(dir.path(), &["org", "add", "acme"]);
    assert!(org.status.success(), "{}", text(&org.stderr));

    let train = switchboard(
        dir.path(),
        &[
            "topics",
            "train",
            &fixture("topics/train.csv"),
            "--org",
            "acme",
        ],
    );
    assert!(train.status.success(), "{}", text(&train.stderr));
    let out = text(&train.stdout);
    for expected in [
        "classes:   10",
        "rows:      330",
        "held-out:",
        "unknown:   below probability",
        "time:",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }

    let eval = switchboard(
        dir.path(),
        &[
            "eval",
            "topics",
            &fixture("topics/test.csv"),
            "--org",
            "acme",
        ],
    );
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let out = text(&eval.stdout);
    let figure = |name: &str| -> f64 {
        out.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .map(|v| v.trim_end_matches('%'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    assert!(figure("accuracy:") >= 85.0, "{out}");
    assert!(figure("macro-F1:") >= 0.8, "{out}");
    assert!(figure("out-of-scope recall") >= 60.0, "{out}");

    let json = switchboard(
        dir.path(),
        &[
            "eval",
            "topics",
            &fixture("topics/test.csv"),
            "--org",
            "acme",
            "--json",
        ],
    );
    assert!(json.status.success());
    let lines: Vec<Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 95);
    assert!(lines.iter().any(|l| l["predicted"] == "unknown"));
    for line in &lines {
        assert!(line["text"].is_string());
        let score = line["score"].as_f64().expect("a probability");
        assert!((0.0..=1.0).contains(&score));
    }

    // An organization without a model, and one that does not exist: one line, exit 2.
    switchboard(dir.path(), &["org", "add", "bare"]);
    for org in ["bare", "nope"] {
        let out = switchboard(
            dir.path(),
            &["eval", "topics", &fixture("topics/test.csv"), "--org", org],
        );
        assert_eq!(out.status.code(), Some(2), "{org}");
        assert_eq!(
            text(&out.stderr).lines().count(),
            1,
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn eval_sentiment_prints_accuracy_a_confusion_matrix_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = switchboard(
        dir.path(),
        &["eval", "sentiment", &fixture("eval/sentiment-holdout.csv")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "rows:             154",
        "accuracy:",
        "negative-vs-rest:",
        "truth \\ predicted",
        "negative",
        "neutral",
        "positive",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    let matrix: usize = stdout
        .lines()
        .filter(|l| {
            ["negative ", "neutral ", "positive "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|n| n.parse::<usize>().expect("a count"))
        })
        .sum();
    assert_eq!(matrix, 154, "every row lands in the matrix");

    let json = switchboard(
        dir.path(),
        &[
            "eval",
            "sentiment",
            &fixture("eval/sentiment.csv"),
            "--json",
        ],
    );
    assert!(json.status.success());
    let lines: Vec<Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() >= 300);
    for line in &lines {
        assert!(
            ["negative", "neutral", "positive"]
                .contains(&line["predicted"].as_str().expect("a label"))
        );
        assert!(line["score"].as_u64().expect("a score") <= 100);
        assert!(line["text"].is_string());
    }
}

#[test]
fn bad_csv_files_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("writes");
        path.display().to_string()
    };
    let cases = [
        (
            write("short.csv", b"text,label\nfine,negative\nbroken\n"),
            "line 3",
        ),
        (
            write("header.csv", b"message,sentiment\nhi,neutral\n"),
            "header",
        ),
        (write("label.csv", b"text,label\nhi,angry\n"), "`angry`"),
        (write("empty.csv", b"text,label\n"), "no rows"),
        (
            write("binary.csv", b"text,label\n\xff\xfe,neutral\n"),
            "UTF-8",
        ),
        (
            dir.path().join("missing.csv").display().to_string(),
            "cannot read",
        ),
    ];
    for (path, reason) in &cases {
        let out = switchboard(dir.path(), &["eval", "sentiment", path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(reason), "{reason} in {stderr}");
    }
    switchboard(dir.path(), &["org", "add", "acme"]);
    let one_topic = write("one.csv", b"text,label\na,x\nb,x\nc,x\nd,x\n");
    let out = switchboard(
        dir.path(),
        &["topics", "train", &one_topic, "--org", "acme"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("at least two topics"),
        "{}",
        text(&out.stderr)
    );
}
