//! The Freshdesk connector's API calls against a fake Freshdesk: what it asks (method, path,
//! query, authentication, body) and what it makes of the answers, errors and rate limits
//! included.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard_freshdesk::FreshdeskFactory;
use switchboard_model::{
    ChannelKind, Connector, ConnectorFactory, ContactRef, CreatedTicket, DeliveryError,
    InboundFile, NewComment, NewTicket, Priority, RemoteComment, RemoteTicket, TicketStatus,
};
use switchboard_testkit::{
    FakeFreshdesk, FakePlatform, FakeResponse, RecordedRequest, conformance,
    fake_freshdesk::multipart_parts,
};

const API_KEY: &str = "Fd9kQ2mXcV7bN1pL4tZ8";
/// `Basic base64("{API_KEY}:X")`.
const AUTHORIZATION: &str = "Basic RmQ5a1EybVhjVjdiTjFwTDR0Wjg6WA==";
const OUR_AGENT: u64 = 80000000777;
const CONVERSATION: &str = "0190b8f0-0000-7000-8000-0000000000aa";

async fn freshdesk() -> (FakePlatform, Arc<dyn Connector>) {
    let platform = FakePlatform::start(FakeResponse::json(
        404,
        json!({ "code": "unscripted", "message": "the test did not expect this call" }),
    ))
    .await;
    let connector = build(&platform.url());
    (platform, connector)
}

