//! The conformance suite every connector passes (STYLE.md rule 9): a valid signature verifies,
//! a tampered, missing or stale one fails; every fixture normalizes to its committed
//! expectation; `deliver` sends the documented request to a fake platform; a 429 is retriable
//! with its delay; a 400 is permanent.
//!
//! A connector's test implements [`ConformanceCase`] and calls [`run`]. A part that cannot
//! apply to a channel (web chat has no webhook; email delivers over SMTP, not to an HTTP
//! platform) is skipped with the reason the case gives in [`ConformanceCase::skip`], printed
//! with the test's output; `docs/specs/connector.md` lists which channels skip what and why.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use switchboard_model::{
    ChannelKind, Connector, ConnectorFactory, ContactRef, DeliveryError, Inbound, OutboundMessage,
    RawInbound, VerifyError,
};

use crate::{FakePlatform, FakeResponse, RecordedRequest};

/// The `api_base_url` fixtures are normalized with.
pub const FIXTURE_API_BASE_URL: &str = "https://platform.test";

/// A part of the suite, which a case may skip with a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Signed webhook requests verify; tampered, unsigned and stale ones do not.
    Verification,
    /// Every fixture normalizes to its committed expectation.
    Fixtures,
    /// `deliver` against a fake HTTP platform: the documented call, 429, 5xx, 400, no answer.
    Delivery,
}

/// What the suite needs to know about one connector. The signing methods are only called when
/// [`Part::Verification`] or [`Part::Fixtures`] runs, the delivery methods (from
/// [`Self::outbound`] on) when [`Part::Delivery`] does.
pub trait ConformanceCase {
    fn factory(&self) -> Arc<dyn ConnectorFactory>;

    /// An inbox config whose platform API is at `api_base_url`.
    fn config(&self, api_base_url: &str) -> Value;

    /// The headers with which the platform would send `body` at `at`.
    fn sign(&self, _body: &[u8], _at: DateTime<Utc>) -> HeaderMap {
        panic!("a case that does not skip verification and fixtures says how its platform signs")
    }

    /// The header that carries the signature or secret.
    fn signature_header(&self) -> &'static str {
        panic!("a case that does not skip verification names its signature header")
    }

    /// Whether the signature covers the body (Telegram's secret token does not).
    fn signs_body(&self) -> bool {
        true
    }

    /// How far a request's own timestamp may be from now (Slack: 5 minutes); `None` when the
    /// platform's requests carry no time to check.
    fn replay_window(&self) -> Option<chrono::Duration> {
        None
    }

    /// Why `part` cannot apply to this channel, when it cannot; the suite then skips it.
    fn skip(&self, _part: Part) -> Option<&'static str> {
        None
    }

    /// The extension of the fixtures' payload files (`NAME.json` beside `NAME.expected.json`).
    fn fixture_extension(&self) -> &'static str {
        "json"
    }

    /// A message to send.
    fn outbound(&self) -> OutboundMessage {
        panic!("a case that does not skip delivery says what it sends")
    }

    /// The platform's answer to a send it accepted, and the channel message id the receipt
    /// must then hold.
    fn accepted(&self) -> (FakeResponse, String) {
        panic!("a case that does not skip delivery says how its platform accepts a send")
    }

    /// Asserts that `request` is the documented send call for [`Self::outbound`], credentials
    /// included.
    fn check_send(&self, _request: &RecordedRequest) {
        panic!("a case that does not skip delivery checks its send call")
    }

    /// The platform's rate-limit answer and the delay it asks for.
    fn rate_limited(&self) -> (FakeResponse, Option<Duration>) {
        panic!("a case that does not skip delivery says how its platform limits")
    }

    /// The platform's answer to a request it will never accept.
    fn rejected(&self) -> FakeResponse {
        panic!("a case that does not skip delivery says how its platform refuses")
    }
}

/// `fixtures/<channel>` of this workspace.
pub fn fixtures(channel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(channel)
}

