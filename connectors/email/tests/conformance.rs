//! The email connector against the shared conformance suite: the webhook's signature and every
//! raw message of `fixtures/email` (`NAME.eml` beside `NAME.expected.json`). Delivery is SMTP,
//! not an HTTP platform's API: `tests/smtp.rs` sends to the test kit's mail server instead.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_email::{EmailFactory, SIGNATURE_HEADER, sign};
use switchboard_model::ConnectorFactory;
use switchboard_testkit::conformance::{self, ConformanceCase, Part};

const INBOUND_SECRET: &str = "s3cret-relay-key";

struct Email;

impl ConformanceCase for Email {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(EmailFactory)
    }

    /// Email has no platform API; replies go to `smtp_url`, which the suite does not use.
    fn config(&self, _api_base_url: &str) -> Value {
        json!({ "address": "help@acme.test", "inbound_secret": INBOUND_SECRET,
                "max_attachment_bytes": 1000 })
    }

    fn sign(&self, body: &[u8], _at: DateTime<Utc>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = sign(body, INBOUND_SECRET.as_bytes());
        headers.insert(SIGNATURE_HEADER, signature.parse().expect("a value"));
        headers
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    fn skip(&self, part: Part) -> Option<&'static str> {
        (part == Part::Delivery).then_some(
            "replies go over SMTP, not to an HTTP API: tests/smtp.rs sends them to the test kit's \
             mail server, with 4xx answers and no server retriable and 5xx permanent",
        )
    }

    fn fixture_extension(&self) -> &'static str {
        "eml"
    }
}

#[tokio::test]
async fn email_passes_the_conformance_suite() {
    conformance::run(&Email, &conformance::fixtures("email")).await;
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(&Email, &conformance::fixtures("email"));
}
