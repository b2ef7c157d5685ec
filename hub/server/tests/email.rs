//! The email channel end to end on the real hub: signed raw MIME over the webhook, the corpus
//! in `fixtures/email/`, attachments kept and served, replies through the outbox to a real SMTP
//! server on loopback, threading both ways, and the built-in SMTP receiver.

mod support;

use std::path::PathBuf;

use mail_parser::MessageParser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use switchboard_testkit::{SmtpClient, SmtpSink, TestDatabase, backend_tests};

const SECRET: &str = "s3cret";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/email")
}

/// The hub with an email inbox whose replies go to a test mail server.
struct Email {
    app: TestApp,
    admin: String,
    sink: SmtpSink,
    inbox_id: String,
}

impl Email {
    async fn start(db: TestDatabase, smtp_listener: bool) -> Email {
        let app = TestApp::spawn_quiet_with(db, |db| switchboard::Settings {
            smtp_listen: smtp_listener.then(|| "127.0.0.1:0".parse().expect("an address")),
            ..support::settings(db)
        })
        .await;
        let admin = app.admin().await;
        let sink = SmtpSink::start().await;
        let inbox_id = email_inbox(&app, &admin, &sink).await;
        Email {
            app,
            admin,
            sink,
            inbox_id,
        }
    }
}

async fn email_inbox(app: &TestApp, admin: &str, sink: &SmtpSink) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "Support email", "channel": "email", "config": {
                "address": "help@acme.test",
                "inbound_secret": SECRET,
                "smtp_url": sink.url(),
                "from_name": "Acme Support",
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    inbox["id"].as_str().expect("an id").to_owned()
}

/// Posts a raw message to the inbox's webhook, signed with `secret`.
async fn post_email(
    app: &TestApp,
    inbox_id: &str,
    raw: &[u8],
    secret: &str,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("/webhooks/email/{inbox_id}")))
        .header(
            "x-switchboard-signature",
            switchboard_email::sign(raw, secret.as_bytes()),
        )
        .header("content-type", "message/rfc822")
        .body(raw.to_vec())
        .send()
        .await
        .expect("sends");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn conversations(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, list) = app.get(token, "/api/v1/conversations?limit=200").await;
    assert_eq!(status, StatusCode::OK);
    list["conversations"].as_array().expect("a list").clone()
}

