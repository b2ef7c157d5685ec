//! Zendesk, both directions, against a Zendesk account on loopback (`FakeZendesk`: the Support
//! API's tickets, comments, users and incremental export, with state) and the real hub.
//!
//! As the escalation desk: a web-chat conversation handed to a person becomes a ticket with the
//! transcript as a private comment; a Zendesk agent's public reply reaches the visitor, a
//! private note does not; the visitor's follow-up is appended as their own comment; our own
//! comment coming back by webhook or poll makes nothing; the same webhook twice makes one
//! message; a webhook lost is caught by the poller; a 429's `Retry-After` is waited out;
//! solving the ticket resolves the conversation; a bad or stale signature is 401 with nothing
//! stored. As a channel: a ticket opened in Zendesk is a conversation, the hub's reply is a
//! public comment, resolving in the hub solves the ticket.

mod support;

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use support::{
    TestApp,
    chat::{Chat, webchat_inbox},
    cluster::{postgres_and_redis, two_nodes_with},
    eventually, messages_of, next_agent_message,
};
use switchboard::Settings;
use switchboard_testkit::{FakeZendesk, SmtpSink, TestDatabase, backend_tests, zendesk_signature};

backend_tests!(
    escalations_sync_both_ways_with_zendesk,
    a_customer_s_files_reach_the_ticket,
    a_zendesk_ticket_is_a_conversation_of_its_inbox,
    zendesk_webhooks_must_be_signed_and_fresh,
);

const WEBHOOK_SECRET: &str = "dGhpcyBpcyBhIHNpZ25pbmcgc2VjcmV0";

async fn zendesk_inbox(app: &TestApp, admin: &str, zendesk: &FakeZendesk, desk: bool) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "Zendesk", "channel": "zendesk",
                    "config": zendesk.config(WEBHOOK_SECRET, desk) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    inbox["id"].as_str().expect("an id").to_owned()
}

/// Posts a webhook body to the inbox, signed as Zendesk signs it.
async fn webhook(app: &TestApp, inbox: &str, body: &[u8], body_first: bool) -> StatusCode {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/zendesk/{inbox}")))
        .header("content-type", "application/json");
    for (name, value) in zendesk_signature(WEBHOOK_SECRET, body, Utc::now(), body_first) {
        request = request.header(name, value);
    }
    request
        .body(body.to_vec())
        .send()
        .await
        .expect("sends")
        .status()
}

