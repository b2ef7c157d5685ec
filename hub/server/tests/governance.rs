//! Governance (issue 23): signed outbound webhooks, delivered to a real receiver on loopback
//! that checks the signature and fails first; a contact's export and erasure, over the API and
//! the CLI; login throttling and weak passwords; on SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use support::TestApp;
use switchboard_model::Clock;
use switchboard_testkit::{
    FakePlatform, FakeResponse, RecordedRequest, TestDatabase, backend_tests,
};

backend_tests!(
    webhooks_are_signed_retried_and_logged,
    webhook_deliveries_are_replayed_signed_afresh,
    a_csat_rating_is_a_webhook_event,
    contacts_are_exported_and_erased,
    contact_exports_are_archives_with_their_files,
    the_cli_exports_and_erases_contacts,
    logins_are_throttled_and_weak_passwords_refused,
    organizations_have_api_limits_of_their_own,
    secrets_are_sealed_at_rest_and_rotated,
    metrics_answer_only_the_metrics_token_when_one_is_set,
);

/// Checks `X-Switchboard-Signature` as a subscriber would (docs/webhooks.md); returns `t`.
fn verified(request: &RecordedRequest, secret: &str) -> i64 {
    let header = request
        .header("x-switchboard-signature")
        .expect("a signature header");
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("t="), v1.expect("v1="));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = hex::decode(v1).expect("hex");
    mac.verify_slice(&expected).expect("the signature verifies");
    t.parse().expect("unix seconds")
}