fn build(base_url: &str) -> Arc<dyn Connector> {
    FreshdeskFactory
        .build(
            "inbox",
            &json!({ "base_url": base_url, "api_key": API_KEY, "webhook_secret": "wh" }),
        )
        .expect("builds")
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/freshdesk/api/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn ok(body: Value) -> FakeResponse {
    FakeResponse::json(200, body)
}

fn created(id: u64) -> FakeResponse {
    FakeResponse::json(
        201,
        json!({ "id": id, "created_at": "2024-05-01T10:00:00Z" }),
    )
}

/// The path without its query.
fn path(request: &RecordedRequest) -> &str {
    request.path.split('?').next().unwrap_or_default()
}

/// The query's pairs, decoded, in order.
fn query(request: &RecordedRequest) -> Vec<(String, String)> {
    let query = request.path.split_once('?').map_or("", |(_, query)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// `(method, path with query)` of every request, for the order of calls at a glance.
fn calls(platform: &FakePlatform) -> Vec<(String, String)> {
    platform
        .requests()
        .iter()
        .map(|request| (request.method.to_string(), request.path.clone()))
        .collect()
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

#[tokio::test]
async fn me_is_the_api_key_agent_and_is_asked_once() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    platform.respond_next(ok(json!({
        "available": true, "occasional": false, "id": OUR_AGENT, "ticket_scope": 1,
        "contact": { "active": true, "email": "bot@parcelo.example", "name": "Parcelo Hub" }
    })));
    assert_eq!(helpdesk.me().await.expect("me"), OUR_AGENT.to_string());
    assert_eq!(helpdesk.me().await.expect("cached"), OUR_AGENT.to_string());
    let requests = platform.requests();
    assert_eq!(requests.len(), 1, "cached after the first answer");
    assert_eq!(requests[0].method, http::Method::GET);
    assert_eq!(requests[0].path, "/api/v2/agents/me");
    assert_eq!(requests[0].header("authorization"), Some(AUTHORIZATION));
    assert_eq!(requests[0].header("accept"), Some("application/json"));
}

#[tokio::test]
async fn a_ticket_is_read_with_its_requester_and_every_page_of_conversations() {
    let (platform, connector) = freshdesk().await;
    platform.respond_to(
        "/api/v2/tickets/1042?include=requester",
        ok(fixture("ticket_1042.json")),
    );
    platform.respond_to(
        "/api/v2/tickets/1042/conversations?per_page=100&page=1",
        ok(fixture("conversations_1042_page1.json")).with_header(
            "link",
            "<https://acme.freshdesk.com/api/v2/tickets/1042/conversations?per_page=100&page=2>; rel=\"next\"",
        ),
    );
    platform.respond_to(
        "/api/v2/tickets/1042/conversations?per_page=100&page=2",
        ok(fixture("conversations_1042_page2.json")),
    );
    let ticket = connector
        .helpdesk()
        .expect("a helpdesk")
        .ticket("1042")
        .await
        .expect("read")
        .expect("exists");
    let requester = "80012345678".to_string();
    let agent = OUR_AGENT.to_string();
    assert_eq!(
        ticket,
        RemoteTicket {
            id: "1042".into(),
            subject: Some("Locker 7 at Central Station will not open".into()),
            status: TicketStatus::Pending,
            priority: Some(Priority::Normal),
            requester: ContactRef {
                external_id: requester.clone(),
                name: Some("Mara Lindqvist".into()),
                email: Some("mara.lindqvist@example.com".into()),
                phone: Some("+46 8 555 0142".into()),
            },
            external_id: Some(CONVERSATION.into()),
            updated_at: at("2024-05-01T09:30:41Z"),
            comments: vec![
                RemoteComment {
                    id: "ticket-1042".into(),
                    author_id: requester.clone(),
                    public: true,
                    body: "Hello,\nmy code 4471 does not open locker 7.".into(),
                    created_at: at("2024-05-01T08:14:03Z"),
                    attachments: Vec::new(),
                },
                RemoteComment {
                    id: "80055500001".into(),
                    author_id: agent.clone(),
                    public: true,
                    body: "Sorry about that! Could you tell us the parcel number?".into(),
                    created_at: at("2024-05-01T08:20:00Z"),
                    attachments: Vec::new(),
                },
                RemoteComment {
                    id: "80055500002".into(),
                    author_id: agent,
                    public: false,
                    body: "Checked the locker log: the door sensor on 7 is stuck.".into(),
                    created_at: at("2024-05-01T08:25:10Z"),
                    attachments: Vec::new(),
                },
                RemoteComment {
                    id: "80055500003".into(),
                    author_id: requester,
                    public: true,
                    body: "It is PX-88120.".into(),
                    created_at: at("2024-05-01T09:30:41Z"),
                    attachments: Vec::new(),
                },
            ],
        }
    );
    assert_eq!(
        calls(&platform),
        [
            call("GET", "/api/v2/tickets/1042?include=requester"),
            call(
                "GET",
                "/api/v2/tickets/1042/conversations?per_page=100&page=1"
            ),
            call(
                "GET",
                "/api/v2/tickets/1042/conversations?per_page=100&page=2"
            ),
        ]
    );
    assert!(
        platform
            .requests()
            .iter()
            .all(|request| request.header("authorization") == Some(AUTHORIZATION))
    );
}

#[tokio::test]
async fn full_pages_of_conversations_are_followed_without_a_link_header() {
    let (platform, connector) = freshdesk().await;
    // A ticket opened by an agent on the requester's behalf: no requester included, no text.
    platform.respond_next(ok(json!({
        "id": 7, "subject": "Phone call", "status": 6, "requester_id": 80012345600u64,
        "description_text": "  ", "tags": null, "updated_at": "2024-05-01T10:00:00Z"
    })));
    let entry = |id: u64| {
        json!({ "id": id, "body_text": format!("entry {id}"), "private": false, "incoming": true,
                "user_id": 80012345600u64, "created_at": "2024-05-01T10:00:00Z" })
    };
    platform.respond_next(ok(Value::Array((1..=100).map(entry).collect())));
    platform.respond_next(ok(Value::Array((101..=103).map(entry).collect())));
    let ticket = connector
        .helpdesk()
        .expect("a helpdesk")
        .ticket("7")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        ticket.status,
        TicketStatus::Pending,
        "6: waiting on customer"
    );
    assert_eq!(ticket.requester.external_id, "80012345600");
    assert_eq!(ticket.requester.name, None);
    assert_eq!(ticket.external_id, None);
    let ids: Vec<String> = ticket.comments.iter().map(|c| c.id.clone()).collect();
    let expected: Vec<String> = (1..=103).map(|id: u64| id.to_string()).collect();
    assert_eq!(
        ids, expected,
        "no description comment for an empty description"
    );
    assert_eq!(
        calls(&platform)[1..],
        [
            call("GET", "/api/v2/tickets/7/conversations?per_page=100&page=1"),
            call("GET", "/api/v2/tickets/7/conversations?per_page=100&page=2"),
        ]
    );
}

#[tokio::test]
async fn a_missing_deleted_or_spam_ticket_is_none() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    platform.respond_next(FakeResponse::json(404, json!({})));
    assert_eq!(helpdesk.ticket("999").await.expect("answered"), None);
    platform.respond_next(ok(json!({ "id": 998, "status": 5, "deleted": true })));
    assert_eq!(helpdesk.ticket("998").await.expect("answered"), None);
    platform.respond_next(ok(json!({ "id": 996, "status": 2, "spam": true })));
    assert_eq!(helpdesk.ticket("996").await.expect("answered"), None);
    // Deleted between the two calls.
    platform.respond_next(ok(json!({ "id": 997, "status": 2 })));
    platform.respond_next(FakeResponse::json(404, json!({})));
    assert_eq!(helpdesk.ticket("997").await.expect("answered"), None);
    assert_eq!(
        calls(&platform),
        [
            call("GET", "/api/v2/tickets/999?include=requester"),
            call("GET", "/api/v2/tickets/998?include=requester"),
            call("GET", "/api/v2/tickets/996?include=requester"),
            call("GET", "/api/v2/tickets/997?include=requester"),
            call(
                "GET",
                "/api/v2/tickets/997/conversations?per_page=100&page=1"
            ),
        ]
    );
    // An id that is not a number never reaches a URL.
    assert!(matches!(
        helpdesk.ticket("../agents/me").await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(platform.requests().len(), 5);
}

fn new_ticket(email: Option<&str>) -> NewTicket {
    NewTicket {
        external_id: CONVERSATION.into(),
        subject: "Refund for parcel PX-88120".into(),
        requester: ContactRef {
            external_id: "5550001".into(),
            name: Some("Mara Lindqvist".into()),
            email: email.map(str::to_owned),
            phone: None,
        },
        note: "Customer asked for a refund.\nThe assistant could not help <escalated>.".into(),
        priority: Priority::High,
        tags: vec!["vip".into()],
    }
}

/// Opens (or finds) the ticket of [`new_ticket`] for a customer with an email.
async fn create_for_mara(connector: &dyn Connector) -> CreatedTicket {
    connector
        .helpdesk()
        .expect("a helpdesk")
        .create_ticket(&new_ticket(Some("mara.lindqvist@example.com")))
        .await
        .expect("opened or found")
}

const NOTE_HTML: &str =
    "Customer asked for a refund.<br>The assistant could not help &lt;escalated&gt;.";

fn check_search(request: &RecordedRequest) {
    assert_eq!(request.method, http::Method::GET);
    assert_eq!(path(request), "/api/v2/search/tickets");
    assert_eq!(
        query(request),
        pairs(&[("query", &format!("\"tag:'switchboard-{CONVERSATION}'\""))])
    );
    assert!(
        request.path.contains("%22tag%3A%27switchboard-"),
        "encoded: {}",
        request.path
    );
}

#[tokio::test]
async fn a_retried_create_answers_the_ticket_already_tagged_without_writing() {
    let (platform, connector) = freshdesk().await;
    platform.respond_next(ok(json!({ "total": 2, "results": [
        { "id": 1041, "status": 2, "tags": [format!("switchboard-{CONVERSATION}-old")] },
        { "id": 1042, "status": 2, "tags": ["vip", format!("switchboard-{CONVERSATION}")] }
    ] })));
    platform.respond_next(ok(json!({ "id": OUR_AGENT })));
    // Our handoff note is there (80055500002): the first try got that far.
    platform.respond_next(ok(fixture("conversations_1042_page1.json")));
    let created = create_for_mara(connector.as_ref()).await;
    assert_eq!(
        created,
        CreatedTicket {
            id: "1042".into(),
            comment_ids: vec!["ticket-1042".into(), "80055500002".into()],
        }
    );
    let requests = platform.requests();
    check_search(&requests[0]);
    assert_eq!(
        calls(&platform)[1..],
        [
            call("GET", "/api/v2/agents/me"),
            call(
                "GET",
                "/api/v2/tickets/1042/conversations?per_page=100&page=1"
            ),
        ]
    );
    assert!(
        requests
            .iter()
            .all(|request| request.method == http::Method::GET)
    );
}

#[tokio::test]
async fn a_retried_create_writes_the_note_the_first_try_did_not() {
    let (platform, connector) = freshdesk().await;
    platform.respond_next(ok(json!({ "total": 1, "results": [
        { "id": 1050, "tags": [format!("switchboard-{CONVERSATION}")] }
    ] })));
    platform.respond_next(ok(json!({ "id": OUR_AGENT })));
    platform.respond_next(ok(json!([])));
    platform.respond_next(created(80055500100));
    let created = create_for_mara(connector.as_ref()).await;
    assert_eq!(created.id, "1050");
    assert_eq!(created.comment_ids, ["ticket-1050", "80055500100"]);
    let requests = platform.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[3].path, "/api/v2/tickets/1050/notes");
    assert_eq!(
        requests[3].json(),
        json!({ "body": NOTE_HTML, "private": true })
    );
}

#[tokio::test]
async fn a_new_ticket_is_opened_for_the_email_with_the_note_kept_private() {
    let (platform, connector) = freshdesk().await;
    platform.respond_next(ok(json!({ "total": 0, "results": [] })));
    platform.respond_next(created(1050));
    platform.respond_next(created(80055500100));
    let created = create_for_mara(connector.as_ref()).await;
    assert_eq!(
        created,
        CreatedTicket {
            id: "1050".into(),
            comment_ids: vec!["ticket-1050".into(), "80055500100".into()],
        }
    );
    let requests = platform.requests();
    assert_eq!(requests.len(), 3);
    check_search(&requests[0]);
    assert_eq!(requests[1].method, http::Method::POST);
    assert_eq!(requests[1].path, "/api/v2/tickets");
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[1].json(),
        json!({
            "subject": "Refund for parcel PX-88120",
            "description": "Refund for parcel PX-88120",
            "email": "mara.lindqvist@example.com",
            "name": "Mara Lindqvist",
            "priority": 3,
            "status": 2,
            "tags": ["vip", format!("switchboard-{CONVERSATION}")],
        })
    );
    assert_eq!(requests[2].method, http::Method::POST);
    assert_eq!(requests[2].path, "/api/v2/tickets/1050/notes");
    assert_eq!(
        requests[2].json(),
        json!({ "body": NOTE_HTML, "private": true })
    );
}

#[tokio::test]
async fn a_customer_without_email_becomes_a_contact_by_our_id_first() {
    let (platform, connector) = freshdesk().await;
    platform.respond_next(ok(json!({ "total": 0, "results": [] })));
    platform.respond_next(ok(json!([])));
    platform.respond_next(created(80012349999));
    platform.respond_next(created(1051));
    platform.respond_next(created(80055500101));
    let mut ticket = new_ticket(None);
    ticket.priority = Priority::Normal;
    ticket.tags.clear();
    ticket.subject = "  ".into();
    let created = connector
        .helpdesk()
        .expect("a helpdesk")
        .create_ticket(&ticket)
        .await
        .expect("opened");
    assert_eq!(created.comment_ids, ["ticket-1051", "80055500101"]);
    let requests = platform.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(path(&requests[1]), "/api/v2/contacts");
    assert_eq!(
        query(&requests[1]),
        pairs(&[("unique_external_id", "switchboard:5550001")])
    );
    assert_eq!(requests[2].path, "/api/v2/contacts");
    assert_eq!(
        requests[2].json(),
        json!({ "name": "Mara Lindqvist", "unique_external_id": "switchboard:5550001" })
    );
    assert_eq!(
        requests[3].json(),
        json!({
            "subject": "Conversation escalated from Switchboard",
            "description": "Conversation escalated from Switchboard",
            "requester_id": 80012349999u64,
            "priority": 2,
            "status": 2,
            "tags": [format!("switchboard-{CONVERSATION}")],
        })
    );
    assert_eq!(requests[4].path, "/api/v2/tickets/1051/notes");
}

#[tokio::test]
async fn requesters_are_found_by_email_or_created() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let contact = ContactRef {
        external_id: "mara+parcels@example.com".into(),
        name: None,
        email: Some("mara+parcels@example.com".into()),
        phone: None,
    };
    platform.respond_next(ok(
        json!([{ "id": 80012345678u64, "name": "Mara", "email": "mara+parcels@example.com" }]),
    ));
    assert_eq!(
        helpdesk.requester(&contact).await.expect("found"),
        "80012345678"
    );
    platform.respond_next(ok(json!([])));
    platform.respond_next(created(80012340001));
    assert_eq!(
        helpdesk.requester(&contact).await.expect("created"),
        "80012340001"
    );
    let requests = platform.requests();
    assert_eq!(requests.len(), 3);
    for lookup in [&requests[0], &requests[1]] {
        assert_eq!(lookup.method, http::Method::GET);
        assert_eq!(path(lookup), "/api/v2/contacts");
        assert_eq!(
            query(lookup),
            pairs(&[("email", "mara+parcels@example.com")])
        );
        assert!(
            lookup.path.contains("mara%2Bparcels%40example.com"),
            "{}",
            lookup.path
        );
    }
    assert_eq!(requests[2].method, http::Method::POST);
    assert_eq!(
        requests[2].json(),
        json!({ "name": "mara+parcels@example.com", "email": "mara+parcels@example.com" })
    );
}

