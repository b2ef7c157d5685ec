//! Retention policies (issue 23): the once-per-cluster job deletes or anonymizes conversations
//! resolved longer ago than the policy keeps them, knowledge gaps and dead letters; the dry run over the
//! API and the CLI; admins only; other organizations untouched; on SQLite and PostgreSQL. The
//! hub's clock is manual, so "40 days ago" is a time the test set.

mod support;

use std::path::PathBuf;

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::{
    ChannelKind, Clock, ContactRef, DropReason, IgnoredEvent, InboundEvent, InboundFile,
    InboundMessage, new_id,
};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    the_job_deletes_expired_conversations_and_gaps,
    anonymize_mode_keeps_conversations_without_their_words,
    dry_runs_count_and_the_cli_purges,
);

/// The hub's settings with the retention job running every second.
fn every_second(db: &TestDatabase) -> switchboard::Settings {
    switchboard::Settings {
        retention_check_secs: 1,
        ..support::settings(db)
    }
}

/// What a test's organizations hold, made at times the manual clock was set to.
struct World {
    admin: String,
    org_id: String,
    /// Open, its customer first wrote 100 days ago.
    open: String,
    /// Resolved 40 days ago; its customer sent a file.
    old: String,
    /// Resolved 10 days ago.
    recent: String,
    /// Where the old conversation's file is kept.
    old_file: PathBuf,
    /// The second organization's admin, and its conversation resolved 40 days ago.
    globex: String,
    globex_old: String,
}

