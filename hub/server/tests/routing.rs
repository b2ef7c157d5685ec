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
    business_hours_over_rest,
    the_sla_clock_runs_in_business_hours_on_a_controllable_clock,
    capacity_queue_and_reassignment,
    least_loaded_is_fair_under_concurrency,
    round_robin_is_fair_under_concurrency,
    compiled_rules_are_cached_until_a_rule_changes,
    a_sharp_fall_in_sentiment_escalates,
    a_burst_is_routed_the_same_on_either_database,
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
    conversation_of(app, admin, inbox, thread).await
}

/// The detail of the conversation of `thread` on `inbox`.
async fn conversation_of(app: &TestApp, admin: &str, inbox: &str, thread: &str) -> Value {
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

    let breaches_before = app.metric(FIRST_RESPONSE_BREACHES).await;
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
    assert_first_response_breaches_counted(&app, breaches_before, 1.0).await;
}

/// The series of `/metrics` that counts first-response breaches.
const FIRST_RESPONSE_BREACHES: &str = "switchboard_sla_breaches_total{target=\"first_response\"}";

/// `/metrics` counted at least `breaches` first-response breaches since it read `before` (at
/// least: other tests in this process count theirs in the same recorder).
async fn assert_first_response_breaches_counted(app: &TestApp, before: f64, breaches: f64) {
    let after = app.metric(FIRST_RESPONSE_BREACHES).await;
    assert!(
        after >= before + breaches,
        "{FIRST_RESPONSE_BREACHES}: {before} before, {after} after"
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

fn instant(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().expect("an RFC 3339 instant")
}

/// The organization-wide policy of `priority`.
async fn default_policy(app: &TestApp, admin: &str, priority: &str) -> Value {
    let (_, policies) = app.get(admin, "/api/v1/sla-policies").await;
    policies
        .as_array()
        .expect("a list")
        .iter()
        .find(|policy| policy["priority"] == priority && policy["team_id"].is_null())
        .expect("a default policy")
        .clone()
}

fn weekdays(ranges: Value) -> Value {
    json!({ "mon": ranges, "tue": ranges, "wed": ranges, "thu": ranges, "fri": ranges })
}

/// Every audit event of `action`, newest first, across the log's pages.
async fn audit_events(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .get(admin, &format!("/api/v1/audit?limit=200{cursor}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        events.extend(
            page["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter(|event| event["action"] == action)
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return events,
        }
    }
}

async fn business_hours_over_rest(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let agent = app.user_token(&admin, "support_agent").await;
    let high = default_policy(&app, &admin, "high").await;
    let path = format!(
        "/api/v1/sla-policies/{}",
        high["id"].as_str().expect("an id")
    );
    assert_eq!(
        high["business_hours"],
        Value::Null,
        "around the clock by default"
    );

    let hours = json!({
        "time_zone": "Europe/Berlin",
        "weekly": weekdays(json!([["09:00", "12:00"], ["13:00", "17:30"]])),
        "holidays": ["2026-12-25", "2026-12-26"],
    });
    let body = |hours: Value| {
        json!({ "name": "Office", "priority": "high", "first_response_seconds": 3600,
                "resolution_seconds": 28_800, "business_hours": hours })
    };
    let (status, saved) = app
        .send(Method::PUT, &admin, &path, body(hours.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["business_hours"]["time_zone"], "Europe/Berlin");
    let listed = default_policy(&app, &admin, "high").await;
    assert_eq!(
        listed["business_hours"]["weekly"]["mon"][1],
        json!(["13:00", "17:30"])
    );
    assert_eq!(listed["business_hours"]["weekly"]["sat"], json!([]));
    assert_eq!(listed["business_hours"]["holidays"][0], "2026-12-25");

    let refused = [
        json!({ "time_zone": "Mars/Olympus", "weekly": weekdays(json!([["09:00", "17:00"]])) }),
        json!({ "time_zone": "UTC", "weekly": weekdays(json!([["09:00", "12:00"], ["11:00", "13:00"]])) }),
        json!({ "time_zone": "UTC", "weekly": weekdays(json!([["17:00", "09:00"]])) }),
        json!({ "time_zone": "UTC", "weekly": {} }),
        json!({ "time_zone": "UTC", "weekly": weekdays(json!([["09:00", "17:00"]])), "holidays": ["someday"] }),
    ];
    for hours in refused {
        let (status, error) = app
            .send(Method::PUT, &admin, &path, body(hours.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{hours}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(
                    |message| message.contains("business_hours") || message.contains("weeks")
                ),
            "{error}"
        );
    }
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            &path,
            body(json!({ "time_zone": "UTC", "weekly": { "monday": [] } })),
        )
        .await;
    assert!(
        status.is_client_error(),
        "unknown days are refused: {status}"
    );
    let (status, _) = app
        .send(Method::PUT, &agent, &path, body(hours.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, created) = app
        .post(
            &admin,
            "/api/v1/sla-policies",
            json!({ "name": "Nights", "priority": "low", "first_response_seconds": 60,
                    "resolution_seconds": 600, "team_id": null,
                    "business_hours": { "time_zone": "America/New_York",
                                        "weekly": weekdays(json!([["00:00", "06:00"], ["22:00", "24:00"]])) } }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{created}");
    let (status, cleared) = app
        .send(Method::PUT, &admin, &path, body(Value::Null))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["business_hours"], Value::Null);
}

/// Friday 16:50 in Berlin, a 1-hour first-response target and 09:00–17:00 on weekdays: the
/// reply is due Monday 09:50. The timer, on the same clock, says nothing before then and marks
/// the breach after. (A conversation opened at 16:10, due Monday 09:10, shows when the timer
/// has looked at Monday 09:49.)
async fn the_sla_clock_runs_in_business_hours_on_a_controllable_clock(db: TestDatabase) {
    let clock = switchboard_model::Clock::manual(instant("2026-11-27T15:10:00Z"));
    let app = TestApp::spawn_quiet_with_clock(db, fast_sla_settings, clock.clone()).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let high = default_policy(&app, &admin, "high").await;
    let (status, saved) = app
        .send(
            Method::PUT,
            &admin,
            &format!(
                "/api/v1/sla-policies/{}",
                high["id"].as_str().expect("an id")
            ),
            json!({ "name": "Office", "priority": "high", "first_response_seconds": 3600,
                    "resolution_seconds": 8 * 3600,
                    "business_hours": { "time_zone": "Europe/Berlin",
                                        "weekly": weekdays(json!([["09:00", "17:00"]])) } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let breaches_before = app.metric(FIRST_RESPONSE_BREACHES).await;
    let earlier = customer_says(&app, &admin, &inbox, "earlier", "talk to a human").await;
    let earlier_id = id_of(&earlier);
    assert_eq!(
        instant(
            earlier["sla"]["first_response_due_at"]
                .as_str()
                .expect("a due time")
        ),
        instant("2026-11-30T08:10:00Z"),
        "50 minutes on Friday, 10 on Monday"
    );
    clock.set(instant("2026-11-27T15:50:00Z"));

    let escalated = customer_says(&app, &admin, &inbox, "friday", "talk to a human").await;
    let id = id_of(&escalated);
    assert_eq!(escalated["conversation"]["priority"], "high");
    let due = |field: &str| instant(escalated["sla"][field].as_str().expect("a due time"));
    assert_eq!(due("started_at"), instant("2026-11-27T15:50:00Z"));
    assert_eq!(
        due("first_response_due_at"),
        instant("2026-11-30T08:50:00Z"),
        "Monday 09:50"
    );
    assert_eq!(
        due("resolution_due_at"),
        instant("2026-11-30T15:50:00Z"),
        "Monday 16:50"
    );

    let mut events = app.state.bus.subscribe();
    clock.set(instant("2026-11-30T08:49:00Z"));
    // Once the timer has marked the earlier conversation's breach, it has looked at 09:49.
    app.wait_for(&admin, &earlier_id, |detail| {
        detail["sla"]["first_response_breached_at"].is_string()
    })
    .await;
    let (_, before) = app
        .get(&admin, &format!("/api/v1/conversations/{id}"))
        .await;
    assert_eq!(before["sla"]["first_response"], "pending", "{before}");
    let breaches_of = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .filter(|event| event["subject_id"] == id.as_str())
            .collect()
    };
    assert!(breaches_of(audit_events(&app, &admin, "sla.breached").await).is_empty());

    clock.set(instant("2026-11-30T08:51:00Z"));
    let after = app
        .wait_for(&admin, &id, |detail| {
            detail["sla"]["first_response_breached_at"].is_string()
        })
        .await;
    assert_eq!(after["sla"]["first_response"], "breached");
    assert_eq!(
        instant(
            after["sla"]["first_response_breached_at"]
                .as_str()
                .expect("a time")
        ),
        instant("2026-11-30T08:51:00Z")
    );
    assert_eq!(after["sla"]["resolution"], "pending");
    let breaches = breaches_of(audit_events(&app, &admin, "sla.breached").await);
    assert_eq!(breaches.len(), 1);
    assert_eq!(
        instant(breaches[0]["data"]["due_at"].as_str().expect("a time")),
        instant("2026-11-30T08:50:00Z")
    );
    let announced = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let switchboard_model::BusEvent::ConversationChanged {
                        conversation_id, ..
                    } = &*event
                        && *conversation_id == id
                    {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(announced, Ok(true), "the inbox hears of the breach");
    assert_first_response_breaches_counted(&app, breaches_before, 2.0).await;

    // Resolving on Monday morning, by the same clock, meets the resolution target.
    clock.set(instant("2026-11-30T09:30:00Z"));
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{id}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resolved = detail(&app, &admin, &id).await;
    assert_eq!(resolved["sla"]["resolution"], "met", "{resolved}");
    assert_eq!(
        instant(resolved["sla"]["resolved_at"].as_str().expect("a time")),
        instant("2026-11-30T09:30:00Z")
    );
}

async fn set_capacity(app: &TestApp, admin: &str, user: &str, capacity: Value) {
    let (status, body) = app
        .send(
            Method::PUT,
            admin,
            &format!("/api/v1/users/{user}/capacity"),
            json!({ "capacity": capacity }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capacity"], capacity);
}

async fn detail(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, detail) = app.get(token, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    detail
}

/// Agents at capacity are skipped; the queue waits and is served most urgent first, then
/// oldest, when capacity frees; an agent who goes away (or whose heartbeat goes stale) hands
/// back what they have not answered yet.
async fn capacity_queue_and_reassignment(db: TestDatabase) {
    let clock = switchboard_model::Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_quiet_with_clock(db, fast_sla_settings, clock.clone()).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let outage = create_rule(
        &app,
        &admin,
        json!({ "name": "Outage", "triggers": [{ "type": "keywords", "any": ["outage"] }],
                "actions": { "escalate": true, "priority": "urgent" } }),
    )
    .await;
    put_first(&app, &admin, outage["id"].as_str().expect("an id")).await;
    let ann = app.user_token(&admin, "support_agent").await;
    let bob = app.user_token(&admin, "support_agent").await;
    let (ann_id, bob_id) = (user_id(&app, &ann).await, user_id(&app, &bob).await);

    // The capacity API.
    let (status, body) = app
        .get(&admin, &format!("/api/v1/users/{ann_id}/capacity"))
        .await;
    assert_eq!(
        (status, body["capacity"].clone()),
        (StatusCode::OK, Value::Null)
    );
    for bad in [json!(-1), json!(10_001), json!("two")] {
        let (status, _) = app
            .send(
                Method::PUT,
                &admin,
                &format!("/api/v1/users/{ann_id}/capacity"),
                json!({ "capacity": bad }),
            )
            .await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (status, _) = app
        .send(
            Method::PUT,
            &ann,
            &format!("/api/v1/users/{ann_id}/capacity"),
            json!({ "capacity": 100 }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            "/api/v1/users/nobody/capacity",
            json!({ "capacity": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    set_capacity(&app, &admin, &ann_id, json!(1)).await;
    set_capacity(&app, &admin, &bob_id, json!(1)).await;
    go_online(&app, &ann).await;
    go_online(&app, &bob).await;

    let first = customer_says(&app, &admin, &inbox, "first", "talk to a human").await;
    let second = customer_says(&app, &admin, &inbox, "second", "talk to a human").await;
    let mut holders = [
        first["conversation"]["assignee_id"].clone(),
        second["conversation"]["assignee_id"].clone(),
    ];
    holders.sort_by_key(|holder| holder.to_string());
    let mut both = [json!(ann_id), json!(bob_id)];
    both.sort_by_key(|holder| holder.to_string());
    assert_eq!(holders, both, "one each");
    let older = customer_says(&app, &admin, &inbox, "older", "talk to a human").await;
    let urgent = customer_says(&app, &admin, &inbox, "urgent", "There is an outage!").await;
    for queued in [&older, &urgent] {
        assert_eq!(
            queued["conversation"]["status"], "escalated",
            "everyone is at capacity"
        );
        assert_eq!(queued["conversation"]["assignee_id"], Value::Null);
    }
    assert_eq!(urgent["conversation"]["priority"], "urgent");
    let (_, presence) = app.get(&admin, "/api/v1/presence").await;
    let ann_presence = presence
        .as_array()
        .expect("a list")
        .iter()
        .find(|presence| presence["user_id"] == ann_id.as_str())
        .expect("Ann's presence")
        .clone();
    assert_eq!(
        (
            ann_presence["capacity"].clone(),
            ann_presence["assigned"].clone()
        ),
        (json!(1), json!(1))
    );

    // Resolving frees a place: the urgent one goes first, though the other waited longer.
    let first_holder = first["conversation"]["assignee_id"].clone();
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{}/resolve", id_of(&first)),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let urgent_now = detail(&app, &admin, &id_of(&urgent)).await;
    assert_eq!(urgent_now["conversation"]["status"], "assigned");
    assert_eq!(urgent_now["conversation"]["assignee_id"], first_holder);
    assert_eq!(
        detail(&app, &admin, &id_of(&older)).await["conversation"]["status"],
        "escalated"
    );
    // Handing one back to the AI frees another.
    let (status, _) = app
        .post(
            &admin,
            &format!("/api/v1/conversations/{}/handback", id_of(&second)),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let older_now = detail(&app, &admin, &id_of(&older)).await;
    assert_eq!(
        older_now["conversation"]["assignee_id"],
        second["conversation"]["assignee_id"]
    );

    // Going away: what the agent has not answered goes back to the queue, then to someone
    // online with room.
    let (urgent_id, older_id) = (id_of(&urgent), id_of(&older));
    let urgent_holder = urgent_now["conversation"]["assignee_id"]
        .as_str()
        .expect("held")
        .to_owned();
    let (leaving, staying, leaving_id, staying_id) = if urgent_holder == ann_id {
        (&ann, &bob, ann_id.clone(), bob_id.clone())
    } else {
        (&bob, &ann, bob_id.clone(), ann_id.clone())
    };
    let (status, _) = app
        .post(
            staying,
            &format!("/api/v1/conversations/{older_id}/messages"),
            json!({ "text": "I'm on it." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    set_capacity(&app, &admin, &staying_id, Value::Null).await;
    let (status, _) = app
        .post(leaving, "/api/v1/me/presence", json!({ "status": "away" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let moved = app
        .wait_for(&admin, &urgent_id, |detail| {
            detail["conversation"]["assignee_id"] == staying_id.as_str()
        })
        .await;
    assert_eq!(moved["conversation"]["status"], "assigned");
    let reassigned = audit_events(&app, &admin, "conversation.reassigned").await;
    assert_eq!(reassigned.len(), 1, "{reassigned:?}");
    assert_eq!(reassigned[0]["subject_id"], urgent_id.as_str());
    assert_eq!(
        reassigned[0]["data"]["from_assignee_id"],
        leaving_id.as_str()
    );
    assert_eq!(reassigned[0]["data"]["reason"], "away");

    // A stale heartbeat counts as gone: a newcomer takes the unanswered conversation; the
    // answered one stays with its agent.
    let carol = app.user_token(&admin, "support_agent").await;
    let carol_id = user_id(&app, &carol).await;
    go_online(&app, &carol).await;
    clock.advance(chrono::Duration::seconds(301));
    go_online(&app, &carol).await;
    let moved = app
        .wait_for(&admin, &urgent_id, |detail| {
            detail["conversation"]["assignee_id"] == carol_id.as_str()
        })
        .await;
    assert_eq!(moved["conversation"]["status"], "assigned");
    let kept = detail(&app, &admin, &older_id).await;
    assert_eq!(
        kept["conversation"]["assignee_id"],
        staying_id.as_str(),
        "answered: stays"
    );
    let reassigned = audit_events(&app, &admin, "conversation.reassigned").await;
    assert_eq!(reassigned.len(), 2);
    assert!(
        reassigned
            .iter()
            .any(|event| event["data"]["reason"] == "stale"
                && event["data"]["from_assignee_id"] == staying_id.as_str())
    );
}

/// 30 conversations escalate at once among 3 online agents with a capacity of 10: each agent
/// gets exactly 10, none twice, and the 31st waits in the queue.
async fn fair_assignment_under_concurrency(db: TestDatabase, strategy: &str) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let (status, _) = app
        .send(
            Method::PUT,
            &admin,
            "/api/v1/routing-settings",
            json!({ "assignment": strategy }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut agents = Vec::new();
    for _ in 0..3 {
        let token = app.user_token(&admin, "support_agent").await;
        let id = user_id(&app, &token).await;
        set_capacity(&app, &admin, &id, json!(10)).await;
        go_online(&app, &token).await;
        agents.push(id);
    }
    let app = std::sync::Arc::new(app);
    let mut escalating = tokio::task::JoinSet::new();
    for n in 0..30 {
        let (app, inbox) = (app.clone(), inbox.clone());
        escalating.spawn(async move {
            let body = json!({ "thread": format!("t{n}"), "from": format!("c{n}@customer.test"),
                               "id": switchboard_model::new_id(), "text": "talk to a human" });
            app.webhook(&inbox, "s3cret", body).await
        });
    }
    while let Some(status) = escalating.join_next().await {
        assert_eq!(status.expect("joins"), StatusCode::OK);
    }
    let (_, list) = app
        .get(&admin, "/api/v1/conversations?status=assigned&limit=200")
        .await;
    let assigned = list["conversations"].as_array().expect("a list");
    assert_eq!(assigned.len(), 30, "{list}");
    for agent in &agents {
        let held = assigned
            .iter()
            .filter(|conversation| conversation["assignee_id"] == agent.as_str())
            .count();
        assert_eq!(held, 10, "{strategy}: every agent gets exactly 10");
    }
    let assignments = audit_events(&app, &admin, "conversation.assigned").await;
    let mut subjects: Vec<&str> = assignments
        .iter()
        .filter_map(|event| event["subject_id"].as_str())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(
        (assignments.len(), subjects.len()),
        (30, 30),
        "nobody assigned twice"
    );
    let last = customer_says(&app, &admin, &inbox, "one-more", "talk to a human").await;
    assert_eq!(
        last["conversation"]["status"], "escalated",
        "everyone is at capacity"
    );
}

async fn least_loaded_is_fair_under_concurrency(db: TestDatabase) {
    fair_assignment_under_concurrency(db, "least_loaded").await;
}

async fn round_robin_is_fair_under_concurrency(db: TestDatabase) {
    fair_assignment_under_concurrency(db, "round_robin").await;
}

/// Rules compile once per rules revision; a change on any node (here: another store on the
/// same database) makes the next message use the new rules.
async fn compiled_rules_are_cached_until_a_rule_changes(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let detail = customer_says(&app, &admin, &inbox, "t", "hello").await;
    let org_id = detail["conversation"]["org_id"]
        .as_str()
        .expect("org")
        .to_owned();
    let first = switchboard::compiled_rules(&app.state.routing(), &org_id)
        .await
        .expect("rules");
    let again = switchboard::compiled_rules(&app.state.routing(), &org_id)
        .await
        .expect("rules");
    assert!(std::sync::Arc::ptr_eq(&first, &again), "compiled once");
    assert_eq!(first.len(), 5);

    let other_node = Store::connect(&app.db.url).await.expect("connects");
    let rule = other_node
        .list_rules(&org_id)
        .await
        .expect("rules")
        .into_iter()
        .find(|rule| rule.name == "Customer asks for a person")
        .expect("the default rule");
    let spec = switchboard_routing::RuleSpec {
        name: rule.name.clone(),
        enabled: false,
        match_mode: rule.match_mode,
        triggers: rule.triggers.clone(),
        actions: rule.actions.clone(),
        continue_after: rule.continue_after,
    };
    other_node
        .update_rule(&org_id, &rule.id, &spec)
        .await
        .expect("updates");
    let after = switchboard::compiled_rules(&app.state.routing(), &org_id)
        .await
        .expect("rules");
    assert_eq!(after.len(), 4, "the disabled rule is gone at once");
    let asked = customer_says(&app, &admin, &inbox, "asks", "I want to talk to a human").await;
    assert_eq!(
        asked["conversation"]["status"], "bot",
        "the rule no longer fires"
    );
}

/// The `sentiment_falling` trigger reads the conversation's trend over its recent customer
/// messages: a calm, happy customer who turns sour escalates on the fall, before the level
/// alone would say so; a steady conversation does not.
async fn a_sharp_fall_in_sentiment_escalates(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let rule = create_rule(
        &app,
        &admin,
        json!({
            "name": "Mood drops",
            "triggers": [{ "type": "sentiment_falling", "min_drop": 30 }],
            "actions": { "escalate": true, "priority": "high", "tags": ["mood-drop"] },
        }),
    )
    .await;
    put_first(&app, &admin, rule["id"].as_str().expect("an id")).await;

    let happy = "Thanks so much, the new box is wonderful and your team has been really helpful!";
    let first = customer_says(&app, &admin, &inbox, "fall", happy).await;
    assert_eq!(first["conversation"]["status"], "bot", "{first}");
    customer_says(&app, &admin, &inbox, "steady", happy).await;
    let steady = customer_says(&app, &admin, &inbox, "steady", happy).await;
    assert_eq!(steady["conversation"]["status"], "bot", "no fall: {steady}");

    let sour = customer_says(
        &app,
        &admin,
        &inbox,
        "fall",
        "Actually it is terrible, the lock failed again and this is useless.",
    )
    .await;
    assert_eq!(sour["conversation"]["status"], "escalated", "{sour}");
    assert_eq!(sour["handoff"]["rule_name"], "Mood drops");
    let reason = sour["handoff"]["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("sentiment fell "), "{reason}");
    assert_eq!(sour["conversation"]["priority"], "high");
}

/// The same burst on either database: four customers each send a run of messages at once, as a
/// channel posts them side by side (on both databases they are committed in batches). With the
/// bot off only the length rule ("Too long for the bot", 8 customer messages) can fire, and
/// what routing counts for a message ends at that message: a conversation of seven messages
/// stays the bot's, one of twelve is escalated with one handoff, and every message is stored.
async fn a_burst_is_routed_the_same_on_either_database(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    let inbox = app.test_inbox(&admin, json!({})).await;
    let runs = [
        ("short-a", 7),
        ("long-a", 12),
        ("short-b", 7),
        ("long-b", 12),
    ];
    let posts = runs.iter().flat_map(|(thread, count)| {
        (0..*count).map(move |i| {
            json!({
                "thread": thread,
                "from": format!("{thread}@customer.test"),
                "id": format!("{thread}-{i}"),
                "text": format!("Where is my parcel? ({i})"),
            })
        })
    });
    let statuses =
        futures::future::join_all(posts.map(|body| app.webhook(&inbox, "s3cret", body))).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
    for (thread, count) in runs {
        let detail = conversation_of(&app, &admin, &inbox, thread).await;
        let customer = detail["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|message| message["role"] == "customer")
            .count();
        assert_eq!(customer, count, "{thread}: every message stored once");
        let status = &detail["conversation"]["status"];
        if count < 8 {
            assert_eq!(status, "bot", "{thread}");
            assert!(detail["handoff"].is_null(), "{thread}: {detail}");
        } else {
            assert_eq!(status, "escalated", "{thread}");
            let reason = detail["handoff"]["reason"].as_str().expect("a handoff");
            let counted: usize = reason
                .strip_suffix(" customer messages")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{thread}: {reason}"));
            assert!((8..=count).contains(&counted), "{thread}: {reason}");
        }
    }
    let (_, counts) = app
        .get(
            &admin,
            &format!("/api/v1/conversations/counts?inbox_id={inbox}"),
        )
        .await;
    assert_eq!(counts["all"], 4, "{counts}");
    assert_eq!(counts["escalated"], 2, "{counts}");
}