async fn escalations_sync_both_ways_with_zendesk(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let zendesk = FakeZendesk::start().await;
    let desk = zendesk_inbox(&app, &admin, &zendesk, true).await;
    let website = webchat_inbox(&app, &admin, json!({})).await;
    // One desk per organization.
    let (status, refused) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "Second desk", "channel": "zendesk",
                    "config": zendesk.config(WEBHOOK_SECRET, true) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, second) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "Second", "channel": "zendesk",
                    "config": zendesk.config(WEBHOOK_SECRET, false) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["id"].as_str().expect("an id");
    let (status, refused) = app
        .send(
            reqwest::Method::PATCH,
            &admin,
            &format!("/api/v1/inboxes/{second}"),
            json!({ "config": zendesk.config(WEBHOOK_SECRET, true) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // A visitor asks for a person: the conversation becomes a ticket.
    let mut chat = Chat::connect(&app, &format!("inbox={website}")).await;
    chat.next_of("session").await;
    chat.say("c-1", "My parcel 5521 never arrived").await;
    chat.send(json!({ "type": "handoff" })).await;
    let ticket = eventually("a ticket is opened", || zendesk.tickets().pop()).await;
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={website}"))
        .await;
    let conversation_id = list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned();
    assert_eq!(
        ticket.external_id.as_deref(),
        Some(conversation_id.as_str())
    );
    assert!(
        ticket.tags.contains(&"switchboard".to_owned()),
        "{:?}",
        ticket.tags
    );
    assert_eq!(ticket.comments.len(), 1);
    let transcript = &ticket.comments[0];
    assert!(!transcript.public, "the transcript is a private note");
    assert!(
        transcript.body.contains("My parcel 5521 never arrived"),
        "{}",
        transcript.body
    );
    assert!(
        transcript.body.contains("Escalated from webchat"),
        "{}",
        transcript.body
    );
    let creates = zendesk
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/tickets.json")
        .count();
    assert_eq!(creates, 1, "one create");

    // A Zendesk agent answers publicly: the visitor gets it on the web chat, once, whatever
    // Zendesk's retries.
    zendesk.agent_comment(ticket.id, "We are sending a new parcel today.", true);
    let body = zendesk.comment_webhook(ticket.id);
    assert_eq!(webhook(&app, &desk, &body, false).await, StatusCode::OK);
    let reply = next_agent_message(&mut chat).await;
    assert_eq!(reply["text"], "We are sending a new parcel today.");
    assert_eq!(webhook(&app, &desk, &body, true).await, StatusCode::OK);
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        messages_of(&conversation, "agent").len(),
        1,
        "{conversation}"
    );

    // A private note stays with the agents.
    zendesk.agent_comment(ticket.id, "Courier is DHL, ref 99.", false);
    let body = zendesk.comment_webhook(ticket.id);
    assert_eq!(webhook(&app, &desk, &body, false).await, StatusCode::OK);
    let conversation = app.conversation(&admin, &conversation_id).await;
    let agent = messages_of(&conversation, "agent");
    assert_eq!(agent.len(), 2, "{conversation}");
    assert_eq!(agent[1]["private"], true);
    // Not sent to the visitor: it would be the next agent message they get, and the next
    // one checked below is the reply that comes after it.

    // The Zendesk agent raises the priority: the conversation follows.
    zendesk.set_priority(ticket.id, "urgent");
    let body = zendesk.comment_webhook(ticket.id);
    assert_eq!(webhook(&app, &desk, &body, false).await, StatusCode::OK);
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        conversation["conversation"]["priority"], "urgent",
        "{conversation}"
    );

    // The visitor writes again while Zendesk says 429: the sync waits out Retry-After and
    // appends the message as the requester's own comment.
    zendesk.throttle_next(1, 2);
    chat.say("c-2", "Thank you! Which courier?").await;
    let follow_up = eventually("the follow-up is on the ticket", || {
        let ticket = zendesk.ticket(ticket.id)?;
        ticket
            .comments
            .iter()
            .find(|c| c.body.contains("Which courier?"))
            .cloned()
    })
    .await;
    assert!(follow_up.public);
    assert_eq!(
        follow_up.author_id, ticket.requester_id,
        "written as the customer"
    );
    let requests = zendesk.requests();
    let throttled = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 was answered");
    let next = &requests[throttled + 1];
    assert!(
        next.at.duration_since(requests[throttled].at) >= Duration::from_millis(1900),
        "the next request waited for Retry-After"
    );

    // Our own comment coming back by webhook (and by the poller) makes nothing. The webhook is
    // handled before it is answered; the poller, which reads comments in order, has read it
    // once it brings the reply below.
    let before = app.conversation(&admin, &conversation_id).await["messages"]
        .as_array()
        .map(Vec::len);
    let body = zendesk.comment_webhook(ticket.id);
    assert_eq!(webhook(&app, &desk, &body, false).await, StatusCode::OK);

    // A reply whose webhook was lost: the poller finds it, with its file.
    zendesk.agent_comment_with_file(ticket.id, "DHL, tracking 123456.", "label.png");
    let reply = next_agent_message(&mut chat).await;
    assert_eq!(reply["text"], "DHL, tracking 123456.");
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        conversation["messages"].as_array().map(Vec::len),
        before.map(|n| n + 1),
        "the reply alone, nothing from our own comment"
    );
    let with_file = messages_of(&conversation, "agent")
        .into_iter()
        .find(|m| m["text"] == "DHL, tracking 123456.")
        .expect("the reply is stored");
    assert_eq!(
        with_file["attachments"][0]["filename"], "label.png",
        "{with_file}"
    );
    assert!(
        with_file["attachments"][0]["url"]
            .as_str()
            .is_some_and(|url| url.starts_with(&zendesk.base_url)),
        "{with_file}"
    );

    // An agent answering in Switchboard: the visitor gets it, the ticket keeps a private copy.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "We also refund the shipping." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let reply = next_agent_message(&mut chat).await;
    assert_eq!(reply["text"], "We also refund the shipping.");
    let copy = eventually("the ticket keeps the reply", || {
        zendesk
            .ticket(ticket.id)?
            .comments
            .into_iter()
            .find(|c| c.body.contains("We also refund the shipping."))
    })
    .await;
    assert!(!copy.public, "{copy:?}");

    // Solving the ticket resolves the conversation.
    zendesk.set_status(ticket.id, "solved");
    let body = zendesk.comment_webhook(ticket.id);
    assert_eq!(webhook(&app, &desk, &body, false).await, StatusCode::OK);
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        conversation["conversation"]["status"], "resolved",
        "{conversation}"
    );

    // Closed for good in Zendesk: the customer's next message opens a follow-up ticket.
    zendesk.set_status(ticket.id, "closed");
    chat.say("c-3", "It came back broken again").await;
    let follow_up_ticket = eventually("a follow-up ticket", || {
        zendesk.tickets().into_iter().find(|t| t.id != ticket.id)
    })
    .await;
    assert!(
        follow_up_ticket
            .subject
            .starts_with(&format!("Follow-up to #{}", ticket.id)),
        "{}",
        follow_up_ticket.subject
    );
    assert!(
        follow_up_ticket.comments[0]
            .body
            .contains("It came back broken again"),
        "{:?}",
        follow_up_ticket.comments
    );
    assert_eq!(
        zendesk.ticket(ticket.id).expect("the ticket").status,
        "closed"
    );

    // No comment was posted twice.
    let ticket = zendesk.ticket(ticket.id).expect("the ticket");
    let mut bodies: Vec<&str> = ticket.comments.iter().map(|c| c.body.as_str()).collect();
    bodies.sort_unstable();
    let total = bodies.len();
    bodies.dedup();
    assert_eq!(bodies.len(), total, "{:?}", ticket.comments);
    app.stop().await;
}

