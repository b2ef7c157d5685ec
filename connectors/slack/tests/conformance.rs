//! The Slack connector against the shared conformance suite and a fake Slack Web API.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use switchboard_model::{ChannelKind, ConnectorFactory, OutboundMessage, Secret};
use switchboard_slack::{SlackFactory, sign, verify_at};
use switchboard_testkit::{
    FakeResponse, RecordedRequest,
    conformance::{self, ConformanceCase},
};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";

struct Slack;

impl ConformanceCase for Slack {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(SlackFactory)
    }

    fn config(&self, api_base_url: &str) -> Value {
        json!({ "signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "api_base_url": api_base_url })
    }

    fn sign(&self, body: &[u8], at: DateTime<Utc>) -> HeaderMap {
        let timestamp = at.timestamp().to_string();
        let mut headers = HeaderMap::new();
        let signature = sign(&Secret::new(SIGNING_SECRET), &timestamp, body);
        headers.insert(
            "x-slack-request-timestamp",
            timestamp.parse().expect("a value"),
        );
        headers.insert("x-slack-signature", signature.parse().expect("a value"));
        headers
    }

    fn signature_header(&self) -> &'static str {
        "x-slack-signature"
    }

    fn replay_window(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::minutes(5))
    }

    fn outbound(&self) -> OutboundMessage {
        conformance::outbound_message(
            ChannelKind::Slack,
            "C2147483705:1700000000.000100",
            "U2147483697",
        )
    }

    fn accepted(&self) -> (FakeResponse, String) {
        (
            FakeResponse::json(
                200,
                json!({ "ok": true, "channel": "C2147483705", "ts": "1700000400.000900",
                        "message": { "text": "Your parcel left the depot this morning.", "type": "message", "ts": "1700000400.000900" } }),
            ),
            "C2147483705:1700000400.000900".into(),
        )
    }

    fn check_send(&self, request: &RecordedRequest) {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, "/chat.postMessage");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {BOT_TOKEN}").as_str())
        );
        assert!(
            request
                .header("content-type")
                .is_some_and(|value| value.starts_with("application/json"))
        );
        assert_eq!(
            request.json(),
            json!({ "channel": "C2147483705", "text": "Your parcel left the depot this morning.",
                    "thread_ts": "1700000000.000100" })
        );
    }

    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        (
            FakeResponse::json(429, json!({ "ok": false, "error": "ratelimited" }))
                .with_header("retry-after", "30"),
            Some(Duration::from_secs(30)),
        )
    }

    fn rejected(&self) -> FakeResponse {
        // Slack's errors come with HTTP 200.
        FakeResponse::json(200, json!({ "ok": false, "error": "channel_not_found" }))
    }
}

#[tokio::test]
async fn slack_passes_the_conformance_suite() {
    conformance::run(&Slack, &conformance::fixtures("slack")).await;
}

#[test]
fn fuzz_arbitrary_and_mangled_payloads_never_panic() {
    switchboard_testkit::fuzz::pure_hooks_never_panic(&Slack, &conformance::fixtures("slack"));
}

/// `ok: false` bodies are classified by their code, whatever the HTTP status.
#[tokio::test]
async fn slack_error_codes_are_classified() {
    use switchboard_model::DeliveryError;
    let (platform, connector) = conformance::connect(&Slack).await;
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": false, "error": "ratelimited" }),
    ));
    let message = Slack.outbound();
    assert!(matches!(
        connector.deliver(&message).await,
        Err(DeliveryError::Retriable { .. })
    ));
    for code in ["invalid_auth", "not_in_channel", "is_archived"] {
        platform.respond_next(FakeResponse::json(
            200,
            json!({ "ok": false, "error": code }),
        ));
        match connector.deliver(&message).await {
            Err(DeliveryError::Permanent { reason }) => assert!(reason.contains(code), "{reason}"),
            other => panic!("{code} must be permanent, got {other:?}"),
        }
    }
    let mut broken = message.clone();
    broken.thread_key = "no-colon".into();
    assert!(matches!(
        connector.deliver(&broken).await,
        Err(DeliveryError::Permanent { .. })
    ));
}

