//! Analytics over a known history: five conversations written through the real paths on a
//! manual clock (resolved by the AI, handed to a person and answered in business hours, outside
//! them, late), and every figure of `/analytics/overview`, `/timeseries` and `/agents` checked
//! exactly, as JSON and CSV, on SQLite and PostgreSQL.

mod support;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use switchboard::Settings;
use switchboard_model::{
    AiOutcome, Clock, MessageRole, Source,
    analytics::{self, ReportRange, ReportTotals},
    new_id,
};
use switchboard_store::{NewMessage, ReportFilter};
use switchboard_testkit::{TestDatabase, backend_tests};

backend_tests!(
    every_figure_of_a_known_history,
    analytics_is_for_managers_and_admins_and_one_organization,
    bad_ranges_are_refused_with_a_reason,
    the_label_filter_counts_exactly_the_labelled_conversations,
    the_daily_rollups_agree_with_the_conversations,
    the_log_holds_each_reporting_event_and_the_reopen_window_counts,
    an_upgrade_writes_the_history_so_far_into_the_log,
);

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a time")
        .with_timezone(&Utc)
}

fn settings(db: &TestDatabase) -> Settings {
    Settings {
        sla_check_ms: 50,
        ..support::settings(db)
    }
}

/// The history the figures are checked against. Times in UTC; Berlin is an hour ahead.
struct History {
    app: TestApp,
    admin: String,
    clock: Clock,
}

impl History {
    async fn customer_says(&self, inbox: &str, thread: &str, text: &str) -> String {
        self.app
            .customer_says(&self.admin, inbox, thread, text)
            .await
    }

