//! The knowledge-base REST API and the AI as the hub builds it: CRUD with versions, roles,
//! tenant isolation, the demo knowledge base of the first start, knowledge gaps, and answers
//! that follow article changes. On SQLite and PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_model::{NoDeltas, Question, Response};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    articles_are_created_edited_versioned_and_listed,
    knowledge_editors_write_and_agents_only_read,
    other_organizations_get_404,
    the_responder_follows_article_changes_and_records_gaps,
);

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    app.send(Method::PUT, token, path, body).await
}

async fn articles_are_created_edited_versioned_and_listed(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;

    // The first start imported the demo knowledge base, published.
    let (status, list) = app
        .get(&admin, "/api/v1/kb/articles?status=published")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["articles"].as_array().expect("articles").len(), 20);
    assert!(
        list["articles"][0].get("body").is_none(),
        "lists leave bodies out"
    );

    let (status, created) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "Gift cards", "body": "## Buying\nNot yet.", "tags": ["gift"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 1);
    assert_eq!(created["category"], Value::Null);
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/kb/articles/{id}");

    let (status, edited) = put(
        &app,
        &admin,
        &path,
        json!({ "body": "## Buying\nZebra soon.", "category": "Billing" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"], 2);
    let (_, published) = put(&app, &admin, &path, json!({ "status": "published" })).await;
    assert_eq!(
        published["version"], 2,
        "a status change is not a new version"
    );
    assert_eq!(published["status"], "published");

    let (status, fetched) = app.get(&admin, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["body"], "## Buying\nZebra soon.");
    assert_eq!(fetched["category"], "Billing");

    let (_, versions) = app.get(&admin, &format!("{path}/versions")).await;
    let versions = versions["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[1]["body"], "## Buying\nNot yet.");
    assert!(versions[0]["author_id"].is_string());

    let (_, found) = app
        .get(&admin, "/api/v1/kb/articles?q=ZEBRA&category=Billing")
        .await;
    let titles: Vec<_> = found["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .map(|a| a["title"].clone())
        .collect();
    assert_eq!(titles, vec![json!("Gift cards")]);

    let (_, audit) = app.get(&admin, "/api/v1/audit").await;
    let actions = audit.to_string();
    assert!(actions.contains("kb_article.status_changed"), "{actions}");
    assert!(actions.contains("kb_article.created"));

    // Bad input: clear 4xx errors.
    let (status, body) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": " ", "body": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["code"].is_string());
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "T", "body": "x", "status": "gone" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get(&admin, "/api/v1/kb/articles?status=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = put(
        &app,
        &admin,
        "/api/v1/kb/articles/nope",
        json!({ "body": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&admin, "/api/v1/kb/articles/nope/versions").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn knowledge_editors_write_and_agents_only_read(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let agent = app.user_token(&admin, "support_agent").await;

    let (status, created) = app
        .post(
            &editor,
            "/api/v1/kb/articles",
            json!({ "title": "By editor", "body": "b" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!(
        "/api/v1/kb/articles/{}",
        created["id"].as_str().expect("id")
    );
    assert_eq!(
        put(&app, &editor, &path, json!({ "body": "c" })).await.0,
        StatusCode::OK
    );

    assert_eq!(app.get(&agent, &path).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&agent, "/api/v1/kb/articles").await.0,
        StatusCode::OK
    );
    assert_eq!(app.get(&agent, "/api/v1/kb/gaps").await.0, StatusCode::OK);
    assert_eq!(
        app.get(&agent, &format!("{path}/versions")).await.0,
        StatusCode::OK
    );
    let (status, body) = app
        .post(
            &agent,
            "/api/v1/kb/articles",
            json!({ "title": "No", "body": "b" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        put(&app, &agent, &path, json!({ "body": "d" })).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("", "/api/v1/kb/articles").await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn other_organizations_get_404(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let (_, created) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "Ours", "body": "b" }),
        )
        .await;
    let path = format!(
        "/api/v1/kb/articles/{}",
        created["id"].as_str().expect("id")
    );

    let intruder = app.second_organization().await;
    assert_eq!(app.get(&intruder, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&intruder, &format!("{path}/versions")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put(&app, &intruder, &path, json!({ "body": "mine now" }))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app.get(&intruder, "/api/v1/kb/articles").await;
    assert_eq!(list["articles"], json!([]));
}

async fn the_responder_follows_article_changes_and_records_gaps(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let settings = support::settings(&app.db);
    let store = switchboard_store::Store::connect(&app.db.url)
        .await
        .expect("connects");
    let org = store
        .org_by_slug("demo")
        .await
        .expect("reads")
        .expect("demo");
    let knowledge = switchboard::knowledge(&settings, &store, true).expect("knowledge");
    let llm = switchboard::llm_client(&settings).expect("settings");
    let responder = switchboard::responder(llm, &store, knowledge, true);
    let ask = |text: &str| Question {
        org_id: org.id.clone(),
        inbox_id: String::new(),
        conversation_id: String::new(),
        text: text.into(),
        history: Vec::new(),
        min_confidence: switchboard::DEFAULT_MIN_CONFIDENCE,
        knowledge_stamp: None,
        received_at: None,
    };

    let question = ask("How many backup codes do I get?");
    let Response::Answered(answer) = responder.respond(&question, &NoDeltas).await.expect("ok")
    else {
        panic!("the demo knowledge base answers this");
    };
    assert_eq!(answer.sources[0].title, "Two-factor authentication (2FA)");
    assert!(answer.text.contains("10"), "{}", answer.text);
    // Asked again: from the cache, counted in /metrics (the process's recorder, which other
    // tests add to as well: at least this hit more).
    let hits = "switchboard_ai_cache_lookups_total{outcome=\"hit\"}";
    let hits_before = app.metric(hits).await;
    responder.respond(&question, &NoDeltas).await.expect("ok");
    let hits_after = app.metric(hits).await;
    assert!(
        hits_after >= hits_before + 1.0,
        "{hits}: {hits_before} before, {hits_after} after"
    );
    assert!(
        app.metric("switchboard_ai_cache_hit_ratio").await > 0.0,
        "a hit makes the ratio more than none"
    );
    assert!(
        settings
            .data_dir
            .join("kb")
            .join(&org.id)
            .join("manifest.json")
            .exists(),
        "the index lives in the data dir"
    );

    // Archiving the article through the API: the next answer (not the cached one) no longer
    // comes from it.
    let article_id = answer.sources[0].article_id.clone();
    let (status, _) = put(
        &app,
        &admin,
        &format!("/api/v1/kb/articles/{article_id}"),
        json!({ "status": "archived" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    match responder.respond(&question, &NoDeltas).await.expect("ok") {
        Response::Answered(answer) => assert!(
            answer.sources.iter().all(|s| s.article_id != article_id),
            "answered from an archived article"
        ),
        Response::Declined { .. } => {}
    }

    for text in [
        "Do you ship to Japan?",
        "do you ship to Japan",
        "Shipping to Japan?",
        "Can the box run on solar power?",
    ] {
        let response = responder.respond(&ask(text), &NoDeltas).await.expect("ok");
        assert!(
            matches!(response, Response::Declined { .. }),
            "{text}: {response:?}"
        );
    }
    let (status, gaps) = app.get(&admin, "/api/v1/kb/gaps").await;
    assert_eq!(status, StatusCode::OK);
    let gaps = gaps["gaps"].as_array().expect("gaps").clone();
    assert_eq!(gaps[0]["question"], "Do you ship to Japan?", "{gaps:?}");
    assert_eq!(gaps[0]["count"], 3);
    assert_eq!(gaps[0]["examples"].as_array().expect("examples").len(), 2);
    assert!(
        gaps.iter()
            .any(|g| g["question"] == "Can the box run on solar power?")
    );
}

/// With the built-in sentence encoder on (the default), the hub prepares every knowledge base
/// at start: the demo's passages are encoded, and kept in the data dir, before anyone asks;
/// `/metrics` says so (`switchboard_knowledge_preparing`, which a load test waits for).
#[tokio::test]
async fn the_hub_encodes_its_knowledge_bases_at_start_before_any_question() {
    const PREPARING: &str = "switchboard_knowledge_preparing";
    let db = TestDatabase::sqlite();
    let settings = switchboard::Settings {
        offline_encoder: true,
        ..support::settings(&db)
    };
    let app = TestApp::spawn_full(db, settings, None).await;
    // The only hub of this binary with the encoder on: nothing else sets the gauge.
    assert_eq!(app.metric(PREPARING).await, 1.0, "preparing from the start");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while app.metric(PREPARING).await != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still preparing after 3 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let kb = app.db.dir.path().join("kb");
    let encoded = || {
        std::fs::read_dir(&kb)
            .into_iter()
            .flatten()
            .flatten()
            .map(|org| org.path().join("encoded.json"))
            .find(|path| path.exists())
    };
    // Prepared means encoded and kept.
    let path = encoded().expect("the demo's encoding is kept in the data dir");
    let kept: Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
    // The demo's 20 articles, each with its passages' vectors.
    let articles = kept.as_object().expect("by article");
    assert_eq!(articles.len(), 20, "{path:?}");
    assert!(
        articles
            .values()
            .all(|a| !a[1].as_array().expect("passages").is_empty())
    );
}
