//! The WhatsApp parser on arbitrary bytes and on mangled real payloads: errors, never panics.

use http::HeaderMap;
use proptest::prelude::*;
use serde_json::json;
use switchboard_model::{ConnectorFactory, RawInbound};
use switchboard_whatsapp::WhatsappFactory;

fn connector() -> std::sync::Arc<dyn switchboard_model::Connector> {
    WhatsappFactory
        .build("inbox", &json!({ "app_secret": "s", "verify_token": "v", "access_token": "a", "phone_number_id": "106540352242922" }))
        .expect("builds")
}

const SEED: &str = include_str!("../../../fixtures/whatsapp/two_messages_one_unsupported.json");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let connector = connector();
        let headers = HeaderMap::new();
        let request = RawInbound { headers: &headers, query: None, body: &body };
        let _ = connector.verify(&request);
        let _ = connector.normalize(&request);
    }

    #[test]
    fn mangled_payloads_never_panic(at in 0usize..SEED.len(), cut in 0usize..64, insert in "[\\[\\]{}\":,0-9a-z.]{0,8}") {
        let connector = connector();
        let mut body = SEED.as_bytes().to_vec();
        let end = (at + cut).min(body.len());
        body.splice(at..end, insert.bytes());
        let headers = HeaderMap::new();
        let _ = connector.normalize(&RawInbound { headers: &headers, query: None, body: &body });
    }
}