async fn a_zendesk_ticket_is_a_conversation_of_its_inbox(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let zendesk = FakeZendesk::start().await;
    let inbox = zendesk_inbox(&app, &admin, &zendesk, false).await;

    let ticket = zendesk.customer_ticket(
        "Ada Lovelace",
        "ada@example.test",
        "Refund for order 77",
        "Please refund order 77, it arrived broken.",
    );
    let body = zendesk.comment_webhook(ticket);
    assert_eq!(webhook(&app, &inbox, &body, false).await, StatusCode::OK);
    // The same ticket again (a retry, or the poller) stores nothing new.
    assert_eq!(webhook(&app, &inbox, &body, true).await, StatusCode::OK);
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    let conversations = list["conversations"].as_array().expect("a list");
    assert_eq!(conversations.len(), 1, "{list}");
    let conversation_id = conversations[0]["id"].as_str().expect("an id").to_owned();
    let conversation = app.conversation(&admin, &conversation_id).await;
    let customer = messages_of(&conversation, "customer");
    assert_eq!(customer.len(), 1, "{conversation}");
    assert_eq!(
        customer[0]["text"],
        "Please refund order 77, it arrived broken."
    );

    // The hub's reply is a public comment by the integration's user; its echo makes nothing.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Refund issued, 3-5 days." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let comment = eventually("the reply is on the ticket", || {
        zendesk
            .ticket(ticket)?
            .comments
            .into_iter()
            .find(|c| c.body == "Refund issued, 3-5 days.")
    })
    .await;
    assert!(comment.public);
    assert_eq!(
        comment.author_id,
        switchboard_testkit::fake_zendesk::ZENDESK_API_USER
    );
    let body = zendesk.comment_webhook(ticket);
    assert_eq!(webhook(&app, &inbox, &body, false).await, StatusCode::OK);
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(messages_of(&conversation, "customer").len(), 1);
    assert_eq!(
        messages_of(&conversation, "agent").len(),
        1,
        "{conversation}"
    );

    // A note in the hub is a private comment; the public reply is on the ticket once.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Checked with finance.", "private": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let note = eventually("the note is on the ticket", || {
        zendesk
            .ticket(ticket)?
            .comments
            .into_iter()
            .find(|c| c.body.contains("Checked with finance."))
    })
    .await;
    assert!(
        !note.public && note.body.starts_with("Note in Switchboard"),
        "{note:?}"
    );
    let replies = zendesk
        .ticket(ticket)
        .expect("the ticket")
        .comments
        .iter()
        .filter(|c| c.body.contains("Refund issued"))
        .count();
    assert_eq!(replies, 1);

    // Resolving in the hub solves the ticket.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    eventually("the ticket is solved", || {
        (zendesk.ticket(ticket)?.status == "solved").then_some(())
    })
    .await;

    // The poller resumes from its stored cursor after a restart.
    for _ in 0..400 {
        if app
            .state
            .store
            .helpdesk_cursor(&inbox)
            .await
            .expect("reads")
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let db = app.stop().await;
    let before_restart = zendesk.requests().len();
    let app = TestApp::spawn_quiet(db).await;
    let first_poll = eventually("the restarted hub polls", || {
        zendesk.requests()[before_restart..]
            .iter()
            .find(|r| {
                r.path
                    .starts_with("/api/v2/incremental/tickets/cursor.json")
            })
            .cloned()
    })
    .await;
    assert!(
        first_poll.path.contains("cursor=") && !first_poll.path.contains("start_time="),
        "{}",
        first_poll.path
    );
    app.stop().await;
}

