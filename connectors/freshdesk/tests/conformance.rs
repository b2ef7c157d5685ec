//! The Freshdesk connector against the shared conformance suite, and every webhook fixture
//! read for the ticket it names.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_freshdesk::{FreshdeskFactory, TOKEN_HEADER};
use switchboard_model::{ChannelKind, ConnectorFactory, OutboundMessage};
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

#[tokio::test]
async fn freshdesk_passes_the_conformance_suite() {
    conformance::run(&Freshdesk, &conformance::fixtures("freshdesk")).await;
}

/// Each webhook fixture and the ticket id it names, or part of the reason it is refused.
#[test]
fn every_webhook_fixture_names_its_ticket_or_says_why_not() {
    conformance::check_webhook_tickets(
        &Freshdesk,
        &conformance::fixtures("freshdesk"),
        &[
            ("bare_ticket_id", Ok("43026449322")),
            ("no_ticket_id", Err("no ticket id")),
            ("ticket_created", Ok("1042")),
            ("ticket_updated_numeric_id", Ok("1043")),
            ("unexpanded_placeholder", Err("unexpanded placeholder")),
        ],
    );
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(
        &Freshdesk,
        &conformance::fixtures("freshdesk"),
    );
}