#[tokio::test]
async fn comments_are_replies_private_notes_or_the_customers_incoming_notes() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    platform.respond_next(created(80055500201));
    platform.respond_next(created(80055500202));
    platform.respond_next(created(80055500203));
    let comment = |public: bool, author_id: Option<&str>| NewComment {
        body: "Thanks!\nWe will send a courier.".into(),
        public,
        author_id: author_id.map(str::to_owned),
        files: Vec::new(),
    };
    let ids = [
        helpdesk.add_comment("1042", &comment(true, None)).await,
        helpdesk.add_comment("1042", &comment(false, None)).await,
        helpdesk
            .add_comment("1042", &comment(true, Some("80012345678")))
            .await,
    ];
    let ids: Vec<String> = ids.into_iter().map(|id| id.expect("added")).collect();
    assert_eq!(ids, ["80055500201", "80055500202", "80055500203"]);
    let body = "Thanks!<br>We will send a courier.";
    let requests = platform.requests();
    let sent: Vec<(&str, Value)> = requests
        .iter()
        .map(|request| {
            assert_eq!(request.method, http::Method::POST);
            (request.path.as_str(), request.json())
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("/api/v2/tickets/1042/reply", json!({ "body": body })),
            (
                "/api/v2/tickets/1042/notes",
                json!({ "body": body, "private": true })
            ),
            (
                "/api/v2/tickets/1042/notes",
                json!({ "body": body, "private": false, "incoming": true, "user_id": 80012345678u64 })
            ),
        ]
    );
    assert!(matches!(
        helpdesk
            .add_comment("1042", &comment(true, Some("mara")))
            .await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(
        platform.requests().len(),
        3,
        "a bad author id sends nothing"
    );
}

fn file(filename: &str, content_type: &str, bytes: &[u8]) -> InboundFile {
    InboundFile {
        filename: filename.into(),
        content_type: content_type.into(),
        bytes: bytes.to_vec(),
    }
}

fn photo() -> InboundFile {
    file(
        "locker 7.jpg",
        "image/jpeg",
        &[0xff, 0xd8, 0xff, 0xe0, 0x00],
    )
}

fn receipt() -> InboundFile {
    file("receipt.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3")
}

/// `(name, value)` of a text part, `(name, file name, type, bytes)` of a file part.
#[derive(Debug, PartialEq)]
enum Sent {
    Text(String, String),
    File(String, String, String, Vec<u8>),
}

fn text(name: &str, value: &str) -> Sent {
    Sent::Text(name.into(), value.into())
}

fn attached(file: &InboundFile) -> Sent {
    Sent::File(
        "attachments[]".into(),
        file.filename.clone(),
        file.content_type.clone(),
        file.bytes.clone(),
    )
}

/// The parts of a multipart request, in order; panics (in a test) when it is not one.
fn parts(request: &RecordedRequest) -> Vec<Sent> {
    let content_type = request.header("content-type").expect("a content type");
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    multipart_parts(content_type, &request.body)
        .expect("a multipart body")
        .into_iter()
        .map(|part| match part.file_name {
            Some(file_name) => Sent::File(
                part.name,
                file_name,
                part.content_type.unwrap_or_default(),
                part.bytes,
            ),
            None => {
                assert_eq!(part.content_type, None, "a text part has no type");
                let value = String::from_utf8(part.bytes).expect("text");
                Sent::Text(part.name, value)
            }
        })
        .collect()
}

#[tokio::test]
async fn comments_with_files_are_multipart_forms_of_the_same_fields() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    platform.respond_next(created(80055500211));
    platform.respond_next(created(80055500212));
    platform.respond_next(created(80055500213));
    // A name with a line break, which would end the part's header, and a type that is none.
    let odd = file(
        "not\r\nContent-Type: text/html.txt",
        "text/plain; x=\"",
        b"odd",
    );
    let comment = |public: bool, author_id: Option<&str>, files: Vec<InboundFile>| NewComment {
        body: "Thanks!\nHere it is.".into(),
        public,
        author_id: author_id.map(str::to_owned),
        files,
    };
    let ids = [
        helpdesk
            .add_comment("1042", &comment(true, None, vec![photo(), receipt()]))
            .await,
        helpdesk
            .add_comment("1042", &comment(false, None, vec![receipt()]))
            .await,
        helpdesk
            .add_comment("1042", &comment(true, Some("80012345678"), vec![odd]))
            .await,
    ];
    let ids: Vec<String> = ids.into_iter().map(|id| id.expect("added")).collect();
    assert_eq!(ids, ["80055500211", "80055500212", "80055500213"]);
    let body = "Thanks!<br>Here it is.";
    let requests = platform.requests();
    for request in &requests {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.header("authorization"), Some(AUTHORIZATION));
        assert_eq!(request.header("accept"), Some("application/json"));
    }
    assert_eq!(requests[0].path, "/api/v2/tickets/1042/reply");
    assert_eq!(
        parts(&requests[0]),
        [text("body", body), attached(&photo()), attached(&receipt())]
    );
    assert_eq!(requests[1].path, "/api/v2/tickets/1042/notes");
    assert_eq!(
        parts(&requests[1]),
        [
            text("body", body),
            text("private", "true"),
            attached(&receipt())
        ]
    );
    assert_eq!(requests[2].path, "/api/v2/tickets/1042/notes");
    assert_eq!(
        parts(&requests[2]),
        [
            text("body", body),
            text("incoming", "true"),
            text("private", "false"),
            text("user_id", "80012345678"),
            Sent::File(
                "attachments[]".into(),
                "notContent-Type: text/html.txt".into(),
                "application/octet-stream".into(),
                b"odd".to_vec()
            ),
        ]
    );
    // The bytes on the wire, not only as the fake's parser reads them.
    let wire = &requests[1].body;
    let head = b"Content-Disposition: form-data; name=\"attachments[]\"; filename=\"receipt.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n%\xe2\xe3\r\n--";
    assert!(
        wire.windows(head.len()).any(|window| window == head),
        "{}",
        String::from_utf8_lossy(wire)
    );
}