async fn zendesk_webhooks_must_be_signed_and_fresh(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let zendesk = FakeZendesk::start().await;
    // The ticket is older than the inbox, so that the poller (which starts at the inbox's
    // creation) leaves it alone and only a webhook could bring it in.
    let ticket = zendesk.customer_ticket("Bo", "bo@example.test", "Hi", "Hello there");
    zendesk.backdate(ticket, Duration::from_secs(600));
    let inbox = zendesk_inbox(&app, &admin, &zendesk, false).await;
    let body = zendesk.comment_webhook(ticket);
    let send = |headers: Vec<(&'static str, String)>| {
        let mut request = app
            .client
            .post(app.url(&format!("/webhooks/zendesk/{inbox}")))
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let wrong = zendesk_signature("another secret", &body, Utc::now(), false);
    assert_eq!(
        send(wrong).await.expect("sends").status(),
        StatusCode::UNAUTHORIZED
    );
    let stale = zendesk_signature(
        WEBHOOK_SECRET,
        &body,
        Utc::now() - chrono::Duration::minutes(6),
        false,
    );
    assert_eq!(
        send(stale).await.expect("sends").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(Vec::new()).await.expect("sends").status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    assert_eq!(list["conversations"], json!([]), "nothing stored");
    app.stop().await;
}

/// Two nodes on one PostgreSQL database and one Redis run the sync side by side: every
/// escalation is one ticket, created once, and every follow-up one comment.
#[tokio::test]
async fn two_nodes_never_write_a_ticket_or_comment_twice() {
    let Some((db, redis)) = postgres_and_redis().await else {
        return;
    };
    let quiet = |settings| Settings {
        bot_enabled: false,
        ..settings
    };
    let (node_a, node_b) = two_nodes_with(db, &redis, quiet).await;

    let admin = node_a.admin().await;
    let zendesk = FakeZendesk::start().await;
    zendesk_inbox(&node_a, &admin, &zendesk, true).await;
    let website = webchat_inbox(&node_a, &admin, json!({})).await;
    let mut chats = Vec::new();
    for visitor in 0..5 {
        let mut chat = Chat::connect(&node_a, &format!("inbox={website}")).await;
        chat.next_of("session").await;
        chat.say("c-1", &format!("Visitor {visitor} needs help"))
            .await;
        chat.send(json!({ "type": "handoff" })).await;
        chats.push(chat);
    }
    eventually("five tickets", || {
        (zendesk.tickets().len() == 5).then_some(())
    })
    .await;
    for (visitor, chat) in chats.iter_mut().enumerate() {
        chat.say("c-2", &format!("Visitor {visitor} again")).await;
    }
    // The comments on all tickets that contain `text`.
    let comments_with = |text: &str| {
        zendesk
            .tickets()
            .iter()
            .flat_map(|t| t.comments.iter())
            .filter(|c| c.body.contains(text))
            .count()
    };
    eventually("five follow-ups", || {
        (comments_with("again") >= 5).then_some(())
    })
    .await;
    // One more message each: once those are on the tickets, both nodes' syncs have gone past
    // the follow-ups, and a second writer, if there were one, would have written them.
    for (visitor, chat) in chats.iter_mut().enumerate() {
        chat.say("c-3", &format!("Visitor {visitor} once more"))
            .await;
    }
    eventually("five last messages", || {
        (comments_with("once more") >= 5).then_some(())
    })
    .await;
    let tickets = zendesk.tickets();
    assert_eq!(tickets.len(), 5);
    for ticket in &tickets {
        for text in ["again", "once more"] {
            let follow_ups = ticket.comments.iter().filter(|c| c.body.contains(text));
            assert_eq!(follow_ups.count(), 1, "{text}: {:?}", ticket.comments);
        }
    }
    let creates = zendesk
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/tickets.json" && r.method == reqwest::Method::POST)
        .count();
    assert_eq!(creates, 5, "each ticket created once");
    node_b.stop().await;
    node_a.stop().await;
}

/// A customer writes by email with a photo; the follow-up on the desk's ticket carries the
/// file itself (uploaded, its token on the comment), not only its name.
async fn a_customer_s_files_reach_the_ticket(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let zendesk = FakeZendesk::start().await;
    zendesk_inbox(&app, &admin, &zendesk, true).await;
    let sink = SmtpSink::start().await;
    let (status, inbox) = app
        .post(
            &admin,
            "/api/v1/inboxes",
            json!({ "name": "Email", "channel": "email", "config": {
                "address": "help@acme.test", "inbound_secret": "mail-secret",
                "smtp_url": sink.url() } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let inbox = inbox["id"].as_str().expect("an id").to_owned();
    let post = |raw: String| {
        let raw = raw.replace('\n', "\r\n").into_bytes();
        app.client
            .post(app.url(&format!("/webhooks/email/{inbox}")))
            .header(
                "x-switchboard-signature",
                switchboard_email::sign(&raw, b"mail-secret"),
            )
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
    };
    let first = "From: Ann <ann@mail.test>\nTo: help@acme.test\nSubject: Broken screen\n\
        Message-ID: <a1@mail.test>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\n\
        My screen arrived cracked. Can I talk to a human please?\n";
    assert_eq!(
        post(first.to_owned()).await.expect("sends").status(),
        StatusCode::OK
    );
    let ticket = eventually("a ticket is opened", || zendesk.tickets().pop()).await;

    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let second = format!(
        "From: Ann <ann@mail.test>\nTo: help@acme.test\nSubject: Re: Broken screen\n\
         Message-ID: <a2@mail.test>\nIn-Reply-To: <a1@mail.test>\n\
         Date: Mon, 2 Nov 2026 10:05:00 +0000\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain; charset=utf-8\n\nHere is a photo.\n\
         --b1\nContent-Type: image/png; name=\"crack.png\"\n\
         Content-Disposition: attachment; filename=\"crack.png\"\n\
         Content-Transfer-Encoding: base64\n\n{png}\n--b1--\n"
    );
    assert_eq!(post(second).await.expect("sends").status(), StatusCode::OK);
    let comment = eventually("the photo is on the ticket", || {
        zendesk
            .ticket(ticket.id)?
            .comments
            .into_iter()
            .find(|c| c.body.contains("Here is a photo."))
    })
    .await;
    assert!(
        comment.body.contains("Attached: crack.png"),
        "{}",
        comment.body
    );
    let (name, url) = comment.attachments.first().expect("a file on the comment");
    assert_eq!(name, "crack.png");
    let token = url
        .split("/attachments/token/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a token in the URL");
    let upload = zendesk.upload(token).expect("the upload");
    assert_eq!(upload.content_type, "image/png");
    assert_eq!(
        &upload.bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "the file's own bytes"
    );
    app.stop().await;
}