async fn messages(app: &TestApp, token: &str, conversation_id: &str) -> Vec<Value> {
    let (_, detail) = app
        .get(token, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    detail["messages"].as_array().expect("messages").clone()
}

/// Every message of every conversation, found by its text.
async fn message_with(app: &TestApp, token: &str, text: &str) -> Value {
    for conversation in conversations(app, token).await {
        let id = conversation["id"].as_str().expect("an id");
        if let Some(message) = messages(app, token, id)
            .await
            .into_iter()
            .find(|message| message["text"].as_str().is_some_and(|t| t.contains(text)))
        {
            return message;
        }
    }
    panic!("no message contains {text:?}");
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

async fn the_corpus_goes_through_the_webhook(db: TestDatabase) {
    let Email {
        app,
        admin,
        sink: _sink,
        inbox_id,
    } = Email::start(db, false).await;
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).expect("reads"))
            .expect("JSON");
    let mut stored = 0;
    for (file, want) in expected.as_object().expect("cases") {
        let raw = std::fs::read(fixtures().join(file)).expect("reads a fixture");
        let (status, body) = post_email(&app, &inbox_id, &raw, SECRET).await;
        if want["error"] == json!(true) {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {body}");
            assert!(body["error"]["code"].is_string(), "{file}: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{file}: {body}");
            stored += 1;
            if let Some(text) = want["text"].as_str() {
                let message = message_with(&app, &admin, text).await;
                assert_eq!(message["automated"], want["automated"], "{file}");
                assert_eq!(
                    message["text_full"].is_string(),
                    want["quoted"] == json!(true),
                    "{file}"
                );
            }
        }
    }
    let total: usize = {
        let mut total = 0;
        for conversation in conversations(&app, &admin).await {
            total += messages(&app, &admin, conversation["id"].as_str().expect("id"))
                .await
                .len();
        }
        total
    };
    assert_eq!(total, stored, "one message per accepted fixture");

    // Attachments: kept in the data dir under a safe name, served to agents of the org only.
    let message = message_with(&app, &admin, "The box arrived broken").await;
    let attachments = message["attachments"].as_array().expect("attachments");
    let names: Vec<&str> = attachments
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(names, ["receipt.pdf", "photo.png"]);
    let photo_url = attachments[1]["url"].as_str().expect("a url");
    assert_eq!(attachments[1]["size"], 1024);
    let response = app
        .client
        .get(app.url(photo_url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"photo.png\""
    );
    let bytes = response.bytes().await.expect("bytes");
    assert_eq!(
        bytes.to_vec(),
        (0..=255u8).cycle().take(1024).collect::<Vec<_>>()
    );
    // Beside the folders: `links.key`, which signs the links to agents' files.
    let on_disk = std::fs::read_dir(app.db.dir.path().join("attachments"))
        .expect("an attachments folder")
        .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().is_dir()))
        .count();
    assert_eq!(on_disk, 1, "one organization folder");
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let (status, _) = app.get(&editor, photo_url).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(
            &admin,
            &format!("/api/v1/attachments/{}/photo.png", "0".repeat(64)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&admin, "/api/v1/attachments/..%2F..%2Fx/passwd")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn bad_signatures_are_refused_and_garbage_is_a_4xx(db: TestDatabase) {
    let Email {
        app,
        admin,
        sink: _sink,
        inbox_id,
    } = Email::start(db, false).await;
    let raw = std::fs::read(fixtures().join("html-only.eml")).expect("reads");
    let (status, body) = post_email(&app, &inbox_id, &raw, "wrong secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_signature");
    let unsigned = app
        .client
        .post(app.url(&format!("/webhooks/email/{inbox_id}")))
        .body(raw.clone())
        .send()
        .await
        .expect("sends");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let mut tampered = raw.clone();
    tampered.extend_from_slice(b"P.S. tampered\r\n");
    let response = app
        .client
        .post(app.url(&format!("/webhooks/email/{inbox_id}")))
        .header(
            "x-switchboard-signature",
            switchboard_email::sign(&raw, SECRET.as_bytes()),
        )
        .body(tampered)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        conversations(&app, &admin).await.is_empty(),
        "nothing stored"
    );

    for garbage in [
        b"".to_vec(),
        b"\x00\x01\x02\xff\xfe".repeat(50),
        b"{\"from\": \"json@example.test\"}".to_vec(),
        b"From: \r\n\r\nno address".to_vec(),
    ] {
        let (status, body) = post_email(&app, &inbox_id, &garbage, SECRET).await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert!(conversations(&app, &admin).await.is_empty());
    app.stop().await;
}

async fn a_reply_threads_both_ways(db: TestDatabase) {
    let Email {
        app,
        admin,
        sink,
        inbox_id,
    } = Email::start(db, false).await;
    let first = crlf(
        "From: Ann Customer <ann@gmail.test>\n\
         To: Acme Support <help@acme.test>\n\
         Subject: Box won't lock\n\
         Message-ID: <c1@gmail.test>\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\n\
         \n\
         My box won't lock since yesterday.\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &first, SECRET).await.0,
        StatusCode::OK
    );
    let listed = conversations(&app, &admin).await;
    assert_eq!(listed.len(), 1);
    let conversation_id = listed[0]["id"].as_str().expect("an id").to_owned();

    // An agent answers in the inbox; the reply reaches the customer's mail server.
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/users",
            json!({ "email": "mia@acme.test", "name": "Mia Agent", "role": "support_agent", "password": "long enough" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let agent = app.login("mia@acme.test", "long enough").await;
    let (status, reply) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Hold the button for ten seconds.\n\nMia" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let reply_id = reply["id"].as_str().expect("an id").to_owned();
    let received = sink.wait_for(1).await;
    assert_eq!(received[0].recipients, ["ann@gmail.test"]);
    let email = MessageParser::default()
        .parse(&received[0].data)
        .expect("parses");
    let our_id = format!("{reply_id}@acme.test");
    assert_eq!(email.subject(), Some("Re: Box won't lock"));
    assert_eq!(email.message_id(), Some(our_id.as_str()));
    assert_eq!(email.in_reply_to().as_text(), Some("c1@gmail.test"));
    let references = email.references();
    let references: Vec<&str> = match references.as_text_list() {
        Some(list) => list.iter().map(AsRef::as_ref).collect(),
        None => references.as_text().into_iter().collect(),
    };
    assert_eq!(references, ["c1@gmail.test"]);
    let from = email.from().and_then(|from| from.first()).expect("a From");
    assert_eq!(from.name(), Some("Mia Agent from Acme Support"));
    assert_eq!(from.address(), Some("help@acme.test"));
    assert!(
        email
            .body_text(0)
            .expect("plain")
            .contains("Hold the button")
    );
    assert!(
        email
            .body_html(0)
            .expect("html")
            .contains("<p>Hold the button")
    );
    let detail = app
        .wait_for(&admin, &conversation_id, |detail| {
            detail["messages"][1]["delivery_status"] == "sent"
        })
        .await;
    assert_eq!(detail["messages"][1]["channel_message_id"], json!(our_id));

    // The customer answers from their mail client: same conversation, quote stripped.
    let answer = crlf(&format!(
        "From: Ann Customer <ann@gmail.test>\n\
         To: Acme Support <help@acme.test>\n\
         Subject: Re: Box won't lock\n\
         Message-ID: <c2@gmail.test>\n\
         In-Reply-To: <{our_id}>\n\
         References: <c1@gmail.test> <{our_id}>\n\
         \n\
         It works now, thanks!\n\
         \n\
         On Mon, Nov 2, 2026 at 11:00 AM Mia Agent from Acme Support <help@acme.test> wrote:\n\
         > Hold the button for ten seconds.\n\
         >\n\
         > Mia\n"
    ));
    assert_eq!(
        post_email(&app, &inbox_id, &answer, SECRET).await.0,
        StatusCode::OK
    );
    // The same message again (a relay retrying) is one message.
    assert_eq!(
        post_email(&app, &inbox_id, &answer, SECRET).await.0,
        StatusCode::OK
    );
    assert_eq!(conversations(&app, &admin).await.len(), 1);
    let thread = messages(&app, &admin, &conversation_id).await;
    assert_eq!(thread.len(), 3);
    assert_eq!(thread[2]["text"], "It works now, thanks!");
    assert!(
        thread[2]["text_full"]
            .as_str()
            .expect("the whole text is kept")
            .contains("> Hold the button for ten seconds.")
    );

    // Resolved: an out-of-office in the thread is kept but does not reopen it.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let out_of_office = crlf(&format!(
        "From: Ann Customer <ann@gmail.test>\n\
         To: help@acme.test\n\
         Subject: Automatic reply: Re: Box won't lock\n\
         Auto-Submitted: auto-replied\n\
         Message-ID: <ooo@gmail.test>\n\
         In-Reply-To: <{our_id}>\n\
         \n\
         I am away until Monday.\n"
    ));
    assert_eq!(
        post_email(&app, &inbox_id, &out_of_office, SECRET).await.0,
        StatusCode::OK
    );
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(detail["conversation"]["status"], "resolved");
    assert_eq!(detail["messages"][3]["automated"], true);

    // A reply that kept only our plus-addressed Reply-To (no threading headers) reopens it.
    let token = reply_id.replace('-', "");
    let by_token = crlf(&format!(
        "From: ann@gmail.test\n\
         To: Acme Support <help+{token}@acme.test>\n\
         Subject: one more thing\n\
         Message-ID: <c3@gmail.test>\n\
         \n\
         The box beeps now.\n"
    ));
    assert_eq!(
        post_email(&app, &inbox_id, &by_token, SECRET).await.0,
        StatusCode::OK
    );
    let (_, detail) = app
        .get(&admin, &format!("/api/v1/conversations/{conversation_id}"))
        .await;
    assert_eq!(detail["messages"][4]["text"], "The box beeps now.");
    assert_ne!(detail["conversation"]["status"], "resolved");
    assert_eq!(conversations(&app, &admin).await.len(), 1);

    // A new message with no threading opens a new conversation.
    let unrelated = crlf(
        "From: ann@gmail.test\nTo: help@acme.test\nSubject: Billing\nMessage-ID: <c4@gmail.test>\n\nA new question.\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &unrelated, SECRET).await.0,
        StatusCode::OK
    );
    assert_eq!(conversations(&app, &admin).await.len(), 2);
    app.stop().await;
}

async fn smtp_failures_retry_or_fail(db: TestDatabase) {
    let Email {
        app,
        admin,
        sink,
        inbox_id,
    } = Email::start(db, false).await;
    let first = crlf(
        "From: bo@example.test\nTo: help@acme.test\nSubject: Hi\nMessage-ID: <b1@example.test>\n\nHello?\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &first, SECRET).await.0,
        StatusCode::OK
    );
    let conversation_id = conversations(&app, &admin).await[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let path = format!("/api/v1/conversations/{conversation_id}/messages");

    sink.fail_next(451, "4.3.0 greylisted, try again later");
    let (status, _) = app
        .post(&admin, &path, json!({ "text": "First answer" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.wait_for(&admin, &conversation_id, |detail| {
        detail["messages"][1]["delivery_status"] == "sent"
    })
    .await;
    assert_eq!(sink.attempts(), 2, "the 451 was retried through the outbox");
    assert_eq!(sink.received().len(), 1);

    sink.fail_always(550, "5.1.1 mailbox unavailable");
    let (status, _) = app
        .post(&admin, &path, json!({ "text": "Second answer" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let detail = app
        .wait_for(&admin, &conversation_id, |detail| {
            detail["messages"][2]["delivery_status"] == "failed"
        })
        .await;
    let reason = detail["messages"][2]["delivery_error"]
        .as_str()
        .expect("a reason");
    assert!(
        reason.contains("550") && reason.contains("mailbox unavailable"),
        "{reason}"
    );
    assert_eq!(sink.attempts(), 3, "a 5xx is not retried");
    app.stop().await;
}

async fn the_smtp_listener_ingests_mail(db: TestDatabase) {
    let Email { app, admin, .. } = Email::start(db, true).await;
    let (mut client, greeting) = SmtpClient::connect(app.smtp_addr.expect("listening")).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(client.send("EHLO mx.example.test").await.starts_with("250"));
    assert!(
        client
            .send("MAIL FROM:<ann@gmail.test>")
            .await
            .starts_with("250 ")
    );
    let unknown = client.send("RCPT TO:<sales@acme.test>").await;
    assert!(unknown.starts_with("550 "), "{unknown}");
    assert!(
        client
            .send("RCPT TO:<help+tag@acme.test>")
            .await
            .starts_with("250 ")
    );
    assert!(client.send("DATA").await.starts_with("354 "));
    let body = "From: Ann <ann@gmail.test>\r\nTo: help@acme.test\r\nSubject: Over SMTP\r\nMessage-ID: <smtp-1@gmail.test>\r\n\r\n..dot first, and the rest\r\n.";
    let stored = client.send(body).await;
    assert!(stored.starts_with("250 "), "{stored}");
    // 250 came after the commit: the message is there now, without waiting.
    let listed = conversations(&app, &admin).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["subject"], "Over SMTP");
    let thread = messages(&app, &admin, listed[0]["id"].as_str().expect("an id")).await;
    assert_eq!(thread[0]["text"], ".dot first, and the rest");
    assert_eq!(thread[0]["channel_message_id"], "smtp-1@gmail.test");

    // The same message relayed twice is one message; a message that is not email is refused.
    assert!(
        client
            .send("MAIL FROM:<ann@gmail.test>")
            .await
            .starts_with("250 ")
    );
    assert!(
        client
            .send("RCPT TO:<help@acme.test>")
            .await
            .starts_with("250 ")
    );
    assert!(client.send("DATA").await.starts_with("354 "));
    assert!(client.send(body).await.starts_with("250 "));
    assert!(client.send("MAIL FROM:<>").await.starts_with("250 "));
    assert!(
        client
            .send("RCPT TO:<help@acme.test>")
            .await
            .starts_with("250 ")
    );
    assert!(client.send("DATA").await.starts_with("354 "));
    let refused = client.send("no headers at all\r\n.").await;
    assert!(refused.starts_with("554 "), "{refused}");
    assert!(client.send("QUIT").await.starts_with("221 "));
    let listed = conversations(&app, &admin).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        messages(&app, &admin, listed[0]["id"].as_str().expect("id"))
            .await
            .len(),
        1
    );
    app.stop().await;
}

backend_tests!(
    the_corpus_goes_through_the_webhook,
    bad_signatures_are_refused_and_garbage_is_a_4xx,
    a_reply_threads_both_ways,
    smtp_failures_retry_or_fail,
    the_smtp_listener_ingests_mail,
    an_email_address_belongs_to_one_inbox_in_the_hub,
    the_smtp_listener_refuses_an_address_two_inboxes_claim,
    a_stranger_quoting_a_customers_message_starts_a_conversation_of_their_own,
);

/// Issue 23, finding 8: anyone can put another customer's Message-ID in `In-Reply-To`. Their
/// mail is kept, in a conversation of their own; the customer's conversation is untouched.
async fn a_stranger_quoting_a_customers_message_starts_a_conversation_of_their_own(
    db: TestDatabase,
) {
    let Email {
        app,
        admin,
        inbox_id,
        ..
    } = Email::start(db, false).await;
    let first = crlf(
        "From: Ann Customer <ann@gmail.test>\n\
         To: help@acme.test\n\
         Subject: My order\n\
         Message-ID: <ann-1@gmail.test>\n\
         \n\
         Where is order 5521?\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &first, SECRET).await.0,
        StatusCode::OK
    );
    let stranger = crlf(
        "From: Mallory <mallory@evil.test>\n\
         To: help@acme.test\n\
         Subject: Re: My order\n\
         Message-ID: <m-1@evil.test>\n\
         In-Reply-To: <ann-1@gmail.test>\n\
         References: <ann-1@gmail.test>\n\
         \n\
         Please send the refund to my new account instead.\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &stranger, SECRET).await.0,
        StatusCode::OK
    );
    let listed = conversations(&app, &admin).await;
    assert_eq!(
        listed.len(),
        2,
        "the stranger's mail is a conversation of its own"
    );
    let ann = listed
        .iter()
        .find(|conversation| conversation["thread_key"] == "ann-1@gmail.test")
        .expect("Ann's conversation");
    let ann_messages = messages(&app, &admin, ann["id"].as_str().expect("an id")).await;
    assert_eq!(ann_messages.len(), 1, "{ann_messages:?}");
    // Ann's own answer, quoting the same message, still joins her conversation.
    let answer = crlf(
        "From: Ann Customer <ann@gmail.test>\n\
         To: help@acme.test\n\
         Subject: Re: My order\n\
         Message-ID: <ann-2@gmail.test>\n\
         In-Reply-To: <ann-1@gmail.test>\n\
         \n\
         Any news?\n",
    );
    assert_eq!(
        post_email(&app, &inbox_id, &answer, SECRET).await.0,
        StatusCode::OK
    );
    assert_eq!(conversations(&app, &admin).await.len(), 2);
    let ann_messages = messages(&app, &admin, ann["id"].as_str().expect("an id")).await;
    assert_eq!(ann_messages.len(), 2, "{ann_messages:?}");
}

/// Creates an email inbox with `address`; returns the status and the body.
async fn create_email_inbox(app: &TestApp, token: &str, address: &str) -> (StatusCode, Value) {
    app.post(
        token,
        "/api/v1/inboxes",
        json!({ "name": "Mail", "channel": "email",
                "config": { "address": address, "inbound_secret": "other secret" } }),
    )
    .await
}

/// Relays one message to `recipient` over SMTP; returns the RCPT reply and, when the
/// recipient was accepted, the final one.
async fn relay(app: &TestApp, recipient: &str, message_id: &str) -> (String, Option<String>) {
    let (mut client, _) = SmtpClient::connect(app.smtp_addr.expect("listening")).await;
    assert!(client.send("EHLO mx.example.test").await.starts_with("250"));
    assert!(
        client
            .send("MAIL FROM:<ann@gmail.test>")
            .await
            .starts_with("250 ")
    );
    let accepted = client.send(&format!("RCPT TO:<{recipient}>")).await;
    if !accepted.starts_with("250 ") {
        return (accepted, None);
    }
    assert!(client.send("DATA").await.starts_with("354 "));
    let stored = client
        .send(&format!(
            "From: Ann <ann@gmail.test>\r\nTo: {recipient}\r\nSubject: Private\r\nMessage-ID: <{message_id}@gmail.test>\r\n\r\nMy account number is 42\r\n."
        ))
        .await;
    (accepted, Some(stored))
}

async fn an_email_address_belongs_to_one_inbox_in_the_hub(db: TestDatabase) {
    let Email {
        app,
        admin,
        inbox_id,
        ..
    } = Email::start(db, true).await;
    let intruder = app.second_organization().await;

    // Another organization cannot claim the address, however it is written, nor can a second
    // inbox of the same organization.
    for (token, address) in [
        (&intruder, "help@acme.test"),
        (&intruder, " HELP@Acme.Test "),
        (&admin, "Help@acme.test"),
    ] {
        let (status, body) = create_email_inbox(&app, token, address).await;
        assert_eq!(status, StatusCode::CONFLICT, "{address}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("already")),
            "{body}"
        );
    }
    let (status, own) = create_email_inbox(&app, &intruder, "help@globex.test").await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let own_id = own["id"].as_str().expect("an id");
    let (status, body) = app
        .send(
            reqwest::Method::PATCH,
            &intruder,
            &format!("/api/v1/inboxes/{own_id}"),
            json!({ "config": { "address": "HELP@acme.test" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The inbox that has the address keeps it through its own changes.
    let (status, body) = app
        .send(
            reqwest::Method::PATCH,
            &admin,
            &format!("/api/v1/inboxes/{inbox_id}"),
            json!({ "config": { "address": "help@acme.test", "from_name": "Acme Care" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (accepted, stored) = relay(&app, "help@acme.test", "one-inbox").await;
    assert!(accepted.starts_with("250 "), "{accepted}");
    assert!(stored.is_some_and(|reply| reply.starts_with("250 ")));
    assert_eq!(conversations(&app, &admin).await.len(), 1);
    assert!(conversations(&app, &intruder).await.is_empty());
    app.stop().await;
}

async fn the_smtp_listener_refuses_an_address_two_inboxes_claim(db: TestDatabase) {
    let Email {
        app,
        admin,
        inbox_id,
        ..
    } = Email::start(db, true).await;
    let intruder = app.second_organization().await;
    let (status, own) = create_email_inbox(&app, &intruder, "help@globex.test").await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    // Data from before addresses were unique: two organizations' inboxes with one address.
    app.db
        .execute(&format!(
            "UPDATE inboxes SET config = (SELECT config FROM inboxes WHERE id = '{inbox_id}') \
             WHERE id = '{}'",
            own["id"].as_str().expect("an id")
        ))
        .await;

    // Neither gets the mail: the relay is told to try later, and an operator is told why.
    let (accepted, stored) = relay(&app, "help@acme.test", "two-inboxes").await;
    assert!(accepted.starts_with("451 "), "{accepted}");
    assert_eq!(stored, None);
    assert!(conversations(&app, &admin).await.is_empty());
    assert!(conversations(&app, &intruder).await.is_empty());
    app.stop().await;
}