#[tokio::test]
async fn more_than_20_mb_of_files_is_refused_before_anything_is_sent() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let half = vec![0u8; 10 * 1024 * 1024];
    let mut over = half.clone();
    over.push(0);
    let comment = NewComment {
        body: "Scans attached.".into(),
        public: false,
        author_id: None,
        files: vec![
            file("scan-1.tiff", "image/tiff", &half),
            file("scan-2.tiff", "image/tiff", &over),
        ],
    };
    match helpdesk.add_comment("1042", &comment).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("20 MB"), "{reason}")
        }
        other => panic!("over the limit is permanent, got {other:?}"),
    }
    assert!(platform.requests().is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_refused_multipart_write_is_classified_like_any_other() {
    for (status, retriable) in [(413, false), (400, false), (429, true), (502, true)] {
        let (platform, connector) = freshdesk().await;
        platform.respond_next(
            FakeResponse::json(status, json!({ "message": "refused" }))
                .with_header("retry-after", "2"),
        );
        let comment = NewComment {
            body: "Photo.".into(),
            public: true,
            author_id: None,
            files: vec![photo()],
        };
        let result = connector
            .helpdesk()
            .expect("a helpdesk")
            .add_comment("1042", &comment)
            .await;
        match (result, retriable) {
            (Err(DeliveryError::Retriable { retry_after, .. }), true) => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)), "HTTP {status}")
            }
            (Err(DeliveryError::Permanent { reason }), false) => {
                assert!(reason.contains(&status.to_string()), "{reason}")
            }
            (other, _) => panic!("HTTP {status}: got {other:?}"),
        }
        assert_eq!(platform.requests().len(), 1, "HTTP {status}: sent once");
    }
}

