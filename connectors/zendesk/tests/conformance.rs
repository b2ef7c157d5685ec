//! The Zendesk connector against the shared conformance suite: signatures, the fixtures (which
//! normalize to no events: the hub reads the ticket each names), `deliver` as a public comment,
//! and the webhook ticket of every fixture.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_model::{ChannelKind, ConnectorFactory, OutboundMessage, RawInbound};
use switchboard_testkit::{
    FakeResponse, RecordedRequest,
    conformance::{self, ConformanceCase, FIXTURE_API_BASE_URL},
};
use switchboard_zendesk::ZendeskFactory;

const EMAIL: &str = "integration@acme.test";
const API_TOKEN: &str = "zd-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv";
const WEBHOOK_SECRET: &str = "dGhpcyBpcyBub3QgYSByZWFsIHNlY3JldA-_";

struct Zendesk;

/// What Zendesk sends: base64 HMAC-SHA256 of timestamp then body, as its docs describe.
fn signature(body: &[u8], timestamp: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes())
        .expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

impl ConformanceCase for Zendesk {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(ZendeskFactory)
    }

    fn config(&self, api_base_url: &str) -> Value {
        json!({ "base_url": api_base_url, "email": EMAIL, "api_token": API_TOKEN,
                "webhook_secret": WEBHOOK_SECRET })
    }

    fn sign(&self, body: &[u8], at: DateTime<Utc>) -> HeaderMap {
        let timestamp = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-zendesk-webhook-signature",
            signature(body, &timestamp).parse().expect("a value"),
        );
        headers.insert(
            "x-zendesk-webhook-signature-timestamp",
            timestamp.parse().expect("a value"),
        );
        headers
    }

    fn signature_header(&self) -> &'static str {
        "x-zendesk-webhook-signature"
    }

    fn replay_window(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::minutes(5))
    }

    fn outbound(&self) -> OutboundMessage {
        conformance::outbound_message(ChannelKind::Zendesk, "5158", "901")
    }

    fn accepted(&self) -> (FakeResponse, String) {
        (
            FakeResponse::json(
                200,
                json!({ "ticket": { "id": 5158, "status": "open" },
                        "audit": { "id": 60, "ticket_id": 5158, "author_id": 4242, "events": [
                            { "id": 9001, "type": "Comment", "public": true, "author_id": 4242,
                              "body": "Your parcel left the depot this morning." } ] } }),
            ),
            "9001".into(),
        )
    }

    fn check_send(&self, request: &RecordedRequest) {
        assert_eq!(request.method, http::Method::PUT);
        assert_eq!(request.path, "/api/v2/tickets/5158.json");
        let credentials = STANDARD.encode(format!("{EMAIL}/token:{API_TOKEN}"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {credentials}").as_str())
        );
        assert_eq!(
            request.json(),
            json!({ "ticket": { "comment": { "body": "Your parcel left the depot this morning.", "public": true } } })
        );
    }

    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        // One second: the connector's rate gate then holds the suite's next call that long.
        (
            FakeResponse::json(
                429,
                json!({ "error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded" }),
            )
            .with_header("retry-after", "1"),
            Some(Duration::from_secs(1)),
        )
    }

    fn rejected(&self) -> FakeResponse {
        FakeResponse::json(
            422,
            json!({ "error": "RecordInvalid", "description": "Record validation errors",
                    "details": { "status": [{ "description": "Status: closed prevents ticket update" }] } }),
        )
    }
}

#[tokio::test]
async fn zendesk_passes_the_conformance_suite() {
    conformance::run(&Zendesk, &conformance::fixtures("zendesk")).await;
}

/// The ticket each fixture names, or a piece of the reason it names none.
#[test]
fn every_fixture_names_its_ticket() {
    conformance::check_webhook_tickets(
        &Zendesk,
        &conformance::fixtures("zendesk"),
        &[
            ("event_comment_added", Ok("5158")),
            ("event_status_changed", Ok("5161")),
            ("event_user_created", Err("names no ticket")),
            ("trigger_placeholder_not_rendered", Err("ticket_id")),
            ("trigger_ticket_id", Ok("5162")),
            ("trigger_ticket_id_number", Ok("5163")),
            ("trigger_ticket_object", Ok("5164")),
        ],
    );
}

/// Zendesk's docs sign timestamp then body; its published example, body then timestamp. A
/// request signed either way verifies through the connector.
#[test]
fn both_signing_orders_verify_through_the_connector() {
    let connector = ZendeskFactory
        .build("inbox", &Zendesk.config(FIXTURE_API_BASE_URL))
        .expect("builds");
    let body = br#"{"ticket_id": "5158"}"#;
    let mut headers = Zendesk.sign(body, Utc::now());
    let timestamp = headers["x-zendesk-webhook-signature-timestamp"]
        .to_str()
        .expect("text")
        .to_owned();
    let mut reversed = body.to_vec();
    reversed.extend_from_slice(timestamp.as_bytes());
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes())
        .expect("any key length");
    mac.update(&reversed);
    let body_first = STANDARD.encode(mac.finalize().into_bytes());
    assert_ne!(body_first, signature(body, &timestamp));
    headers.insert(
        "x-zendesk-webhook-signature",
        body_first.parse().expect("a value"),
    );
    let request = RawInbound {
        headers: &headers,
        query: None,
        body,
    };
    connector
        .verify(&request)
        .expect("body then timestamp verifies");
}

/// Random bytes and headers through every pure hook: answers, never panics.
#[test]
fn garbage_never_panics() {
    let connector = ZendeskFactory
        .build("inbox", &Zendesk.config(FIXTURE_API_BASE_URL))
        .expect("builds");
    let helpdesk = connector.helpdesk().expect("Zendesk is a helpdesk");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let printable = |byte: u64| (b' ' + (byte % 95) as u8) as char;
    for _ in 0..3000 {
        let body: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
        let mut headers = HeaderMap::new();
        for name in [
            "x-zendesk-webhook-signature",
            "x-zendesk-webhook-signature-timestamp",
        ] {
            if next() % 4 != 0 {
                let value: String = (0..next() % 60).map(|_| printable(next())).collect();
                if let Ok(value) = value.parse() {
                    headers.insert(name, value);
                }
            }
        }
        let request = RawInbound {
            headers: &headers,
            query: None,
            body: &body,
        };
        assert!(connector.verify(&request).is_err());
        assert!(connector.normalize(&request).is_ok());
        let _ = helpdesk.webhook_ticket(&request);
    }
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(&Zendesk, &conformance::fixtures("zendesk"));
}
