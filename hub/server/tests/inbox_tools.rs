//! The inbox's tools for a working day over HTTP: labels, search, contact merge and bulk
//! actions, on SQLite and on PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    labels_are_managed_by_managers_and_listed_by_agents,
    conversations_carry_labels_and_filter_by_one,
    search_finds_conversations_contacts_and_articles_ranked,
    search_shows_only_what_the_caller_may_read,
    search_finds_what_was_written_before_it_existed,
    upgrading_takes_anonymous_visitors_out_of_the_contacts_search,
    search_finds_a_conversation_by_its_subject,
    merging_contacts_moves_identities_and_conversations,
    likely_duplicates_share_an_email_or_a_phone,
    bulk_actions_resolve_assign_and_label_many_conversations,
    snoozed_conversations_leave_the_views_and_come_back,
    bulk_snooze_until_a_time_or_until_the_customer_writes,
    anonymous_visitors_are_shown_by_a_stable_friendly_name,
    contacts_carry_labels_through_merges_and_deletions,
);

/// Waits for the bus to announce a change of `conversation_id` (what the inbox's live list
/// and open views follow).
async fn announced(
    events: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<switchboard_model::BusEvent>>,
    conversation_id: &str,
) {
    let deadline = std::time::Duration::from_secs(10);
    tokio::time::timeout(deadline, async {
        loop {
            let event = events.recv().await.expect("the bus is open");
            if let switchboard_model::BusEvent::ConversationChanged {
                conversation_id: changed,
                ..
            } = event.as_ref()
                && changed == conversation_id
            {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no change announced for {conversation_id}"));
}

/// The label names of a conversation JSON.
fn labels(conversation: &Value) -> Vec<&str> {
    conversation["labels"]
        .as_array()
        .map(|labels| labels.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The ids of the conversations a list answer holds.
fn ids(list: &Value) -> Vec<&str> {
    list["conversations"]
        .as_array()
        .map(|list| list.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default()
}

async fn labels_are_managed_by_managers_and_listed_by_agents(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let manager = app.user_token(&admin, "support_manager").await;
    let agent = app.user_token(&admin, "support_agent").await;

    let (status, billing) = app
        .post(
            &manager,
            "/api/v1/labels",
            json!({ "name": "Billing", "color": "#FF0000" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{billing}");
    assert_eq!(billing["name"], "billing", "names are stored lowercase");
    assert_eq!(billing["color"], "#ff0000");
    let (status, bug) = app
        .post(&admin, "/api/v1/labels", json!({ "name": "bug" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        bug["color"].as_str().is_some_and(|c| c.starts_with('#')),
        "a default colour: {bug}"
    );

    let (status, _) = app
        .post(&admin, "/api/v1/labels", json!({ "name": "billing" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique");
    for bad in [
        json!({ "name": "two words" }),
        json!({ "name": "" }),
        json!({ "name": "ok", "color": "red" }),
    ] {
        let (status, _) = app.post(&admin, "/api/v1/labels", bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (status, _) = app
        .post(&agent, "/api/v1/labels", json!({ "name": "vip" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents do not manage labels");

    let (status, list) = app.get(&agent, "/api/v1/labels").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|label| label["name"].as_str())
        .collect();
    assert_eq!(names, ["billing", "bug"]);

    let bug_id = bug["id"].as_str().expect("an id");
    let (status, renamed) = app
        .send(
            Method::PATCH,
            &manager,
            &format!("/api/v1/labels/{bug_id}"),
            json!({ "name": "defect", "color": "#00aa00" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (&renamed["name"], &renamed["color"]),
        (&json!("defect"), &json!("#00aa00"))
    );
    let (status, _) = app
        .send(
            Method::PATCH,
            &manager,
            &format!("/api/v1/labels/{bug_id}"),
            json!({ "name": "billing" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .send(
            Method::DELETE,
            &agent,
            &format!("/api/v1/labels/{bug_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send(
            Method::DELETE,
            &manager,
            &format!("/api/v1/labels/{bug_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .send(
            Method::DELETE,
            &manager,
            &format!("/api/v1/labels/{bug_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another organization sees none of them and cannot touch them.
    let globex = app.second_organization().await;
    let (_, theirs) = app.get(&globex, "/api/v1/labels").await;
    assert_eq!(theirs, json!([]));
    let billing_id = billing["id"].as_str().expect("an id");
    let (status, _) = app
        .send(
            Method::PATCH,
            &globex,
            &format!("/api/v1/labels/{billing_id}"),
            json!({ "color": "#000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn conversations_carry_labels_and_filter_by_one(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let first = app.customer_writes(&admin, &inbox, "first").await;
    let second = app.customer_writes(&admin, &inbox, "second").await;
    let third = app.customer_writes(&admin, &inbox, "third").await;

    // A name not defined yet is created on the way, with a default colour; the change is
    // announced on the bus.
    let mut events = app.state.bus.subscribe();
    let (status, labelled) = app
        .send(
            Method::PUT,
            &agent,
            &format!("/api/v1/conversations/{first}/labels"),
            json!({ "labels": ["vip", "Billing", "billing"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{labelled}");
    assert_eq!(labels(&labelled), ["billing", "vip"]);
    announced(&mut events, &first).await;
    let (_, defined) = app.get(&agent, "/api/v1/labels").await;
    assert_eq!(defined.as_array().map(Vec::len), Some(2), "{defined}");
    let (status, _) = app
        .send(
            Method::PUT,
            &agent,
            &format!("/api/v1/conversations/{second}/labels"),
            json!({ "labels": ["billing"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The detail and the list carry the names.
    let detail = app.conversation(&agent, &first).await;
    assert_eq!(labels(&detail["conversation"]), ["billing", "vip"]);
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    let rows = list["conversations"].as_array().expect("a list");
    let row = |id: &str| rows.iter().find(|row| row["id"] == id).expect("listed");
    assert_eq!(labels(row(&first)), ["billing", "vip"]);
    assert_eq!(labels(row(&second)), ["billing"]);
    assert!(labels(row(&third)).is_empty());

    // The filter, alone and with the others; the counts follow it.
    let (status, billing) = app.get(&agent, "/api/v1/conversations?label=billing").await;
    assert_eq!(status, StatusCode::OK);
    let mut found = ids(&billing);
    found.sort();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(found, expected);
    let (_, vip) = app
        .get(
            &agent,
            &format!("/api/v1/conversations?label=VIP&inbox_id={inbox}"),
        )
        .await;
    assert_eq!(ids(&vip), [first.as_str()]);
    let (_, none) = app
        .get(&agent, "/api/v1/conversations?label=vip&status=resolved")
        .await;
    assert!(ids(&none).is_empty());
    let (_, unknown) = app.get(&agent, "/api/v1/conversations?label=nothing").await;
    assert!(ids(&unknown).is_empty());
    let (_, counts) = app
        .get(&agent, "/api/v1/conversations/counts?label=billing")
        .await;
    assert_eq!(counts["all"], 2, "{counts}");
    let (status, _) = app
        .get(&agent, "/api/v1/conversations?label=not%20a%20slug")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Other changes keep the labels in what they answer.
    let (_, resolved) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{first}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(labels(&resolved), ["billing", "vip"]);

    // Removing: exactly the given set stays.
    let (_, relabelled) = app
        .send(
            Method::PUT,
            &agent,
            &format!("/api/v1/conversations/{first}/labels"),
            json!({ "labels": ["vip"] }),
        )
        .await;
    assert_eq!(labels(&relabelled), ["vip"]);
    let (_, billing) = app.get(&agent, "/api/v1/conversations?label=billing").await;
    assert_eq!(ids(&billing), [second.as_str()]);

    // Deleting a label takes it off its conversations.
    let (_, defined) = app.get(&admin, "/api/v1/labels").await;
    let vip_id = defined
        .as_array()
        .and_then(|all| all.iter().find(|label| label["name"] == "vip"))
        .and_then(|label| label["id"].as_str())
        .expect("vip")
        .to_owned();
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/labels/{vip_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let detail = app.conversation(&agent, &first).await;
    assert!(labels(&detail["conversation"]).is_empty());

    // Bad input, the audit log, and another organization.
    let (status, _) = app
        .send(
            Method::PUT,
            &agent,
            &format!("/api/v1/conversations/{first}/labels"),
            json!({ "labels": ["no spaces"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .send(
            Method::PUT,
            &agent,
            "/api/v1/conversations/nope/labels",
            json!({ "labels": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    assert!(
        audit.to_string().contains("conversation.labels"),
        "audited: {audit}"
    );
    let globex = app.second_organization().await;
    let (status, _) = app
        .send(
            Method::PUT,
            &globex,
            &format!("/api/v1/conversations/{second}/labels"),
            json!({ "labels": ["mine"] }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app
        .get(&globex, "/api/v1/conversations?label=billing")
        .await;
    assert!(ids(&theirs).is_empty());
    let (_, labels_there) = app.get(&globex, "/api/v1/labels").await;
    assert_eq!(labels_there, json!([]));
}

/// A customer message on the test inbox from `from`, in `thread`.
async fn customer_says(app: &TestApp, inbox: &str, thread: &str, from: &str, text: &str) {
    let status = app
        .webhook(
            inbox,
            "s3cret",
            json!({ "thread": thread, "from": from, "id": switchboard_model::new_id(), "text": text }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// The conversation of `thread` on `inbox`.
async fn conversation_of(app: &TestApp, token: &str, inbox: &str, thread: &str) -> String {
    let (_, list) = app
        .get(
            token,
            &format!("/api/v1/conversations?inbox_id={inbox}&limit=200"),
        )
        .await;
    list["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["thread_key"] == thread))
        .and_then(|c| c["id"].as_str())
        .expect("the conversation")
        .to_owned()
}

fn hit_ids<'a>(results: &'a Value, kind: &str) -> Vec<&'a str> {
    results[kind]
        .as_array()
        .map(|hits| hits.iter().filter_map(|hit| hit["id"].as_str()).collect())
        .unwrap_or_default()
}

async fn search_finds_conversations_contacts_and_articles_ranked(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(&app, &inbox, "parcel", "ada@lovelace.test", "Hello there").await;
    customer_says(&app, &inbox, "parcel", "ada@lovelace.test", "Still waiting").await;
    customer_says(
        &app,
        &inbox,
        "parcel",
        "ada@lovelace.test",
        "Where is <b>order</b> 5521? It was due Monday & nothing came",
    )
    .await;
    customer_says(
        &app,
        &inbox,
        "other",
        "bob@builder.test",
        "My order 7730 is fine",
    )
    .await;
    customer_says(
        &app,
        &inbox,
        "refunds",
        "carol@example.test",
        "refund please, a refund now, refund refund",
    )
    .await;
    customer_says(
        &app,
        &inbox,
        "question",
        "dan@example.test",
        "I have a question about my account, and perhaps about a refund later if it is needed",
    )
    .await;
    let parcel = conversation_of(&app, &admin, &inbox, "parcel").await;
    let refunds = conversation_of(&app, &admin, &inbox, "refunds").await;
    let question = conversation_of(&app, &admin, &inbox, "question").await;

    // A word of the third message, typed halfway: prefix matching, one hit, highlighted and
    // escaped.
    let (status, found) = app.get(&admin, "/api/v1/search?q=order%2055").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        hit_ids(&found, "conversations"),
        [parcel.as_str()],
        "{found}"
    );
    let hit = &found["conversations"][0];
    assert_eq!(hit["title"], "ada@lovelace.test");
    assert_eq!(
        hit["snippet"],
        "Where is &lt;b&gt;<mark>order</mark>&lt;/b&gt; <mark>5521</mark>? It was due Monday &amp; nothing came"
    );

    // Ranked: the conversation that is all about refunds first.
    let (_, found) = app
        .get(&admin, "/api/v1/search?q=refund&type=conversations")
        .await;
    assert_eq!(
        hit_ids(&found, "conversations"),
        [refunds.as_str(), question.as_str()],
        "{found}"
    );
    assert_eq!(found["contacts"], json!([]), "only the type asked for");

    // Private notes are found too: every role that reads a conversation sees its notes.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{question}/messages"),
            json!({ "text": "Warehouse says zanzibar pallet is delayed", "private": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, found) = app.get(&admin, "/api/v1/search?q=zanzib").await;
    assert_eq!(hit_ids(&found, "conversations"), [question.as_str()]);

    // Contacts: by part of an email, with the latest conversation to open.
    let (_, found) = app.get(&admin, "/api/v1/search?q=lovelace").await;
    let contacts = found["contacts"].as_array().expect("contacts");
    assert_eq!(contacts.len(), 1, "{found}");
    assert_eq!(contacts[0]["title"], "ada@lovelace.test");
    assert_eq!(contacts[0]["snippet"], "ada@<mark>lovelace</mark>.test");
    assert_eq!(contacts[0]["conversation_id"], parcel.as_str());
    let (_, found) = app
        .get(&admin, "/api/v1/search?q=example.test&type=contacts")
        .await;
    assert_eq!(found["contacts"].as_array().map(Vec::len), Some(2));
    // Under three characters (no trigram to look up), by reading the contacts instead.
    let (_, found) = app.get(&admin, "/api/v1/search?q=Lo&type=contacts").await;
    assert_eq!(
        found["contacts"][0]["title"], "ada@lovelace.test",
        "{found}"
    );
    assert_eq!(found["contacts"].as_array().map(Vec::len), Some(1));

    // Articles: by title and body, a title match first.
    let (status, in_body) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "Shipping times", "body": "Parcels to Quillmark arrive in 3 days." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{in_body}");
    let (_, in_title) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "Quillmark returns", "body": "Send it back within 30 days." }),
        )
        .await;
    let (_, found) = app.get(&admin, "/api/v1/search?q=quillm").await;
    assert_eq!(
        hit_ids(&found, "articles"),
        [
            in_title["id"].as_str().expect("an id"),
            in_body["id"].as_str().expect("an id")
        ],
        "{found}"
    );
    assert_eq!(found["articles"][0]["title"], "Quillmark returns");
    assert!(
        found["articles"][1]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("<mark>Quillmark</mark>")),
        "{found}"
    );

    // Edits and deletions reach the index.
    let article = in_body["id"].as_str().expect("an id");
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/kb/articles/{article}"),
            json!({ "body": "Parcels arrive in 3 days." }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = app.get(&admin, "/api/v1/search?q=quillmark").await;
    assert_eq!(hit_ids(&found, "articles").len(), 1, "{found}");

    // Nothing to search for, and bad input.
    let (status, found) = app.get(&admin, "/api/v1/search?q=%22*%20-").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found,
        json!({ "conversations": [], "contacts": [], "articles": [] })
    );
    let (status, _) = app.get(&admin, "/api/v1/search?q=x&type=users").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get(&admin, "/api/v1/search").await;
    assert!(status.is_client_error(), "q is required");

    // Documented for API users.
    let (_, openapi) = app.get("", "/api/v1/openapi.json").await;
    for (path, method) in [
        ("/api/v1/search", "get"),
        ("/api/v1/labels", "get"),
        ("/api/v1/labels", "post"),
        ("/api/v1/labels/{id}", "patch"),
        ("/api/v1/labels/{id}", "delete"),
        ("/api/v1/conversations/{id}/labels", "put"),
        ("/api/v1/contacts/{id}/merge", "post"),
        ("/api/v1/conversations/bulk", "post"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
}

/// A subject (email's) is searched as well as the messages; conversations without one (chat)
/// are not in its index at all on PostgreSQL.
async fn search_finds_a_conversation_by_its_subject(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let status = app
        .webhook(
            &inbox,
            "s3cret",
            json!({ "thread": "mail", "from": "ada@lovelace.test", "id": "m1",
                    "subject": "Invoice for the wombat", "text": "Please see the attachment" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    customer_says(
        &app,
        &inbox,
        "chat",
        "bob@builder.test",
        "Hello, a question",
    )
    .await;
    let mail = conversation_of(&app, &admin, &inbox, "mail").await;
    let (status, found) = app
        .get(&admin, "/api/v1/search?q=wombat&type=conversations")
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(hit_ids(&found, "conversations"), [mail.as_str()], "{found}");
    let (_, found) = app
        .get(&admin, "/api/v1/search?q=question&type=conversations")
        .await;
    assert_eq!(hit_ids(&found, "conversations").len(), 1, "{found}");
}

async fn search_shows_only_what_the_caller_may_read(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(
        &app,
        &inbox,
        "t1",
        "xylophone@customer.test",
        "The xylophone arrived broken",
    )
    .await;
    app.post(
        &admin,
        "/api/v1/kb/articles",
        json!({ "title": "Xylophone care", "body": "Keep it dry." }),
    )
    .await;

    // An API key that may only read the knowledge base finds articles only.
    let (status, key) = app
        .post(
            &admin,
            "/api/v1/api-keys",
            json!({ "name": "kb reader", "scopes": ["knowledge:read"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().expect("a secret");
    let (status, found) = app.get(secret, "/api/v1/search?q=xylophone").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["conversations"], json!([]));
    assert_eq!(found["contacts"], json!([]));
    assert_eq!(hit_ids(&found, "articles").len(), 1, "{found}");
    let (_, found) = app
        .get(secret, "/api/v1/search?q=xylophone&type=conversations")
        .await;
    assert_eq!(found["conversations"], json!([]));

    // A knowledge editor: articles, no conversations, no contacts. An agent: all three.
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let (_, found) = app.get(&editor, "/api/v1/search?q=xylophone").await;
    assert_eq!(
        (
            hit_ids(&found, "conversations").len(),
            hit_ids(&found, "contacts").len(),
            hit_ids(&found, "articles").len()
        ),
        (0, 0, 1),
        "{found}"
    );
    let agent = app.user_token(&admin, "support_agent").await;
    let (_, found) = app.get(&agent, "/api/v1/search?q=xylophone").await;
    assert_eq!(
        (
            hit_ids(&found, "conversations").len(),
            hit_ids(&found, "contacts").len(),
            hit_ids(&found, "articles").len()
        ),
        (1, 1, 1),
        "{found}"
    );

    // Another organization, with the same words in its own data, never sees ours, nor we its.
    let globex = app.second_organization().await;
    let (_, found) = app.get(&globex, "/api/v1/search?q=xylophone").await;
    assert_eq!(
        found,
        json!({ "conversations": [], "contacts": [], "articles": [] })
    );
    let their_inbox = app
        .test_inbox(&globex, json!({ "address": "help@globex.test" }))
        .await;
    customer_says(
        &app,
        &their_inbox,
        "g1",
        "xylophone@globex.test",
        "Our xylophone order",
    )
    .await;
    let (_, found) = app.get(&globex, "/api/v1/search?q=xylophone").await;
    assert_eq!(hit_ids(&found, "conversations").len(), 1, "{found}");
    assert_eq!(hit_ids(&found, "contacts").len(), 1, "{found}");
    let (_, ours) = app.get(&admin, "/api/v1/search?q=xylophone").await;
    assert_eq!(hit_ids(&ours, "conversations").len(), 1, "{ours}");
    assert_eq!(ours["contacts"][0]["title"], "xylophone@customer.test");
}

async fn merging_contacts_moves_identities_and_conversations(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(
        &app,
        &inbox,
        "by-work-mail",
        "ada@work.test",
        "First, from work",
    )
    .await;
    customer_says(
        &app,
        &inbox,
        "by-home-mail",
        "ada@home.test",
        "Then, from home",
    )
    .await;
    let work = conversation_of(&app, &admin, &inbox, "by-work-mail").await;
    let home = conversation_of(&app, &admin, &inbox, "by-home-mail").await;
    let contact_of = |detail: &Value| {
        detail["conversation"]["contact_id"]
            .as_str()
            .map(str::to_owned)
    };
    let survivor = contact_of(&app.conversation(&admin, &work).await).expect("a contact");
    let merged = contact_of(&app.conversation(&admin, &home).await).expect("a contact");
    assert_ne!(survivor, merged);
    let (status, _) = app
        .send(
            Method::PATCH,
            &admin,
            &format!("/api/v1/contacts/{merged}"),
            json!({ "name": "Ada Lovelace", "phone": "+44 20 7946 0000" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Into itself, unknown contacts, a role without contacts:write.
    let path = format!("/api/v1/contacts/{merged}/merge");
    let (status, _) = app.post(&agent, &path, json!({ "into": merged })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.post(&agent, &path, json!({ "into": "nobody" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &agent,
            "/api/v1/contacts/nobody/merge",
            json!({ "into": survivor }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let (status, _) = app.post(&editor, &path, json!({ "into": survivor })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another organization can neither merge ours nor merge into ours.
    let globex = app.second_organization().await;
    let (status, _) = app.post(&globex, &path, json!({ "into": survivor })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let their_inbox = app
        .test_inbox(&globex, json!({ "address": "help@globex.test" }))
        .await;
    customer_says(&app, &their_inbox, "g", "someone@globex.test", "Hi").await;
    let theirs = conversation_of(&app, &globex, &their_inbox, "g").await;
    let their_contact = contact_of(&app.conversation(&globex, &theirs).await).expect("a contact");
    let (status, _) = app
        .post(&agent, &path, json!({ "into": their_contact }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The merge: the survivor keeps its email, takes the blanks, has both identities; the
    // conversation that moved is announced.
    let mut events = app.state.bus.subscribe();
    let (status, contact) = app.post(&agent, &path, json!({ "into": survivor })).await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(contact["id"], survivor.as_str());
    announced(&mut events, &home).await;
    assert_eq!(contact["email"], "ada@work.test");
    assert_eq!(contact["name"], "Ada Lovelace");
    assert_eq!(contact["phone"], "+44 20 7946 0000");
    let mut identities: Vec<&str> = contact["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter_map(|identity| identity["external_id"].as_str())
        .collect();
    identities.sort();
    assert_eq!(identities, ["ada@home.test", "ada@work.test"]);
    let (status, _) = app.get(&agent, &format!("/api/v1/contacts/{merged}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the merged contact is gone");
    assert_eq!(
        contact_of(&app.conversation(&agent, &home).await).as_deref(),
        Some(survivor.as_str())
    );
    let (_, history) = app
        .get(
            &agent,
            &format!("/api/v1/conversations?contact_id={survivor}"),
        )
        .await;
    let mut both = ids(&history);
    both.sort();
    let mut expected = vec![work.as_str(), home.as_str()];
    expected.sort();
    assert_eq!(both, expected, "one history");
    let (_, none) = app
        .get(
            &agent,
            &format!("/api/v1/conversations?contact_id={merged}"),
        )
        .await;
    assert!(ids(&none).is_empty());

    // New messages on the merged contact's identity land on the survivor: in its old thread
    // and in a new one.
    customer_says(&app, &inbox, "by-home-mail", "ada@home.test", "Any news?").await;
    customer_says(
        &app,
        &inbox,
        "new-thread",
        "ada@home.test",
        "Another matter",
    )
    .await;
    let fresh = conversation_of(&app, &agent, &inbox, "new-thread").await;
    assert_eq!(
        contact_of(&app.conversation(&agent, &fresh).await).as_deref(),
        Some(survivor.as_str())
    );
    let detail = app.conversation(&agent, &home).await;
    assert_eq!(contact_of(&detail).as_deref(), Some(survivor.as_str()));
    assert_eq!(detail["contact"]["id"], survivor.as_str());
    assert_eq!(support::messages_of(&detail, "customer").len(), 2);

    // Audited; search finds one contact.
    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    let entry = audit
        .as_array()
        .or_else(|| audit["events"].as_array())
        .and_then(|events| events.iter().find(|e| e["action"] == "contact.merged"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(entry["subject_id"], survivor.as_str(), "{audit}");
    assert_eq!(entry["data"]["merged_id"], merged.as_str());
    let (_, found) = app
        .get(&agent, "/api/v1/search?q=ada%40&type=contacts")
        .await;
    assert_eq!(hit_ids(&found, "contacts"), [survivor.as_str()], "{found}");
}

async fn bulk_actions_resolve_assign_and_label_many_conversations(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (agent_id, agent) = app.user(&admin, "support_agent").await;
    let manager = app.user_token(&admin, "support_manager").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let mut spam = Vec::new();
    for thread in ["spam-1", "spam-2", "spam-3"] {
        spam.push(app.customer_writes(&admin, &inbox, thread).await);
    }
    let keep = app.customer_writes(&admin, &inbox, "real").await;
    let globex = app.second_organization().await;
    let their_inbox = app
        .test_inbox(&globex, json!({ "address": "help@globex.test" }))
        .await;
    let theirs = app.customer_writes(&globex, &their_inbox, "theirs").await;

    // Label: add to three (one of them twice in the list), another organization's fails.
    let mut targets: Vec<&str> = spam.iter().map(String::as_str).collect();
    targets.push(&spam[0]);
    targets.push(&theirs);
    let (status, result) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": targets, "action": "label", "add": ["spam", "bulk"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["conversations"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        result["failed"],
        json!([{ "id": theirs, "error": "not_found" }])
    );
    let (status, result) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": [spam[0]], "action": "label", "remove": ["bulk"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(labels(&result["conversations"][0]), ["spam"]);
    let (_, labelled) = app.get(&agent, "/api/v1/conversations?label=spam").await;
    assert_eq!(ids(&labelled).len(), 3);
    let (_, other) = app
        .get(&globex, &format!("/api/v1/conversations/{theirs}"))
        .await;
    assert!(labels(&other["conversation"]).is_empty());

    // Assign needs conversations:assign; without `team_id` each keeps its team.
    let (status, team) = app
        .post(&admin, "/api/v1/teams", json!({ "name": "Billing" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let team_id = team["id"].as_str().expect("an id").to_owned();
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{}/assign", spam[1]),
            json!({ "assignee_id": null, "team_id": team_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({ "ids": spam, "action": "assign", "assignee_id": agent_id });
    let (status, _) = app
        .post(&agent, "/api/v1/conversations/bulk", body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, result) = app.post(&manager, "/api/v1/conversations/bulk", body).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert!(
        result["conversations"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|c| c["assignee_id"] == agent_id.as_str() && c["status"] == "assigned")
    );
    let teams: Vec<&Value> = result["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| &c["team_id"])
        .collect();
    assert_eq!(
        teams,
        [&Value::Null, &json!(team_id), &Value::Null],
        "{result}"
    );
    let (status, result) = app
        .post(
            &manager,
            "/api/v1/conversations/bulk",
            json!({ "ids": [spam[1]], "action": "assign", "assignee_id": agent_id, "team_id": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(result["conversations"][0]["team_id"].is_null(), "{result}");

    // Resolve: three at once, the fourth stays.
    let (status, result) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": spam, "action": "resolve" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    for (index, id) in spam.iter().enumerate() {
        let detail = app.conversation(&agent, id).await;
        assert_eq!(detail["conversation"]["status"], "resolved");
        let expected: &[&str] = if index == 0 {
            &["spam"]
        } else {
            &["bulk", "spam"]
        };
        assert_eq!(labels(&detail["conversation"]), expected, "labels stay");
    }
    assert_ne!(
        app.conversation(&agent, &keep).await["conversation"]["status"],
        "resolved"
    );

    // Bad input.
    for bad in [
        json!({ "ids": [], "action": "resolve" }),
        json!({ "ids": [keep], "action": "label", "add": ["not a slug"] }),
        json!({ "ids": vec![keep.clone(); 201], "action": "resolve" }),
    ] {
        let (status, _) = app
            .post(&agent, "/api/v1/conversations/bulk", bad.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (status, _) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": [keep], "action": "explode" }),
        )
        .await;
    assert!(status.is_client_error());
}

/// The search migration indexes the rows already there (an upgrade), not only new ones.
async fn search_finds_what_was_written_before_it_existed(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(
        &app,
        &inbox,
        "old",
        "old@customer.test",
        "An old quokka question",
    )
    .await;
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/kb/articles",
            json!({ "title": "Quokka care", "body": "Feed it leaves." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let db = app.stop().await;
    // Back to the schema before search: no index, and the migration not applied.
    let undo = match db.backend {
        switchboard_testkit::Backend::Sqlite => {
            let mut undo = Vec::new();
            for table in ["messages", "conversations", "kb_articles"] {
                for suffix in ["insert", "delete", "update"] {
                    undo.push(format!("DROP TRIGGER {table}_fts_{suffix}"));
                }
                undo.push(format!("DROP TABLE {table}_fts"));
            }
            undo
        }
        switchboard_testkit::Backend::Postgres => [
            "idx_messages_search",
            "idx_conversations_subject_search",
            "idx_kb_articles_search",
        ]
        .iter()
        .map(|index| format!("DROP INDEX {index}"))
        .collect(),
    };
    for statement in undo {
        db.execute(&statement).await;
    }
    db.execute("DELETE FROM seaql_migrations WHERE version = 'm20261205_000300_search'")
        .await;

    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (_, found) = app.get(&admin, "/api/v1/search?q=quokka").await;
    assert_eq!(hit_ids(&found, "conversations").len(), 1, "{found}");
    assert_eq!(hit_ids(&found, "articles").len(), 1, "{found}");
    // And new rows are indexed from then on.
    customer_says(
        &app,
        &inbox,
        "new",
        "new@customer.test",
        "A new quokka question",
    )
    .await;
    let (_, found) = app.get(&admin, "/api/v1/search?q=quokka").await;
    assert_eq!(hit_ids(&found, "conversations").len(), 2, "{found}");
}

/// A database that indexed anonymous visitors' identities for the contacts' search (before
/// `m20261213_000100_anonymous_identities_unsearched`) loses them on upgrade and keeps the
/// others.
async fn upgrading_takes_anonymous_visitors_out_of_the_contacts_search(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(&app, &inbox, "kept", "kept@customer.test", "Hello").await;
    let webchat = support::chat::webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = support::chat::Chat::connect(&app, &format!("inbox={webchat}")).await;
    chat.next_of("session").await;
    chat.message("c-1", "Hello from the web").await;
    chat.next_of("ack").await;
    drop(chat);
    let db = app.stop().await;
    let visitor = db
        .query_text("SELECT external_id FROM contact_identities WHERE channel = 'webchat'")
        .await;
    let hash_part = visitor[0]["visitor:".len() + 10..][..12].to_owned();
    // Back to the schema before: every identity indexed, the migration not applied.
    let sqlite = db.backend == switchboard_testkit::Backend::Sqlite;
    if sqlite {
        db.execute("INSERT INTO contact_identities_fts(contact_identities_fts) VALUES ('rebuild')")
            .await;
        let indexed = db
            .query_text(&format!(
                "SELECT CAST(rowid AS TEXT) FROM contact_identities_fts \
                 WHERE contact_identities_fts MATCH '\"{hash_part}\"'"
            ))
            .await;
        assert_eq!(indexed.len(), 1, "the old schema indexed the visitor");
    } else {
        db.execute(
            "DROP INDEX idx_contact_identities_external_id_trgm; \
             CREATE INDEX idx_contact_identities_external_id_trgm ON contact_identities \
             USING GIN (lower(external_id) gin_trgm_ops)",
        )
        .await;
    }
    db.execute(
        "DELETE FROM seaql_migrations \
         WHERE version = 'm20261213_000100_anonymous_identities_unsearched'",
    )
    .await;

    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let (_, found) = app
        .get(
            &admin,
            &format!("/api/v1/search?q={hash_part}&type=contacts"),
        )
        .await;
    assert_eq!(found["contacts"], json!([]), "{found}");
    let (_, found) = app
        .get(&admin, "/api/v1/search?q=kept%40cust&type=contacts")
        .await;
    assert_eq!(
        found["contacts"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    let db = app.stop().await;
    let unsearched = if sqlite {
        db.query_text(&format!(
            "SELECT CAST(rowid AS TEXT) FROM contact_identities_fts \
             WHERE contact_identities_fts MATCH '\"{hash_part}\"'"
        ))
        .await
        .is_empty()
    } else {
        db.query_text(
            "SELECT indexdef FROM pg_indexes \
             WHERE indexname = 'idx_contact_identities_external_id_trgm'",
        )
        .await
        .iter()
        .all(|definition| definition.contains("WHERE"))
    };
    assert!(unsearched, "the visitor left the index");
}

/// Waits until the views (the "all" list) hold `conversation_id`, or fails.
async fn back_in_the_views(app: &TestApp, token: &str, conversation_id: &str) {
    for _ in 0..200 {
        let (_, list) = app.get(token, "/api/v1/conversations").await;
        if ids(&list).contains(&conversation_id) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{conversation_id} never came back");
}

/// Snoozes a conversation until `until`.
async fn snooze_until(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    until: chrono::DateTime<chrono::Utc>,
) {
    let (status, body) = app
        .post(
            token,
            &format!("/api/v1/conversations/{conversation_id}/snooze"),
            json!({ "until": until }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The hub on a manual clock started now (in whole seconds: PostgreSQL keeps microseconds),
/// its snooze timer ticking every 50 ms.
async fn on_a_manual_clock(
    db: TestDatabase,
) -> (
    TestApp,
    switchboard_model::Clock,
    chrono::DateTime<chrono::Utc>,
) {
    let started = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);
    let clock = switchboard_model::Clock::manual(started);
    let app = TestApp::spawn_quiet_with_clock(
        db,
        |db| switchboard::Settings {
            sla_check_ms: 50,
            ..support::settings(db)
        },
        clock.clone(),
    )
    .await;
    (app, clock, started)
}

async fn snoozed_conversations_leave_the_views_and_come_back(db: TestDatabase) {
    let (app, clock, started) = on_a_manual_clock(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let warehouse = app.customer_writes(&admin, &inbox, "warehouse").await;
    let waiting = app.customer_writes(&admin, &inbox, "waiting").await;

    // Until a time: out of the views and their counts, in the snoozed view.
    let until = started + chrono::Duration::hours(2);
    let mut events = app.state.bus.subscribe();
    let (status, snoozed) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{warehouse}/snooze"),
            json!({ "until": until }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{snoozed}");
    announced(&mut events, &warehouse).await;
    assert_eq!(
        snoozed["snooze"]["until"]
            .as_str()
            .and_then(|at| at.parse::<chrono::DateTime<chrono::Utc>>().ok()),
        Some(until)
    );
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    assert_eq!(ids(&list), [waiting.as_str()]);
    let (_, only) = app.get(&agent, "/api/v1/conversations?snoozed=true").await;
    assert_eq!(ids(&only), [warehouse.as_str()]);
    assert!(only["conversations"][0]["snooze"].is_object());
    let (_, any) = app.get(&agent, "/api/v1/conversations?snoozed=any").await;
    assert_eq!(ids(&any).len(), 2);
    let (_, counts) = app.get(&agent, "/api/v1/conversations/counts").await;
    assert_eq!(
        (&counts["all"], &counts["snoozed"]),
        (&json!(1), &json!(1)),
        "{counts}"
    );
    let detail = app.conversation(&agent, &warehouse).await;
    assert!(detail["conversation"]["snooze"].is_object());

    // An hour later it still sleeps: once the timer has woken a conversation snoozed for half
    // an hour (so it has run on the moved clock), not this one. Past its time the timer wakes
    // it, announced.
    let marker = app.customer_writes(&admin, &inbox, "marker").await;
    snooze_until(
        &app,
        &agent,
        &marker,
        started + chrono::Duration::minutes(30),
    )
    .await;
    clock.advance(chrono::Duration::hours(1));
    back_in_the_views(&app, &agent, &marker).await;
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    assert!(!ids(&list).contains(&warehouse.as_str()));
    let mut events = app.state.bus.subscribe();
    clock.advance(chrono::Duration::hours(2));
    announced(&mut events, &warehouse).await;
    back_in_the_views(&app, &agent, &warehouse).await;
    let detail = app.conversation(&agent, &warehouse).await;
    assert!(detail["conversation"].get("snooze").is_none(), "{detail}");

    // Until the customer replies: no time wakes it, their message does.
    let (status, snoozed) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{waiting}/snooze"),
            json!({ "until_customer_replies": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{snoozed}");
    assert!(snoozed["snooze"]["until"].is_null());
    snooze_until(
        &app,
        &agent,
        &marker,
        clock.now() + chrono::Duration::days(1),
    )
    .await;
    clock.advance(chrono::Duration::days(30));
    back_in_the_views(&app, &agent, &marker).await;
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    assert!(!ids(&list).contains(&waiting.as_str()));
    app.customer_writes(&admin, &inbox, "waiting").await;
    back_in_the_views(&app, &agent, &waiting).await;

    // A timed snooze ends early when the customer writes; unsnooze ends one at once.
    let later = clock.now() + chrono::Duration::days(1);
    for id in [&warehouse, &waiting] {
        let (status, _) = app
            .post(
                &agent,
                &format!("/api/v1/conversations/{id}/snooze"),
                json!({ "until": later }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    app.customer_writes(&admin, &inbox, "warehouse").await;
    back_in_the_views(&app, &agent, &warehouse).await;
    let (status, woke) = app
        .post(
            &agent,
            &format!("/api/v1/conversations/{waiting}/unsnooze"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(woke.get("snooze").is_none(), "{woke}");
    back_in_the_views(&app, &agent, &waiting).await;

    // Bad input, the audit log, another organization.
    let path = format!("/api/v1/conversations/{waiting}/snooze");
    for bad in [
        json!({}),
        json!({ "until": started - chrono::Duration::hours(1) }),
        json!({ "until": later, "until_customer_replies": true }),
        json!({ "until": "tomorrow" }),
    ] {
        let (status, _) = app.post(&agent, &path, bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    let text = audit.to_string();
    assert!(text.contains("conversation.snoozed") && text.contains("conversation.unsnoozed"));
    let globex = app.second_organization().await;
    let (status, _) = app
        .post(&globex, &path, json!({ "until_customer_replies": true }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Two contacts with one email (in other letter case) and a third with the first's phone are
/// suggested as duplicates of the first; an unrelated one and another organization's are not.
async fn likely_duplicates_share_an_email_or_a_phone(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let mut ids = Vec::new();
    for (thread, email, phone) in [
        ("dup-a", "Ada@Example.test", "+44 20 7946 0000"),
        ("dup-b", "ada@example.test", ""),
        ("dup-c", "other@example.test", "+44 20 7946 0000"),
        ("dup-d", "someone@else.test", "+1 555 0100"),
    ] {
        let conversation = app.customer_writes(&admin, &inbox, thread).await;
        let detail = app.conversation(&admin, &conversation).await;
        let contact = detail["contact"]["id"]
            .as_str()
            .expect("a contact")
            .to_owned();
        let (status, body) = app
            .send(
                reqwest::Method::PATCH,
                &admin,
                &format!("/api/v1/contacts/{contact}"),
                json!({ "email": email, "phone": if phone.is_empty() { Value::Null } else { json!(phone) } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(contact);
    }
    let (status, found) = app
        .get(&admin, &format!("/api/v1/contacts/{}/duplicates", ids[0]))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let mut suggested: Vec<&str> = found["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|contact| contact["id"].as_str())
        .collect();
    suggested.sort_unstable();
    let mut expected = vec![ids[1].as_str(), ids[2].as_str()];
    expected.sort_unstable();
    assert_eq!(suggested, expected);
    let (_, none) = app
        .get(&admin, &format!("/api/v1/contacts/{}/duplicates", ids[3]))
        .await;
    assert_eq!(none["contacts"], json!([]));
    let globex = app.second_organization().await;
    let (status, _) = app
        .get(&globex, &format!("/api/v1/contacts/{}/duplicates", ids[0]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// `action: snooze` on many conversations: until a time (the timer wakes them by the manual
/// clock) or until the customer writes; bad times refuse the whole request; another
/// organization's conversations fail one by one.
async fn bulk_snooze_until_a_time_or_until_the_customer_writes(db: TestDatabase) {
    let (app, clock, started) = on_a_manual_clock(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let mut timed = Vec::new();
    for thread in ["later-1", "later-2"] {
        timed.push(app.customer_writes(&admin, &inbox, thread).await);
    }
    let mut waiting = Vec::new();
    for thread in ["reply-1", "reply-2"] {
        waiting.push(app.customer_writes(&admin, &inbox, thread).await);
    }
    let awake = app.customer_writes(&admin, &inbox, "awake").await;
    let globex = app.second_organization().await;
    let their_inbox = app
        .test_inbox(&globex, json!({ "address": "help@globex.test" }))
        .await;
    let theirs = app.customer_writes(&globex, &their_inbox, "theirs").await;

    // Bad input refuses everything; a role without conversations:reply is refused.
    let until = started + chrono::Duration::hours(3);
    for bad in [
        json!({ "ids": timed, "action": "snooze" }),
        json!({ "ids": timed, "action": "snooze", "until": started - chrono::Duration::minutes(1) }),
        json!({ "ids": timed, "action": "snooze", "until": until, "until_customer_replies": true }),
        json!({ "ids": timed, "action": "snooze", "until": "next week" }),
    ] {
        let (status, _) = app
            .post(&agent, "/api/v1/conversations/bulk", bad.clone())
            .await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (_, any) = app.get(&agent, "/api/v1/conversations?snoozed=true").await;
    assert!(ids(&any).is_empty(), "nothing snoozed by a refused request");
    let (status, _) = app
        .post(
            &editor,
            "/api/v1/conversations/bulk",
            json!({ "ids": timed, "action": "snooze", "until_customer_replies": true }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Until a time: both leave the views, another organization's fails alone.
    let mut targets: Vec<&str> = timed.iter().map(String::as_str).collect();
    targets.push(&theirs);
    let (status, result) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": targets, "action": "snooze", "until": until }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(
        result["failed"],
        json!([{ "id": theirs, "error": "not_found" }])
    );
    let answered: Vec<Option<chrono::DateTime<chrono::Utc>>> = result["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["snooze"]["until"].as_str().and_then(|at| at.parse().ok()))
        .collect();
    assert_eq!(answered, [Some(until), Some(until)]);
    let (_, theirs_now) = app
        .get(&globex, &format!("/api/v1/conversations/{theirs}"))
        .await;
    assert!(theirs_now["conversation"].get("snooze").is_none());

    // Until the customer writes.
    let (status, result) = app
        .post(
            &agent,
            "/api/v1/conversations/bulk",
            json!({ "ids": waiting, "action": "snooze", "until_customer_replies": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert!(
        result["conversations"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|c| c["snooze"].is_object() && c["snooze"]["until"].is_null()),
        "{result}"
    );
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    assert_eq!(ids(&list), [awake.as_str()]);
    let (_, snoozed) = app.get(&agent, "/api/v1/conversations?snoozed=true").await;
    assert_eq!(ids(&snoozed).len(), 4);

    // The timer wakes the timed ones only; a message wakes the one whose customer writes.
    clock.advance(chrono::Duration::hours(4));
    for id in &timed {
        back_in_the_views(&app, &agent, id).await;
    }
    let (_, list) = app.get(&agent, "/api/v1/conversations").await;
    assert!(waiting.iter().all(|id| !ids(&list).contains(&id.as_str())));
    app.customer_writes(&admin, &inbox, "reply-1").await;
    back_in_the_views(&app, &agent, &waiting[0]).await;
    let (_, snoozed) = app.get(&agent, "/api/v1/conversations?snoozed=true").await;
    assert_eq!(ids(&snoozed), [waiting[1].as_str()]);
}

/// A web-chat visitor who gave nothing is shown everywhere by the generated name of their
/// visitor id (contact, conversation list and detail, search), with an avatar colour of the
/// palette; once they give an email that is their name and the colour stays. A contact with
/// an email never gets a generated name.
async fn anonymous_visitors_are_shown_by_a_stable_friendly_name(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let webchat = support::chat::webchat_inbox(&app, &admin, json!({})).await;
    let mut chat = support::chat::Chat::connect(&app, &format!("inbox={webchat}")).await;
    chat.next_of("session").await;
    chat.message("c-1", "Hello, anyone there about a zeppelin?")
        .await;
    chat.next_of("ack").await;
    let (_, list) = app
        .get(&admin, &format!("/api/v1/conversations?inbox_id={webchat}"))
        .await;
    let item = &list["conversations"][0];
    let conversation_id = item["id"].as_str().expect("a conversation").to_owned();
    let contact_id = item["contact_id"].as_str().expect("a contact").to_owned();
    let (_, contact) = app
        .get(&admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    let visitor = contact["identities"][0]["external_id"]
        .as_str()
        .expect("an identity");
    assert!(visitor.starts_with("visitor:"), "{contact}");
    // Its hashed token means nothing to anyone, and is not searched (on PostgreSQL it was a
    // third of what a new conversation wrote): a part of it finds no contact, while the
    // conversation is found by its words below.
    let hash_part = &visitor["visitor:".len() + 10..][..12];
    for needle in [hash_part, "visitor:"] {
        let (status, found) = app
            .get(&admin, &format!("/api/v1/search?q={needle}&type=contacts"))
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["contacts"], json!([]), "{needle}: {found}");
    }
    let name = switchboard_model::friendly_name(visitor);
    let colour = switchboard_model::avatar_colour(visitor);
    assert_eq!(contact["display_name"], name.as_str(), "{contact}");
    assert_eq!(contact["avatar_colour"], colour);
    assert!(switchboard_model::AVATAR_PALETTE.contains(&colour));
    assert!(!name.contains("visitor") && name.split(' ').count() == 2);
    assert_eq!(item["contact_display_name"], name.as_str(), "{item}");
    assert_eq!(item["contact_avatar_colour"], colour);
    let detail = app.conversation(&admin, &conversation_id).await;
    assert_eq!(detail["contact"]["display_name"], name.as_str());
    assert_eq!(
        detail["conversation"]["contact_display_name"],
        name.as_str()
    );
    let (_, found) = app
        .get(&admin, "/api/v1/search?q=zeppelin&type=conversations")
        .await;
    assert_eq!(hit_ids(&found, "conversations"), [conversation_id.as_str()]);
    assert_eq!(found["conversations"][0]["title"], name.as_str(), "{found}");
    let (_, contacts) = app.get(&admin, "/api/v1/contacts").await;
    let listed = contacts["contacts"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == contact_id.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(listed["display_name"], name.as_str(), "{contacts}");

    // Given an email: shown by it, in the same colour.
    let (status, updated) = app
        .send(
            Method::PATCH,
            &admin,
            &format!("/api/v1/contacts/{contact_id}"),
            json!({ "email": "zeppelin@customer.test" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["display_name"], "zeppelin@customer.test");
    assert_eq!(updated["avatar_colour"], colour);
    let detail = app.conversation(&admin, &conversation_id).await;
    assert_eq!(
        detail["conversation"]["contact_display_name"],
        "zeppelin@customer.test"
    );

    // A customer with an email address never had a generated name.
    let inbox = app.test_inbox(&admin, json!({})).await;
    customer_says(&app, &inbox, "mail", "ada@customer.test", "Hi").await;
    let mail = conversation_of(&app, &admin, &inbox, "mail").await;
    let detail = app.conversation(&admin, &mail).await;
    let shown = detail["contact"]["display_name"]
        .as_str()
        .unwrap_or_default();
    assert!(shown.contains("ada@customer.test"), "{detail}");
    assert_eq!(detail["conversation"]["contact_display_name"], shown);
}

/// `PUT /contacts/{id}/labels` like the conversations' route: shown on the contact and in the
/// contacts list, moved by a merge, gone with the label; checked permissions and input.
async fn contacts_carry_labels_through_merges_and_deletions(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let editor = app.user_token(&admin, "knowledge_editor").await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let mut contacts = Vec::new();
    for thread in ["vip-one", "vip-two"] {
        let conversation = app.customer_writes(&admin, &inbox, thread).await;
        let detail = app.conversation(&admin, &conversation).await;
        contacts.push(
            detail["contact"]["id"]
                .as_str()
                .expect("a contact")
                .to_owned(),
        );
    }
    let path = |id: &str| format!("/api/v1/contacts/{id}/labels");
    let (status, contact) = app
        .send(
            Method::PUT,
            &agent,
            &path(&contacts[0]),
            json!({ "labels": ["VIP", "reseller", "vip"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(labels(&contact), ["reseller", "vip"]);
    let (_, read) = app
        .get(&agent, &format!("/api/v1/contacts/{}", contacts[0]))
        .await;
    assert_eq!(labels(&read), ["reseller", "vip"]);
    let (_, listed) = app.get(&agent, "/api/v1/contacts").await;
    let first = listed["contacts"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == contacts[0].as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(labels(&first), ["reseller", "vip"], "{listed}");
    let (_, known) = app.get(&agent, "/api/v1/labels").await;
    assert!(
        known.to_string().contains("\"reseller\""),
        "created: {known}"
    );
    let (status, _) = app
        .send(
            Method::PUT,
            &agent,
            &path(&contacts[1]),
            json!({ "labels": ["vip", "wholesale"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Bad input, permissions, another organization.
    for bad in [
        json!({ "labels": ["not a slug"] }),
        json!({ "labels": (0..21).map(|n| format!("l{n}")).collect::<Vec<_>>() }),
        json!({ "names": ["vip"] }),
    ] {
        let (status, _) = app
            .send(Method::PUT, &agent, &path(&contacts[0]), bad.clone())
            .await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let body = json!({ "labels": [] });
    let (status, _) = app
        .send(Method::PUT, &editor, &path(&contacts[0]), body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send(Method::PUT, &agent, &path("nobody"), body.clone())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let globex = app.second_organization().await;
    let (status, _) = app
        .send(Method::PUT, &globex, &path(&contacts[0]), body)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    assert!(audit.to_string().contains("contact.labels"));

    // A merge: the survivor keeps its labels and takes the others, once each.
    let (status, merged) = app
        .post(
            &agent,
            &format!("/api/v1/contacts/{}/merge", contacts[1]),
            json!({ "into": contacts[0] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(labels(&merged), ["reseller", "vip", "wholesale"]);

    // Deleting a label takes it off the contact.
    let id_of = |name: &str| {
        known
            .as_array()
            .and_then(|all| all.iter().find(|l| l["name"] == name))
            .and_then(|l| l["id"].as_str())
            .map(str::to_owned)
            .expect("the label")
    };
    let reseller = id_of("reseller");
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/labels/{reseller}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = app
        .get(&agent, &format!("/api/v1/contacts/{}", contacts[0]))
        .await;
    assert_eq!(labels(&read), ["vip", "wholesale"]);
    let (_, openapi) = app.get("", "/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/contacts/{id}/labels"]["put"].is_object());
}