#[tokio::test]
async fn files_reach_a_freshdesk_account_and_read_back_as_its_attachments() {
    let fake = FakeFreshdesk::start().await;
    let connector = FreshdeskFactory
        .build("inbox", &fake.config("wh", false))
        .expect("builds");
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let ticket = fake.customer_ticket("Mara", "mara@example.test", "Locker 7", "It is stuck.");
    let id = switchboard_testkit::helpdesk::add_comment_with_files(
        helpdesk,
        &ticket.to_string(),
        "The scan and the receipt.",
        false,
        vec![photo(), receipt()],
    )
    .await;
    let entry = fake
        .ticket(ticket)
        .expect("the ticket")
        .conversations
        .into_iter()
        .find(|entry| entry.id.to_string() == id)
        .expect("the note");
    assert!(entry.private);
    let receipt_id = entry.attachments[1].id;
    let stored: Vec<(String, String, Vec<u8>)> = entry
        .attachments
        .into_iter()
        .map(|file| (file.name, file.content_type, file.bytes))
        .collect();
    let expected: Vec<(String, String, Vec<u8>)> = [photo(), receipt()]
        .into_iter()
        .map(|file| (file.filename, file.content_type, file.bytes))
        .collect();
    assert_eq!(stored, expected);

    let attachment_url = format!("{}/attachments/{receipt_id}", fake.base_url);
    switchboard_testkit::helpdesk::check_attachment_reads_back(
        helpdesk,
        &ticket.to_string(),
        &id,
        1,
        &receipt(),
        &attachment_url,
    )
    .await;
}