/// Waits until `check` holds on what the receiver got, or fails after 10 s.
async fn received(
    receiver: &FakePlatform,
    check: impl Fn(&[RecordedRequest]) -> bool,
) -> Vec<RecordedRequest> {
    for _ in 0..400 {
        let requests = receiver.requests();
        if check(&requests) {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the receiver never got what was expected: {:?}",
        receiver.requests()
    );
}

/// Waits until the subscription's delivery log shows `delivery` with this status, number of
/// attempts and last status code.
async fn logged(
    app: &TestApp,
    admin: &str,
    webhook: &str,
    delivery: &str,
    (status, attempts, code): (&str, u32, u16),
) {
    for _ in 0..400 {
        let (answered, log) = app
            .get(admin, &format!("/api/v1/webhooks/{webhook}/deliveries"))
            .await;
        assert_eq!(answered, StatusCode::OK, "{log}");
        let shown = log["deliveries"].as_array().is_some_and(|log| {
            log.iter().any(|entry| {
                entry["id"] == delivery
                    && entry["status"] == status
                    && entry["attempts"] == attempts
                    && entry["last_status_code"] == code
            })
        });
        if shown {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the delivery log never showed {delivery} {status} after {attempts} attempts");
}

async fn webhooks_are_signed_retried_and_logged(db: TestDatabase) {
    let started: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
    let clock = Clock::manual(started);
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock.clone()).await;
    let admin = app.admin().await;
    let receiver = FakePlatform::start(FakeResponse::json(200, json!({ "ok": true }))).await;
    receiver.respond_next(FakeResponse::json(500, json!({ "error": "try later" })));
    let url = format!("{}/hooks/switchboard", receiver.url());
    let events = json!(["message.created", "conversation.resolved"]);

    // Only admins; known events only; URLs checked like inbox URLs.
    let manager = app.user_token(&admin, "support_manager").await;
    let (status, _) = app
        .post(
            &manager,
            "/api/v1/webhooks",
            json!({ "url": url, "events": events }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (bad_url, bad_events) in [
        (url.as_str(), json!(["message.created", "message.deleted"])),
        (url.as_str(), json!([])),
        ("http://169.254.169.254/latest/meta-data", events.clone()),
        ("gopher://127.0.0.1/", events.clone()),
    ] {
        let (status, body) = app
            .post(
                &admin,
                "/api/v1/webhooks",
                json!({ "url": bad_url, "events": bad_events }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad_url} {bad_events}: {body}"
        );
    }

    let (status, created) = app
        .post(
            &admin,
            "/api/v1/webhooks",
            json!({ "url": url, "events": events }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let webhook = created["id"].as_str().expect("an id").to_owned();
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    assert!(secret.len() >= 32, "{secret}");
    let (status, listed) = app.get(&admin, "/api/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().expect("a list").len(), 1);
    assert_eq!(listed[0]["id"], webhook.as_str());
    assert_eq!(listed[0]["events"], events);
    assert!(
        listed[0].get("secret").is_none(),
        "listed with its secret: {listed}"
    );
    let globex = app.second_organization().await;
    let (status, theirs) = app.get(&globex, "/api/v1/webhooks").await;
    assert_eq!((status, theirs), (StatusCode::OK, json!([])));
    let (status, _) = app
        .send(
            Method::DELETE,
            &globex,
            &format!("/api/v1/webhooks/{webhook}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A customer writes: the first attempt meets a 500 and waits for its backoff.
    let inbox = app.test_inbox(&admin, json!({})).await;
    let conversation = app.customer_writes(&admin, &inbox, "alice").await;
    let first = received(&receiver, |requests| !requests.is_empty()).await;
    assert_eq!(verified(&first[0], &secret), started.timestamp());
    let payload = first[0].json();
    let delivery = payload["id"].as_str().expect("an id").to_owned();
    assert_eq!(payload["event"], "message.created");
    assert_eq!(payload["data"]["message"]["text"], "Help with alice");
    assert_eq!(
        payload["data"]["message"]["conversation_id"],
        conversation.as_str()
    );
    assert!(payload["created_at"].is_string(), "{payload}");
    assert_eq!(first[0].header("content-type"), Some("application/json"));
    logged(&app, &admin, &webhook, &delivery, ("pending", 1, 500)).await;
    assert_eq!(receiver.requests().len(), 1, "retried before its time");

    // Its time comes: the same body again, signed anew, and the receiver takes it.
    clock.advance(chrono::Duration::hours(1));
    let requests = received(&receiver, |requests| {
        requests
            .iter()
            .filter(|request| request.json()["id"] == delivery.as_str())
            .count()
            == 2
    })
    .await;
    let retry = requests
        .iter()
        .rfind(|request| request.json()["id"] == delivery.as_str())
        .expect("the retry");
    assert_eq!(
        retry.body, first[0].body,
        "the body changed between attempts"
    );
    assert_eq!(verified(retry, &secret), clock.now().timestamp());
    logged(&app, &admin, &webhook, &delivery, ("delivered", 2, 200)).await;

    // A resolution is an event too, with the conversation's labels; an assignment is not
    // subscribed to.
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/conversations/{conversation}/labels"),
            json!({ "labels": ["vip", "billing"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let requests = received(&receiver, |requests| {
        requests
            .iter()
            .any(|request| request.json()["event"] == "conversation.resolved")
    })
    .await;
    let resolved = requests
        .iter()
        .find(|request| request.json()["event"] == "conversation.resolved")
        .expect("resolved");
    verified(resolved, &secret);
    assert_eq!(
        resolved.json()["data"]["conversation_id"],
        conversation.as_str()
    );
    assert_eq!(resolved.json()["data"]["status"], "resolved");
    assert_eq!(resolved.json()["data"]["labels"], json!(["billing", "vip"]));
    assert!(
        requests
            .iter()
            .all(|request| request.json()["event"] != "conversation.assigned")
    );

    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/webhooks/{webhook}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app.get(&admin, "/api/v1/webhooks").await;
    assert_eq!(listed, json!([]));
    app.stop().await;
}

/// An admin presses "Replay" on a delivery the subscriber refused: the same event (the body
/// byte for byte) is queued again as a new delivery, sent through the workers with a signature
/// made at the time of sending, and logged beside the original with `replay_of`.
async fn webhook_deliveries_are_replayed_signed_afresh(db: TestDatabase) {
    let started: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
    let clock = Clock::manual(started);
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock.clone()).await;
    let admin = app.admin().await;
    let receiver = FakePlatform::start(FakeResponse::json(200, json!({ "ok": true }))).await;
    // A 400 is final: the first delivery is dead at once.
    receiver.respond_next(FakeResponse::json(400, json!({ "error": "not today" })));
    let (status, created) = app
        .post(
            &admin,
            "/api/v1/webhooks",
            json!({ "url": format!("{}/hooks", receiver.url()), "events": ["message.created"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let webhook = created["id"].as_str().expect("an id").to_owned();
    let secret = created["secret"].as_str().expect("a secret").to_owned();

    let inbox = app.test_inbox(&admin, json!({})).await;
    app.customer_writes(&admin, &inbox, "alice").await;
    let is_alices =
        |request: &RecordedRequest| request.json()["data"]["message"]["text"] == "Help with alice";
    let first = received(&receiver, |requests| requests.iter().any(is_alices)).await;
    let first = first.into_iter().find(is_alices).expect("alice's event");
    let delivery = first.json()["id"].as_str().expect("an id").to_owned();
    logged(&app, &admin, &webhook, &delivery, ("dead", 1, 400)).await;

    // Who may replay, and what.
    let replay_path = format!("/api/v1/webhooks/{webhook}/deliveries/{delivery}/replay");
    let manager = app.user_token(&admin, "support_manager").await;
    let (status, _) = app.post(&manager, &replay_path, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let globex = app.second_organization().await;
    let (status, _) = app.post(&globex, &replay_path, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/webhooks/{webhook}/deliveries/no-such-delivery/replay"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Ten minutes later the admin replays it: the same body, a signature of now.
    clock.advance(chrono::Duration::minutes(10));
    let (status, replay) = app.post(&admin, &replay_path, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{replay}");
    let replay_id = replay["id"].as_str().expect("an id").to_owned();
    assert_ne!(replay_id, delivery);
    assert_eq!(replay["replay_of"], delivery.as_str());
    assert_eq!(replay["event"], "message.created");
    let requests = received(&receiver, |requests| {
        requests.iter().filter(|request| is_alices(request)).count() == 2
    })
    .await;
    let resent = requests
        .iter()
        .filter(|request| is_alices(request))
        .nth(1)
        .expect("the replay");
    assert_eq!(resent.body, first.body, "the replay is the same event");
    assert_eq!(verified(resent, &secret), clock.now().timestamp());
    assert_ne!(verified(resent, &secret), verified(&first, &secret));
    assert_eq!(
        resent.header("x-switchboard-delivery"),
        Some(replay_id.as_str())
    );
    logged(&app, &admin, &webhook, &replay_id, ("delivered", 1, 200)).await;
    logged(&app, &admin, &webhook, &delivery, ("dead", 1, 400)).await;
    let (_, log) = app
        .get(&admin, &format!("/api/v1/webhooks/{webhook}/deliveries"))
        .await;
    let entry = log["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|entry| entry["id"] == replay_id.as_str())
        .expect("the replay in the log");
    assert_eq!(entry["replay_of"], delivery.as_str());

    // A delivery still waiting for its retry is not replayed: it will be sent anyway.
    receiver.respond_next(FakeResponse::json(503, json!({ "error": "busy" })));
    app.customer_writes(&admin, &inbox, "bob").await;
    let is_bobs =
        |request: &RecordedRequest| request.json()["data"]["message"]["text"] == "Help with bob";
    let requests = received(&receiver, |requests| requests.iter().any(is_bobs)).await;
    let waiting = requests.into_iter().find(is_bobs).expect("bob's event");
    let waiting = waiting.json()["id"].as_str().expect("an id").to_owned();
    logged(&app, &admin, &webhook, &waiting, ("pending", 1, 503)).await;
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/webhooks/{webhook}/deliveries/{waiting}/replay"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.stop().await;
}

/// A visitor's rating of a resolved conversation reaches the subscriber as `csat.submitted`.
async fn a_csat_rating_is_a_webhook_event(db: TestDatabase) {
    use support::chat::{Chat, webchat_inbox};
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let receiver = FakePlatform::start(FakeResponse::json(200, json!({ "ok": true }))).await;
    let (status, created) = app
        .post(
            &admin,
            "/api/v1/webhooks",
            json!({ "url": format!("{}/hooks", receiver.url()), "events": ["csat.submitted"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let inbox = webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = Chat::connect(&app, &format!("inbox={inbox}")).await;
    chat.next_of("session").await;
    chat.say("c-1", "Hello").await;
    let (_, listed) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let conversation = listed["conversations"][0]["id"]
        .as_str()
        .expect("the chat's conversation")
        .to_owned();
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    chat.next_of("csat_request").await;
    chat.send(json!({ "type": "csat", "score": 4, "comment": "Quick, thanks" }))
        .await;
    let requests = received(&receiver, |requests| !requests.is_empty()).await;
    verified(&requests[0], &secret);
    let payload = requests[0].json();
    assert_eq!(payload["event"], "csat.submitted");
    assert_eq!(payload["data"]["conversation_id"], conversation.as_str());
    assert_eq!(payload["data"]["inbox_id"], inbox.as_str());
    assert_eq!(payload["data"]["score"], 4);
    assert_eq!(payload["data"]["comment"], "Quick, thanks");
    app.stop().await;
}

/// The contact of a conversation.
async fn contact_of(app: &TestApp, admin: &str, conversation: &str) -> String {
    let (status, body) = app
        .get(admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conversation = if body.get("conversation").is_some() {
        &body["conversation"]
    } else {
        &body
    };
    conversation["contact_id"]
        .as_str()
        .expect("a contact id")
        .to_owned()
}

/// Every route an agent or admin reads text through, none of which may show `text` again.
async fn shown_anywhere(app: &TestApp, admin: &str, conversation: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for path in [
        "/api/v1/conversations".to_owned(),
        "/api/v1/conversations?status=resolved".to_owned(),
        format!("/api/v1/conversations/{conversation}"),
        "/api/v1/contacts".to_owned(),
        format!("/api/v1/contacts?q={text}"),
        "/api/v1/kb/gaps".to_owned(),
        "/api/v1/audit".to_owned(),
        format!("/api/v1/search?q={text}"),
    ] {
        let (status, body) = app.get(admin, &path).await;
        if status.is_success()
            && body
                .to_string()
                .to_lowercase()
                .contains(&text.to_lowercase())
        {
            found.push(path);
        }
    }
    found
}

async fn contacts_are_exported_and_erased(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let alice = app.customer_writes(&admin, &inbox, "alice").await;
    let bob = app.customer_writes(&admin, &inbox, "bob").await;
    let (status, body) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{alice}/messages"),
            json!({ "text": "Dear alice, here is your answer" }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // The bot could not answer either of them: both questions are knowledge gaps.
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let org_id = me["org_id"].as_str().expect("an org").to_owned();
    for text in ["Help with alice", "Help with bob"] {
        app.state
            .store
            .record_gap(&org_id, text, &[])
            .await
            .expect("a gap");
    }
    let contact = contact_of(&app, &admin, &alice).await;
    assert!(
        !shown_anywhere(&app, &admin, &alice, "alice")
            .await
            .is_empty()
    );

    // Agents neither export nor erase.
    let agent = app.user_token(&admin, "support_agent").await;
    let (status, _) = app
        .get(&agent, &format!("/api/v1/contacts/{contact}/export"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send(
            Method::DELETE,
            &agent,
            &format!("/api/v1/contacts/{contact}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let globex = app.second_organization().await;
    let (status, _) = app
        .get(&globex, &format!("/api/v1/contacts/{contact}/export"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, exported) = app
        .get(&admin, &format!("/api/v1/contacts/{contact}/export"))
        .await;
    assert_eq!(status, StatusCode::OK, "{exported}");
    assert_eq!(exported["contact"]["id"], contact.as_str());
    assert!(
        !exported["contact"]["identities"]
            .as_array()
            .expect("identities")
            .is_empty()
    );
    let conversations = exported["conversations"].as_array().expect("conversations");
    assert_eq!(conversations.len(), 1, "{exported}");
    assert_eq!(conversations[0]["conversation"]["id"], alice.as_str());
    let texts: Vec<&str> = conversations[0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|message| message["text"].as_str())
        .collect();
    assert!(texts.contains(&"Help with alice"), "{texts:?}");
    assert!(
        texts.contains(&"Dear alice, here is your answer"),
        "{texts:?}"
    );
    assert!(!exported.to_string().contains("Help with bob"));

    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/contacts/{contact}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&admin, &format!("/api/v1/contacts/{contact}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&admin, &format!("/api/v1/conversations/{alice}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        shown_anywhere(&app, &admin, &alice, "alice").await,
        Vec::<String>::new()
    );
    // Bob is untouched, his gap too.
    assert_eq!(
        app.get(&admin, &format!("/api/v1/conversations/{bob}"))
            .await
            .0,
        StatusCode::OK
    );
    let (_, gaps) = app.get(&admin, "/api/v1/kb/gaps").await;
    assert!(gaps.to_string().contains("Help with bob"), "{gaps}");
    // The erasure is audited, with counts and no words.
    let (_, audit) = app.get(&admin, "/api/v1/audit").await;
    let erased = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|event| event["action"] == "contact.erased")
        .expect("an audit entry")
        .clone();
    assert_eq!(erased["subject_id"], contact.as_str());
    assert_eq!(erased["data"]["conversations"], 1, "{erased}");
    assert_eq!(erased["data"]["messages"], 2, "{erased}");
    // Gone is gone.
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/contacts/{contact}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// A customer of the test inbox writes with files; returns the conversation's id.
async fn customer_sends_files(
    app: &TestApp,
    org_id: &str,
    inbox_id: &str,
    thread: &str,
    files: &[(&str, &[u8])],
) -> String {
    use switchboard_model::{ContactRef, InboundEvent, InboundFile, InboundMessage, new_id};
    let inbox = app
        .state
        .store
        .inbox(org_id, inbox_id)
        .await
        .expect("reads")
        .expect("the inbox");
    let message = InboundMessage {
        thread_key: thread.into(),
        channel_message_id: Some(new_id()),
        sender: ContactRef {
            external_id: format!("{thread}@customer.test"),
            email: Some(format!("{thread}@customer.test")),
            ..Default::default()
        },
        text: format!("Files from {thread}"),
        files: files
            .iter()
            .map(|(filename, bytes)| InboundFile {
                filename: (*filename).into(),
                content_type: "application/octet-stream".into(),
                bytes: bytes.to_vec(),
            })
            .collect(),
        ..Default::default()
    };
    switchboard::ingest_events(
        &app.state,
        &inbox,
        vec![InboundEvent::Message(message)],
        b"",
    )
    .await
    .expect("ingests");
    let (_, listed) = app
        .get(
            &app.admin().await,
            &format!("/api/v1/conversations?inbox_id={inbox_id}&status=bot,escalated,assigned"),
        )
        .await;
    let conversations = listed["conversations"].as_array().expect("conversations");
    conversations
        .iter()
        .find(|conversation| conversation.to_string().contains(thread))
        .and_then(|conversation| conversation["id"].as_str())
        .unwrap_or_else(|| panic!("{thread}'s conversation in {listed}"))
        .to_owned()
}

/// The entries of a ZIP archive, by name.
fn unzipped(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the archive opens");
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).expect("an entry");
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("reads");
            (entry.name().expect("a name").into_owned(), content)
        })
        .collect()
}

/// `GET /contacts/{id}/export?format=zip` (or `Accept: application/zip`): an archive whose
/// `contact.json` is the JSON export and that holds the bytes of every file the contact's
/// messages list, and nobody else's; audited with the format and the count of files.
async fn contact_exports_are_archives_with_their_files(db: TestDatabase) {
    let clock = Clock::manual("2030-01-01T09:00:00Z".parse().expect("a time"));
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let org_id = me["org_id"].as_str().expect("an org").to_owned();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let dora = customer_sends_files(
        &app,
        &org_id,
        &inbox,
        "dora",
        &[
            ("scan of the box.bin", &every_byte),
            ("../receipt.txt", b"Order 1234, paid twice"),
        ],
    )
    .await;
    customer_sends_files(&app, &org_id, &inbox, "eve", &[("eve.txt", b"not dora's")]).await;
    let contact = contact_of(&app, &admin, &dora).await;

    let (status, exported) = app
        .get(&admin, &format!("/api/v1/contacts/{contact}/export"))
        .await;
    assert_eq!(status, StatusCode::OK, "{exported}");
    let download = |query: &str, accept: Option<&str>| {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/contacts/{contact}/export{query}")))
            .bearer_auth(&admin);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move { request.send().await.expect("sends") }
    };
    let response = download("?format=zip", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"contact-{contact}.zip\"").as_str()
    );
    let entries = unzipped(&response.bytes().await.expect("bytes"));
    let inside: Value =
        serde_json::from_slice(&entries["contact.json"]).expect("contact.json is JSON");
    // The JSON inside is the JSON export, whose own audit entry it lists besides.
    let without_audit = |value: &Value| {
        let mut value = value.clone();
        value.as_object_mut().expect("an object").remove("audit");
        value
    };
    assert_eq!(without_audit(&inside), without_audit(&exported));
    let audited = inside["audit"].as_array().expect("audit");
    assert_eq!(
        audited.len(),
        exported["audit"].as_array().expect("audit").len() + 1
    );
    assert_eq!(
        audited.last().expect("an entry")["action"],
        "contact.exported"
    );
    let mut listed = Vec::new();
    for message in exported["conversations"][0]["messages"]
        .as_array()
        .expect("messages")
    {
        for attachment in message["attachments"].as_array().expect("attachments") {
            let url = attachment["url"].as_str().expect("a kept file");
            listed.push(url.strip_prefix("/api/v1/").expect("the API's").to_owned());
        }
    }
    listed.sort();
    let files: Vec<&String> = entries
        .keys()
        .filter(|name| name.starts_with("attachments/"))
        .collect();
    assert_eq!(files, listed.iter().collect::<Vec<_>>(), "{entries:?}");
    let bytes_of = |suffix: &str| {
        entries
            .iter()
            .find(|(name, _)| name.ends_with(suffix))
            .map(|(_, bytes)| bytes.clone())
            .unwrap_or_else(|| panic!("no {suffix} in {:?}", entries.keys()))
    };
    assert_eq!(bytes_of("/scan of the box.bin"), every_byte);
    assert_eq!(bytes_of("/receipt.txt"), b"Order 1234, paid twice");
    assert!(
        !entries.values().any(|bytes| bytes == b"not dora's"),
        "another contact's file"
    );
    assert!(entries.contains_key("README.txt"));
    // The same by `Accept`; a format it does not know is refused.
    let by_accept = download("", Some("application/zip")).await;
    assert_eq!(by_accept.headers()["content-type"], "application/zip");
    let by_accept: Value =
        serde_json::from_slice(&unzipped(&by_accept.bytes().await.expect("bytes"))["contact.json"])
            .expect("JSON");
    assert_eq!(without_audit(&by_accept), without_audit(&exported));
    let (status, body) = app
        .get(
            &admin,
            &format!("/api/v1/contacts/{contact}/export?format=tar"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .get(&admin, "/api/v1/contacts/no-such-contact/export?format=zip")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = app.get(&admin, "/api/v1/audit").await;
    let exports: Vec<&Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["action"] == "contact.exported" && event["subject_id"] == contact)
        .collect();
    assert_eq!(exports.len(), 3, "each export is audited: {exports:?}");
    assert!(
        exports.iter().any(|event| event["data"]["format"] == "zip"
            && event["data"]["files"] == 2
            && event["data"]["missing_files"] == 0),
        "{exports:?}"
    );
    app.stop().await;
}

fn switchboard(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_USER_PASSWORD", "12345678")
        .arg("--data-dir")
        .arg(db.dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .output()
        .expect("runs")
}

async fn the_cli_exports_and_erases_contacts(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let carol = app.customer_writes(&admin, &inbox, "carol").await;
    let contact = contact_of(&app, &admin, &carol).await;
    let (_, me) = app.get(&admin, "/api/v1/auth/me").await;
    let org = app
        .state
        .store
        .org(me["org_id"].as_str().expect("an org"))
        .await
        .expect("reads")
        .expect("the org");
    let frank = customer_sends_files(
        &app,
        &org.id,
        &inbox,
        "frank",
        &[("frank.txt", b"frank's own file")],
    )
    .await;
    let frank = contact_of(&app, &admin, &frank).await;
    let db = app.stop().await;

    // `--archive FILE` writes the JSON and the files, readable by the owner alone.
    let archive = db.dir.path().join("frank.zip");
    let archive_arg = archive.to_str().expect("a UTF-8 path");
    let written = switchboard(
        &db,
        &[
            "contact",
            "export",
            &frank,
            "--org",
            &org.slug,
            "--archive",
            archive_arg,
        ],
    );
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(String::from_utf8_lossy(&written.stdout).contains("contact.json and 1 files"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let entries = unzipped(&std::fs::read(&archive).expect("reads"));
    let inside: Value = serde_json::from_slice(&entries["contact.json"]).expect("JSON");
    assert_eq!(inside["contact"]["id"], frank.as_str());
    let (name, bytes) = entries
        .iter()
        .find(|(name, _)| name.starts_with("attachments/"))
        .expect("the file");
    assert!(name.ends_with("/frank.txt"), "{name}");
    assert_eq!(bytes, b"frank's own file");
    let missing = db.dir.path().join("nobody.zip");
    let unknown = switchboard(
        &db,
        &[
            "contact",
            "export",
            "no-such-contact",
            "--org",
            &org.slug,
            "--archive",
            missing.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        !missing.exists(),
        "no archive for a contact that is not there"
    );

    let exported = switchboard(&db, &["contact", "export", &contact, "--org", &org.slug]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let json: Value = serde_json::from_slice(&exported.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&exported.stdout)));
    assert_eq!(json["contact"]["id"], contact.as_str());
    assert!(json.to_string().contains("Help with carol"));

    let unknown = switchboard(
        &db,
        &["contact", "erase", "no-such-contact", "--org", &org.slug],
    );
    assert_eq!(unknown.status.code(), Some(2));
    let erased = switchboard(&db, &["contact", "erase", &contact, "--org", &org.slug]);
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let again = switchboard(&db, &["contact", "export", &contact, "--org", &org.slug]);
    assert_eq!(again.status.code(), Some(2));
    // `user add` refuses a weak password (SWITCHBOARD_USER_PASSWORD is `12345678` here).
    let weak = switchboard(
        &db,
        &[
            "user",
            "add",
            "weak@acme.test",
            "--role",
            "support_agent",
            "--org",
            &org.slug,
        ],
    );
    assert_eq!(weak.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("10 characters"));

    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    assert_eq!(
        app.get(&admin, &format!("/api/v1/conversations/{carol}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        shown_anywhere(&app, &admin, &carol, "carol").await,
        Vec::<String>::new()
    );
    app.stop().await;
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("sends")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds")
}

async fn logins_are_throttled_and_weak_passwords_refused(db: TestDatabase) {
    let started: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
    let clock = Clock::manual(started);
    let app = TestApp::spawn_quiet_with_clock(db, support::settings, clock.clone()).await;
    let admin = app.admin().await;
    for weak in [
        "12345678",
        "short",
        "password123",
        "Password123",
        "1234567890",
    ] {
        let (status, body) = app
            .post(
                &admin,
                "/api/v1/users",
                json!({ "email": "weak@acme.test", "role": "support_agent", "password": weak }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {body}");
    }
    let (status, body) = app
        .post(
            &admin,
            "/api/v1/users",
            json!({ "email": "ann@acme.test", "role": "support_agent",
                    "password": "a long password" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Five wrong passwords, then even the right one waits out the window.
    for _ in 0..5 {
        let response = login(&app, support::ADMIN_EMAIL, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = login(&app, support::ADMIN_EMAIL, support::ADMIN_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 15 * 60);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Other accounts are not held up.
    assert_eq!(
        login(&app, "ann@acme.test", "a long password")
            .await
            .status(),
        StatusCode::OK
    );
    clock.advance(chrono::Duration::minutes(10));
    let refused = login(
        &app,
        &support::ADMIN_EMAIL.to_uppercase(),
        support::ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 5 * 60);
    clock.advance(chrono::Duration::minutes(5));
    assert_eq!(
        login(&app, support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // A success starts the account's count again.
    for _ in 0..4 {
        let response = login(&app, support::ADMIN_EMAIL, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&app, support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );

    // Twenty failures from one address, whatever the accounts, hold that address up.
    clock.advance(chrono::Duration::minutes(15));
    for n in 0..20 {
        let response = login(&app, &format!("nobody{n}@acme.test"), "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let refused = login(&app, "ann@acme.test", "a long password").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 0);
    clock.advance(chrono::Duration::minutes(15));
    assert_eq!(
        login(&app, "ann@acme.test", "a long password")
            .await
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// `GET /api/v1/auth/me` with `token`.
async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sends")
}

/// Each organization's requests to the API, by session and API key together, are limited to
/// `api_requests_per_minute` with `api_burst` at once; beyond: 429 with `Retry-After` and the
/// API's error body. Another organization is not held up, nor is a caller without a token
/// counted against anyone.
async fn organizations_have_api_limits_of_their_own(db: TestDatabase) {
    let clock = Clock::manual("2030-01-01T09:00:00Z".parse().expect("a time"));
    let app = TestApp::spawn_quiet_with_clock(
        db,
        |db| switchboard::Settings {
            api_requests_per_minute: 60,
            api_burst: 5,
            ..support::settings(db)
        },
        clock.clone(),
    )
    .await;
    let admin = app.admin().await;
    let (status, created) = app
        .post(
            &admin,
            "/api/v1/api-keys",
            json!({ "name": "script", "scopes": ["conversations:read"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["secret"].as_str().expect("a secret").to_owned();
    let globex = app.second_organization().await;
    // A minute on, every organization has its whole burst.
    clock.advance(chrono::Duration::minutes(1));

    for token in [&admin, &key, &admin, &key, &admin] {
        assert_eq!(me(&app, token).await.status(), StatusCode::OK);
    }
    for token in [&admin, &key] {
        let refused = me(&app, token).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&refused), 1, "one request a second");
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    // Another organization, and callers without a valid token, are answered as before.
    assert_eq!(me(&app, &globex).await.status(), StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(
            me(&app, "not-a-token").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // A second later, one more request goes through, and only one.
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(me(&app, &key).await.status(), StatusCode::OK);
    assert_eq!(
        me(&app, &admin).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // The description says so for every route that takes a token.
    clock.advance(chrono::Duration::minutes(1));
    let (_, openapi) = app.get(&admin, "/api/v1/openapi.json").await;
    assert_eq!(
        openapi["paths"]["/api/v1/conversations"]["get"]["responses"]["429"]["$ref"],
        "#/components/responses/TooManyRequests"
    );
    let documented = &openapi["components"]["responses"]["TooManyRequests"];
    assert!(
        documented["headers"]["Retry-After"].is_object(),
        "{documented}"
    );
    assert_eq!(
        documented["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(
        openapi["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]["headers"]
            ["Retry-After"]
            .is_object(),
        "login documents its own throttle"
    );
    app.stop().await;
}

/// Issue 23, finding 9: inbox secrets and webhook signing secrets are stored sealed under the
/// hub's key; the hub reads them; `secrets rotate` seals them again under a new key, the old
/// one given as previous; a hub with only the new key reads them then.
async fn secrets_are_sealed_at_rest_and_rotated(db: TestDatabase) {
    let first = switchboard_store::SecretKeys::generate().expect("a key");
    let app = TestApp::spawn_with(db, |db| switchboard::Settings {
        secret_key: Some(switchboard_model::Secret::new(first.clone())),
        ..support::settings(db)
    })
    .await;
    let admin = app.admin().await;
    let inbox = app
        .test_inbox(&admin, json!({ "api_key": "quokka-secret-77" }))
        .await;
    let (status, hook) = app
        .post(
            &admin,
            "/api/v1/webhooks",
            json!({ "url": "https://hooks.example.com/in", "events": ["message.created"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let signing = hook["secret"].as_str().expect("shown once").to_owned();

    let stored_secrets = || async {
        let mut stored = app
            .db
            .query_text("SELECT CAST(secrets AS TEXT) FROM inboxes")
            .await;
        stored.extend(
            app.db
                .query_text("SELECT secret FROM webhook_subscriptions")
                .await,
        );
        stored.join("\n")
    };
    let stored = stored_secrets().await;
    assert!(!stored.contains("quokka-secret-77"), "{stored}");
    assert!(!stored.contains(&signing), "{stored}");
    assert!(stored.contains("sealed:v1:"), "{stored}");
    // The hub opens them for the connectors.
    let opened = app
        .state
        .store
        .inbox_for_channel(&inbox)
        .await
        .expect("opens")
        .expect("the inbox");
    assert_eq!(opened.full_config["api_key"], "quokka-secret-77");
    let (_, listed) = app.get(&admin, "/api/v1/webhooks").await;
    assert!(!listed.to_string().contains("sealed:v1:"), "{listed}");

    // A new key takes over; the CLI seals everything again under it.
    let second = switchboard_store::SecretKeys::generate().expect("a key");
    let new_id = switchboard_store::SecretKeys::new(&second, &[])
        .expect("a key")
        .current_id()
        .expect("an id")
        .to_owned();
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["secrets", "rotate", "--data-dir"])
        .arg(app.db.dir.path())
        .arg("--database-url")
        .arg(&app.db.url)
        .env("SWITCHBOARD_SECRET_KEY", &second)
        .env("SWITCHBOARD_PREVIOUS_SECRET_KEYS", &first)
        .output()
        .expect("runs");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).contains(&new_id));
    let stored = stored_secrets().await;
    assert_eq!(
        stored.matches("sealed:v1:").count(),
        stored.matches(&format!("sealed:v1:{new_id}:")).count(),
        "all under the new key: {stored}"
    );
    let mut store = switchboard_store::Store::connect(&app.db.url)
        .await
        .expect("connects");
    store =
        store.with_secret_keys(switchboard_store::SecretKeys::new(&second, &[]).expect("a key"));
    let opened = store
        .inbox_for_channel(&inbox)
        .await
        .expect("opens with the new key alone")
        .expect("the inbox");
    assert_eq!(opened.full_config["api_key"], "quokka-secret-77");
    let old_only = switchboard_store::Store::connect(&app.db.url)
        .await
        .expect("connects")
        .with_secret_keys(switchboard_store::SecretKeys::new(&first, &[]).expect("a key"));
    assert!(
        old_only.inbox_for_channel(&inbox).await.is_err(),
        "the old key no longer opens them"
    );
    app.stop().await;
}

/// Issue 23, finding 10: `/metrics` was open to anyone who reached the port. With
/// `metrics_token` set it answers 401 without the token or with a wrong one, and the
/// Prometheus text with it.
async fn metrics_answer_only_the_metrics_token_when_one_is_set(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |db| switchboard::Settings {
        metrics_token: Some(switchboard_model::Secret::new("scrape-me-7f3a")),
        ..support::settings(db)
    })
    .await;
    let scrape = |authorization: Option<&'static str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        async move {
            let response = request.send().await.expect("answers");
            let status = response.status();
            (status, response.text().await.expect("a body"))
        }
    };
    for refused in [
        None,
        Some("Bearer scrape-me"),
        Some("Basic c2NyYXBlLW1lLTdmM2E="),
    ] {
        let (status, body) = scrape(refused).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused:?}: {body}");
        assert!(!body.contains("switchboard_"), "no figures: {body}");
    }
    let (status, body) = scrape(Some("Bearer scrape-me-7f3a")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("switchboard_http_requests_total"), "{body}");
}
