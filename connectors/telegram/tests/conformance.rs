//! The Telegram connector against the shared conformance suite and a fake Bot API server.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_model::{
    ChannelKind, ConnectorFactory, DeliveryError, OutboundFile, OutboundMessage, WebhookSetupError,
};
use switchboard_telegram::TelegramFactory;
use switchboard_testkit::{
    FakeResponse, RecordedRequest,
    conformance::{self, ConformanceCase},
};

const BOT_TOKEN: &str = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET_TOKEN: &str = "sb_9f8e7d6c5b4a-secret";

struct Telegram;

impl ConformanceCase for Telegram {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(TelegramFactory)
    }

    fn config(&self, api_base_url: &str) -> Value {
        json!({ "bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN, "api_base_url": api_base_url })
    }

    fn sign(&self, _body: &[u8], _at: DateTime<Utc>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-telegram-bot-api-secret-token",
            SECRET_TOKEN.parse().expect("a value"),
        );
        headers
    }

    fn signature_header(&self) -> &'static str {
        "x-telegram-bot-api-secret-token"
    }

    fn signs_body(&self) -> bool {
        false
    }

    fn outbound(&self) -> OutboundMessage {
        let mut message =
            conformance::outbound_message(ChannelKind::Telegram, "-1001234567890", "1111111");
        message.in_reply_to = Some("-1001234567890:77".into());
        message
    }

    fn accepted(&self) -> (FakeResponse, String) {
        (
            FakeResponse::json(
                200,
                json!({ "ok": true, "result": { "message_id": 80, "date": 1700000900,
                        "from": { "id": 7000000001u64, "is_bot": true, "first_name": "Acme Support" },
                        "chat": { "id": -1001234567890i64, "title": "Acme customers", "type": "supergroup" },
                        "text": "Your parcel left the depot this morning." } }),
            ),
            "-1001234567890:80".into(),
        )
    }

    fn check_send(&self, request: &RecordedRequest) {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, format!("/bot{BOT_TOKEN}/sendMessage"));
        assert_eq!(
            request.json(),
            json!({ "chat_id": -1001234567890i64, "text": "Your parcel left the depot this morning.",
                    "reply_parameters": { "message_id": 77, "allow_sending_without_reply": true } })
        );
    }

    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        (
            FakeResponse::json(
                429,
                json!({ "ok": false, "error_code": 429,
                        "description": "Too Many Requests: retry after 17", "parameters": { "retry_after": 17 } }),
            ),
            Some(Duration::from_secs(17)),
        )
    }

    fn rejected(&self) -> FakeResponse {
        FakeResponse::json(
            400,
            json!({ "ok": false, "error_code": 400, "description": "Bad Request: chat not found" }),
        )
    }
}

#[tokio::test]
async fn telegram_passes_the_conformance_suite() {
    conformance::run(&Telegram, &conformance::fixtures("telegram")).await;
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(
        &Telegram,
        &conformance::fixtures("telegram"),
    );
}

#[tokio::test]
async fn private_chats_get_plain_replies_and_errors_never_show_the_token() {
    let (platform, connector) = conformance::connect(&Telegram).await;
    let mut private = Telegram.outbound();
    private.thread_key = "1111111".into();
    private.in_reply_to = Some("1111111:1365".into());
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": 1371, "date": 1, "chat": { "id": 1111111, "type": "private" } } }),
    ));
    let receipt = connector.deliver(&private).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("1111111:1371"));
    assert_eq!(
        platform.requests()[0].json(),
        json!({ "chat_id": 1111111, "text": "Your parcel left the depot this morning." })
    );

    // Telegram's `ok: false` on a 200 is still an error; a blocked bot is permanent.
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user" }),
    ));
    match connector.deliver(&private).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("blocked"), "{reason}");
            assert!(!reason.contains(BOT_TOKEN));
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    let unreachable = conformance::unreachable(&Telegram);
    match unreachable.deliver(&private).await {
        Err(DeliveryError::Retriable { reason, .. }) => {
            assert!(!reason.contains(BOT_TOKEN), "{reason}")
        }
        other => panic!("expected a retriable failure, got {other:?}"),
    }
}