/// A fake platform answering [`ConformanceCase::accepted`] by default, and the case's connector
/// pointed at it.
pub async fn connect(case: &dyn ConformanceCase) -> (FakePlatform, Arc<dyn Connector>) {
    let platform = FakePlatform::start(case.accepted().0).await;
    let connector = case
        .factory()
        .build("inbox", &case.config(&platform.url()))
        .expect("the connector builds from its config");
    (platform, connector)
}

/// The case's connector pointed at a port nobody listens on.
pub fn unreachable(case: &dyn ConformanceCase) -> Arc<dyn Connector> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead_url = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    case.factory()
        .build("inbox", &case.config(&dead_url))
        .expect("builds")
}

/// An outbound message with sensible defaults, for cases to adjust.
pub fn outbound_message(
    channel: ChannelKind,
    thread_key: &str,
    recipient: &str,
) -> OutboundMessage {
    OutboundMessage {
        message_id: "0190b8f0-0000-7000-8000-000000000001".into(),
        org_id: "org".into(),
        inbox_id: "inbox".into(),
        conversation_id: "conversation".into(),
        channel,
        thread_key: thread_key.into(),
        recipient: ContactRef {
            external_id: recipient.into(),
            ..ContactRef::default()
        },
        text: "Your parcel left the depot this morning.".into(),
        attachments: Vec::new(),
        files: Vec::new(),
        subject: None,
        in_reply_to: None,
        customer_last_message_at: Some(Utc::now() - chrono::Duration::minutes(5)),
        author_name: None,
        attempt: 1,
    }
}

/// Runs the whole suite; `fixtures` is the connector's folder of payloads (see [`check_fixtures`]).
pub async fn run(case: &dyn ConformanceCase, fixtures: &Path) {
    let channel = case.factory().channel();
    let applies = |part: Part| match case.skip(part) {
        None => true,
        Some(reason) => {
            eprintln!("conformance: {channel:?} skips {part:?}: {reason}");
            false
        }
    };
    // A fixed base URL, so that expectations holding platform URLs do not change per run.
    let fixed = case
        .factory()
        .build("inbox", &case.config(FIXTURE_API_BASE_URL))
        .expect("the connector builds from its config");
    if applies(Part::Verification) {
        check_verification(case, fixed.as_ref());
    } else {
        check_no_webhook(fixed.as_ref());
    }
    if applies(Part::Fixtures) {
        check_fixtures(case, fixed.as_ref(), fixtures);
    }
    if applies(Part::Delivery) {
        let (platform, connector) = connect(case).await;
        check_delivery(case, connector.as_ref(), &platform).await;
    }
    check_missing_config(case);
}

/// A channel without a webhook accepts no webhook request, however it is dressed.
pub fn check_no_webhook(connector: &dyn Connector) {
    let body = br#"{"conformance":"a webhook this channel does not have"}"#;
    assert!(
        verify(connector, &HeaderMap::new(), body).is_err(),
        "a channel without a webhook must refuse every webhook request"
    );
}

fn verify(connector: &dyn Connector, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    connector.verify(&RawInbound {
        headers,
        query: None,
        body,
    })
}

