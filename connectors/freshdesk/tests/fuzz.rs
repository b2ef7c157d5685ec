//! The webhook parser on every one-byte mangling of the fixtures: answers, never panics, and
//! what it reads as a ticket id is one. (Arbitrary bytes and mangled payloads through every
//! pure hook: the test kit's property, in `conformance.rs`.)

use std::sync::Arc;

use http::HeaderMap;
use serde_json::json;
use switchboard_freshdesk::FreshdeskFactory;
use switchboard_model::{Connector, ConnectorFactory, RawInbound};

fn connector() -> Arc<dyn Connector> {
    FreshdeskFactory
        .build(
            "inbox",
            &json!({ "base_url": "https://acme.freshdesk.com", "api_key": "k", "webhook_secret": "s" }),
        )
        .expect("builds")
}

fn read(connector: &dyn Connector, body: &[u8]) -> Result<String, String> {
    let headers = HeaderMap::new();
    let request = RawInbound {
        headers: &headers,
        query: None,
        body,
    };
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    helpdesk.webhook_ticket(&request).map_err(|err| err.0)
}

const SEEDS: &[&str] = &[
    include_str!("../../../fixtures/freshdesk/ticket_created.json"),
    include_str!("../../../fixtures/freshdesk/ticket_updated_numeric_id.json"),
    include_str!("../../../fixtures/freshdesk/bare_ticket_id.json"),
];

#[test]
fn mangled_webhooks_answer_without_panicking() {
    let connector = connector();
    let replacements: &[&[u8]] = &[b"", b"\"", b"{", b"]", b"-", b"9", b".5", b"null", b"\xff"];
    let mut read_ids = 0;
    for seed in SEEDS {
        let seed = seed.as_bytes();
        for at in 0..seed.len() {
            for replacement in replacements {
                let mut body = seed.to_vec();
                body.splice(at..at + 1, replacement.iter().copied());
                if let Ok(id) = read(connector.as_ref(), &body) {
                    assert!(
                        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
                        "{id}"
                    );
                    read_ids += 1;
                }
            }
        }
    }
    assert!(read_ids > 0, "some manglings still name a ticket");
}
