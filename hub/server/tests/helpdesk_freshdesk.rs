//! Freshdesk, both directions, against a Freshdesk account on loopback (`FakeFreshdesk`: API
//! v2's tickets, conversations, contacts, search and list, with state) and the real hub.
//!
//! As the escalation desk: a web-chat conversation handed to a person becomes one ticket,
//! tagged with the conversation, with the transcript as a private note; a Freshdesk agent's
//! public reply reaches the visitor, a private note does not; the same webhook twice makes one
//! message; the visitor's follow-up is appended as the customer's own incoming note, after a
//! 429's `Retry-After`; what the hub wrote coming back makes nothing; a reply whose webhook was
//! lost is caught by the poller; resolving the ticket resolves the conversation. As a channel: a
//! ticket opened in Freshdesk is a conversation, the hub's reply is a public reply on it, a
//! Freshdesk agent's note is a private note, resolving in the hub resolves the ticket. A
//! webhook without the right `X-Switchboard-Token` is 401 with nothing read or stored.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{
    TestApp,
    chat::{Chat, webchat_inbox},
    eventually, messages_of, next_agent_message,
};
use switchboard_testkit::{
    FakeFreshdesk, TestDatabase, backend_tests, fake_freshdesk::FRESHDESK_API_AGENT,
};

backend_tests!(
    escalations_sync_both_ways_with_freshdesk,
    a_freshdesk_ticket_is_a_conversation_of_its_inbox,
    freshdesk_webhooks_need_the_token,
);

const WEBHOOK_SECRET: &str = "fd-webhook-3b9e7c1a55d2";

async fn freshdesk_inbox(
    app: &TestApp,
    admin: &str,
    freshdesk: &FakeFreshdesk,
    desk: bool,
) -> String {
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "Freshdesk", "channel": "freshdesk",
                    "config": freshdesk.config(WEBHOOK_SECRET, desk) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    inbox["id"].as_str().expect("an id").to_owned()
}

/// Posts a webhook body to the inbox as the automation rule does, with `token` in
/// `X-Switchboard-Token` (none: without the header).
async fn webhook(app: &TestApp, inbox: &str, body: &[u8], token: Option<&str>) -> StatusCode {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/freshdesk/{inbox}")))
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("x-switchboard-token", token);
    }
    request
        .body(body.to_vec())
        .send()
        .await
        .expect("sends")
        .status()
}

/// The rule's webhook for `ticket`, with the right token.
async fn ticket_changed(app: &TestApp, inbox: &str, freshdesk: &FakeFreshdesk, ticket: u64) {
    let body = freshdesk.webhook_body(ticket);
    assert_eq!(
        webhook(app, inbox, &body, Some(WEBHOOK_SECRET)).await,
        StatusCode::OK
    );
}