/// Genuine requests verify; tampered, unsigned and stale ones do not.
pub fn check_verification(case: &dyn ConformanceCase, connector: &dyn Connector) {
    let body = br#"{"conformance":"a body the platform signed"}"#;
    let now = Utc::now();
    let headers = case.sign(body, now);
    verify(connector, &headers, body).expect("a genuine request verifies");

    if case.signs_body() {
        let mut tampered = body.to_vec();
        tampered[3] ^= 0x01;
        assert!(
            matches!(
                verify(connector, &headers, &tampered),
                Err(VerifyError::BadSignature)
            ),
            "a tampered body must fail"
        );
    }

    let mut forged = headers.clone();
    let original = headers
        .get(case.signature_header())
        .and_then(|value| value.to_str().ok())
        .expect("sign() sets the signature header")
        .to_owned();
    let last = original.chars().last().expect("a non-empty signature");
    let flipped = if last == '0' { '1' } else { '0' };
    let forged_value = format!("{}{flipped}", &original[..original.len() - last.len_utf8()]);
    forged.insert(
        case.signature_header(),
        HeaderValue::from_str(&forged_value).expect("a header value"),
    );
    assert!(
        matches!(
            verify(connector, &forged, body),
            Err(VerifyError::BadSignature)
        ),
        "a forged signature must fail"
    );

    let mut unsigned = headers.clone();
    unsigned.remove(case.signature_header());
    assert!(
        matches!(
            verify(connector, &unsigned, body),
            Err(VerifyError::Missing(_))
        ),
        "a request without a signature must fail"
    );

    if let Some(window) = case.replay_window() {
        let slack = chrono::Duration::seconds(30);
        for at in [now - window - slack, now + window + slack] {
            let stale = case.sign(body, at);
            assert!(
                matches!(verify(connector, &stale, body), Err(VerifyError::Stale)),
                "a request signed at {at} must be refused as stale"
            );
        }
        let recent = case.sign(body, now - window + slack);
        verify(connector, &recent, body).expect("a request within the window verifies");
    }
}

/// What a normalized request is, as committed JSON. A file's bytes show as their count and
/// SHA-256, not as thousands of numbers.
pub fn render(inbound: &Inbound) -> Value {
    let mut rendered = match inbound {
        Inbound::Handshake { response_body } => json!({ "handshake": response_body }),
        Inbound::Events(events) => json!({ "events": events }),
    };
    summarize_bytes(&mut rendered);
    rendered
}

fn summarize_bytes(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                let bytes: Option<Vec<u8>> = match field {
                    Value::Array(items) if name == "bytes" => items
                        .iter()
                        .map(|item| item.as_u64().and_then(|byte| u8::try_from(byte).ok()))
                        .collect(),
                    _ => None,
                };
                match bytes {
                    Some(bytes) => {
                        let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&bytes)
                            .iter()
                            .map(|byte| format!("{byte:02x}"))
                            .collect();
                        *field = json!(format!("{} bytes, sha256 {digest}", bytes.len()));
                    }
                    None => summarize_bytes(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(summarize_bytes),
        _ => {}
    }
}

/// The payload files in `dir` (`NAME.json`, or the case's extension), in name order, without
/// the `NAME.expected.json` beside them; at least one.
pub fn payloads(case: &dyn ConformanceCase, dir: &Path) -> Vec<PathBuf> {
    let extension = format!(".{}", case.fixture_extension());
    let mut payloads: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path.to_string_lossy();
            name.ends_with(&extension) && !name.ends_with(".expected.json")
        })
        .collect();
    payloads.sort();
    assert!(!payloads.is_empty(), "no fixtures in {}", dir.display());
    payloads
}

