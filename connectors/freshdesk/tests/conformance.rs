//! The Freshdesk connector against the shared conformance suite, and every webhook fixture
//! read for the ticket it names.

use std::{path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_freshdesk::{FreshdeskFactory, TOKEN_HEADER};
use switchboard_model::{ChannelKind, ConnectorFactory, OutboundMessage, RawInbound};
use switchboard_testkit::{
    FakeResponse, RecordedRequest,
    conformance::{self, ConformanceCase},
};

const API_KEY: &str = "Fd9kQ2mXcV7bN1pL4tZ8";
const WEBHOOK_SECRET: &str = "wh_5c1e9a7d3b";

struct Freshdesk;

impl ConformanceCase for Freshdesk {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(FreshdeskFactory)
    }

    fn config(&self, api_base_url: &str) -> Value {
        json!({ "base_url": api_base_url, "api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET })
    }

    fn sign(&self, _body: &[u8], _at: DateTime<Utc>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TOKEN_HEADER, WEBHOOK_SECRET.parse().expect("a value"));
        headers
    }

    fn signature_header(&self) -> &'static str {
        TOKEN_HEADER
    }

    fn signs_body(&self) -> bool {
        false
    }

    fn outbound(&self) -> OutboundMessage {
        let mut message =
            conformance::outbound_message(ChannelKind::Freshdesk, "1042", "80012345678");
        message.text =
            "Your parcel left the depot this morning.\nLocker 7 <east side> is free & open.".into();
        message
    }

    fn accepted(&self) -> (FakeResponse, String) {
        (
            FakeResponse::json(
                201,
                json!({ "body": "<div>Your parcel left the depot this morning.</div>",
                        "body_text": "Your parcel left the depot this morning.", "id": 80055500042u64,
                        "incoming": false, "private": false, "user_id": 80000000777u64,
                        "ticket_id": 1042, "created_at": "2024-05-01T10:00:00Z", "attachments": [] }),
            ),
            "80055500042".into(),
        )
    }

    fn check_send(&self, request: &RecordedRequest) {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, "/api/v2/tickets/1042/reply");
        assert_eq!(
            request.header("authorization"),
            Some("Basic RmQ5a1EybVhjVjdiTjFwTDR0Wjg6WA==")
        );
        assert_eq!(
            request.json(),
            json!({ "body": "Your parcel left the depot this morning.<br>Locker 7 &lt;east side&gt; is free &amp; open." })
        );
    }

    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        // Short: the connector's gate then holds the suite's next call for this long.
        (
            FakeResponse::json(
                429,
                json!({ "message": "You have exceeded the limit of requests per minute" }),
            )
            .with_header("retry-after", "1"),
            Some(Duration::from_secs(1)),
        )
    }

    fn rejected(&self) -> FakeResponse {
        FakeResponse::json(
            400,
            json!({ "description": "Validation failed",
                    "errors": [{ "field": "body", "message": "It should not be blank", "code": "missing_field" }] }),
        )
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/freshdesk"
    ))
}

#[tokio::test]
async fn freshdesk_passes_the_conformance_suite() {
    conformance::run(&Freshdesk, fixtures()).await;
}

/// Each webhook fixture and the ticket id it names, or part of the reason it is refused.
const WEBHOOK_TICKETS: &[(&str, Result<&str, &str>)] = &[
    ("bare_ticket_id.json", Ok("43026449322")),
    ("no_ticket_id.json", Err("no ticket id")),
    ("ticket_created.json", Ok("1042")),
    ("ticket_updated_numeric_id.json", Ok("1043")),
    ("unexpanded_placeholder.json", Err("unexpanded placeholder")),
];

#[test]
fn every_webhook_fixture_names_its_ticket_or_says_why_not() {
    let connector = Freshdesk
        .factory()
        .build(
            "inbox",
            &Freshdesk.config(conformance::FIXTURE_API_BASE_URL),
        )
        .expect("builds");
    let helpdesk = connector.helpdesk().expect("Freshdesk is a helpdesk");
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("the fixtures folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json") && !name.ends_with(".expected.json"))
        .collect();
    names.sort();
    let listed: Vec<&str> = WEBHOOK_TICKETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, listed, "every fixture has its expected ticket here");
    for (name, expected) in WEBHOOK_TICKETS {
        let body = std::fs::read(fixtures().join(name)).expect("a fixture");
        let headers = Freshdesk.sign(&body, Utc::now());
        let request = RawInbound {
            headers: &headers,
            query: None,
            body: &body,
        };
        connector.verify(&request).expect("verifies");
        match (helpdesk.webhook_ticket(&request), expected) {
            (Ok(id), Ok(expected)) => assert_eq!(&id, expected, "{name}"),
            (Err(err), Err(expected)) => assert!(err.0.contains(expected), "{name}: {err}"),
            (actual, expected) => panic!("{name}: got {actual:?}, expected {expected:?}"),
        }
    }
}