async fn escalations_sync_both_ways_with_freshdesk(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let freshdesk = FakeFreshdesk::start().await;
    let desk = freshdesk_inbox(&app, &admin, &freshdesk, true).await;
    let website = webchat_inbox(&app, &admin, json!({})).await;

    // A visitor asks for a person: the conversation becomes one ticket.
    let mut chat = Chat::connect(&app, &format!("inbox={website}")).await;
    chat.next_of("session").await;
    chat.say("c-1", "My parcel 5521 never arrived").await;
    chat.send(json!({ "type": "handoff" })).await;
    let ticket = eventually("a ticket with its handoff note", || {
        freshdesk
            .tickets()
            .pop()
            .filter(|ticket| !ticket.conversations.is_empty())
    })
    .await;
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={website}"))
        .await;
    let conversation_id = list["conversations"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_owned();
    let tag = format!("switchboard-{conversation_id}");
    assert!(ticket.tags.contains(&tag), "{:?}", ticket.tags);
    assert!(
        ticket.tags.contains(&"switchboard".to_owned()),
        "{:?}",
        ticket.tags
    );
    assert_eq!(ticket.status, 2, "opened as Open");
    assert_eq!(
        ticket.description_text, ticket.subject,
        "the requester sees only the subject"
    );
    let requester = freshdesk
        .contact(ticket.requester_id)
        .expect("the requester is a contact");
    assert!(
        requester
            .unique_external_id
            .as_deref()
            .is_some_and(|id| id.starts_with("switchboard:")),
        "a visitor without an email is known by our id: {requester:?}"
    );
    assert_eq!(ticket.conversations.len(), 1, "{:?}", ticket.conversations);
    let transcript = &ticket.conversations[0];
    assert!(transcript.private, "the transcript is a private note");
    assert_eq!(transcript.user_id, FRESHDESK_API_AGENT);
    for expected in ["My parcel 5521 never arrived", "Escalated from webchat"] {
        assert!(
            transcript.body_text.contains(expected),
            "{}",
            transcript.body_text
        );
    }
    let requests = freshdesk.requests();
    let search = requests
        .iter()
        .position(|r| r.route() == "/api/v2/search/tickets")
        .expect("the create looks for the tag first");
    assert_eq!(
        requests[search].query("query"),
        Some(format!("\"tag:'{tag}'\""))
    );
    let creates: Vec<usize> = (0..requests.len())
        .filter(|i| {
            requests[*i].method == Method::POST && requests[*i].route() == "/api/v2/tickets"
        })
        .collect();
    assert_eq!(creates.len(), 1, "one create");
    assert!(search < creates[0]);

    // A Freshdesk agent replies: the visitor gets it on the web chat, once, however often the
    // rule fires.
    freshdesk.agent_reply(ticket.id, "We are sending a new parcel today.");
    ticket_changed(&app, &desk, &freshdesk, ticket.id).await;
    let reply = next_agent_message(&mut chat).await;
    assert_eq!(reply["text"], "We are sending a new parcel today.");
    ticket_changed(&app, &desk, &freshdesk, ticket.id).await;
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        messages_of(&conversation, "agent").len(),
        1,
        "{conversation}"
    );

    // A private note stays with the agents.
    freshdesk.agent_note(ticket.id, "Courier is DHL, ref 99.");
    ticket_changed(&app, &desk, &freshdesk, ticket.id).await;
    let conversation = app.conversation(&admin, &conversation_id).await;
    let agent = messages_of(&conversation, "agent");
    assert_eq!(agent.len(), 2, "{conversation}");
    assert_eq!(agent[1]["text"], "Courier is DHL, ref 99.");
    assert_eq!(agent[1]["private"], true);
    // Not sent to the visitor: it would be the next agent message they get, and the next
    // one checked below is the reply that comes after it.

    // The visitor writes again while Freshdesk says 429: the sync waits out Retry-After and
    // appends the message as the customer's own incoming note.
    freshdesk.throttle_next(1, 2);
    chat.say("c-2", "Thank you! Which courier?").await;
    let follow_up = eventually("the follow-up is on the ticket", || {
        freshdesk
            .ticket(ticket.id)?
            .conversations
            .into_iter()
            .find(|c| c.body_text.contains("Which courier?"))
    })
    .await;
    assert!(!follow_up.private && follow_up.incoming, "{follow_up:?}");
    assert_eq!(
        follow_up.user_id, ticket.requester_id,
        "written as the customer"
    );
    let requests = freshdesk.requests();
    let sent = requests
        .iter()
        .find(|r| {
            r.path == format!("/api/v2/tickets/{}/notes", ticket.id) && r.body["incoming"] == true
        })
        .expect("the follow-up's request");
    assert_eq!(
        sent.body,
        json!({ "body": "Thank you! Which courier?", "private": false, "incoming": true,
                "user_id": ticket.requester_id })
    );
    let throttled = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 was answered");
    let next = &requests[throttled + 1];
    assert!(
        next.at.duration_since(requests[throttled].at) >= Duration::from_millis(1900),
        "the next request waited for Retry-After"
    );

    // What the hub wrote (the handoff note, the follow-up) coming back makes nothing: the
    // webhook is answered once the ticket is taken.
    let before = app.conversation(&admin, &conversation_id).await["messages"]
        .as_array()
        .map(Vec::len);
    ticket_changed(&app, &desk, &freshdesk, ticket.id).await;
    let after = app.conversation(&admin, &conversation_id).await["messages"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after, "nothing new from our own notes");

    // A reply whose webhook was lost: the poller finds it.
    freshdesk.agent_reply(ticket.id, "DHL, tracking 123456.");
    let reply = next_agent_message(&mut chat).await;
    assert_eq!(reply["text"], "DHL, tracking 123456.");

    // Resolving the ticket resolves the conversation, and the hub does not write the status
    // back.
    freshdesk.set_status(ticket.id, 4);
    ticket_changed(&app, &desk, &freshdesk, ticket.id).await;
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        conversation["conversation"]["status"], "resolved",
        "{conversation}"
    );
    let resolved_at = freshdesk.requests().len();
    // The sync pushes before it polls: once it has polled again, it has had its chance to push.
    eventually("the sync runs again", || {
        freshdesk.requests()[resolved_at..]
            .iter()
            .any(|r| r.route() == "/api/v2/tickets")
            .then_some(())
    })
    .await;
    let status_writes: Vec<_> = freshdesk
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .collect();
    assert!(status_writes.is_empty(), "{status_writes:?}");

    // Nothing was written twice.
    let ticket = freshdesk.ticket(ticket.id).expect("the ticket");
    assert_eq!(ticket.status, 4);
    let mut bodies: Vec<&str> = ticket
        .conversations
        .iter()
        .map(|c| c.body_text.as_str())
        .collect();
    bodies.sort_unstable();
    let total = bodies.len();
    bodies.dedup();
    assert_eq!(bodies.len(), total, "{:?}", ticket.conversations);
    assert_eq!(freshdesk.tickets().len(), 1, "one ticket");
    app.stop().await;
}