    async fn at(&self, text: &str) {
        self.clock.set(instant(text));
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.app.post(&self.admin, path, body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    async fn agent_replies(&self, id: &str) {
        self.post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({ "text": "Happy to help." }),
        )
        .await;
    }

    async fn resolve(&self, id: &str) {
        self.post(&format!("/api/v1/conversations/{id}/resolve"), json!({}))
            .await;
    }

    /// The AI answers in conversation `id` of `org_id`, citing `sources`.
    async fn ai_answers(&self, org_id: &str, id: &str, text: &str, sources: Vec<Source>) {
        self.app
            .state
            .store
            .append_bot_message(
                org_id,
                id,
                &new_id(),
                NewMessage {
                    role: MessageRole::Ai,
                    private: false,
                    text: text.into(),
                    author_id: None,
                    mentions: Vec::new(),
                    attachments: Vec::new(),
                    sources,
                    confidence: Some(0.9),
                    model: None,
                    tokens: None,
                },
                AiOutcome::Answered,
            )
            .await
            .expect("the AI's answer");
    }

    async fn escalated(&self, id: &str) -> Value {
        self.app
            .wait_for(&self.admin, id, |c| {
                c["conversation"]["status"] == "escalated"
            })
            .await
    }
}

/// Five conversations:
/// - A, Friday 10:00: the AI answers, resolved at 10:01, rated 5 (resolved by the AI);
/// - B, Friday 11:00: asks for a person (high priority: an hour of business time to first
///   response, Berlin 09:00–17:00 on weekdays), answered at 11:02, resolved at 12:00, rated 2;
/// - C, Saturday 10:00: asks for a person, answered Monday 08:30 (09:30 in Berlin): 46.5 hours
///   of calendar time, 30 minutes of business time; still open;
/// - D, Monday 12:00: asks for a person, answered at 14:00, an hour after the target;
/// - E, Monday 15:00: writes and waits.
async fn known_history(db: TestDatabase) -> History {
    let clock = Clock::manual(instant("2026-11-27T10:00:00Z"));
    let app = TestApp::spawn_quiet_with_clock(db, settings, clock.clone()).await;
    let admin = app.admin().await;
    let history = History { app, admin, clock };
    let inbox = history.app.test_inbox(&history.admin, json!({})).await;
    let (_, policies) = history
        .app
        .get(&history.admin, "/api/v1/sla-policies")
        .await;
    let high = policies
        .as_array()
        .expect("a list")
        .iter()
        .find(|policy| policy["priority"] == "high" && policy["team_id"].is_null())
        .expect("the default high policy")
        .clone();
    let day = json!([["09:00", "17:00"]]);
    let (status, saved) = history
        .app
        .send(
            Method::PUT,
            &history.admin,
            &format!("/api/v1/sla-policies/{}", high["id"].as_str().expect("an id")),
            json!({ "name": "Office", "priority": "high", "first_response_seconds": 3600,
                    "resolution_seconds": 8 * 3600,
                    "business_hours": { "time_zone": "Europe/Berlin",
                        "weekly": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    let a = history
        .customer_says(&inbox, "a", "where is my parcel")
        .await;
    history.at("2026-11-27T10:00:10Z").await;
    let detail = history.app.conversation(&history.admin, &a).await;
    let org_id = detail["conversation"]["org_id"]
        .as_str()
        .expect("an org id")
        .to_owned();
    let (status, article) = history
        .app
        .post(
            &history.admin,
            "/api/v1/kb/articles",
            json!({ "title": "Where parcels are", "body": "Track a parcel from its page." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{article}");
    let cited = Source {
        article_id: article["id"].as_str().expect("an id").to_owned(),
        title: "Where parcels are".into(),
    };
    let store = &history.app.state.store;
    history
        .ai_answers(&org_id, &a, "It is on its way.", vec![cited.clone(), cited])
        .await;
    history.at("2026-11-27T10:01:00Z").await;
    history.resolve(&a).await;
    store
        .record_csat(&org_id, &a, 5, None)
        .await
        .expect("a rating");

    history.at("2026-11-27T11:00:00Z").await;
    let b = history.customer_says(&inbox, "b", "talk to a human").await;
    history.escalated(&b).await;
    history
        .post(&format!("/api/v1/conversations/{b}/takeover"), json!({}))
        .await;
    history.at("2026-11-27T11:02:00Z").await;
    history.agent_replies(&b).await;
    history.at("2026-11-27T12:00:00Z").await;
    history.resolve(&b).await;
    store
        .record_csat(&org_id, &b, 2, Some("slow"))
        .await
        .expect("a rating");

    history.at("2026-11-28T10:00:00Z").await;
    let c = history.customer_says(&inbox, "c", "talk to a human").await;
    history.escalated(&c).await;
    history
        .post(&format!("/api/v1/conversations/{c}/takeover"), json!({}))
        .await;
    history.at("2026-11-30T08:30:00Z").await;
    history.agent_replies(&c).await;

    history.at("2026-11-30T12:00:00Z").await;
    let d = history.customer_says(&inbox, "d", "talk to a human").await;
    history.escalated(&d).await;
    history
        .post(&format!("/api/v1/conversations/{d}/takeover"), json!({}))
        .await;
    history.at("2026-11-30T14:00:00Z").await;
    history.agent_replies(&d).await;

    history.at("2026-11-30T15:00:00Z").await;
    history.customer_says(&inbox, "e", "hello there").await;
    history
}

/// The id of the one article an overview lists.
fn article_id(overview: &Value) -> Value {
    overview["top_articles"][0]["article_id"].clone()
}

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|actual| (actual - expected).abs() < 1e-6)
}

#[track_caller]
fn assert_close(actual: &Value, expected: f64, what: &str) {
    assert!(close(actual, expected), "{what}: {actual} ≠ {expected}");
}

async fn every_figure_of_a_known_history(db: TestDatabase) {
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let range = "from=2026-11-27&to=2026-11-30&tz=Europe/Berlin";
    let (status, overview) = app
        .get(admin, &format!("/api/v1/analytics/overview?{range}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["conversations_opened"], 5, "{overview}");
    assert_eq!(overview["conversations_resolved"], 2);
    assert_eq!(overview["automated_resolutions"], 1);
    assert_close(
        &overview["automated_resolution_rate"],
        0.2,
        "automated resolution",
    );
    assert_eq!(overview["handoffs"], 3);
    assert_close(&overview["handoff_rate"], 0.6, "handoff rate");
    assert_close(&overview["ai_involvement_rate"], 0.2, "AI involvement");
    let first = &overview["first_response_time_seconds"];
    assert_eq!(first["count"], 3);
    assert_close(&first["median"], 7200.0, "first response median");
    // 120, 7,200 and 167,400 s: the 90th percentile lies 80 % of the way from the second.
    assert_close(&first["p90"], 135_360.0, "first response p90");
    let business = &overview["first_response_time_business_seconds"];
    assert_close(&business["median"], 1800.0, "business median");
    assert_close(&business["p90"], 6120.0, "business p90");
    let resolution = &overview["resolution_time_seconds"];
    assert_close(&resolution["median"], 1830.0, "resolution median");
    assert_close(&resolution["p90"], 3246.0, "resolution p90");
    assert_eq!(overview["csat"]["responses"], 2);
    // The AI cited one article in one conversation (twice in one answer counts once).
    assert_eq!(
        overview["top_articles"],
        json!([{ "article_id": article_id(&overview), "title": "Where parcels are",
                 "conversations": 1 }]),
        "{overview}"
    );
    assert_close(&overview["csat"]["satisfied_share"], 0.5, "satisfied");
    assert_close(&overview["csat"]["average"], 3.5, "CSAT average");
    assert_close(
        &overview["csat"]["response_rate"],
        1.0,
        "CSAT response rate",
    );
    // B met its targets, D answered an hour late, C's resolution is still pending.
    assert_eq!(overview["sla_met"], 1);
    assert_eq!(overview["sla_breached"], 1);
    assert_close(&overview["sla_compliance"], 0.5, "SLA compliance");
    let sla = overview["sla"].as_array().expect("per policy");
    assert_eq!(sla.len(), 1, "{sla:?}");
    assert_eq!(
        (&sla[0]["policy"], &sla[0]["priority"], &sla[0]["pending"]),
        (&json!("Office"), &json!("high"), &json!(1))
    );
    let reasons: Vec<(String, u64)> = overview["handoff_reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|count| {
            (
                count["key"].as_str().unwrap_or_default().to_owned(),
                count["conversations"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("human_request".into(), 3)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("low_confidence".into(), 0)),
        "{reasons:?}"
    );
    assert_eq!(overview["by_channel"][0]["key"], "freshdesk");
    assert_eq!(overview["by_channel"][0]["conversations"], 5);

    // The same as CSV: a header line, then the row.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/analytics/overview?{range}&format=csv")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let csv = response.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let row: std::collections::HashMap<&str, &str> =
        lines[0].split(',').zip(lines[1].split(',')).collect();
    assert_eq!(row["from"], "2026-11-27");
    assert_eq!(row["time_zone"], "Europe/Berlin");
    assert_eq!(row["conversations_opened"], "5");
    assert_eq!(row["automated_resolution_rate"], "0.2");
    assert_eq!(row["handoff_rate"], "0.6");
    assert_eq!(row["first_response_time_median_seconds"], "7200");
    assert_eq!(row["first_response_time_business_p90_seconds"], "6120");
    assert_eq!(row["csat_average"], "3.5");
    assert_eq!(row["sla_compliance"], "0.5");
    assert_eq!(row["handoffs_human_request"], "3");
    // `Accept: text/csv` asks for the same.
    let by_accept = app
        .client
        .get(app.url(&format!("/api/v1/analytics/overview?{range}")))
        .header("accept", "text/csv")
        .bearer_auth(admin)
        .send()
        .await
        .expect("sends")
        .text()
        .await
        .expect("text");
    assert_eq!(by_accept, csv);

    // Day by day, in Berlin's days.
    let (status, series) = app
        .get(admin, &format!("/api/v1/analytics/timeseries?{range}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{series}");
    let opened: Vec<(String, u64)> = series["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|day| {
            (
                day["date"].as_str().unwrap_or_default().to_owned(),
                day["conversations_opened"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        opened,
        [
            ("2026-11-27".to_owned(), 2),
            ("2026-11-28".to_owned(), 1),
            ("2026-11-29".to_owned(), 0),
            ("2026-11-30".to_owned(), 2),
        ]
    );
    assert_eq!(series["days"][0]["automated_resolutions"], 1);
    assert_eq!(series["days"][0]["handoffs"], 1);
    assert_close(&series["days"][0]["csat_average"], 3.5, "Friday's CSAT");
    let hours = series["hour_of_week"].as_array().expect("168 hours");
    assert_eq!(hours.len(), 168);
    // Friday 11:00 and 12:00 in Berlin: A and B.
    assert_eq!(
        (&hours[4 * 24 + 11], &hours[4 * 24 + 12]),
        (&json!(1), &json!(1))
    );

    // Per agent: the admin took over B, C and D.
    let (status, agents) = app
        .get(admin, &format!("/api/v1/analytics/agents?{range}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    let rows = agents["agents"].as_array().expect("agents");
    assert_eq!(rows.len(), 1, "{agents}");
    assert_eq!(rows[0]["conversations"], 3);
    assert_eq!(rows[0]["replied"], 3);
    assert_eq!(rows[0]["resolved"], 1);
    assert_close(
        &rows[0]["first_response_time_seconds"]["median"],
        7200.0,
        "the agent's first response",
    );
    assert_close(&rows[0]["csat"]["average"], 2.0, "the agent's CSAT");
    let response = app
        .client
        .get(app.url(&format!("/api/v1/analytics/agents?{range}&format=csv")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("sends");
    let csv = response.text().await.expect("text");
    assert!(csv.starts_with("agent_id,name,conversations,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // A range that holds only Monday: D and E.
    let (_, monday) = app
        .get(
            admin,
            "/api/v1/analytics/overview?from=2026-11-30&to=2026-11-30&tz=UTC",
        )
        .await;
    assert_eq!(monday["conversations_opened"], 2, "{monday}");
    assert_eq!(monday["handoffs"], 1);
    // Filters: only the inbox's, only the channel's.
    let inbox_id = app
        .get(admin, "/api/v1/inboxes")
        .await
        .1
        .as_array()
        .and_then(|inboxes| {
            inboxes
                .iter()
                .find(|inbox| inbox["channel"] == "freshdesk")
                .and_then(|inbox| inbox["id"].as_str().map(str::to_owned))
        })
        .expect("the test inbox");
    let (_, filtered) = app
        .get(
            admin,
            &format!("/api/v1/analytics/overview?{range}&inbox_id={inbox_id}"),
        )
        .await;
    assert_eq!(filtered["conversations_opened"], 5);
    let (_, other) = app
        .get(
            admin,
            &format!("/api/v1/analytics/overview?{range}&channel=email"),
        )
        .await;
    assert_eq!(other["conversations_opened"], 0);
    assert_eq!(other["automated_resolution_rate"], 0.0);
    assert_eq!(other["first_response_time_seconds"]["median"], Value::Null);
    assert_eq!(other["sla_compliance"], Value::Null);
}

async fn analytics_is_for_managers_and_admins_and_one_organization(db: TestDatabase) {
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let path = "/api/v1/analytics/overview?from=2026-11-27&to=2026-11-30";
    for role in ["support_agent", "knowledge_editor"] {
        let token = app.user_token(admin, role).await;
        for route in ["overview", "timeseries", "agents"] {
            let (status, body) = app
                .get(
                    &token,
                    &format!("/api/v1/analytics/{route}?from=2026-11-27&to=2026-11-30"),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {route}: {body}");
        }
    }
    let manager = app.user_token(admin, "support_manager").await;
    let (status, overview) = app.get(&manager, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(overview["conversations_opened"], 5);
    let globex = app.second_organization().await;
    let (status, theirs) = app.get(&globex, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["conversations_opened"], 0, "{theirs}");
    let (status, _) = app.get("not a token", path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_ranges_are_refused_with_a_reason(db: TestDatabase) {
    let app = TestApp::spawn_quiet(db).await;
    let admin = app.admin().await;
    for (query, words) in [
        ("from=2026-12-02&to=2026-12-01", "before"),
        ("from=yesterday&to=2026-12-01", "YYYY-MM-DD"),
        ("from=2026-12-01&to=2026-12-01&tz=Mars/Olympus", "time zone"),
        ("from=2020-01-01&to=2026-12-01", "at most"),
        ("from=2026-12-01&to=2026-12-01&format=xml", "format"),
        (
            "from=2026-12-01&to=2026-12-01&channel=fax",
            "`channel` is one of webchat",
        ),
    ] {
        let (status, body) = app
            .get(&admin, &format!("/api/v1/analytics/overview?{query}"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body.to_string().contains(words), "{query}: {body}");
    }
    // No range at all: the last 30 days, today included.
    let (status, overview) = app.get(&admin, "/api/v1/analytics/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let (from, to) = (
        overview["from"].as_str().expect("from"),
        overview["to"].as_str().expect("to"),
    );
    assert_eq!(to, Utc::now().date_naive().to_string());
    let days = chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d").expect("a date")
        - chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").expect("a date");
    assert_eq!(days.num_days(), 29);
}

/// `label=` keeps the conversations that carry the label: the two resolved ones of the known
/// history labelled `billing` are counted alone, every figure theirs; taking the label off one
/// takes it out of the figures.
async fn the_label_filter_counts_exactly_the_labelled_conversations(db: TestDatabase) {
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let (_, resolved) = app
        .get(admin, "/api/v1/conversations?status=resolved&snoozed=any")
        .await;
    let resolved: Vec<String> = resolved["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(resolved.len(), 2, "A and B");
    for id in &resolved {
        let (status, _) = app
            .send(
                Method::PUT,
                admin,
                &format!("/api/v1/conversations/{id}/labels"),
                json!({ "labels": ["billing"] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let range = "from=2026-11-27&to=2026-11-30&tz=Europe/Berlin";
    let overview = |query: String| async move {
        let (status, body) = app
            .get(admin, &format!("/api/v1/analytics/overview?{range}{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let all = overview(String::new()).await;
    assert_eq!(all["conversations_opened"], 5);
    let billing = overview("&label=billing".into()).await;
    assert_eq!(billing["conversations_opened"], 2, "{billing}");
    assert_eq!(billing["conversations_resolved"], 2);
    assert_eq!(billing["automated_resolutions"], 1);
    assert_eq!(billing["csat"]["responses"], 2);
    assert_close(&billing["csat"]["average"], 3.5, "CSAT of A and B");
    assert_eq!(billing["by_channel"][0]["conversations"], 2);
    // The label's name is matched as stored (lowercase).
    let upper = overview("&label=Billing".into()).await;
    assert_eq!(upper["conversations_opened"], 2);
    let (_, series) = app
        .get(
            admin,
            &format!("/api/v1/analytics/timeseries?{range}&label=billing"),
        )
        .await;
    let opened: u64 = series["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(|day| day["conversations_opened"].as_u64())
        .sum();
    assert_eq!(opened, 2, "{series}");

    // Off one conversation: out of the figures.
    let (status, _) = app
        .send(
            Method::PUT,
            admin,
            &format!("/api/v1/conversations/{}/labels", resolved[0]),
            json!({ "labels": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let billing = overview("&label=billing".into()).await;
    assert_eq!(billing["conversations_opened"], 1, "{billing}");
    assert_eq!(billing["csat"]["responses"], 1);
    let unused = overview("&label=nobody-uses-this".into()).await;
    assert_eq!(unused["conversations_opened"], 0);
    let (status, _) = app
        .get(
            admin,
            &format!("/api/v1/analytics/overview?{range}&label=not%20a%20label"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The totals of the conversations themselves.
async fn counted_now(
    store: &switchboard_store::Store,
    org_id: &str,
    range: &ReportRange,
    filter: &ReportFilter,
    calendars: &std::collections::HashMap<String, switchboard_model::Calendar>,
) -> ReportTotals {
    let facts = store
        .report_facts(org_id, range.start, range.end, filter)
        .await
        .expect("facts");
    ReportTotals::of_facts(range, &facts, calendars)
}

/// Each report in `zone` (the roll-ups' zone) as the API serves it, from the daily roll-ups, is
/// what counting the conversations themselves gives, over ranges and filters.
async fn assert_rollups_agree(history: &History, org_id: &str, zone: &str, step: &str) {
    let (app, admin) = (&history.app, &history.admin);
    let store = &app.state.store;
    let names: std::collections::HashMap<String, String> = store
        .list_users(org_id)
        .await
        .expect("users")
        .into_iter()
        .map(|user| (user.id, user.name))
        .collect();
    let policies = store.report_names(org_id).await.expect("names");
    let calendars = store.report_calendars(org_id).await.expect("calendars");
    for (from, to) in [
        ("2026-11-27", "2026-11-30"),
        ("2026-11-30", "2026-11-30"),
        ("2026-11-01", "2026-12-31"),
    ] {
        for (query, filter) in [
            (String::new(), ReportFilter::default()),
            (
                "&channel=freshdesk".to_owned(),
                ReportFilter {
                    channel: Some("freshdesk".into()),
                    ..ReportFilter::default()
                },
            ),
            (
                "&topic=none".to_owned(),
                ReportFilter {
                    topic: Some("none".into()),
                    ..ReportFilter::default()
                },
            ),
        ] {
            let range = ReportRange::new(from, to, zone).expect("a range");
            let query = format!("from={from}&to={to}&tz={zone}{query}");
            // The hub's timers (SLA breaches) may change a conversation while the test reads:
            // compare when the conversations read the same before and after the request.
            for route in ["overview", "timeseries"] {
                let mut attempts = 0;
                loop {
                    let before = counted_now(store, org_id, &range, &filter, &calendars).await;
                    let (status, served) = app
                        .get(admin, &format!("/api/v1/analytics/{route}?{query}"))
                        .await;
                    assert_eq!(status, StatusCode::OK, "{served}");
                    let after = counted_now(store, org_id, &range, &filter, &calendars).await;
                    attempts += 1;
                    if before != after && attempts < 20 {
                        continue;
                    }
                    let expected = match route {
                        "overview" => {
                            serde_json::to_value(analytics::overview(&range, &after, &policies))
                        }
                        _ => serde_json::to_value(analytics::timeseries(&range, &after)),
                    };
                    assert_eq!(served, expected.expect("json"), "{step}: {route}?{query}");
                    break;
                }
            }
            let counted = counted_now(store, org_id, &range, &filter, &calendars).await;
            if query.ends_with(zone) {
                let (_, served) = app
                    .get(admin, &format!("/api/v1/analytics/agents?{query}"))
                    .await;
                let expected =
                    serde_json::to_value(analytics::agents(&counted, &names)).expect("json");
                assert_eq!(served["agents"], expected, "{step}: agents?{query}");
            }
        }
    }
}

async fn the_daily_rollups_agree_with_the_conversations(db: TestDatabase) {
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let (_, page) = app.get(admin, "/api/v1/conversations?limit=10").await;
    let ids: Vec<String> = page["conversations"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect();
    let detail = app.conversation(admin, &ids[0]).await;
    let org_id = detail["conversation"]["org_id"]
        .as_str()
        .expect("an org")
        .to_owned();
    assert_rollups_agree(&history, &org_id, "UTC", "the history").await;
    let store = &app.state.store;
    assert!(
        store.analytics_rollup_rows(&org_id).await.expect("rows") > 0,
        "the reports read roll-ups"
    );

    // Changes to conversations already counted: each is taken out and counted again.
    history.at("2026-12-01T09:00:00Z").await;
    for id in &ids {
        let detail = app.conversation(admin, id).await;
        match detail["conversation"]["status"].as_str() {
            Some("resolved") => {
                history
                    .post(&format!("/api/v1/conversations/{id}/reopen"), json!({}))
                    .await;
            }
            Some("escalated") | Some("assigned") => {
                history.resolve(id).await;
                store
                    .record_csat(&org_id, id, 4, None)
                    .await
                    .expect("a rating");
            }
            _ => {
                history
                    .post(&format!("/api/v1/conversations/{id}/takeover"), json!({}))
                    .await;
                history.agent_replies(id).await;
            }
        }
    }
    assert_rollups_agree(&history, &org_id, "UTC", "after the changes").await;

    // Counted again from nothing, they are the same.
    let counted = store.rebuild_analytics().await.expect("rebuilt");
    assert!(counted >= ids.len(), "{counted}");
    assert_rollups_agree(&history, &org_id, "UTC", "after a rebuild").await;

    // The organization counts its days in Berlin: the roll-ups are counted again in its zone.
    let agent = app.user_token(admin, "support_agent").await;
    let (status, _) = app
        .send(
            Method::PATCH,
            &agent,
            "/api/v1/organization",
            json!({ "time_zone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .send(
            Method::PATCH,
            admin,
            "/api/v1/organization",
            json!({ "time_zone": "Mars/Olympus" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, org) = app
        .send(
            Method::PATCH,
            admin,
            "/api/v1/organization",
            json!({ "time_zone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["time_zone"], "Europe/Berlin");
    let (_, read) = app.get(&agent, "/api/v1/organization").await;
    assert_eq!(read["time_zone"], "Europe/Berlin", "{read}");
    assert_rollups_agree(&history, &org_id, "Europe/Berlin", "in Berlin").await;
    assert!(store.analytics_rollup_rows(&org_id).await.expect("rows") > 0);
}

/// The kinds of `events`, each with its `by` or `target` when it has one.
fn kinds(events: &[analytics::LoggedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            match event
                .data
                .get("by")
                .or(event.data.get("target"))
                .and_then(Value::as_str)
            {
                Some(detail) => format!("{}:{detail}", event.kind),
                None => event.kind.clone(),
            }
        })
        .collect()
}

/// Whether `expected` appears in `actual` in this order (other events may come between).
fn in_order(actual: &[String], expected: &[&str]) -> bool {
    let mut rest = actual.iter();
    expected
        .iter()
        .all(|kind| rest.by_ref().any(|event| event == kind))
}

async fn the_log_holds_each_reporting_event_and_the_reopen_window_counts(db: TestDatabase) {
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let store = &app.state.store;
    let (_, page) = app.get(admin, "/api/v1/conversations?limit=10").await;
    let mut by_thread = std::collections::HashMap::new();
    for conversation in page["conversations"].as_array().expect("a page") {
        let id = conversation["id"].as_str().expect("an id").to_owned();
        let detail = app.conversation(admin, &id).await;
        let thread = detail["conversation"]["thread_key"]
            .as_str()
            .expect("a thread")
            .to_owned();
        by_thread.insert(thread, (id, detail));
    }
    let id = |thread: &str| {
        by_thread
            .iter()
            .find(|(key, _)| key.ends_with(thread))
            .map(|(_, (id, _))| id.clone())
            .unwrap_or_else(|| panic!("conversation {thread}: {:?}", by_thread.keys()))
    };
    let (a, b, c, d, e) = (id("a"), id("b"), id("c"), id("d"), id("e"));
    let org_id = by_thread.values().next().expect("one").1["conversation"]["org_id"]
        .as_str()
        .expect("an org")
        .to_owned();
    // Each conversation's events, in the order they happened.
    let events_of = |conversation: &str| {
        let (store, org_id, conversation) = (store, org_id.clone(), conversation.to_owned());
        async move {
            store
                .reporting_events(&org_id, &conversation)
                .await
                .expect("events")
        }
    };
    let a_events = events_of(&a).await;
    assert!(
        in_order(
            &kinds(&a_events),
            &["opened", "ai_answered", "resolved:ai", "csat_given"]
        ),
        "A: {:?}",
        kinds(&a_events)
    );
    assert_eq!(a_events[0].at, instant("2026-11-27T10:00:00Z"));
    let resolved = a_events
        .iter()
        .find(|event| event.kind == "resolved")
        .expect("resolved");
    assert_eq!(resolved.at, instant("2026-11-27T10:01:00Z"));
    let answered = a_events
        .iter()
        .find(|event| event.kind == "ai_answered")
        .expect("answered");
    assert_eq!(answered.data["sources"][0]["title"], "Where parcels are");
    let rated = a_events
        .iter()
        .find(|event| event.kind == "csat_given")
        .expect("rated");
    assert_eq!(rated.data["score"], 5);
    let b_kinds = kinds(&events_of(&b).await);
    assert!(
        in_order(
            &b_kinds,
            &[
                "opened",
                "handed_off",
                "first_human_reply",
                "sla_met:first_response",
                "resolved:human",
                "sla_met:resolution",
                "csat_given"
            ]
        ),
        "B: {b_kinds:?}"
    );
    assert!(b_kinds.contains(&"sla_set".to_owned()) && b_kinds.contains(&"replied".to_owned()));
    // The same log over the API, a page at a time, as JSON and CSV; for managers and admins.
    let (status, page) = app
        .get(
            admin,
            &format!(
                "/api/v1/analytics/events?from=2026-11-27&to=2026-11-30&conversation_id={a}&limit=2"
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut served: Vec<Value> = page["events"].as_array().expect("events").clone();
    assert_eq!(served.len(), 2);
    let mut after = page["next_after"].as_i64().expect("another page");
    loop {
        let (_, page) = app
            .get(
                admin,
                &format!("/api/v1/analytics/events?from=2026-11-27&to=2026-11-30&conversation_id={a}&limit=2&after={after}"),
            )
            .await;
        served.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let served_kinds: Vec<&str> = served
        .iter()
        .map(|event| event["kind"].as_str().expect("a kind"))
        .collect();
    let logged: Vec<&str> = a_events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(served_kinds, logged);
    assert_eq!(served[0]["at"], "2026-11-27T10:00:00Z");
    let response =
        app.client
            .get(app.url(
                "/api/v1/analytics/events?from=2026-11-27&to=2026-11-30&kind=resolved&format=csv",
            ))
            .bearer_auth(admin)
            .send()
            .await
            .expect("sends");
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,conversation_id,kind,at,data");
    assert_eq!(lines.len(), 3, "A and B were resolved in the range: {csv}");
    assert!(
        lines[1].contains(&a) && lines[1].contains(",resolved,2026-11-27T10:01:00+00:00,"),
        "{csv}"
    );
    let (status, body) = app
        .get(admin, "/api/v1/analytics/events?kind=teleported")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let agent = app.user_token(admin, "support_agent").await;
    let (status, _) = app.get(&agent, "/api/v1/analytics/events").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // D was answered an hour late: no first response met.
    let d_kinds = kinds(&events_of(&d).await);
    assert!(
        in_order(
            &d_kinds,
            &["opened", "handed_off", "sla_set", "first_human_reply"]
        ) && !d_kinds.contains(&"sla_met:first_response".to_owned()),
        "D: {d_kinds:?}"
    );

    // E: the AI answers and resolves; the customer writes again half an hour later, and the AI
    // resolves it again. Reopened within the day: not an automated resolution.
    history.at("2026-11-30T15:30:00Z").await;
    history
        .ai_answers(&org_id, &e, "Hello! How can I help?", Vec::new())
        .await;
    history.resolve(&e).await;
    history.at("2026-11-30T16:00:00Z").await;
    let inbox = by_thread[&by_thread
        .keys()
        .find(|key| key.ends_with('e'))
        .expect("e")
        .clone()]
        .1["conversation"]["inbox_id"]
        .as_str()
        .expect("an inbox")
        .to_owned();
    let again = history.customer_says(&inbox, "e", "one more thing").await;
    assert_eq!(again, e, "the customer's message reopens E");
    history.at("2026-11-30T16:05:00Z").await;
    history
        .ai_answers(&org_id, &e, "Hello! How can I help?", Vec::new())
        .await;
    history.resolve(&e).await;
    let e_kinds = kinds(&events_of(&e).await);
    assert!(
        in_order(
            &e_kinds,
            &[
                "opened",
                "ai_answered",
                "resolved:ai",
                "reopened",
                "ai_answered",
                "resolved:ai"
            ]
        ),
        "E: {e_kinds:?}"
    );

    // C is still open when its resolution target (8 business hours: Monday 17:00 in Berlin)
    // passes: the breach is logged once, whether the hub's timer or this scan flags it.
    store
        .detect_sla_breaches(instant("2026-11-30T16:05:00Z"))
        .await
        .expect("the scan");
    let c_kinds = kinds(&events_of(&c).await);
    assert_eq!(
        c_kinds
            .iter()
            .filter(|kind| *kind == "sla_breached:resolution")
            .count(),
        1,
        "C: {c_kinds:?}"
    );

    // A again, reopened three days after its resolution and resolved by the AI alone: still
    // an automated resolution.
    history
        .post(&format!("/api/v1/conversations/{a}/reopen"), json!({}))
        .await;
    history
        .ai_answers(&org_id, &a, "Hello! How can I help?", Vec::new())
        .await;
    history.resolve(&a).await;

    let automated = |tz: &'static str| async move {
        let (status, overview) = app
            .get(
                admin,
                &format!("/api/v1/analytics/overview?from=2026-11-27&to=2026-11-30&tz={tz}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        overview["automated_resolutions"].as_i64().expect("a count")
    };
    // From the roll-ups (UTC, the organization's zone) and counted from the conversations.
    assert_eq!(
        automated("UTC").await,
        1,
        "A counts, E was reopened within 24 h"
    );
    assert_eq!(automated("Europe/Berlin").await, 1);
    assert_rollups_agree(&history, &org_id, "UTC", "after the reopenings").await;

    // A window of 0 hours: E's reopening is outside it.
    let (status, _) = app
        .send(
            Method::PATCH,
            &agent,
            "/api/v1/organization",
            json!({ "reopen_window_hours": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .send(
            Method::PATCH,
            admin,
            "/api/v1/organization",
            json!({ "reopen_window_hours": 721 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, org) = app
        .send(
            Method::PATCH,
            admin,
            "/api/v1/organization",
            json!({ "reopen_window_hours": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["reopen_window_hours"], 0);
    assert_eq!(org["time_zone"], "UTC", "the zone is kept");
    assert_eq!(automated("UTC").await, 2);
    assert_eq!(automated("Europe/Berlin").await, 2);

    // Rebuilt from the log alone, the roll-ups are the same.
    store.rebuild_analytics().await.expect("rebuilt");
    assert_eq!(automated("UTC").await, 2);
    assert_rollups_agree(&history, &org_id, "UTC", "rebuilt with a window of 0").await;

    // Erasing the customer takes their conversations' events with them.
    let contact = app.conversation(admin, &e).await["conversation"]["contact_id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let (status, body) = app
        .send(
            Method::DELETE,
            admin,
            &format!("/api/v1/contacts/{contact}"),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    assert!(events_of(&e).await.is_empty(), "E's events are erased");
    assert!(!events_of(&a).await.is_empty(), "A's are not");
}

/// A database from before the log: its conversations' history is written from their state,
/// and the roll-ups counted from it are what the conversations give.
async fn an_upgrade_writes_the_history_so_far_into_the_log(db: TestDatabase) {
    use switchboard_migration::{Migrator, MigratorTrait};
    let history = known_history(db).await;
    let (app, admin) = (&history.app, &history.admin);
    let store = &app.state.store;
    let (_, page) = app.get(admin, "/api/v1/conversations?limit=10").await;
    let ids: Vec<String> = page["conversations"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect();
    let org_id = app.conversation(admin, &ids[0]).await["conversation"]["org_id"]
        .as_str()
        .expect("an org")
        .to_owned();
    let mut before = Vec::new();
    for id in &ids {
        before.push(kinds(
            &store.reporting_events(&org_id, id).await.expect("events"),
        ));
    }
    let connection = sea_orm::Database::connect(&app.db.url)
        .await
        .expect("connects");
    // Back to before the log's migration (the ones after it first), then up to now.
    let steps = Migrator::migrations()
        .iter()
        .rev()
        .position(|migration| migration.name() == "m20261209_000100_analytics_events")
        .expect("the log's migration")
        + 1;
    Migrator::down(&connection, Some(steps as u32))
        .await
        .expect("down");
    Migrator::up(&connection, None).await.expect("up again");
    for (id, before) in ids.iter().zip(before) {
        let after = kinds(&store.reporting_events(&org_id, id).await.expect("events"));
        // What the state holds is written again; what only happened (a change of sentiment or
        // assignment, an SLA met) is not known.
        let kept: Vec<String> = before
            .iter()
            .filter(|kind| !kind.starts_with("changed") && !kind.starts_with("sla_met"))
            .cloned()
            .collect();
        let mut sorted_after = after.clone();
        sorted_after.sort();
        let mut sorted_kept = kept.clone();
        sorted_kept.sort();
        assert_eq!(
            sorted_after, sorted_kept,
            "{id}: before {before:?}, after {after:?}"
        );
    }
    store.rebuild_analytics().await.expect("rebuilt");
    assert_rollups_agree(&history, &org_id, "UTC", "after the upgrade").await;
}