/// Every `NAME.json` in `dir` is signed, verified and normalized, and must render to
/// `NAME.expected.json` beside it. `UPDATE_EXPECT=1` writes the expectations instead (review
/// the diff before committing).
pub fn check_fixtures(case: &dyn ConformanceCase, connector: &dyn Connector, dir: &Path) {
    let update = std::env::var("UPDATE_EXPECT").as_deref() == Ok("1");
    let mut mismatches = Vec::new();
    for path in payloads(case, dir) {
        let body = std::fs::read(&path).expect("a readable fixture");
        let headers = case.sign(&body, Utc::now());
        let request = RawInbound {
            headers: &headers,
            query: None,
            body: &body,
        };
        connector
            .verify(&request)
            .unwrap_or_else(|err| panic!("{} does not verify: {err}", path.display()));
        let actual = match connector.normalize(&request) {
            Ok(inbound) => render(&inbound),
            Err(err) => json!({ "error": err.to_string() }),
        };
        let expected_path = path.with_extension("expected.json");
        if update {
            let text = serde_json::to_string_pretty(&actual).expect("serializes") + "\n";
            std::fs::write(&expected_path, text).expect("writes the expectation");
            continue;
        }
        let expected: Value = std::fs::read_to_string(&expected_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        if expected != actual {
            mismatches.push(format!(
                "{}:\n  expected {expected}\n  actual   {actual}",
                path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "fixtures differ from their expectations (UPDATE_EXPECT=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

/// The documented send call; a 429 is retriable with the platform's delay; a 400 is permanent.
pub async fn check_delivery(
    case: &dyn ConformanceCase,
    connector: &dyn Connector,
    platform: &FakePlatform,
) {
    let message = case.outbound();
    let (_, expected_id) = case.accepted();
    let receipt = connector
        .deliver(&message)
        .await
        .expect("the platform accepted the message");
    assert_eq!(
        receipt.channel_message_id.as_deref(),
        Some(expected_id.as_str())
    );
    let requests = platform.requests();
    assert_eq!(requests.len(), 1, "one send call");
    case.check_send(&requests[0]);

    let (limited, delay) = case.rate_limited();
    platform.respond_next(limited);
    match connector.deliver(&message).await {
        Err(DeliveryError::Retriable { retry_after, .. }) => assert_eq!(retry_after, delay),
        other => panic!("a rate limit must be retriable, got {other:?}"),
    }

    platform.respond_next(FakeResponse::json(503, json!({})));
    assert!(
        matches!(
            connector.deliver(&message).await,
            Err(DeliveryError::Retriable { .. })
        ),
        "a 5xx must be retriable"
    );

    platform.respond_next(case.rejected());
    match connector.deliver(&message).await {
        Err(DeliveryError::Permanent { reason }) => assert!(!reason.is_empty()),
        other => panic!("a rejected request must be permanent, got {other:?}"),
    }

    // Nobody listens on this port: a connection error is worth retrying.
    assert!(
        matches!(
            unreachable(case).deliver(&message).await,
            Err(DeliveryError::Retriable { .. })
        ),
        "an unreachable platform must be retriable"
    );
}

/// A config without its secrets is refused with a reason, not a panic.
pub fn check_missing_config(case: &dyn ConformanceCase) {
    let factory = case.factory();
    let err = factory
        .build("inbox", &json!({}))
        .err()
        .expect("an empty config is refused");
    assert_eq!(err.channel, factory.channel());
    assert!(!err.reason.is_empty());
    assert!(factory.build("inbox", &json!("not an object")).is_err());
}

/// Every fixture in `dir` and the ticket id its webhook names, or a piece of the reason it
/// names none: a helpdesk's webhooks only name a ticket, which the hub then reads. Every
/// fixture has a row (by its name without the extension), so that a new one cannot go
/// unchecked.
pub fn check_webhook_tickets(
    case: &dyn ConformanceCase,
    dir: &Path,
    tickets: &[(&str, Result<&str, &str>)],
) {
    let connector = case
        .factory()
        .build("inbox", &case.config(FIXTURE_API_BASE_URL))
        .expect("builds");
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let extension = format!(".{}", case.fixture_extension());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.ends_with(".expected.json"))
        .filter_map(|name| name.strip_suffix(&extension).map(str::to_owned))
        .collect();
    names.sort();
    let listed: Vec<&str> = tickets.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, listed, "every fixture has its expected ticket");
    for (name, expected) in tickets {
        let body = std::fs::read(dir.join(format!("{name}{extension}"))).expect("a fixture");
        let headers = case.sign(&body, Utc::now());
        let request = RawInbound {
            headers: &headers,
            query: None,
            body: &body,
        };
        connector.verify(&request).expect("verifies");
        match (helpdesk.webhook_ticket(&request), expected) {
            (Ok(id), Ok(want)) => assert_eq!(id, *want, "{name}"),
            (Err(err), Err(want)) => assert!(err.0.contains(want), "{name}: {err}"),
            (actual, _) => panic!("{name}: expected {expected:?}, got {actual:?}"),
        }
    }
}