async fn a_freshdesk_ticket_is_a_conversation_of_its_inbox(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let freshdesk = FakeFreshdesk::start().await;
    let inbox = freshdesk_inbox(&app, &admin, &freshdesk, false).await;

    let ticket = freshdesk.customer_ticket(
        "Ada Lovelace",
        "ada@example.test",
        "Refund for order 77",
        "Please refund order 77, it arrived broken.",
    );
    ticket_changed(&app, &inbox, &freshdesk, ticket).await;
    // The same ticket again (the rule firing twice, or the poller) stores nothing new.
    ticket_changed(&app, &inbox, &freshdesk, ticket).await;
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

    // The hub's reply is a public reply by the API key's agent; its echo makes nothing.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            json!({ "text": "Refund issued, 3-5 days." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let reply = eventually("the reply is on the ticket", || {
        freshdesk
            .ticket(ticket)?
            .conversations
            .into_iter()
            .find(|c| c.body_text == "Refund issued, 3-5 days.")
    })
    .await;
    assert!(!reply.private && !reply.incoming, "{reply:?}");
    assert_eq!(reply.user_id, FRESHDESK_API_AGENT);
    let sent = freshdesk
        .requests()
        .into_iter()
        .find(|r| r.method == Method::POST && r.route().starts_with("/api/v2/tickets/"))
        .expect("the reply's request");
    assert_eq!(sent.path, format!("/api/v2/tickets/{ticket}/reply"));
    assert_eq!(sent.body, json!({ "body": "Refund issued, 3-5 days." }));
    ticket_changed(&app, &inbox, &freshdesk, ticket).await;
    let conversation = app.conversation(&admin, &conversation_id).await;
    assert_eq!(messages_of(&conversation, "customer").len(), 1);
    assert_eq!(
        messages_of(&conversation, "agent").len(),
        1,
        "{conversation}"
    );

    // A Freshdesk agent's note is the agents' record: a private note, sent nowhere.
    freshdesk.agent_note(ticket, "Customer is a VIP.");
    ticket_changed(&app, &inbox, &freshdesk, ticket).await;
    let conversation = app.conversation(&admin, &conversation_id).await;
    let agent = messages_of(&conversation, "agent");
    assert_eq!(agent.len(), 2, "{conversation}");
    assert_eq!(agent[1]["private"], true);
    assert!(
        agent[1]["text"]
            .as_str()
            .is_some_and(|text| text.ends_with("Customer is a VIP.")),
        "{}",
        agent[1]
    );
    let sent_to_freshdesk = freshdesk
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .count();
    assert_eq!(sent_to_freshdesk, 1, "only the hub's reply was written");

    // Resolving in the hub resolves the ticket.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/resolve"),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    eventually("the ticket is resolved", || {
        (freshdesk.ticket(ticket)?.status == 4).then_some(())
    })
    .await;
    let update = freshdesk
        .requests()
        .into_iter()
        .find(|r| r.method == Method::PUT)
        .expect("the status update");
    assert_eq!(update.path, format!("/api/v2/tickets/{ticket}"));
    assert_eq!(update.body, json!({ "status": 4 }));

    app.stop().await;
}

async fn freshdesk_webhooks_need_the_token(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let freshdesk = FakeFreshdesk::start().await;
    // The ticket is older than the inbox, so that the poller (which starts at the inbox's
    // creation) leaves it alone and only a webhook could bring it in.
    let ticket = freshdesk.customer_ticket("Bo", "bo@example.test", "Hi", "Hello there");
    freshdesk.backdate(ticket, Duration::from_secs(600));
    let inbox = freshdesk_inbox(&app, &admin, &freshdesk, false).await;
    let body = freshdesk.webhook_body(ticket);
    for token in [
        None,
        Some("another secret"),
        Some(""),
        Some("FD-WEBHOOK-3B9E7C1A55D2"),
    ] {
        assert_eq!(
            webhook(&app, &inbox, &body, token).await,
            StatusCode::UNAUTHORIZED,
            "{token:?}"
        );
    }
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    assert_eq!(list["conversations"], json!([]), "nothing stored");
    let ticket_path = format!("/api/v2/tickets/{ticket}");
    let read: Vec<_> = freshdesk
        .requests()
        .into_iter()
        .filter(|r| r.route().starts_with(&ticket_path))
        .collect();
    assert!(read.is_empty(), "nothing read: {read:?}");

    // A verified body that names no ticket is refused.
    let nameless = br#"{"freshdesk_webhook": {"ticket_subject": "Hi"}}"#;
    assert_eq!(
        webhook(&app, &inbox, nameless, Some(WEBHOOK_SECRET)).await,
        StatusCode::BAD_REQUEST
    );

    // The same webhook with the token brings the ticket in.
    ticket_changed(&app, &inbox, &freshdesk, ticket).await;
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
        .await;
    assert_eq!(
        list["conversations"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    app.stop().await;
}
