//! The agent inbox and the widget in a real browser: boots the hub (demo data, an admin, a
//! test-channel inbox with a few conversations) and runs `node --test` on `inbox-ui/tests`
//! (playwright-core driving Debian's chromium). Without chromium or `inbox-ui/node_modules` the
//! tests say why and pass, unless `CI=true`, where they fail. Also `list_with_10000_conversations`
//! (ignored; run by hand): the first load and scrolling figures of BENCHMARKS.md.

mod support;

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::json;
use support::TestApp;
use switchboard_model::{ContactRef, InboundMessage};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(inbox_in_a_real_browser);

/// One browser run at a time: two cores do not run several chromiums well.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TEST_SECRET: &str = "browser-secret";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser tests can run here; outside CI a missing piece skips them.
fn ready_to_run() -> bool {
    let mut missing = Vec::new();
    if !chromium().exists() {
        missing.push(format!(
            "{} (apt-get install chromium)",
            chromium().display()
        ));
    }
    if !workspace()
        .join("inbox-ui/node_modules/playwright-core")
        .exists()
    {
        missing.push("inbox-ui/node_modules (cd inbox-ui && npm ci)".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the browser tests cannot run: missing {}",
        missing.join(", ")
    );
    eprintln!("skipping the browser tests: missing {}", missing.join(", "));
    false
}

/// The hub with what the tests expect: the demo's web-chat inbox, a test-channel inbox and a
/// few conversations in it. Returns the environment for node.
async fn prepare(app: &TestApp) -> Vec<(&'static str, String)> {
    let admin = app.admin().await;
    let inbox_id = app
        .test_inbox(&admin, json!({ "inbound_secret": TEST_SECRET }))
        .await;
    for (thread, text) in [
        ("seed-1", "Where is my parcel?"),
        ("seed-2", "The box will not lock"),
        ("seed-3", "How do I change my plan?"),
    ] {
        let status = app
            .webhook(
                &inbox_id,
                TEST_SECRET,
                json!({ "thread": thread, "from": format!("{thread}@customer.test"),
                        "id": format!("{thread}-1"), "text": text }),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK);
    }
    let (_, inboxes) = app.get(&admin, "/api/v1/inboxes").await;
    let webchat = inboxes
        .as_array()
        .and_then(|inboxes| inboxes.iter().find(|inbox| inbox["channel"] == "webchat"))
        .and_then(|inbox| inbox["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    vec![
        ("HUB_URL", app.url("")),
        ("ADMIN_EMAIL", support::ADMIN_EMAIL.to_owned()),
        ("ADMIN_PASSWORD", support::ADMIN_PASSWORD.to_owned()),
        ("TEST_EMAIL_INBOX_ID", inbox_id),
        ("TEST_EMAIL_SECRET", TEST_SECRET.to_owned()),
        ("WEBCHAT_INBOX_ID", webchat),
        ("CHROMIUM", chromium().display().to_string()),
    ]
}

/// Runs node on `files` (paths under `inbox-ui/tests`) and fails with its output if it fails.
async fn run_node(env: &[(&'static str, String)], args: &[&str]) {
    // One browser suite at a time: several Chromiums on two cores make every wait a timeout.
    static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = ONE_BROWSER.lock().await;
    let mut command = tokio::process::Command::new("node");
    command
        .current_dir(workspace())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let run = command.output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("node finishes within 10 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "node failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// The test files to run: every one, or those whose names contain one of the comma-separated
/// words of `SWITCHBOARD_BROWSER_TESTS` (`SWITCHBOARD_BROWSER_TESTS=bulk,merge`) while working
/// on them.
fn test_files(widget: bool) -> Vec<String> {
    let only: Vec<String> = std::env::var("SWITCHBOARD_BROWSER_TESTS")
        .map(|words| words.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut files: Vec<String> = std::fs::read_dir(workspace().join("inbox-ui/tests"))
        .expect("inbox-ui/tests exists")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .filter(|name| (name == "widget-e2e.test.mjs") == widget)
        .filter(|name| only.is_empty() || only.iter().any(|word| name.contains(word.as_str())))
        .map(|name| format!("inbox-ui/tests/{name}"))
        .collect();
    files.sort();
    files
}

async fn inbox_in_a_real_browser(db: TestDatabase) {
    if !ready_to_run() {
        return;
    }
    let _one_at_a_time = BROWSER.lock().await;
    let app = TestApp::spawn_quiet(db).await;
    let files = test_files(false);
    if files.is_empty() {
        eprintln!("SWITCHBOARD_BROWSER_TESTS leaves out every inbox test file");
        return;
    }
    let env = prepare(&app).await;
    let mut args = vec!["--test", "--test-concurrency=1"];
    args.extend(files.iter().map(String::as_str));
    run_node(&env, &args).await;
}

/// The web-chat widget end to end (CONTRACT.md's accessible names): needs the widget and
/// `/chat/ws`, which the webchat branch builds.
#[tokio::test]
async fn widget_end_to_end_in_a_real_browser() {
    if !ready_to_run() {
        return;
    }
    let _one_at_a_time = BROWSER.lock().await;
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    let files = test_files(true);
    if files.is_empty() {
        // `node --test` with no file would run every test file it finds.
        eprintln!("SWITCHBOARD_BROWSER_TESTS leaves out the widget's test file");
        return;
    }
    let env = prepare(&app).await;
    let mut args = vec!["--test", "--test-concurrency=1"];
    args.extend(files.iter().map(String::as_str));
    run_node(&env, &args).await;
}

/// BENCHMARKS.md: the list with 10,000 conversations in the database. Run with
/// `cargo test -p switchboard --test browser -- --ignored --nocapture list_with_10000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn list_with_10000_conversations() {
    if !ready_to_run() {
        return;
    }
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    let env = prepare(&app).await;
    let store = switchboard_store::Store::connect(&app.db.url)
        .await
        .expect("store");
    let inbox_id = env
        .iter()
        .find(|(name, _)| *name == "TEST_EMAIL_INBOX_ID")
        .map(|(_, value)| value.clone())
        .expect("the inbox");
    let org = store
        .org_by_slug("demo")
        .await
        .expect("reads")
        .expect("demo");
    let started = std::time::Instant::now();
    for n in 0..10_000 {
        let message = InboundMessage {
            thread_key: format!("bulk-{n}"),
            channel_message_id: Some(format!("bulk-{n}")),
            sender: ContactRef {
                external_id: format!("customer-{n}@bulk.test"),
                name: Some(format!("Customer {n}")),
                email: Some(format!("customer-{n}@bulk.test")),
                phone: None,
            },
            text: format!("Question number {n} about my parcel"),
            attachments: Vec::new(),
            subject: None,
            sent_at: None,
            ..Default::default()
        };
        store
            .ingest(
                &org.id,
                &inbox_id,
                switchboard_model::ChannelKind::Email,
                &message,
                switchboard_ai::sentiment::message_score(&message.text),
            )
            .await
            .expect("ingests");
    }
    println!("seeded 10,000 conversations in {:?}", started.elapsed());
    run_node(&env, &["inbox-ui/tests/bench/list-10000.mjs"]).await;
}