#[tokio::test]
async fn statuses_are_set_with_a_put() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    for status in [TicketStatus::Solved, TicketStatus::Hold, TicketStatus::New] {
        platform.respond_next(ok(json!({ "id": 1042, "status": 4 })));
        helpdesk.set_status("1042", status).await.expect("set");
    }
    let sent: Vec<Value> = platform
        .requests()
        .iter()
        .map(|request| {
            assert_eq!(request.method, http::Method::PUT);
            assert_eq!(request.path, "/api/v2/tickets/1042");
            request.json()
        })
        .collect();
    assert_eq!(
        sent,
        [
            json!({ "status": 4 }),
            json!({ "status": 3 }),
            json!({ "status": 2 })
        ]
    );
}

#[tokio::test]
async fn changed_tickets_are_polled_from_two_minutes_before_the_cursor() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let start = at("2024-04-01T00:00:00Z").expect("a time");
    platform.respond_next(ok(fixture("tickets_updated_since.json")));
    let changed = helpdesk
        .changed(Some("2024-05-01T10:00:00Z"), start)
        .await
        .expect("polled");
    assert_eq!(changed.ticket_ids, ["1038", "1042", "1045"]);
    assert_eq!(changed.cursor.as_deref(), Some("2024-05-01T10:07:45Z"));
    assert!(!changed.more);
    let request = &platform.requests()[0];
    assert_eq!(request.method, http::Method::GET);
    assert_eq!(path(request), "/api/v2/tickets");
    assert_eq!(
        query(request),
        pairs(&[
            ("updated_since", "2024-05-01T09:58:00Z"),
            ("order_by", "updated_at"),
            ("order_type", "asc"),
            ("per_page", "100"),
            ("page", "1"),
        ])
    );

    // Nothing new: the cursor stays; without a cursor, the poll starts at `start`.
    platform.respond_next(ok(json!([])));
    let changed = helpdesk
        .changed(Some("2024-05-01T10:07:45Z"), start)
        .await
        .expect("polled");
    assert_eq!(changed.cursor.as_deref(), Some("2024-05-01T10:07:45Z"));
    assert!(changed.ticket_ids.is_empty() && !changed.more);
    platform.respond_next(ok(json!([])));
    let changed = helpdesk.changed(None, start).await.expect("polled");
    assert_eq!(changed.cursor, None);
    assert_eq!(
        query(&platform.requests()[2])[0],
        (
            "updated_since".to_string(),
            "2024-04-01T00:00:00Z".to_string()
        )
    );
}

