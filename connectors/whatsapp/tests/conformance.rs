//! The WhatsApp connector against the shared conformance suite and a fake Graph API.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_model::{
    ChannelKind, ConnectorFactory, DeliveryError, HandshakeError, OutboundFile, OutboundMessage,
    RawInbound, Secret,
};
use switchboard_testkit::{
    FakeResponse, RecordedRequest,
    conformance::{self, ConformanceCase},
};
use switchboard_whatsapp::{OUTSIDE_WINDOW, WhatsappFactory, sign};

const APP_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
const ACCESS_TOKEN: &str = "EAAJB3m8Xb2gBO0ZBtestaccesstoken";
const PHONE_NUMBER_ID: &str = "106540352242922";

struct Whatsapp;

impl ConformanceCase for Whatsapp {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(WhatsappFactory)
    }

    fn config(&self, api_base_url: &str) -> Value {
        json!({ "app_secret": APP_SECRET, "verify_token": "meta-verify-me", "access_token": ACCESS_TOKEN,
                "phone_number_id": PHONE_NUMBER_ID, "api_base_url": api_base_url })
    }

    fn sign(&self, body: &[u8], _at: DateTime<Utc>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = sign(&Secret::new(APP_SECRET), body);
        headers.insert("x-hub-signature-256", signature.parse().expect("a value"));
        headers
    }

    fn signature_header(&self) -> &'static str {
        "x-hub-signature-256"
    }

    fn outbound(&self) -> OutboundMessage {
        conformance::outbound_message(ChannelKind::Whatsapp, "16315551181", "16315551181")
    }

    fn accepted(&self) -> (FakeResponse, String) {
        (
            FakeResponse::json(
                200,
                json!({ "messaging_product": "whatsapp",
                        "contacts": [{ "input": "16315551181", "wa_id": "16315551181" }],
                        "messages": [{ "id": "wamid.HBgLMTYzMTU1NTExODEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA" }] }),
            ),
            "wamid.HBgLMTYzMTU1NTExODEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into(),
        )
    }

    fn check_send(&self, request: &RecordedRequest) {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
        assert_eq!(
            request.json(),
            json!({ "messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": "16315551181", "type": "text",
                    "text": { "preview_url": false, "body": "Your parcel left the depot this morning." } })
        );
    }

    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        (
            FakeResponse::json(
                429,
                json!({ "error": { "message": "(#130429) Rate limit hit", "type": "OAuthException",
                                   "code": 130429, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam" } }),
            )
            .with_header("retry-after", "12"),
            Some(Duration::from_secs(12)),
        )
    }

    fn rejected(&self) -> FakeResponse {
        FakeResponse::json(
            400,
            json!({ "error": { "message": "(#100) Invalid parameter", "type": "OAuthException",
                               "code": 100, "error_subcode": 2494010, "fbtrace_id": "AbCdEf" } }),
        )
    }
}

#[tokio::test]
async fn whatsapp_passes_the_conformance_suite() {
    conformance::run(&Whatsapp, &conformance::fixtures("whatsapp")).await;
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(
        &Whatsapp,
        &conformance::fixtures("whatsapp"),
    );
}

#[tokio::test]
async fn free_form_replies_outside_the_24_hour_window_are_refused_without_a_call() {
    let (platform, connector) = conformance::connect(&Whatsapp).await;
    let mut late = Whatsapp.outbound();
    late.customer_last_message_at = Some(Utc::now() - chrono::Duration::hours(25));
    match connector.deliver(&late).await {
        Err(DeliveryError::Permanent { reason }) => assert_eq!(reason, OUTSIDE_WINDOW),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    late.customer_last_message_at = None;
    assert!(matches!(
        connector.deliver(&late).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert!(platform.requests().is_empty(), "nothing was sent to Meta");

    // Meta's own verdict on the window (131047) reads the same.
    platform.respond_next(FakeResponse::json(
        400,
        json!({ "error": { "message": "(#131047) Re-engagement message", "code": 131047 } }),
    ));
    match connector.deliver(&Whatsapp.outbound()).await {
        Err(DeliveryError::Permanent { reason }) => assert_eq!(reason, OUTSIDE_WINDOW),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_approved_template_is_sent_even_outside_the_window() {
    let (platform, connector) = conformance::connect(&Whatsapp).await;
    let mut template = Whatsapp.outbound();
    template.text = "/template order_update en_US | Kerry | #1234".into();
    template.customer_last_message_at = Some(Utc::now() - chrono::Duration::days(3));
    connector.deliver(&template).await.expect("sent");
    let requests = platform.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16315551181",
                "type": "template",
                "template": { "name": "order_update", "language": { "code": "en_US" },
                              "components": [{ "type": "body", "parameters": [
                                  { "type": "text", "text": "Kerry" }, { "type": "text", "text": "#1234" } ] }] } })
    );
}

#[tokio::test]
async fn the_get_check_echoes_the_challenge_only_with_our_token() {
    let (_platform, connector) = conformance::connect(&Whatsapp).await;
    let headers = HeaderMap::new();
    let check = |query: &'static str| {
        connector.handshake(&RawInbound {
            headers: &headers,
            query: Some(query),
            body: b"",
        })
    };
    assert_eq!(
        check("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-me")
            .expect("answered"),
        "1158201444"
    );
    assert!(matches!(
        check("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess"),
        Err(HandshakeError::Refused(_))
    ));
}

#[tokio::test]
async fn files_are_uploaded_then_sent_by_media_id_with_the_text_as_caption() {
    let (platform, connector) = conformance::connect(&Whatsapp).await;
    let media = |id: &str| FakeResponse::json(200, json!({ "id": id }));
    let sent = |id: &str| {
        FakeResponse::json(
            200,
            json!({ "messaging_product": "whatsapp", "messages": [{ "id": id }] }),
        )
    };
    let pdf: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let ogg = b"OggS\x00\x02fake audio".to_vec();
    let mut message = Whatsapp.outbound();
    message.files = vec![
        OutboundFile {
            filename: "invoice 42.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf.clone().into(),
        },
        OutboundFile {
            filename: "note.ogg".into(),
            content_type: "audio/ogg".into(),
            bytes: ogg.clone().into(),
        },
    ];
    platform.respond_next(media("1001"));
    platform.respond_next(sent("wamid.DOC"));
    platform.respond_next(media("1002"));
    platform.respond_next(sent("wamid.AUDIO"));
    let receipt = connector.deliver(&message).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("wamid.DOC"));
    let requests = platform.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/media"));
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(
        requests[0].form_field("messaging_product").as_deref(),
        Some("whatsapp")
    );
    assert_eq!(
        requests[0].form_field("type").as_deref(),
        Some("application/pdf")
    );
    let upload = requests[0].form();
    let file = upload
        .iter()
        .find(|part| part.name == "file")
        .expect("a file part");
    assert_eq!(file.file_name.as_deref(), Some("invoice 42.pdf"));
    assert_eq!(file.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(file.bytes, pdf);
    assert_eq!(
        requests[1].path,
        format!("/v21.0/{PHONE_NUMBER_ID}/messages")
    );
    assert_eq!(
        requests[1].json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "16315551181", "type": "document",
                "document": { "id": "1001", "caption": "Your parcel left the depot this morning.",
                              "filename": "invoice 42.pdf" } })
    );
    let audio = requests[2].form();
    assert_eq!(
        audio
            .iter()
            .find(|part| part.name == "file")
            .map(|part| &part.bytes),
        Some(&ogg)
    );
    assert_eq!(
        requests[3].json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "16315551181", "type": "audio", "audio": { "id": "1002" } })
    );

    // Audio takes no caption: the text goes first. A JPEG is an image message.
    let before = platform.requests().len();
    message.files.reverse();
    message.files[1] = OutboundFile {
        filename: "photo.jpg".into(),
        content_type: "image/jpeg".into(),
        bytes: vec![0xff, 0xd8, 0xff, 0xd9].into(),
    };
    for response in [
        sent("wamid.TEXT"),
        media("1003"),
        sent("wamid.A"),
        media("1004"),
        sent("wamid.I"),
    ] {
        platform.respond_next(response);
    }
    let receipt = connector.deliver(&message).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("wamid.TEXT"));
    let requests = &platform.requests()[before..];
    assert_eq!(requests[0].json()["type"], "text");
    assert_eq!(
        requests[4].json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "16315551181", "type": "image", "image": { "id": "1004" } })
    );

    // A refused upload is classified like a refused message; nothing is sent after it.
    let before = platform.requests().len();
    message.text = String::new();
    platform.respond_next(Whatsapp.rejected());
    match connector.deliver(&message).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("the file"), "{reason}")
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert_eq!(platform.requests().len(), before + 1);
}
