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