#[tokio::test]
async fn files_take_the_upload_flow_and_are_shared_in_the_thread() {
    use switchboard_model::OutboundFile;
    let (platform, connector) = conformance::connect(&Slack).await;
    let zip: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut message = Slack.outbound();
    message.files = vec![
        OutboundFile {
            filename: "logs 1.zip".into(),
            content_type: "application/zip".into(),
            bytes: zip.clone().into(),
        },
        OutboundFile {
            filename: "b.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"second".to_vec().into(),
        },
    ];
    let upload_url = |n: u32| format!("{}/upload/v1/F{n}", platform.url());
    for n in [1, 2] {
        platform.respond_next(FakeResponse::json(
            200,
            json!({ "ok": true, "upload_url": upload_url(n), "file_id": format!("F{n}") }),
        ));
        platform.respond_next(FakeResponse {
            status: 200,
            headers: vec![],
            body: "OK - 4096".into(),
        });
    }
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "files": [{ "id": "F1", "title": "logs 1.zip" }, { "id": "F2", "title": "b.txt" }] }),
    ));
    let receipt = connector.deliver(&message).await.expect("shared");
    assert_eq!(receipt.channel_message_id, None);
    let requests = platform.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/files.getUploadURLExternal",
            "/upload/v1/F1",
            "/files.getUploadURLExternal",
            "/upload/v1/F2",
            "/files.completeUploadExternal"
        ],
        "never the retired files.upload"
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(&requests[0].body[..], b"filename=logs%201.zip&length=4096");
    assert_eq!(requests[1].body.to_vec(), zip);
    assert_eq!(&requests[3].body[..], b"second");
    assert_eq!(
        requests[4].json(),
        json!({ "files": [{ "id": "F1", "title": "logs 1.zip" }, { "id": "F2", "title": "b.txt" }],
                "channel_id": "C2147483705", "thread_ts": "1700000000.000100",
                "initial_comment": "Your parcel left the depot this morning." })
    );

    // An upload URL the hub may not call is refused before any byte leaves.
    let before = platform.requests().len();
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "upload_url": "http://169.254.169.254/latest", "file_id": "F9" }),
    ));
    assert!(matches!(
        connector.deliver(&message).await,
        Err(switchboard_model::DeliveryError::Permanent { .. })
    ));
    assert_eq!(platform.requests().len(), before + 1);
    // A failed upload is classified by its status: a 503 is retried.
    platform.respond_next(FakeResponse::json(
        200,
        json!({ "ok": true, "upload_url": upload_url(3), "file_id": "F3" }),
    ));
    platform.respond_next(FakeResponse::json(503, json!({})));
    assert!(matches!(
        connector.deliver(&message).await,
        Err(switchboard_model::DeliveryError::Retriable { .. })
    ));
}

/// A request Slack signed, whatever its timestamp header says, is answered: the replay window
/// is checked only after the signature, so this is the one way to reach it with any value.
#[test]
fn fuzz_signed_timestamps_are_answered() {
    let secret = Secret::new(SIGNING_SECRET);
    let body = b"{\"type\":\"event_callback\"}";
    switchboard_testkit::fuzz::check_text(&["1531420618", " 1531420618 ", "-1"], |timestamp| {
        let Ok(value) = timestamp.parse::<http::HeaderValue>() else {
            return Ok(());
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-slack-request-timestamp", value);
        let signature = sign(&secret, timestamp, body);
        headers.insert("x-slack-signature", signature.parse().expect("hex"));
        match (
            verify_at(&secret, &headers, body, 1_531_420_618),
            timestamp.trim().parse::<i64>(),
        ) {
            (Ok(()), Ok(at)) if at.abs_diff(1_531_420_618) <= 300 => Ok(()),
            (Ok(()), _) => Err(format!("`{timestamp}` is in the window")),
            (Err(_), _) => Ok(()),
        }
    });
}