#[tokio::test]
async fn set_webhook_registers_our_url_with_the_secret_token() {
    let (platform, connector) = conformance::connect(&Telegram).await;
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "result": true, "description": "Webhook was set" }),
    ));
    connector
        .register_webhook("https://hub.example.com/webhooks/telegram/inbox-1")
        .await
        .expect("registered");
    let request = &platform.requests()[0];
    assert_eq!(request.path, format!("/bot{BOT_TOKEN}/setWebhook"));
    assert_eq!(
        request.json(),
        json!({ "url": "https://hub.example.com/webhooks/telegram/inbox-1", "secret_token": SECRET_TOKEN,
                "allowed_updates": ["message", "edited_message"] })
    );
    platform.respond_next(FakeResponse::json(
        400,
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: bad webhook: HTTPS url must be provided for webhook" }),
    ));
    assert!(matches!(
        connector
            .register_webhook("http://insecure.example.com/x")
            .await,
        Err(WebhookSetupError::Refused { status: 400, .. })
    ));
}

#[test]
fn secret_tokens_telegram_would_refuse_are_refused_up_front() {
    let err = TelegramFactory
        .build(
            "inbox",
            &json!({ "bot_token": BOT_TOKEN, "secret_token": "has spaces!" }),
        )
        .err()
        .expect("refused");
    assert!(err.reason.contains("secret_token"));
}

fn sent(message_id: i64) -> FakeResponse {
    FakeResponse::json(
        200,
        json!({ "ok": true, "result": { "message_id": message_id, "date": 1,
                "chat": { "id": 1111111, "type": "private" } } }),
    )
}

#[tokio::test]
async fn files_go_up_as_photo_or_document_with_the_text_as_caption() {
    let (platform, connector) = conformance::connect(&Telegram).await;
    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8, 255, 13, 10, 45, 45][..]].concat();
    let pdf: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let mut message = Telegram.outbound();
    message.thread_key = "1111111".into();
    message.in_reply_to = None;
    message.files = vec![
        OutboundFile {
            filename: "photo.png".into(),
            content_type: "image/png".into(),
            bytes: png.clone().into(),
        },
        OutboundFile {
            filename: "label.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf.clone().into(),
        },
    ];
    platform.respond_next(sent(501));
    platform.respond_next(sent(502));
    let receipt = connector.deliver(&message).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("1111111:501"));
    let requests = platform.requests();
    assert_eq!(requests.len(), 2, "one call per file, no separate text");
    assert_eq!(requests[0].path, format!("/bot{BOT_TOKEN}/sendPhoto"));
    let photo = requests[0].form();
    assert_eq!(
        requests[0].form_field("chat_id").as_deref(),
        Some("1111111")
    );
    assert_eq!(
        requests[0].form_field("caption").as_deref(),
        Some("Your parcel left the depot this morning.")
    );
    let file = photo
        .iter()
        .find(|part| part.name == "photo")
        .expect("a photo part");
    assert_eq!(file.file_name.as_deref(), Some("photo.png"));
    assert_eq!(file.content_type.as_deref(), Some("image/png"));
    assert_eq!(file.bytes, png);
    assert_eq!(requests[1].path, format!("/bot{BOT_TOKEN}/sendDocument"));
    let document = requests[1].form();
    assert_eq!(requests[1].form_field("caption"), None);
    let file = document
        .iter()
        .find(|part| part.name == "document")
        .expect("a document part");
    assert_eq!(file.file_name.as_deref(), Some("label.pdf"));
    assert_eq!(file.bytes, pdf);

    // A text longer than a caption goes first, on its own; the file follows without one.
    let platform_before = platform.requests().len();
    message.text = "x".repeat(1025);
    message.files.truncate(1);
    platform.respond_next(sent(503));
    platform.respond_next(sent(504));
    let receipt = connector.deliver(&message).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("1111111:503"));
    let requests = &platform.requests()[platform_before..];
    assert_eq!(requests[0].path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(requests[0].json()["text"], json!("x".repeat(1025)));
    assert_eq!(requests[1].path, format!("/bot{BOT_TOKEN}/sendPhoto"));
    assert_eq!(requests[1].form_field("caption"), None);

    // A refused file is an error like a refused text.
    message.text = "Here it is".into();
    platform.respond_next(FakeResponse::json(
        400,
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: wrong file" }),
    ));
    assert!(matches!(
        connector.deliver(&message).await,
        Err(DeliveryError::Permanent { .. })
    ));
}