async fn resolve(app: &TestApp, token: &str, conversation: &str) {
    let (status, body) = app
        .post(
            token,
            &format!("/api/v1/conversations/{conversation}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Builds the world, then sets the clock to `now`.
async fn world(app: &TestApp, clock: &Clock, now: DateTime<Utc>) -> World {
    let admin = app.admin().await;
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let org_id = me["org_id"].as_str().expect("an org").to_owned();
    let inbox_id = app.test_inbox(&admin, json!({})).await;
    let globex = app.second_organization().await;
    let globex_inbox = app
        .test_inbox(&globex, json!({ "address": "help@globex.test" }))
        .await;
    let store = &app.state.store;

    clock.set(now - Duration::days(100));
    let open = app
        .customer_says(&admin, &inbox_id, "t100", "Zebra question still open")
        .await;
    store
        .record_gap(&org_id, "How do I tame an ancient gap", &[])
        .await
        .expect("a gap");
    let dropped = |detail: &str| IgnoredEvent::new(DropReason::Unsupported, detail);
    store
        .keep_dead_letter(
            &org_id,
            &inbox_id,
            ChannelKind::Telegram,
            &dropped("an ancient dead letter"),
            b"{}",
        )
        .await
        .expect("a dead letter");

    clock.set(now - Duration::days(40));
    let old = app
        .customer_says(&admin, &inbox_id, "t40", "Walrus question long resolved")
        .await;
    let inbox = store
        .inbox(&org_id, &inbox_id)
        .await
        .expect("reads")
        .expect("the inbox");
    let with_file = InboundMessage {
        thread_key: "t40".into(),
        channel_message_id: Some(new_id()),
        sender: ContactRef {
            external_id: "t40@customer.test".into(),
            email: Some("t40@customer.test".into()),
            ..Default::default()
        },
        text: "Walrus photo attached".into(),
        files: vec![InboundFile {
            filename: "walrus.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"the walrus's own bytes".to_vec(),
        }],
        ..Default::default()
    };
    switchboard::ingest_events(
        &app.state,
        &inbox,
        vec![InboundEvent::Message(with_file)],
        b"",
    )
    .await
    .expect("ingests");
    let detail = app.conversation(&admin, &old).await;
    let url = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find_map(|message| message["attachments"][0]["url"].as_str())
        .expect("a kept file")
        .to_owned();
    let (hash, filename) = url
        .strip_prefix("/api/v1/attachments/")
        .and_then(|rest| rest.split_once('/'))
        .expect("a kept file's url");
    let old_file = switchboard::attachment_path(
        &app.state.settings.attachments_dir(),
        &org_id,
        hash,
        filename,
    );
    assert!(old_file.exists(), "{}", old_file.display());
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{old}/messages"),
            json!({ "text": "Walrus answer from an agent" }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    resolve(app, &admin, &old).await;
    let globex_old = app
        .customer_says(&globex, &globex_inbox, "g40", "Okapi question at globex")
        .await;
    resolve(app, &globex, &globex_old).await;

    clock.set(now - Duration::days(10));
    let recent = app
        .customer_says(&admin, &inbox_id, "t10", "Narwhal question resolved lately")
        .await;
    resolve(app, &admin, &recent).await;

    clock.set(now - Duration::days(1));
    store
        .record_gap(&org_id, "Where is the fresh gap", &[])
        .await
        .expect("a gap");
    store
        .keep_dead_letter(
            &org_id,
            &inbox_id,
            ChannelKind::Telegram,
            &dropped("a fresh dead letter"),
            b"{}",
        )
        .await
        .expect("a dead letter");

    clock.set(now);
    World {
        admin,
        org_id,
        open,
        old,
        recent,
        old_file,
        globex,
        globex_old,
    }
}

/// Now, to the second: the CLI compares with the system clock.
fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::seconds(1))
        .expect("truncates")
}

/// Saves the organization's policy as an admin.
async fn set_policy(app: &TestApp, admin: &str, policy: Value) {
    let (status, saved) = put_policy(app, admin, policy.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved, policy);
}

async fn put_policy(app: &TestApp, token: &str, policy: Value) -> (StatusCode, Value) {
    app.send(Method::PUT, token, "/api/v1/retention", policy)
        .await
}

/// Every route that shows an organization's texts, where `word` is found.
async fn shown_in(app: &TestApp, token: &str, conversation: &str, word: &str) -> Vec<String> {
    let mut found = Vec::new();
    for path in [
        "/api/v1/conversations".to_owned(),
        "/api/v1/conversations?status=resolved".to_owned(),
        format!("/api/v1/conversations/{conversation}"),
        format!("/api/v1/search?q={word}"),
    ] {
        let (status, body) = app.get(token, &path).await;
        if status.is_success() && body.to_string().to_lowercase().contains(word) {
            found.push(path);
        }
    }
    found
}

/// The audit entries the retention job wrote.
async fn purges_audited(app: &TestApp, admin: &str) -> Vec<Value> {
    let (status, audit) = app.get(admin, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["action"] == "retention.purged")
        .cloned()
        .collect()
}

/// Waits until the retention job has audited a run, or fails after ten seconds.
async fn wait_for_purge(app: &TestApp, admin: &str) -> Vec<Value> {
    for _ in 0..400 {
        let audited = purges_audited(app, admin).await;
        if !audited.is_empty() {
            return audited;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the retention job never purged anything");
}

async fn the_job_deletes_expired_conversations_and_gaps(db: TestDatabase) {
    let now = now();
    let clock = Clock::manual(now - Duration::days(100));
    let app = TestApp::spawn_quiet_with_clock(db, every_second, clock.clone()).await;
    let world = world(&app, &clock, now).await;
    let admin = &world.admin;

    // Nothing is kept from anyone until a policy says so.
    let (status, policy) = app.get(admin, "/api/v1/retention").await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert_eq!(
        policy,
        json!({ "resolved_conversations_days": null, "knowledge_gaps_days": null,
                "mode": "delete" })
    );
    // Admins only.
    for role in ["support_agent", "support_manager"] {
        let token = app.user_token(admin, role).await;
        assert_eq!(
            app.get(&token, "/api/v1/retention").await.0,
            StatusCode::FORBIDDEN
        );
        let (status, _) = put_policy(
            &app,
            &token,
            json!({ "resolved_conversations_days": 1, "mode": "delete" }),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.post(&token, "/api/v1/retention/dry-run", json!({}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    for bad in [
        json!({ "resolved_conversations_days": 0, "mode": "delete" }),
        json!({ "knowledge_gaps_days": -3, "mode": "delete" }),
        json!({ "knowledge_gaps_days": 4_000_000_000u64, "mode": "delete" }),
        json!({ "resolved_conversations_days": 30, "mode": "shred" }),
    ] {
        let (status, body) = put_policy(&app, admin, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    set_policy(
        &app,
        admin,
        json!({ "resolved_conversations_days": 30, "knowledge_gaps_days": 30,
                "mode": "delete" }),
    )
    .await;
    wait_for_purge(&app, admin).await;
    assert_eq!(
        app.get(admin, &format!("/api/v1/conversations/{}", world.old))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The 40-day-old conversation is gone from every route, its file from the disk.
    assert_eq!(
        shown_in(&app, admin, &world.old, "walrus").await,
        Vec::<String>::new()
    );
    assert!(!world.old_file.exists(), "{}", world.old_file.display());
    // The recent one and the open one (older, but never resolved) stay, and so does the other
    // organization's, as old as the purged one.
    for kept in [&world.recent, &world.open] {
        let detail = app.conversation(admin, kept).await;
        assert!(!detail["messages"].as_array().expect("messages").is_empty());
    }
    assert!(
        shown_in(&app, admin, &world.recent, "narwhal")
            .await
            .contains(&"/api/v1/search?q=narwhal".to_owned())
    );
    let detail = app.conversation(&world.globex, &world.globex_old).await;
    assert!(detail.to_string().contains("Okapi question at globex"));

    // The ancient gap went, the fresh one stayed.
    let (_, gaps) = app.get(admin, "/api/v1/kb/gaps").await;
    let gaps = gaps.to_string();
    assert!(!gaps.contains("ancient gap"), "{gaps}");
    assert!(gaps.contains("fresh gap"), "{gaps}");
    // Dead letters go with the conversations' days.
    let (_, letters) = app.get(admin, "/api/v1/dead-letters").await;
    let details: Vec<_> = letters["dead_letters"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|letter| letter["detail"].clone())
        .collect();
    assert_eq!(details, vec![json!("a fresh dead letter")]);

    // One audit entry for the run, with counts and no words.
    let audited = purges_audited(&app, admin).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor"], "retention");
    assert_eq!(audited[0]["data"]["conversations"], 1);
    assert_eq!(audited[0]["data"]["messages"], 3);
    assert_eq!(audited[0]["data"]["files"], 1);
    assert_eq!(audited[0]["data"]["knowledge_gaps"], 1);
    assert_eq!(audited[0]["data"]["dead_letters"], 1);
    assert!(!audited[0].to_string().to_lowercase().contains("walrus"));

    let (status, due) = app
        .post(admin, "/api/v1/retention/dry-run", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{due}");
    assert_eq!(due, json!({ "conversations": 0, "knowledge_gaps": 0 }));
}

async fn anonymize_mode_keeps_conversations_without_their_words(db: TestDatabase) {
    let now = now();
    let clock = Clock::manual(now - Duration::days(100));
    let app = TestApp::spawn_quiet_with_clock(db, every_second, clock.clone()).await;
    let world = world(&app, &clock, now).await;
    let admin = &world.admin;
    let before = app.conversation(admin, &world.old).await;
    let count = before["messages"].as_array().expect("messages").len();

    set_policy(&app, admin, json!({ "resolved_conversations_days": 30, "knowledge_gaps_days": null, "mode": "anonymize" })).await;
    let anonymized = app
        .wait_for(admin, &world.old, |detail| {
            detail["messages"].as_array().is_some_and(|messages| {
                messages
                    .iter()
                    .all(|message| message["text"] == "[removed]")
            })
        })
        .await;
    let messages = anonymized["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), count);
    assert!(
        messages
            .iter()
            .all(|message| message["attachments"].as_array().is_none_or(Vec::is_empty)),
        "{anonymized}"
    );
    assert_eq!(
        shown_in(&app, admin, &world.old, "walrus").await,
        Vec::<String>::new()
    );
    assert!(!world.old_file.exists(), "{}", world.old_file.display());
    let recent = app.conversation(admin, &world.recent).await;
    assert!(
        recent
            .to_string()
            .contains("Narwhal question resolved lately")
    );
    let globex = app.conversation(&world.globex, &world.globex_old).await;
    assert!(globex.to_string().contains("Okapi question at globex"));

    // Done once: nothing is left to anonymize, and the gaps had no limit.
    let (_, due) = app
        .post(admin, "/api/v1/retention/dry-run", json!({}))
        .await;
    assert_eq!(due, json!({ "conversations": 0, "knowledge_gaps": 0 }));
    let (_, gaps) = app.get(admin, "/api/v1/kb/gaps").await;
    assert!(gaps.to_string().contains("ancient gap"), "{gaps}");
    let audited = purges_audited(&app, admin).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["data"]["mode"], "anonymize");
    assert_eq!(audited[0]["data"]["conversations"], 1);
}

fn switchboard(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--data-dir")
        .arg(db.dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .output()
        .expect("runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn dry_runs_count_and_the_cli_purges(db: TestDatabase) {
    let now = now();
    let clock = Clock::manual(now - Duration::days(100));
    // The job runs once at start, then not for an hour: the dry runs see what is due.
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock.clone()).await;
    let world = world(&app, &clock, now).await;
    let admin = &world.admin;
    set_policy(
        &app,
        admin,
        json!({ "resolved_conversations_days": 30, "knowledge_gaps_days": 30,
                "mode": "delete" }),
    )
    .await;
    let (status, due) = app
        .post(admin, "/api/v1/retention/dry-run", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{due}");
    assert_eq!(due, json!({ "conversations": 1, "knowledge_gaps": 1 }));
    // Changing nothing.
    app.conversation(admin, &world.old).await;
    let slug = app
        .state
        .store
        .org(&world.org_id)
        .await
        .expect("reads")
        .expect("the org")
        .slug;
    let db = app.stop().await;

    let dry = stdout(&switchboard(
        &db,
        &["retention", "run", "--org", &slug, "--dry-run"],
    ));
    assert!(
        dry.contains("1 conversations") && dry.contains("1 knowledge gaps"),
        "{dry}"
    );
    let unknown = switchboard(&db, &["retention", "run", "--org", "nope", "--dry-run"]);
    assert_eq!(unknown.status.code(), Some(2));
    let run = stdout(&switchboard(&db, &["retention", "run", "--org", &slug]));
    assert!(
        run.contains("1 conversations") && run.contains("1 knowledge gaps"),
        "{run}"
    );
    assert!(!world.old_file.exists(), "{}", world.old_file.display());
    let again = stdout(&switchboard(
        &db,
        &["retention", "run", "--org", &slug, "--dry-run"],
    ));
    assert!(
        again.contains("0 conversations") && again.contains("0 knowledge gaps"),
        "{again}"
    );

    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock).await;
    let admin = app.admin().await;
    assert_eq!(
        app.get(&admin, &format!("/api/v1/conversations/{}", world.old))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.conversation(&admin, &world.recent).await;
    let audited = purges_audited(&app, &admin).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor"], "cli");
}
