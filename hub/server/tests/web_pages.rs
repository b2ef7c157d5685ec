//! The pages the hub serves for people: the chat widget's script and the demo page that embeds it
//! with the demo organization's web-chat inbox (or a clear 404 on a hub without the demo).

mod support;

use reqwest::StatusCode;
use support::TestApp;
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    the_demo_page_embeds_the_demo_webchat_inbox,
    the_demo_page_is_a_clear_404_without_the_demo,
    the_widget_script_is_served_with_the_contract_names,
    every_page_carries_a_content_security_policy,
);

async fn page(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = app.client.get(app.url(path)).send().await.expect("sends");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("a body"))
}

async fn the_demo_page_embeds_the_demo_webchat_inbox(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.admin().await;
    let (status, inboxes) = app.get(&admin, "/api/v1/inboxes").await;
    assert_eq!(status, StatusCode::OK);
    let webchat_id = inboxes
        .as_array()
        .expect("a list of inboxes")
        .iter()
        .find(|inbox| inbox["channel"] == "webchat")
        .and_then(|inbox| inbox["id"].as_str())
        .expect("the demo web-chat inbox")
        .to_owned();

    let (status, content_type, html) = page(&app, "/demo").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        html.contains(&format!(
            r#"<script src="/widget.js" data-inbox="{webchat_id}""#
        )),
        "the page embeds the widget for inbox {webchat_id}"
    );
    assert!(!html.contains("{{"), "no placeholder is left in the page");
    assert!(html.contains("Parcelo"));
    app.stop().await;
}

async fn the_demo_page_is_a_clear_404_without_the_demo(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |db| switchboard::Settings {
        no_demo: true,
        ..support::settings(db)
    })
    .await;
    let (status, _, html) = page(&app, "/demo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("--no-demo"), "{html}");
    // The widget itself is still served: a hub without the demo still has web chat.
    let (status, _, _) = page(&app, "/widget.js").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

async fn the_widget_script_is_served_with_the_contract_names(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (status, content_type, script) = page(&app, "/widget.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    for name in [
        "Open chat",
        "'Message'",
        "'Send'",
        "Talk to a human",
        "'1 star'",
        "stars`",
        "attachShadow",
        "chat/ws",
        "resume",
    ] {
        assert!(script.contains(name), "the widget has {name}");
    }
    // The budget is 30 KB gzipped; unminified and uncompressed it must stay well under 100 KB.
    assert!(
        script.len() < 100_000,
        "widget.js is {} bytes",
        script.len()
    );
    app.stop().await;
}

/// Issue 23, finding 4 and 10: a strict policy on every page (no inline script but the demo's
/// own, by hash; connections only to the hub; no framing), no sniffing, no referrer.
async fn every_page_carries_a_content_security_policy(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    for path in ["/", "/demo", "/ui/app/index.html"] {
        let response = app.client.get(app.url(path)).send().await.expect("sends");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = header(&response, "content-security-policy").expect("a policy");
        for directive in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        let connect = format!("connect-src 'self' ws://{0} wss://{0}", app.addr);
        assert!(policy.contains(&connect), "{path}: {policy}");
        let scripts = policy
            .split(';')
            .map(str::trim)
            .find(|directive| directive.starts_with("script-src"))
            .expect("script-src")
            .to_owned();
        assert!(!scripts.contains("unsafe"), "{path}: {scripts}");
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&response, "referrer-policy").as_deref(),
            Some("no-referrer")
        );
        let html = response.text().await.expect("a body");
        if path == "/demo" {
            // The demo's one inline script is allowed by its hash, and only it.
            assert_eq!(scripts.matches("'sha256-").count(), 1, "{scripts}");
            assert!(html.contains("<script>"));
        } else {
            assert_eq!(scripts, "script-src 'self'");
            assert!(!html.contains("<script>"), "{path} has an inline script");
        }
    }
    // Assets are not sniffed either.
    let response = app
        .client
        .get(app.url("/ui/app/main.js"))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    app.stop().await;
}
