//! The web-chat connector against the shared conformance suite. Web chat has no webhook and no
//! platform: visitors come over the hub's WebSocket, and the hub delivers the answers itself,
//! so the suite checks only that no webhook request passes and that a config is checked.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_model::{ChannelKind, ConnectorFactory};
use switchboard_testkit::conformance::{self, ConformanceCase, Part};
use switchboard_webchat::WebchatFactory;

struct Webchat;

impl ConformanceCase for Webchat {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(WebchatFactory)
    }

    /// Web chat calls no platform, so it has no base URL.
    fn config(&self, _api_base_url: &str) -> Value {
        json!({ "allowed_origins": ["https://shop.example"] })
    }

    fn skip(&self, part: Part) -> Option<&'static str> {
        Some(match part {
            Part::Verification => {
                "web chat has no webhook: visitors connect to /chat/ws, checked by Origin and \
                 identity hash before the upgrade (docs/specs/webchat.md)"
            }
            Part::Fixtures => {
                "no webhook payloads to normalize: the protocol's frames are parsed by \
                 parse_client_frame and checked by frames.rs's own tests"
            }
            Part::Delivery => {
                "the hub delivers web-chat answers itself (ChannelKind::delivered_by_hub): \
                 deliver calls no platform"
            }
        })
    }
}

#[tokio::test]
async fn webchat_passes_the_conformance_suite() {
    conformance::run(&Webchat, &conformance::fixtures("webchat")).await;
}

/// What stands in for delivery: the answer is already with the visitor, so `deliver` succeeds
/// at once with no channel id, and the outbox keeps no job pending.
#[tokio::test]
async fn deliver_succeeds_without_a_platform() {
    assert!(ChannelKind::Webchat.delivered_by_hub());
    let connector = WebchatFactory
        .build("inbox", &Webchat.config(""))
        .expect("builds");
    let message = conformance::outbound_message(ChannelKind::Webchat, "visitor", "visitor");
    let receipt = connector.deliver(&message).await.expect("delivered");
    assert_eq!(receipt.channel_message_id, None);
}
