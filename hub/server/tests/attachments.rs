//! Agents' files on replies over HTTP, on SQLite and on PostgreSQL: uploads checked against
//! the conversation's channel, replies that take only their own conversation's uploads, an
//! email reply delivered through the outbox with the files' bytes, and web-chat visitors'
//! signed download links.

mod support;

use mail_parser::{MessageParser, MimeHeaders};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    TestApp,
    chat::{Chat, webchat_inbox},
    next_agent_message,
};
use switchboard_model::Secret;
use switchboard_testkit::{FakePlatform, FakeResponse, SmtpSink, TestDatabase, backend_tests};

backend_tests!(
    uploads_are_checked_against_the_conversations_channel,
    replies_take_only_files_uploaded_to_their_conversation,
    an_email_reply_goes_out_with_the_uploaded_bytes,
    a_telegram_reply_sends_the_uploaded_photo,
    web_chat_visitors_download_agents_files_by_a_signed_link,
);

const EMAIL_SECRET: &str = "email inbound secret";
const WA_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
const TG_TOKEN: &str = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const TG_SECRET: &str = "sb_9f8e7d6c5b4a-secret";

/// Uploads `bytes` as a file of the conversation.
async fn upload(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    filename: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let filename: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/conversations/{conversation_id}/attachments?filename={filename}"
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("sends");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn reply(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    text: &str,
    attachments: &[&str],
) -> (StatusCode, Value) {
    app.post(
        token,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        json!({ "text": text, "attachments": attachments }),
    )
    .await
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn download(app: &TestApp, token: Option<&str>, url: &str) -> (StatusCode, Vec<u8>) {
    let mut request = app.client.get(app.url(url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sends");
    let status = response.status();
    (status, response.bytes().await.expect("a body").to_vec())
}

/// A customer's email to a new email inbox delivering to `sink`; the conversation's id.
async fn email_conversation(app: &TestApp, admin: &str, sink: &SmtpSink) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "Email", "channel": "email", "config": {
                "address": "help@acme.test", "inbound_secret": EMAIL_SECRET,
                "smtp_url": sink.url(), "from_name": "Acme Support" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let inbox_id = inbox["id"].as_str().expect("an id");
    let raw = "From: Ann Customer <ann@customer.test>\r\nTo: help@acme.test\r\n\
               Subject: The lock\r\nMessage-ID: <first-1@customer.test>\r\n\
               Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nMy box won't lock.\r\n";
    let response = app
        .client
        .post(app.url(&format!("/webhooks/email/{inbox_id}")))
        .header(
            "x-switchboard-signature",
            switchboard_email::sign(raw.as_bytes(), EMAIL_SECRET.as_bytes()),
        )
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    only_conversation(app, admin, inbox_id).await
}

async fn only_conversation(app: &TestApp, token: &str, inbox_id: &str) -> String {
    let (_, list) = app
        .get(token, &format!("/api/v1/conversations?inbox_id={inbox_id}"))
        .await;
    list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned()
}

/// A customer's WhatsApp message to a new WhatsApp inbox; the conversation's id.
async fn whatsapp_conversation(app: &TestApp, admin: &str, meta: &FakePlatform) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "WhatsApp", "channel": "whatsapp", "config": {
                "app_secret": WA_SECRET, "verify_token": "v", "access_token": "token",
                "phone_number_id": "106540352242922", "api_base_url": meta.url() } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let inbox_id = inbox["id"].as_str().expect("an id");
    let body = include_bytes!("../../../fixtures/whatsapp/text.json");
    let response = app
        .client
        .post(app.url(&format!("/webhooks/whatsapp/{inbox_id}")))
        .header(
            "x-hub-signature-256",
            switchboard_whatsapp::sign(&Secret::new(WA_SECRET), body),
        )
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    only_conversation(app, admin, inbox_id).await
}

async fn uploads_are_checked_against_the_conversations_channel(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let meta = FakePlatform::start(FakeResponse::json(200, json!({}))).await;
    let whatsapp = whatsapp_conversation(&app, &admin, &meta).await;

    // WhatsApp takes a JPEG of at most 5 MB, a document of up to 100 MB.
    let over_five_mb = vec![7u8; 5_000_001];
    let (status, body) = upload(
        &app,
        &admin,
        &whatsapp,
        "photo.jpg",
        "image/jpeg",
        over_five_mb.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("5000000"), "{body}");
    let (status, body) = upload(
        &app,
        &admin,
        &whatsapp,
        "scan.pdf",
        "application/pdf",
        over_five_mb,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], 5_000_001);
    assert_eq!(body["content_type"], "application/pdf");

    // Empty, an unreadable type, a name that would be a path.
    let (status, body) = upload(&app, &admin, &whatsapp, "a.txt", "text/plain", vec![]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("empty"), "{body}");
    let (status, _) = upload(&app, &admin, &whatsapp, "a.txt", "no type", vec![1]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = upload(
        &app,
        &admin,
        &whatsapp,
        "../../etc/passwd",
        "Text/Plain; charset=utf-8",
        b"root".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["filename"], "passwd");
    assert_eq!(body["content_type"], "text/plain");
    let (status, bytes) = download(&app, Some(&admin), body["url"].as_str().expect("a url")).await;
    assert_eq!((status, bytes), (StatusCode::OK, b"root".to_vec()));

    // A helpdesk conversation takes no files from the hub.
    let helpdesk = app.test_inbox(&admin, json!({})).await;
    let ticket = app.customer_writes(&admin, &helpdesk, "t-1").await;
    let (status, body) = upload(&app, &admin, &ticket, "a.txt", "text/plain", vec![1]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Who may not reply may not upload; another organization does not see the conversation.
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let (status, _) = upload(&app, &editor, &whatsapp, "a.txt", "text/plain", vec![1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let globex = app.second_organization().await;
    let (status, _) = upload(&app, &globex, &whatsapp, "a.txt", "text/plain", vec![1]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = upload(&app, &admin, "no-such-id", "a.txt", "text/plain", vec![1]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The route is in the API's description, with the reply's new field.
    let (_, openapi) = app.get(&admin, "/api/v1/openapi.json").await;
    assert!(
        openapi["paths"]["/api/v1/conversations/{id}/attachments"]["post"].is_object(),
        "{}",
        openapi["paths"]
    );
    assert!(
        openapi["components"]["schemas"]["ReplyRequest"]["properties"]["attachments"].is_object()
    );
    let body = &openapi["paths"]["/api/v1/conversations/{id}/attachments"]["post"]["requestBody"]["content"]
        ["application/octet-stream"]["schema"];
    let body = match body.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            &openapi["components"]["schemas"][reference.rsplit('/').next().unwrap_or_default()]
        }
        None => body,
    };
    assert_eq!(
        (&body["type"], &body["format"]),
        (&json!("string"), &json!("binary")),
        "{body}"
    );
    app.stop().await;
}

async fn replies_take_only_files_uploaded_to_their_conversation(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let sink = SmtpSink::start().await;
    let ours = email_conversation(&app, &admin, &sink).await;
    let webchat = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={webchat}")).await;
    chat.say("c-1", "Hello there").await;
    let other = only_conversation(&app, &admin, &webchat).await;

    let (status, uploaded) =
        upload(&app, &admin, &ours, "a.txt", "text/plain", b"a".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let id = uploaded["id"].as_str().expect("an id");
    let (status, elsewhere) =
        upload(&app, &admin, &other, "b.txt", "text/plain", b"b".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{elsewhere}");
    let elsewhere = elsewhere["id"].as_str().expect("an id");

    // Another conversation's upload, a made-up id, a tampered one: 422, nothing stored.
    let tampered = format!("{}x", &id[..id.len() - 1]);
    for bad in [elsewhere, "not-an-upload", tampered.as_str(), ""] {
        let (status, body) = reply(&app, &admin, &ours, "See attached", &[bad]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(
            error_message(&body).contains("not a file uploaded to this conversation"),
            "{body}"
        );
    }
    // Another organization cannot use our upload on its own conversation.
    let globex = app.second_organization().await;
    let globex_inbox = app.test_inbox(&globex, json!({})).await;
    let theirs = app.customer_writes(&globex, &globex_inbox, "g-1").await;
    let (status, _) = reply(&app, &globex, &theirs, "Mine now", &[id]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = app.conversation(&admin, &ours).await;
    assert_eq!(support::messages_of(&detail, "agent").len(), 0);

    // Email takes 18 MB of files per message (25 MB once encoded): two 10 MB files are too many.
    let mut big = Vec::new();
    for name in ["one.bin", "two.bin"] {
        let (status, body) = upload(
            &app,
            &admin,
            &ours,
            name,
            "application/octet-stream",
            vec![1u8; 10_000_000],
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        big.push(body["id"].as_str().expect("an id").to_owned());
    }
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    let (status, body) = reply(&app, &admin, &ours, "Both", &big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(error_message(&body).contains("18000000"), "{body}");

    // The contract's body without attachments still works, and still needs text.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{ours}/messages"),
            json!({ "text": "   " }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, note) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{ours}/messages"),
            json!({ "text": "Checking", "private": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["attachments"], json!([]));

    // A file alone is a reply.
    let (status, message) = reply(&app, &admin, &ours, "", &[id]).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(
        message["attachments"],
        json!([{ "filename": "a.txt", "content_type": "text/plain", "size": 1,
                 "url": uploaded["url"] }])
    );
    app.stop().await;
}

async fn an_email_reply_goes_out_with_the_uploaded_bytes(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let sink = SmtpSink::start().await;
    let conversation = email_conversation(&app, &admin, &sink).await;
    let pdf: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let (status, first) = upload(
        &app,
        &admin,
        &conversation,
        "label.pdf",
        "application/pdf",
        pdf.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let csv = b"order,status\r\n.5521,shipped\r\n".to_vec();
    let (status, second) = upload(
        &app,
        &admin,
        &conversation,
        "orders.csv",
        "text/csv",
        csv.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let ids = [
        first["id"].as_str().expect("an id"),
        second["id"].as_str().expect("an id"),
    ];
    let (status, message) =
        reply(&app, &admin, &conversation, "Your label is attached.", &ids).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");

    let received = sink.wait_for(1).await;
    let email = MessageParser::default()
        .parse(&received[0].data)
        .expect("parses");
    assert!(
        email
            .body_text(0)
            .is_some_and(|text| text.contains("Your label is attached."))
    );
    let files: Vec<(String, Vec<u8>)> = email
        .attachments()
        .map(|part| {
            (
                part.attachment_name().unwrap_or_default().to_owned(),
                part.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            ("label.pdf".to_owned(), pdf),
            ("orders.csv".to_owned(), csv)
        ]
    );
    let message_id = message["id"].as_str().expect("an id");
    app.wait_for(&admin, &conversation, |detail| {
        detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["id"] == message_id && m["delivery_status"] == "sent")
    })
    .await;
    app.stop().await;
}

async fn a_telegram_reply_sends_the_uploaded_photo(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let telegram = FakePlatform::start(FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": 1500, "date": 1700001000,
                "chat": { "id": 1111111, "type": "private" } } }),
    ))
    .await;
    let (status, inbox) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "Telegram", "channel": "telegram", "config": {
                "bot_token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": telegram.url() } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let inbox_id = inbox["id"].as_str().expect("an id");
    let response = app
        .client
        .post(app.url(&format!("/webhooks/telegram/{inbox_id}")))
        .header("x-telegram-bot-api-secret-token", TG_SECRET)
        .header("content-type", "application/json")
        .body(&include_bytes!("../../../fixtures/telegram/message_private.json")[..])
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    let conversation = only_conversation(&app, &admin, inbox_id).await;
    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8, 1, 2, 255][..]].concat();
    let (status, uploaded) = upload(
        &app,
        &admin,
        &conversation,
        "receipt.png",
        "image/png",
        png.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, message) = reply(
        &app,
        &admin,
        &conversation,
        "Your refund receipt.",
        &[uploaded["id"].as_str().expect("an id")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let requests = telegram.wait_for_requests(1).await;
    assert_eq!(requests.len(), 1, "the text rides as the caption");
    assert_eq!(requests[0].path, format!("/bot{TG_TOKEN}/sendPhoto"));
    assert_eq!(
        requests[0].form_field("caption").as_deref(),
        Some("Your refund receipt.")
    );
    let form = requests[0].form();
    let photo = form
        .iter()
        .find(|part| part.name == "photo")
        .expect("a photo part");
    assert_eq!(photo.file_name.as_deref(), Some("receipt.png"));
    assert_eq!(photo.bytes, png);
    let message_id = message["id"].as_str().expect("an id");
    app.wait_for(&admin, &conversation, |detail| {
        detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| {
                m["id"] == message_id
                    && m["delivery_status"] == "sent"
                    && m["channel_message_id"] == "1111111:1500"
            })
    })
    .await;
    app.stop().await;
}

async fn web_chat_visitors_download_agents_files_by_a_signed_link(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    let session = chat.next_of("session").await;
    let token = session["visitor_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    chat.say("c-1", "Can you send me the manual?").await;
    let conversation = only_conversation(&app, &admin, &inbox).await;
    let manual = b"<html><script>alert(1)</script></html>".to_vec();
    let (status, uploaded) = upload(
        &app,
        &admin,
        &conversation,
        "manual.html",
        "text/html",
        manual.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, body) = reply(
        &app,
        &admin,
        &conversation,
        "Here it is.",
        &[uploaded["id"].as_str().expect("an id")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let frame = next_agent_message(&mut chat).await;
    assert_eq!(frame["text"], "Here it is.");
    let attachment = &frame["attachments"][0];
    assert_eq!(attachment["filename"], "manual.html");
    assert_eq!(attachment["size"], manual.len());
    let link = attachment["url"].as_str().expect("a link");
    assert!(link.starts_with("/chat/files/"), "{link}");
    assert_ne!(link, uploaded["url"], "never the agents' URL");

    // No login needed, and it is a download, never a page of the hub's origin.
    let response = app.client.get(app.url(link)).send().await.expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .starts_with("attachment")
    );
    assert_eq!(response.bytes().await.expect("bytes").to_vec(), manual);

    // A link the hub did not sign, or for another file, is not found; the agents' URL needs a
    // login.
    let mut parts: Vec<&str> = link.split('/').collect();
    let forged_signature = "A".repeat(43);
    parts[5] = &forged_signature;
    assert_eq!(
        download(&app, None, &parts.join("/")).await.0,
        StatusCode::NOT_FOUND
    );
    let mut parts: Vec<&str> = link.split('/').collect();
    parts[6] = "other.html";
    assert_eq!(
        download(&app, None, &parts.join("/")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(&app, None, uploaded["url"].as_str().expect("a url"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // A visitor coming back gets the same links in the replay.
    drop(chat);
    let mut again = Chat::connect(&app, &format!("inbox={inbox}&visitor={token}")).await;
    again
        .send(json!({ "type": "resume", "after_seq": 0 }))
        .await;
    let replayed = next_agent_message(&mut again).await;
    assert_eq!(replayed["attachments"][0]["url"], link);
    app.stop().await;
}