#[tokio::test]
async fn a_full_page_says_more_and_a_burst_inside_the_overlap_is_paged() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let start = at("2024-04-01T00:00:00Z").expect("a time");
    let page = |first_second: u32| {
        Value::Array(
            (0..100)
                .map(|i| {
                    let second = first_second + i;
                    json!({ "id": 2000 + second, "status": 2,
                            "updated_at": format!("2024-05-01T10:{:02}:{:02}Z", second / 60, second % 60) })
                })
                .collect(),
        )
    };
    platform.respond_next(ok(page(0)));
    let changed = helpdesk
        .changed(Some("2024-05-01T09:00:00Z"), start)
        .await
        .expect("polled");
    assert_eq!(changed.ticket_ids.len(), 100);
    assert!(changed.more, "a full page: more now");
    assert_eq!(changed.cursor.as_deref(), Some("2024-05-01T10:01:39Z"));

    // A bulk update: a full page, all within the overlap of the cursor.
    platform.respond_next(ok(page(0)));
    let changed = helpdesk
        .changed(Some("2024-05-01T10:01:39Z"), start)
        .await
        .expect("polled");
    assert!(changed.more);
    let cursor = changed.cursor.expect("a cursor");
    assert_eq!(cursor, "2024-05-01T10:01:39Z#page=2");
    platform.respond_next(ok(
        json!([{ "id": 3000, "updated_at": "2024-05-01T10:02:00Z" }]),
    ));
    let changed = helpdesk
        .changed(Some(&cursor), start)
        .await
        .expect("polled");
    assert_eq!(changed.ticket_ids, ["3000"]);
    assert_eq!(changed.cursor.as_deref(), Some("2024-05-01T10:02:00Z"));
    assert!(!changed.more);
    let requests = platform.requests();
    let asked = |index: usize| {
        let query = query(&requests[index]);
        (query[0].1.clone(), query[4].1.clone())
    };
    assert_eq!(asked(1), ("2024-05-01T09:59:39Z".into(), "1".into()));
    assert_eq!(asked(2), ("2024-05-01T09:59:39Z".into(), "2".into()));

    assert!(matches!(
        helpdesk.changed(Some("last tuesday"), start).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(platform.requests().len(), 3);
}

#[tokio::test]
async fn answers_are_classified_and_never_show_the_key() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let reply = NewComment {
        body: "On its way.".into(),
        public: true,
        author_id: None,
        files: Vec::new(),
    };

    platform.respond_next(FakeResponse::json(
        500,
        json!({ "message": "Internal error" }),
    ));
    match helpdesk.add_comment("1042", &reply).await {
        Err(DeliveryError::Retriable {
            retry_after,
            reason,
        }) => {
            assert_eq!(retry_after, None);
            assert!(
                reason.contains("POST /tickets/1042/reply") && reason.contains("500"),
                "{reason}"
            );
        }
        other => panic!("a 5xx is retriable, got {other:?}"),
    }

    platform.respond_next(FakeResponse::json(
        400,
        json!({ "description": "Validation failed", "errors": [
            { "field": "body", "message": "It should not be blank", "code": "missing_field" }] }),
    ));
    match helpdesk.add_comment("1042", &reply).await {
        Err(DeliveryError::Permanent { reason }) => assert!(
            reason.contains("Validation failed; body: It should not be blank"),
            "{reason}"
        ),
        other => panic!("a 400 is permanent, got {other:?}"),
    }

    platform.respond_next(FakeResponse::json(
        401,
        json!({ "code": "invalid_credentials", "message": format!("Key {API_KEY} is not valid") }),
    ));
    match helpdesk.me().await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(!reason.contains(API_KEY), "{reason}");
            assert!(reason.contains("Key *** is not valid"), "{reason}");
        }
        other => panic!("a 401 is permanent, got {other:?}"),
    }

    // A 200 that is not JSON (a proxy's page): a read is worth another try; a write was done
    // and is not sent twice.
    let maintenance = FakeResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        body: "<html>maintenance</html>".into(),
    };
    platform.respond_next(maintenance.clone());
    assert!(matches!(
        helpdesk.ticket("1042").await,
        Err(DeliveryError::Retriable { .. })
    ));
    platform.respond_next(maintenance);
    match helpdesk.add_comment("1042", &reply).await {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("not sent again"), "{reason}")
        }
        other => panic!("an accepted write is never retried, got {other:?}"),
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    match build(&dead).helpdesk().expect("a helpdesk").me().await {
        Err(DeliveryError::Retriable { reason, .. }) => {
            assert!(!reason.contains(API_KEY), "{reason}");
            assert!(!reason.contains(&dead), "{reason}");
        }
        other => panic!("an unreachable helpdesk is retriable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_429_is_retriable_after_retry_after_and_holds_later_calls() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    platform.respond_next(
        FakeResponse::json(
            429,
            json!({ "message": "You have exceeded the limit of requests per minute" }),
        )
        .with_header("retry-after", "7"),
    );
    match helpdesk.ticket("1042").await {
        Err(DeliveryError::Retriable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("a 429 is retriable, got {other:?}"),
    }
    // Seven seconds is too long to hold a caller: the next call is refused at once, unsent,
    // with the time left.
    let before = Instant::now();
    match helpdesk.set_status("1042", TicketStatus::Open).await {
        Err(DeliveryError::Retriable { retry_after, .. }) => {
            let left = retry_after.expect("the time left");
            assert!(
                left > Duration::from_secs(5) && left <= Duration::from_secs(7),
                "{left:?}"
            );
        }
        other => panic!("the gate holds the call, got {other:?}"),
    }
    assert!(before.elapsed() < Duration::from_secs(1));
    assert_eq!(
        platform.requests().len(),
        1,
        "nothing sent while the gate is shut"
    );
}

#[tokio::test]
async fn short_pauses_are_waited_out_before_the_next_call() {
    let (platform, connector) = freshdesk().await;
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    // The last call of the minute's allowance: the next waits a second.
    platform.respond_next(ok(json!({ "id": OUR_AGENT })).with_header("x-ratelimit-remaining", "0"));
    helpdesk.me().await.expect("me");
    let before = Instant::now();
    platform.respond_next(
        FakeResponse::json(429, json!({ "message": "slow down" })).with_header("retry-after", "1"),
    );
    let limited = helpdesk.set_status("1042", TicketStatus::Solved).await;
    assert!(
        before.elapsed() >= Duration::from_millis(900),
        "waited for the remaining 0"
    );
    assert!(
        matches!(limited, Err(DeliveryError::Retriable { retry_after: Some(after), .. }) if after == Duration::from_secs(1))
    );
    let before = Instant::now();
    platform.respond_next(ok(json!({ "id": 1042, "status": 4 })));
    helpdesk
        .set_status("1042", TicketStatus::Solved)
        .await
        .expect("sent after the pause");
    assert!(
        before.elapsed() >= Duration::from_millis(900),
        "waited for the 429's Retry-After"
    );
    assert_eq!(platform.requests().len(), 3);
}

#[tokio::test]
async fn deliver_replies_on_the_ticket_of_the_thread() {
    let (platform, connector) = freshdesk().await;
    assert_eq!(connector.channel(), ChannelKind::Freshdesk);
    let mut message = conformance::outbound_message(ChannelKind::Freshdesk, "1042", "80012345678");
    platform.respond_next(created(80055500300));
    let receipt = connector.deliver(&message).await.expect("sent");
    assert_eq!(receipt.channel_message_id.as_deref(), Some("80055500300"));
    assert_eq!(platform.requests()[0].path, "/api/v2/tickets/1042/reply");
    message.thread_key = "not-a-ticket".into();
    assert!(matches!(
        connector.deliver(&message).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(platform.requests().len(), 1);
}
