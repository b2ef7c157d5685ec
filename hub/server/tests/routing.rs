//! Routing end to end: customer messages arrive through the test inbox's webhook, escalation
//! rules decide, and the conversation shows the handoff, the SLA clock and the agent it went to.
//! Rules, SLA policies and settings are managed over REST. Every test runs on SQLite and on
//! PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard::Settings;
use switchboard_model::AiOutcome;
use switchboard_store::Store;
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    requests_for_a_person_in_several_languages_escalate_with_handoff_and_sla,
    a_keyword_rule_routes_to_a_team_sets_priority_and_is_audited,
    rules_run_in_order_and_disabled_rules_do_not_fire,
    consecutive_ai_failures_escalate,
    the_sla_timer_detects_breaches,
    least_loaded_assignment_among_online_agents_only,
    round_robin_assignment_takes_turns,
    rules_and_policies_over_rest_with_permissions_and_validation,
);

/// Posts a customer message on `thread` and returns the conversation's detail once routing has
/// run (routing runs before the webhook answers).
async fn customer_says(app: &TestApp, admin: &str, inbox: &str, thread: &str, text: &str) -> Value {
    let body = json!({
        "thread": thread,
        "from": format!("{thread}@customer.test"),
        "id": switchboard_model::new_id(),
        "text": text,
    });
    assert_eq!(app.webhook(inbox, "s3cret", body).await, StatusCode::OK);
    let (status, list) = app
        .get(
            admin,
            &format!("/api/v1/conversations?inbox_id={inbox}&limit=200"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = list["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|conversation| conversation["thread_key"] == thread)
        .and_then(|conversation| conversation["id"].as_str())
        .expect("the thread's conversation")
        .to_owned();
    let (status, detail) = app.get(admin, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    detail
}

fn id_of(detail: &Value) -> String {
    detail["conversation"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

fn seconds_between(from: &Value, to: &Value) -> i64 {
    let parse = |value: &Value| {
        chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("rfc 3339")
    };
    (parse(to) - parse(from)).num_seconds()
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.get(token, "/api/v1/auth/me").await;
    me["user"]["id"].as_str().expect("an id").to_owned()
}

async fn go_online(app: &TestApp, token: &str) {
    let (status, presence) = app
        .post(token, "/api/v1/me/presence", json!({ "status": "online" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{presence}");
    assert_eq!(presence["online"], true);
}

async fn rules(app: &TestApp, admin: &str) -> Vec<Value> {
    let (status, rules) = app.get(admin, "/api/v1/escalation-rules").await;
    assert_eq!(status, StatusCode::OK);
    rules.as_array().expect("a list").clone()
}

async fn create_rule(app: &TestApp, admin: &str, rule: Value) -> Value {
    let (status, created) = app.post(admin, "/api/v1/escalation-rules", rule).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Moves the rule `first` to the front of the order.
async fn put_first(app: &TestApp, admin: &str, first: &str) {
    let mut ids: Vec<String> = rules(app, admin)
        .await
        .iter()
        .map(|rule| rule["id"].as_str().expect("an id").to_owned())
        .filter(|id| id != first)
        .collect();
    ids.insert(0, first.to_owned());
    let (status, body) = app
        .post(
            admin,
            "/api/v1/escalation-rules/reorder",
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["id"], first);
}

async fn requests_for_a_person_in_several_languages_escalate_with_handoff_and_sla(
    db: TestDatabase,
) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;

    let calm = customer_says(
        &app,
        &admin,
        &inbox,
        "calm",
        "How do I change my delivery address?",
    )
    .await;
    assert_eq!(calm["conversation"]["status"], "bot");
    assert_eq!(calm["handoff"], Value::Null);
    assert_eq!(calm["sla"], Value::Null);

    let asks = [
        ("en", "Can I talk to a human please?"),
        ("es", "Quiero hablar con una persona"),
        ("fr", "Je voudrais parler à un conseiller"),
        ("de", "Ich möchte mit einem Menschen sprechen"),
        ("pt", "Quero falar com um atendente"),
        ("it", "Posso parlare con un operatore?"),
        ("nl", "Ik wil met een medewerker praten"),
    ];
    for (language, text) in asks {
        let detail = customer_says(&app, &admin, &inbox, language, text).await;
        assert_eq!(
            detail["conversation"]["status"], "escalated",
            "{language}: {detail}"
        );
        assert_eq!(detail["conversation"]["priority"], "high", "{language}");
        let handoff = &detail["handoff"];
        assert_eq!(
            handoff["rule_name"], "Customer asks for a person",
            "{language}"
        );
        assert_eq!(handoff["priority"], "high");
        let summary = handoff["summary"].as_array().expect("summary lines");
        assert_eq!(summary.len(), 3, "{handoff}");
        assert!(
            summary[0].as_str().expect("text").contains(text),
            "{handoff}"
        );
        assert!(
            handoff["suggested_reply"]
                .as_str()
                .expect("a reply")
                .contains(text),
            "{handoff}"
        );
        let sla = &detail["sla"];
        assert_eq!(sla["first_response"], "pending", "{sla}");
        assert_eq!(sla["resolution"], "pending");
        // The default policy for `high`: first response in 1 h, resolution in 8 h.
        assert_eq!(
            seconds_between(&sla["started_at"], &sla["first_response_due_at"]),
            3600
        );
        assert_eq!(
            seconds_between(&sla["started_at"], &sla["resolution_due_at"]),
            8 * 3600
        );
        assert!(
            detail["tags"]
                .as_array()
                .expect("tags")
                .contains(&json!("human-requested"))
        );
    }

    let angry = customer_says(
        &app,
        &admin,
        &inbox,
        "angry",
        "You charged me twice!! I'm furious, refund it NOW",
    )
    .await;
    assert_eq!(angry["conversation"]["status"], "escalated");
    assert_eq!(angry["conversation"]["priority"], "high");
    assert_eq!(angry["handoff"]["rule_name"], "Upset customer");
    let mood = angry["handoff"]["summary"][2]
        .as_str()
        .expect("a mood line");
    assert!(mood.starts_with("Mood: angry"), "{mood}");

    // Nobody is online: escalated conversations wait unassigned.
    assert_eq!(angry["conversation"]["assignee_id"], Value::Null);
}

async fn a_keyword_rule_routes_to_a_team_sets_priority_and_is_audited(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let (status, team) = app
        .post(&admin, "/api/v1/teams", json!({ "name": "Billing" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let team_id = team["id"].as_str().expect("an id").to_owned();
    let member = app.user_token(&admin, "support_agent").await;
    let outsider = app.user_token(&admin, "support_agent").await;
    let member_id = user_id(&app, &member).await;
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/teams/{team_id}/members/{member_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    go_online(&app, &outsider).await;
    go_online(&app, &member).await;

    let rule = create_rule(
        &app,
        &admin,
        json!({
            "name": "Invoices go to billing",
            "triggers": [{ "type": "keywords", "any": ["invoice", "receipt"] }],
            "actions": { "escalate": true, "team_id": team_id, "priority": "urgent", "tags": ["billing"] },
        }),
    )
    .await;
    assert_eq!(rule["position"], 5, "after the five default rules");
    let rule_id = rule["id"].as_str().expect("an id").to_owned();
    put_first(&app, &admin, &rule_id).await;

    let detail = customer_says(
        &app,
        &admin,
        &inbox,
        "t1",
        "I need a copy of my Invoice for March",
    )
    .await;
    let conversation = &detail["conversation"];
    assert_eq!(conversation["team_id"], team_id.as_str(), "{detail}");
    assert_eq!(conversation["priority"], "urgent");
    assert_eq!(
        conversation["status"], "assigned",
        "the team's online agent takes it"
    );
    assert_eq!(conversation["assignee_id"], member_id.as_str());
    assert_eq!(detail["tags"], json!(["billing"]));
    assert_eq!(detail["handoff"]["rule_id"], rule_id.as_str());
    assert_eq!(detail["handoff"]["reason"], "keyword \"invoice\"");
    // The default urgent policy: 15 minutes to first response.
    let sla = &detail["sla"];
    assert_eq!(
        seconds_between(&sla["started_at"], &sla["first_response_due_at"]),
        15 * 60
    );

    let (status, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    assert_eq!(status, StatusCode::OK);
    let events = audit["events"].as_array().expect("events");
    let conversation_id = id_of(&detail);
    let decision = events
        .iter()
        .find(|event| {
            event["action"] == "routing.decision" && event["subject_id"] == conversation_id.as_str()
        })
        .expect("the decision is audited");
    assert_eq!(decision["actor"], "routing");
    assert_eq!(decision["data"]["rules"][0]["rule_id"], rule_id.as_str());
    assert_eq!(
        decision["data"]["rules"][0]["rule_name"],
        "Invoices go to billing"
    );
    assert_eq!(decision["data"]["escalate"], true);
    for action in ["conversation.escalated", "conversation.assigned"] {
        assert!(
            events.iter().any(|event| event["action"] == action
                && event["subject_id"] == conversation_id.as_str()),
            "{action} is audited"
        );
    }
}

async fn rules_run_in_order_and_disabled_rules_do_not_fire(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let keyword_rule = |name: &str, priority: &str| {
        json!({
            "name": name,
            "triggers": [{ "type": "regex", "pattern": r"\bparcel\b" }],
            "actions": { "escalate": true, "priority": priority },
        })
    };
    let low = create_rule(&app, &admin, keyword_rule("low", "low")).await;
    let urgent = create_rule(&app, &admin, keyword_rule("urgent", "urgent")).await;
    let low_id = low["id"].as_str().expect("an id").to_owned();
    let urgent_id = urgent["id"].as_str().expect("an id").to_owned();

    put_first(&app, &admin, &urgent_id).await;
    put_first(&app, &admin, &low_id).await;
    let first = customer_says(&app, &admin, &inbox, "a", "Where is my parcel?").await;
    assert_eq!(first["handoff"]["rule_name"], "low");
    assert_eq!(first["conversation"]["priority"], "low");

    let (status, disabled) = app
        .send(
            Method::PATCH,
            &admin,
            &format!("/api/v1/escalation-rules/{low_id}"),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["name"], "low", "a patch keeps the other fields");
    let second = customer_says(&app, &admin, &inbox, "b", "Where is my parcel?").await;
    assert_eq!(second["handoff"]["rule_name"], "urgent");
    assert_eq!(second["conversation"]["priority"], "urgent");

    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/escalation-rules/{urgent_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let third = customer_says(&app, &admin, &inbox, "c", "Where is my parcel?").await;
    assert_eq!(
        third["conversation"]["status"], "bot",
        "no rule left for it"
    );
}

async fn consecutive_ai_failures_escalate(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let store = Store::connect(&app.db.url).await.expect("connects");

    let detail = customer_says(&app, &admin, &inbox, "t", "Where is my parcel?").await;
    let (org_id, conversation_id) = (
        detail["conversation"]["org_id"]
            .as_str()
            .expect("org")
            .to_owned(),
        id_of(&detail),
    );
    let outcome = |outcome| store.record_ai_outcome(&org_id, &conversation_id, outcome);
    assert_eq!(outcome(AiOutcome::Declined).await.expect("records"), 1);
    assert_eq!(
        outcome(AiOutcome::Answered).await.expect("records"),
        0,
        "an answer resets"
    );
    assert_eq!(outcome(AiOutcome::Declined).await.expect("records"), 1);
    let detail = customer_says(&app, &admin, &inbox, "t", "ok, and when will it come?").await;
    assert_eq!(
        detail["conversation"]["status"], "bot",
        "one failure is not enough"
    );

    // The customer rejecting the answer is the second failure in a row.
    let detail = customer_says(&app, &admin, &inbox, "t", "That didn't help at all").await;
    assert_eq!(detail["conversation"]["status"], "escalated", "{detail}");
    assert_eq!(detail["handoff"]["rule_name"], "The AI could not help");
    let reason = detail["handoff"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("2 times"), "{reason}");
    let tried = detail["handoff"]["summary"][1].as_str().expect("a line");
    assert!(tried.contains("declined twice"), "{tried}");

    // Another conversation: two declines in a row, then any message escalates.
    let other = customer_says(&app, &admin, &inbox, "u", "Do you ship to Mars?").await;
    let other_id = id_of(&other);
    for _ in 0..2 {
        store
            .record_ai_outcome(&org_id, &other_id, AiOutcome::Declined)
            .await
            .expect("records");
    }
    let other = customer_says(&app, &admin, &inbox, "u", "hello?").await;
    assert_eq!(other["conversation"]["status"], "escalated");
    assert!(
        store
            .record_ai_outcome("another-org", &other_id, AiOutcome::Declined)
            .await
            .is_err(),
        "tenants are kept apart"
    );
}

fn fast_sla_settings(db: &TestDatabase) -> Settings {
    Settings {
        sla_check_ms: 50,
        ..support::settings(db)
    }
}

async fn the_sla_timer_detects_breaches(db: TestDatabase) {
    let app = TestApp::spawn_quiet_with(db, fast_sla_settings).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let (_, policies) = app.get(&admin, "/api/v1/sla-policies").await;
    let high = policies
        .as_array()
        .expect("a list")
        .iter()
        .find(|policy| policy["priority"] == "high" && policy["team_id"].is_null())
        .expect("a default high policy")
        .clone();
    let (status, updated) = app
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/sla-policies/{}", high["id"].as_str().expect("an id")),
            json!({ "name": "Fast", "priority": "high", "first_response_seconds": 3, "resolution_seconds": 3600 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    let answered = customer_says(&app, &admin, &inbox, "answered", "talk to a human").await;
    let waiting = customer_says(&app, &admin, &inbox, "waiting", "talk to a human").await;
    let (answered_id, waiting_id) = (id_of(&answered), id_of(&waiting));
    let (_, due_soon) = app.get(&admin, "/api/v1/conversations?sla=due_soon").await;
    let due_soon: Vec<&Value> = due_soon["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .collect();
    assert_eq!(due_soon.len(), 2, "both are due within minutes");

    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{answered_id}/messages"),
            json!({ "text": "Hi, I'm here to help." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let detail = app
        .wait_for(&admin, &waiting_id, |detail| {
            detail["sla"]["first_response_breached_at"].is_string()
        })
        .await;
    assert_eq!(detail["sla"]["first_response"], "breached");
    assert_eq!(detail["sla"]["breached"], true);
    let (_, answered) = app
        .get(&admin, &format!("/api/v1/conversations/{answered_id}"))
        .await;
    assert_eq!(answered["sla"]["first_response"], "met", "{answered}");
    assert_eq!(answered["sla"]["breached"], false);

    let (_, breached) = app.get(&admin, "/api/v1/conversations?sla=breached").await;
    let breached: Vec<&str> = breached["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|conversation| conversation["id"].as_str())
        .collect();
    assert_eq!(breached, [waiting_id.as_str()]);
    let (status, _) = app.get(&admin, "/api/v1/conversations?sla=late").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, audit) = app.get(&admin, "/api/v1/audit?limit=200").await;
    let breaches: Vec<&Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["action"] == "sla.breached")
        .collect();
    assert_eq!(breaches.len(), 1, "marked once, however many ticks ran");
    assert_eq!(breaches[0]["subject_id"], waiting_id.as_str());
    assert_eq!(breaches[0]["data"]["target"], "first_response");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sends")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_sla_breaches_total{target=\"first_response\"}"),
        "{metrics}"
    );
}

async fn least_loaded_assignment_among_online_agents_only(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let queued = customer_says(&app, &admin, &inbox, "queued", "agent please").await;
    assert_eq!(
        queued["conversation"]["status"], "escalated",
        "nobody online yet"
    );

    let ann = app.user_token(&admin, "support_agent").await;
    let bob = app.user_token(&admin, "support_agent").await;
    let offline = app.user_token(&admin, "support_agent").await;
    let away = app.user_token(&admin, "support_agent").await;
    let (ann_id, bob_id) = (user_id(&app, &ann).await, user_id(&app, &bob).await);
    go_online(&app, &ann).await;
    go_online(&app, &bob).await;
    go_online(&app, &away).await;
    let (status, _) = app
        .post(&away, "/api/v1/me/presence", json!({ "status": "away" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let _ = offline;

    // Ann already holds one conversation: Bob gets the next, then they alternate.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{}/assign", id_of(&queued)),
            json!({ "assignee_id": ann_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut assignees = Vec::new();
    for n in 0..5 {
        let detail =
            customer_says(&app, &admin, &inbox, &format!("t{n}"), "real person please").await;
        assert_eq!(detail["conversation"]["status"], "assigned");
        assignees.push(
            detail["conversation"]["assignee_id"]
                .as_str()
                .expect("assigned")
                .to_owned(),
        );
    }
    assert_eq!(assignees[0], bob_id, "the least loaded first");
    let count = |id: &str| assignees.iter().filter(|assignee| *assignee == id).count();
    assert_eq!(
        (count(&ann_id), count(&bob_id)),
        (2, 3),
        "1+2 and 3: as even as it gets"
    );

    let (_, presence) = app.get(&admin, "/api/v1/presence").await;
    let online = presence
        .as_array()
        .expect("a list")
        .iter()
        .filter(|presence| presence["online"] == true)
        .count();
    assert_eq!(online, 2);
}

async fn round_robin_assignment_takes_turns(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let (status, settings) = app
        .send(
            Method::PUT,
            &admin,
            "/api/v1/routing-settings",
            json!({ "assignment": "round_robin" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            "/api/v1/routing-settings",
            json!({ "assignment": "random" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut agents = Vec::new();
    for _ in 0..3 {
        let token = app.user_token(&admin, "support_agent").await;
        go_online(&app, &token).await;
        agents.push(user_id(&app, &token).await);
    }
    let mut assignees = Vec::new();
    for n in 0..6 {
        let detail = customer_says(&app, &admin, &inbox, &format!("t{n}"), "human please").await;
        assignees.push(
            detail["conversation"]["assignee_id"]
                .as_str()
                .expect("assigned")
                .to_owned(),
        );
    }
    let mut first_round = assignees[..3].to_vec();
    first_round.sort();
    let mut expected = agents.clone();
    expected.sort();
    assert_eq!(first_round, expected, "each agent once per round");
    assert_eq!(assignees[..3], assignees[3..], "the same turn order again");
}

async fn rules_and_policies_over_rest_with_permissions_and_validation(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let manager = app.user_token(&admin, "support_manager").await;

    let defaults = rules(&app, &admin).await;
    let names: Vec<&str> = defaults
        .iter()
        .filter_map(|rule| rule["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Valuable customer",
            "Customer asks for a person",
            "Upset customer",
            "The AI could not help",
            "Too long for the bot"
        ]
    );
    let (_, policies) = app.get(&admin, "/api/v1/sla-policies").await;
    assert_eq!(policies.as_array().expect("a list").len(), 4);

    let rule = json!({
        "name": "Refunds",
        "triggers": [{ "type": "keywords", "any": ["refund"] }],
        "actions": { "tags": ["refund"] },
    });
    for path in [
        "/api/v1/escalation-rules",
        "/api/v1/sla-policies",
        "/api/v1/routing-settings",
    ] {
        let (status, body) = app.get(&agent, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _) = app
        .post(&agent, "/api/v1/escalation-rules", rule.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let created = create_rule(&app, &manager, rule).await;
    assert_eq!(created["enabled"], true);
    assert_eq!(created["match"], "any");
    assert_eq!(created["continue"], false);

    let invalid = [
        json!({ "name": "x", "triggers": [{ "type": "regex", "pattern": "(unclosed" }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "regex", "pattern": "(a{1000}){1000}" }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "regex", "pattern": "a".repeat(501) }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "telepathy" }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "human_request" }], "actions": {} }),
        json!({ "name": "", "triggers": [{ "type": "human_request" }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "sentiment_below", "value": 500 }], "actions": { "escalate": true } }),
        json!({ "name": "x", "triggers": [{ "type": "human_request" }], "actions": { "team_id": "nope" } }),
        json!({ "name": "x", "triggers": [{ "type": "human_request" }], "actions": { "priority": "asap" } }),
    ];
    for body in invalid {
        let (status, error) = app
            .post(&admin, "/api/v1/escalation-rules", body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {error}");
        assert!(error["error"]["message"].is_string(), "{error}");
    }
    let (status, error) = app
        .post(
            &admin,
            "/api/v1/escalation-rules",
            json!({ "name": "x", "triggers": [{ "type": "regex", "pattern": "(unclosed" }], "actions": { "escalate": true } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("a message")
            .contains("regular expression"),
        "{error}"
    );

    let id = created["id"].as_str().expect("an id");
    let (status, _) = app
        .send(
            Method::PATCH,
            &admin,
            &format!("/api/v1/escalation-rules/{id}"),
            json!({ "triggers": [{ "type": "regex", "pattern": "[" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .send(
            Method::PATCH,
            &admin,
            "/api/v1/escalation-rules/nope",
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &admin,
            "/api/v1/escalation-rules/reorder",
            json!({ "ids": [id] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "must name every rule"
    );
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/escalation-rules/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/escalation-rules/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // SLA policies: one per priority and team; targets must be positive.
    let policy = json!({ "name": "Normal", "priority": "normal", "first_response_seconds": 60, "resolution_seconds": 600 });
    let (status, _) = app
        .post(&admin, "/api/v1/sla-policies", policy.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the default normal policy exists"
    );
    let (_, team) = app
        .post(&admin, "/api/v1/teams", json!({ "name": "VIP desk" }))
        .await;
    let mut team_policy = policy.clone();
    team_policy["team_id"] = team["id"].clone();
    let (status, created) = app
        .post(&manager, "/api/v1/sla-policies", team_policy)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = app
        .post(&agent, "/api/v1/sla-policies", policy.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut bad = policy.clone();
    bad["first_response_seconds"] = json!(0);
    let (status, _) = app.post(&admin, "/api/v1/sla-policies", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let policy_id = created["id"].as_str().expect("an id");
    let (status, _) = app
        .send(
            Method::DELETE,
            &admin,
            &format!("/api/v1/sla-policies/{policy_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Agents signal presence; API keys have none.
    let (status, _) = app
        .post(
            &agent,
            "/api/v1/me/presence",
            json!({ "status": "sleeping" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
