//! The Zendesk API calls against a fake Zendesk: the requests we send (method, path, query,
//! Basic auth, `Idempotency-Key`, JSON bodies), how answers become the model's helpdesk types,
//! how errors are classified, and the rate gate.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use http::Method;
use serde_json::{Value, json};
use switchboard_model::{
    ChangedTickets, Connector, ConnectorFactory, ContactRef, CreatedTicket, DeliveryError,
    Helpdesk, InboundFile, NewComment, NewTicket, Priority, RemoteComment, TicketStatus,
};
use switchboard_testkit::{FakePlatform, FakeResponse, FakeZendesk, RecordedRequest};
use switchboard_zendesk::ZendeskFactory;

const EMAIL: &str = "integration@acme.test";
const API_TOKEN: &str = "zd-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv";

struct Zendesk {
    platform: FakePlatform,
    connector: Arc<dyn Connector>,
}

impl Zendesk {
    async fn start() -> Zendesk {
        let platform =
            FakePlatform::start(FakeResponse::json(500, json!({ "error": "unscripted" }))).await;
        let connector = connector_at(&platform.url());
        Zendesk {
            platform,
            connector,
        }
    }

    fn helpdesk(&self) -> &dyn Helpdesk {
        self.connector.helpdesk().expect("Zendesk is a helpdesk")
    }

    fn answer(&self, status: u16, body: Value) {
        self.platform.respond_next(FakeResponse::json(status, body));
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        self.platform.requests()
    }
}

fn connector_at(base_url: &str) -> Arc<dyn Connector> {
    ZendeskFactory
        .build(
            "inbox",
            &json!({ "base_url": base_url, "email": EMAIL, "api_token": API_TOKEN,
                     "webhook_secret": "whsec-zendesk" }),
        )
        .expect("builds")
}

/// Everything every call must carry.
fn check_call(request: &RecordedRequest, method: Method, path: &str) {
    assert_eq!(request.method, method, "{}", request.path);
    assert_eq!(request.path, path);
    let credentials = STANDARD.encode(format!("{EMAIL}/token:{API_TOKEN}"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {credentials}").as_str())
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    if method != Method::GET {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    Some(
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc),
    )
}

fn comment(id: u64, author_id: u64, public: bool, plain_body: Option<&str>, at: &str) -> Value {
    let mut comment = json!({ "id": id, "type": "Comment", "author_id": author_id,
        "public": public, "body": "<p>the <b>HTML</b> body</p>", "html_body": "<p>…</p>",
        "attachments": [], "created_at": at });
    if let Some(plain) = plain_body {
        comment["plain_body"] = json!(plain);
    }
    comment
}

#[tokio::test]
async fn me_is_asked_once_it_has_answered() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(503, json!({ "error": "Service unavailable" }));
    assert!(matches!(
        zendesk.helpdesk().me().await,
        Err(DeliveryError::Retriable { .. })
    ));
    zendesk.answer(
        200,
        json!({ "user": { "id": 4242, "name": "Switchboard", "email": EMAIL, "role": "agent" } }),
    );
    assert_eq!(zendesk.helpdesk().me().await.expect("me"), "4242");
    assert_eq!(zendesk.helpdesk().me().await.expect("me"), "4242");
    let requests = zendesk.requests();
    assert_eq!(requests.len(), 2, "a failure is not cached, a success is");
    for request in &requests {
        check_call(request, Method::GET, "/api/v2/users/me.json");
    }
}

#[tokio::test]
async fn a_ticket_comes_with_its_requester_and_every_page_of_comments() {
    let zendesk = Zendesk::start().await;
    let url = zendesk.platform.url();
    zendesk.answer(
        200,
        json!({
            "ticket": { "id": 5158, "subject": "Locker 12 will not open", "status": "hold",
                "priority": "urgent",
                        "requester_id": 901, "submitter_id": 901, "assignee_id": 4242,
                        "external_id": "0190b8f0-0000-7000-8000-00000000c0de",
                        "updated_at": "2024-05-02T09:30:00Z", "tags": ["locker"] },
            "users": [
                { "id": 4242, "name": "Switchboard", "email": EMAIL },
                { "id": 901, "name": "Maria Lopez", "email": "maria@example.test", "phone": null }
            ]
        }),
    );
    zendesk.answer(
        200,
        json!({
            "comments": [
                comment(7001, 901, true, Some("Locker 12 will not open."), "2024-05-02T09:00:00Z"),
                comment(7002, 4242, false, None, "2024-05-02T09:10:00Z"),
            ],
            "meta": { "has_more": true, "after_cursor": "xyz", "before_cursor": "abc" },
            "links": { "next": format!("{url}/api/v2/tickets/5158/comments.json?page%5Bafter%5D=xyz&page%5Bsize%5D=100"),
                       "prev": null }
        }),
    );
    zendesk.answer(
        200,
        json!({
            "comments": [comment(7003, 901, true, Some("Still closed."), "2024-05-02T09:20:00Z")],
            "meta": { "has_more": false, "after_cursor": null, "before_cursor": "def" },
            "links": { "next": format!("{url}/api/v2/tickets/5158/comments.json?page%5Bafter%5D=zzz"), "prev": null }
        }),
    );

    let ticket = zendesk
        .helpdesk()
        .ticket("5158")
        .await
        .expect("read")
        .expect("a ticket");
    assert_eq!(ticket.id, "5158");
    assert_eq!(ticket.subject.as_deref(), Some("Locker 12 will not open"));
    assert_eq!(ticket.status, TicketStatus::Hold);
    assert_eq!(ticket.priority, Some(switchboard_model::Priority::Urgent));
    assert_eq!(
        ticket.external_id.as_deref(),
        Some("0190b8f0-0000-7000-8000-00000000c0de")
    );
    assert_eq!(ticket.updated_at, time("2024-05-02T09:30:00Z"));
    assert_eq!(
        ticket.requester,
        ContactRef {
            external_id: "901".into(),
            name: Some("Maria Lopez".into()),
            email: Some("maria@example.test".into()),
            phone: None,
        }
    );
    assert_eq!(
        ticket.comments,
        vec![
            RemoteComment {
                id: "7001".into(),
                author_id: "901".into(),
                public: true,
                body: "Locker 12 will not open.".into(),
                created_at: time("2024-05-02T09:00:00Z"),
                attachments: Vec::new(),
            },
            RemoteComment {
                id: "7002".into(),
                author_id: "4242".into(),
                public: false,
                body: "<p>the <b>HTML</b> body</p>".into(),
                created_at: time("2024-05-02T09:10:00Z"),
                attachments: Vec::new(),
            },
            RemoteComment {
                id: "7003".into(),
                author_id: "901".into(),
                public: true,
                body: "Still closed.".into(),
                created_at: time("2024-05-02T09:20:00Z"),
                attachments: Vec::new(),
            },
        ]
    );
    let requests = zendesk.requests();
    assert_eq!(requests.len(), 3, "no page after has_more: false");
    check_call(
        &requests[0],
        Method::GET,
        "/api/v2/tickets/5158.json?include=users",
    );
    check_call(
        &requests[1],
        Method::GET,
        "/api/v2/tickets/5158/comments.json?page[size]=100",
    );
    check_call(
        &requests[2],
        Method::GET,
        "/api/v2/tickets/5158/comments.json?page%5Bafter%5D=xyz&page%5Bsize%5D=100",
    );
}

#[tokio::test]
async fn a_next_page_off_the_account_is_never_followed() {
    let zendesk = Zendesk::start().await;
    let url = zendesk.platform.url();
    zendesk.answer(200, json!({ "ticket": { "id": 5158, "status": "open" } }));
    for next in [
        "https://attacker.test/api/v2/tickets/5158/comments.json".to_owned(),
        format!("{url}.attacker.test/api/v2/x"),
    ] {
        zendesk.answer(
            200,
            json!({ "comments": [], "meta": { "has_more": true }, "links": { "next": next } }),
        );
        assert!(matches!(
            zendesk.helpdesk().ticket("5158").await,
            Err(DeliveryError::Permanent { .. })
        ));
        zendesk.answer(200, json!({ "ticket": { "id": 5158, "status": "open" } }));
    }
    assert_eq!(zendesk.requests().len(), 4, "two calls per read, no third");
}

#[tokio::test]
async fn a_missing_ticket_is_none_and_a_bad_id_sends_nothing() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(
        404,
        json!({ "error": "RecordNotFound", "description": "Not found" }),
    );
    assert_eq!(zendesk.helpdesk().ticket("5159").await.expect("read"), None);
    // The ticket exists, but is deleted before its comments are read.
    zendesk.answer(200, json!({ "ticket": { "id": 5160, "status": "open" } }));
    zendesk.answer(404, json!({ "error": "RecordNotFound" }));
    assert_eq!(zendesk.helpdesk().ticket("5160").await.expect("read"), None);
    assert_eq!(zendesk.requests().len(), 3);

    for bad in ["../users/me", "5158?x=1", "", "ticket"] {
        assert!(matches!(
            zendesk.helpdesk().ticket(bad).await,
            Err(DeliveryError::Permanent { .. })
        ));
        assert!(matches!(
            zendesk.helpdesk().set_status(bad, TicketStatus::Open).await,
            Err(DeliveryError::Permanent { .. })
        ));
    }
    assert_eq!(zendesk.requests().len(), 3, "nothing sent for a bad id");
}

fn new_ticket(email: Option<&str>) -> NewTicket {
    NewTicket {
        external_id: "0190b8f0-0000-7000-8000-00000000c0de".into(),
        subject: "Refund for a lost parcel".into(),
        requester: ContactRef {
            external_id: "+34600000000".into(),
            name: Some("Maria Lopez".into()),
            email: email.map(str::to_owned),
            phone: Some("+34600000000".into()),
        },
        note: "Transcript:\nCustomer: my parcel is lost\n\nHandoff: asked for a refund".into(),
        priority: Priority::High,
        tags: vec!["switchboard".into(), "whatsapp".into()],
    }
}

#[tokio::test]
async fn create_ticket_finds_the_requester_then_creates_once() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(
        200,
        json!({ "user": { "id": 901, "name": "Maria Lopez", "email": "maria@example.test" } }),
    );
    zendesk.answer(
        201,
        json!({
            "ticket": { "id": 6001, "status": "new", "external_id": "0190b8f0-0000-7000-8000-00000000c0de" },
            "audit": { "id": 55, "ticket_id": 6001, "events": [
                { "id": 8801, "type": "Comment", "body": "Transcript…", "public": false },
                { "id": 8802, "type": "Create", "field_name": "status", "value": "new" },
                { "id": 8803, "type": "Create", "field_name": "priority", "value": "high" }
            ] }
        }),
    );
    let created = zendesk
        .helpdesk()
        .create_ticket(&new_ticket(Some("maria@example.test")))
        .await
        .expect("created");
    assert_eq!(
        created,
        CreatedTicket {
            id: "6001".into(),
            comment_ids: vec!["8801".into()],
        }
    );
    let requests = zendesk.requests();
    assert_eq!(requests.len(), 2);
    check_call(
        &requests[0],
        Method::POST,
        "/api/v2/users/create_or_update.json",
    );
    assert_eq!(
        requests[0].json(),
        json!({ "user": { "name": "Maria Lopez", "email": "maria@example.test", "role": "end-user" } })
    );
    check_call(&requests[1], Method::POST, "/api/v2/tickets.json");
    assert_eq!(
        requests[1].header("idempotency-key"),
        Some("0190b8f0-0000-7000-8000-00000000c0de")
    );
    assert_eq!(
        requests[1].json(),
        json!({ "ticket": {
            "subject": "Refund for a lost parcel",
            "comment": { "body": "Transcript:\nCustomer: my parcel is lost\n\nHandoff: asked for a refund", "public": false },
            "requester_id": 901,
            "external_id": "0190b8f0-0000-7000-8000-00000000c0de",
            "priority": "high",
            "tags": ["switchboard", "whatsapp"]
        } })
    );

    // Without an audit in the answer there are no comment ids to remember.
    zendesk.answer(201, json!({ "user": { "id": 902 } }));
    zendesk.answer(201, json!({ "ticket": { "id": 6002 } }));
    let created = zendesk
        .helpdesk()
        .create_ticket(&new_ticket(None))
        .await
        .expect("created");
    assert_eq!(created.id, "6002");
    assert!(created.comment_ids.is_empty());
    assert_eq!(
        zendesk.requests()[2].json(),
        json!({ "user": { "name": "Maria Lopez", "external_id": "switchboard:+34600000000", "role": "end-user" } })
    );
}

#[tokio::test]
async fn a_refused_create_answers_the_ticket_an_earlier_try_opened() {
    let zendesk = Zendesk::start().await;
    // The retry's transcript grew, so Zendesk refuses the reused key.
    zendesk.answer(200, json!({ "user": { "id": 901 } }));
    zendesk.answer(
        400,
        json!({ "error": "IdempotentRequestError", "description": "Request parameters don't match the original request" }),
    );
    zendesk.answer(
        200,
        json!({ "tickets": [ { "id": 6010 }, { "id": 6001 } ], "count": 2 }),
    );
    let created = zendesk
        .helpdesk()
        .create_ticket(&new_ticket(Some("maria@example.test")))
        .await
        .expect("the earlier ticket");
    assert_eq!(
        created,
        CreatedTicket {
            id: "6001".into(),
            comment_ids: vec![],
        }
    );
    check_call(
        &zendesk.requests()[2],
        Method::GET,
        "/api/v2/tickets.json?external_id=0190b8f0-0000-7000-8000-00000000c0de",
    );

    // No earlier ticket: Zendesk's refusal stands.
    zendesk.answer(200, json!({ "user": { "id": 901 } }));
    zendesk.answer(
        422,
        json!({ "error": "RecordInvalid", "description": "Record validation errors" }),
    );
    zendesk.answer(200, json!({ "tickets": [], "count": 0 }));
    match zendesk
        .helpdesk()
        .create_ticket(&new_ticket(Some("maria@example.test")))
        .await
    {
        Err(DeliveryError::Permanent { reason }) => {
            assert!(reason.contains("RecordInvalid"), "{reason}")
        }
        other => panic!("expected Zendesk's refusal, got {other:?}"),
    }
    // A retriable failure is retried as it is, without a lookup.
    zendesk.answer(200, json!({ "user": { "id": 901 } }));
    zendesk.answer(503, json!({}));
    assert!(matches!(
        zendesk
            .helpdesk()
            .create_ticket(&new_ticket(Some("maria@example.test")))
            .await,
        Err(DeliveryError::Retriable { .. })
    ));
    assert_eq!(zendesk.requests().len(), 8);
}

#[tokio::test]
async fn requesters_are_named_by_what_the_contact_has() {
    let zendesk = Zendesk::start().await;
    for _ in 0..2 {
        zendesk.answer(200, json!({ "user": { "id": 903 } }));
    }
    let email_only = ContactRef {
        external_id: "visitor-1".into(),
        email: Some("anon@example.test".into()),
        ..ContactRef::default()
    };
    let id_only = ContactRef {
        external_id: "U024BE7LH".into(),
        ..ContactRef::default()
    };
    for contact in [&email_only, &id_only] {
        assert_eq!(
            zendesk.helpdesk().requester(contact).await.expect("a user"),
            "903"
        );
    }
    let requests = zendesk.requests();
    assert_eq!(
        requests[0].json(),
        json!({ "user": { "name": "anon@example.test", "email": "anon@example.test", "role": "end-user" } })
    );
    assert_eq!(
        requests[1].json(),
        json!({ "user": { "name": "U024BE7LH", "external_id": "switchboard:U024BE7LH", "role": "end-user" } })
    );
    assert!(matches!(
        zendesk.helpdesk().requester(&ContactRef::default()).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(zendesk.requests().len(), 2);
}

fn comment_answer(events: Value) -> Value {
    json!({ "ticket": { "id": 5158, "status": "open" }, "audit": { "id": 56, "events": events } })
}

#[tokio::test]
async fn add_comment_answers_the_comment_events_id() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(
        200,
        comment_answer(json!([
            { "id": 9000, "type": "Change", "field_name": "status", "value": "open" },
            { "id": 9001, "type": "Comment", "public": true, "author_id": 901 }
        ])),
    );
    let comment = NewComment {
        body: "It opened now, thanks!".into(),
        public: true,
        author_id: Some("901".into()),
        files: Vec::new(),
    };
    let id = zendesk
        .helpdesk()
        .add_comment("5158", &comment)
        .await
        .expect("added");
    assert_eq!(id, "9001");
    let request = &zendesk.requests()[0];
    check_call(request, Method::PUT, "/api/v2/tickets/5158.json");
    assert_eq!(
        request.json(),
        json!({ "ticket": { "comment": { "body": "It opened now, thanks!", "public": true, "author_id": 901 } } })
    );

    zendesk.answer(
        200,
        comment_answer(json!([{ "id": 9002, "type": "Comment" }])),
    );
    let note = NewComment {
        body: "Customer is a VIP".into(),
        public: false,
        author_id: None,
        files: Vec::new(),
    };
    assert_eq!(
        zendesk
            .helpdesk()
            .add_comment("5158", &note)
            .await
            .expect("added"),
        "9002"
    );
    assert_eq!(
        zendesk.requests()[1].json(),
        json!({ "ticket": { "comment": { "body": "Customer is a VIP", "public": false } } })
    );

    // Written, but with no id we could remember: never retried, which would write it twice.
    zendesk.answer(
        200,
        comment_answer(json!([{ "id": 9003, "type": "Change" }])),
    );
    assert!(matches!(
        zendesk.helpdesk().add_comment("5158", &note).await,
        Err(DeliveryError::Permanent { .. })
    ));
    zendesk.answer(200, json!({ "not": "a ticket" }));
    assert!(matches!(
        zendesk.helpdesk().add_comment("5158", &note).await,
        Err(DeliveryError::Permanent { .. })
    ));
    let bad_author = NewComment {
        author_id: Some("maria".into()),
        ..note
    };
    assert!(matches!(
        zendesk.helpdesk().add_comment("5158", &bad_author).await,
        Err(DeliveryError::Permanent { .. })
    ));
    assert_eq!(zendesk.requests().len(), 4);
}

fn file(filename: &str, content_type: &str, bytes: &[u8]) -> InboundFile {
    InboundFile {
        filename: filename.into(),
        content_type: content_type.into(),
        bytes: bytes.to_vec(),
    }
}

fn uploaded(token: &str, file_name: &str) -> FakeResponse {
    FakeResponse::json(
        201,
        json!({ "upload": { "token": token, "expires_at": "2024-05-01T11:00:00Z",
            "attachment": { "id": 498483, "file_name": file_name, "content_type": "image/jpeg",
                "content_url": format!("https://acme.zendesk.com/attachments/token/{token}/?name={file_name}"),
                "size": 5 } } }),
    )
}

/// An upload: `POST /api/v2/uploads.json?filename=…`, the file's bytes as they are, typed.
fn check_upload(request: &RecordedRequest, path: &str, content_type: &str, bytes: &[u8]) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, path);
    let credentials = STANDARD.encode(format!("{EMAIL}/token:{API_TOKEN}"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {credentials}").as_str())
    );
    assert_eq!(request.header("content-type"), Some(content_type));
    assert_eq!(request.body.as_ref(), bytes);
}

fn photo() -> InboundFile {
    file(
        "Locker 7 & door?.jpg",
        "image/jpeg",
        &[0xff, 0xd8, 0xff, 0xe0, 0x00],
    )
}

#[tokio::test]
async fn files_are_uploaded_first_and_the_comment_carries_their_tokens() {
    let zendesk = Zendesk::start().await;
    zendesk
        .platform
        .respond_next(uploaded("tok-photo", "photo"));
    zendesk
        .platform
        .respond_next(uploaded("tok-receipt", "receipt"));
    zendesk
        .platform
        .respond_next(uploaded("tok-blank", "attachment"));
    zendesk.answer(
        200,
        comment_answer(json!([{ "id": 9010, "type": "Comment" }])),
    );
    let receipt = file("receipt.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3");
    // No name and a type that is no header value: Zendesk still gets a name and a type.
    let unnamed = file("  ", "text/plain\r\nx-evil: 1", b"hello");
    let comment = NewComment {
        body: "Photo and receipt attached.".into(),
        public: false,
        author_id: None,
        files: vec![photo(), receipt.clone(), unnamed],
    };
    let id = zendesk
        .helpdesk()
        .add_comment("5158", &comment)
        .await
        .expect("added");
    assert_eq!(id, "9010");
    let requests = zendesk.requests();
    assert_eq!(requests.len(), 4);
    check_upload(
        &requests[0],
        "/api/v2/uploads.json?filename=Locker+7+%26+door%3F.jpg",
        "image/jpeg",
        &[0xff, 0xd8, 0xff, 0xe0, 0x00],
    );
    check_upload(
        &requests[1],
        "/api/v2/uploads.json?filename=receipt.pdf",
        "application/pdf",
        &receipt.bytes,
    );
    check_upload(
        &requests[2],
        "/api/v2/uploads.json?filename=attachment",
        "application/octet-stream",
        b"hello",
    );
    check_call(&requests[3], Method::PUT, "/api/v2/tickets/5158.json");
    assert_eq!(
        requests[3].json(),
        json!({ "ticket": { "comment": { "body": "Photo and receipt attached.", "public": false,
            "uploads": ["tok-photo", "tok-receipt", "tok-blank"] } } })
    );
}

#[tokio::test]
async fn a_refused_upload_is_permanent_and_posts_no_comment() {
    for (status, body) in [
        (413, json!({ "error": "RequestEntityTooLarge" })),
        (
            422,
            json!({ "error": "RecordInvalid", "description": "File type not allowed" }),
        ),
        (404, json!({ "error": "InvalidEndpoint" })),
    ] {
        let zendesk = Zendesk::start().await;
        zendesk.answer(status, body);
        let comment = NewComment {
            body: "See the photos.".into(),
            public: true,
            author_id: None,
            files: vec![photo(), photo()],
        };
        match zendesk.helpdesk().add_comment("5158", &comment).await {
            Err(DeliveryError::Permanent { reason }) => {
                assert!(
                    reason.contains("upload") && reason.contains(&status.to_string()),
                    "{reason}"
                );
            }
            other => panic!("HTTP {status} on an upload: got {other:?}"),
        }
        let requests = zendesk.requests();
        assert_eq!(
            requests.len(),
            1,
            "HTTP {status}: nothing after the refusal"
        );
        assert!(requests[0].path.starts_with("/api/v2/uploads.json?"));
    }
}

#[tokio::test]
async fn a_throttled_or_failed_upload_is_retriable_and_posts_no_comment() {
    let comment = NewComment {
        body: "See the photo.".into(),
        public: true,
        author_id: None,
        files: vec![photo()],
    };
    // A 201 we cannot read: an upload may be sent again (an unused one expires), so retriable.
    for first in [
        FakeResponse::json(503, json!({ "error": "ServiceUnavailable" })),
        FakeResponse::json(201, json!({ "upload": {} })),
        FakeResponse::json(429, json!({ "error": "APIRateLimitExceeded" }))
            .with_header("retry-after", "7"),
    ] {
        let zendesk = Zendesk::start().await;
        let status = first.status;
        zendesk.platform.respond_next(first);
        match zendesk.helpdesk().add_comment("5158", &comment).await {
            Err(DeliveryError::Retriable { retry_after, .. }) => assert_eq!(
                retry_after,
                (status == 429).then(|| Duration::from_secs(7)),
                "HTTP {status}"
            ),
            other => panic!("HTTP {status} on an upload: got {other:?}"),
        }
        assert_eq!(zendesk.requests().len(), 1, "HTTP {status}: no comment");
    }
}

#[tokio::test]
async fn an_upload_goes_through_the_rate_gate_like_any_call() {
    let zendesk = Zendesk::start().await;
    let helpdesk = zendesk.helpdesk();
    let held = Duration::from_millis(900);
    let comment = NewComment {
        body: "Photo.".into(),
        public: true,
        author_id: None,
        files: vec![photo()],
    };
    zendesk.platform.respond_next(
        FakeResponse::json(200, json!({ "ticket": { "id": 5158 } }))
            .with_header("ratelimit-remaining", "0")
            .with_header("ratelimit-reset", "1"),
    );
    helpdesk
        .set_status("5158", TicketStatus::Open)
        .await
        .expect("set");
    // The upload is the call's only request: it waited for the gate.
    zendesk.answer(422, json!({ "error": "RecordInvalid" }));
    let started = Instant::now();
    assert!(helpdesk.add_comment("5158", &comment).await.is_err());
    assert!(started.elapsed() >= held, "{:?}", started.elapsed());
    // And its answer holds back the calls after it.
    zendesk.platform.respond_next(
        FakeResponse::json(429, json!({ "error": "APIRateLimitExceeded" }))
            .with_header("retry-after", "1"),
    );
    assert!(matches!(
        helpdesk.add_comment("5158", &comment).await,
        Err(DeliveryError::Retriable { .. })
    ));
    zendesk.answer(200, json!({ "ticket": { "id": 5158 } }));
    let started = Instant::now();
    helpdesk
        .set_status("5158", TicketStatus::Open)
        .await
        .expect("set");
    assert!(started.elapsed() >= held, "{:?}", started.elapsed());
    let paths: Vec<String> = zendesk
        .requests()
        .iter()
        .map(|request| {
            request
                .path
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v2/tickets/5158.json",
            "/api/v2/uploads.json",
            "/api/v2/uploads.json",
            "/api/v2/tickets/5158.json"
        ]
    );
}

#[tokio::test]
async fn files_reach_a_zendesk_account_and_read_back_as_its_attachments() {
    let fake = FakeZendesk::start().await;
    let connector = ZendeskFactory
        .build("inbox", &fake.config("whsec", false))
        .expect("builds");
    let helpdesk = connector.helpdesk().expect("a helpdesk");
    let ticket = fake.customer_ticket("Mara", "mara@example.test", "Locker 7", "It is stuck.");
    let receipt = file("receipt.pdf", "application/pdf", b"%PDF-1.7 receipt");
    let id = switchboard_testkit::helpdesk::add_comment_with_files(
        helpdesk,
        &ticket.to_string(),
        "Both files.",
        true,
        vec![photo(), receipt.clone()],
    )
    .await;
    let written = fake
        .ticket(ticket)
        .expect("the ticket")
        .comments
        .into_iter()
        .find(|comment| comment.id.to_string() == id)
        .expect("the comment");
    let names: Vec<&str> = written
        .attachments
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["Locker 7 & door?.jpg", "receipt.pdf"]);
    let put = fake
        .requests()
        .into_iter()
        .find(|request| request.method == Method::PUT)
        .expect("the comment's request");
    let tokens: Vec<String> =
        serde_json::from_value(put.body["ticket"]["comment"]["uploads"].clone())
            .expect("the tokens");
    let stored = fake.upload(&tokens[1]).expect("stored");
    assert_eq!(stored.file_name, "receipt.pdf");
    assert_eq!(stored.content_type, "application/pdf");
    assert_eq!(stored.bytes, receipt.bytes);
    assert_eq!(stored.comment_id.map(|id| id.to_string()), Some(id.clone()));

    let content_url = &written.attachments[1].1;
    switchboard_testkit::helpdesk::check_attachment_reads_back(
        helpdesk,
        &ticket.to_string(),
        &id,
        1,
        &receipt,
        content_url,
    )
    .await;
}

#[tokio::test]
async fn set_status_puts_zendesks_word() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(
        200,
        json!({ "ticket": { "id": 5158, "status": "solved" }, "audit": { "events": [] } }),
    );
    zendesk
        .helpdesk()
        .set_status("5158", TicketStatus::Solved)
        .await
        .expect("set");
    let request = &zendesk.requests()[0];
    check_call(request, Method::PUT, "/api/v2/tickets/5158.json");
    assert_eq!(request.json(), json!({ "ticket": { "status": "solved" } }));
}

#[tokio::test]
async fn changed_starts_from_a_time_then_follows_the_cursor() {
    let zendesk = Zendesk::start().await;
    zendesk.answer(
        200,
        json!({
            "tickets": [ { "id": 5158, "status": "open" }, { "id": 5159, "status": "deleted" } ],
            "after_url": "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor=MTU3NjYxMzUzOS4wfHw0Njd8",
            "after_cursor": "MTU3NjYxMzUzOS4wfHw0Njd8",
            "before_cursor": null,
            "end_of_stream": false
        }),
    );
    let start = time("2024-05-01T00:00:00Z").expect("a time");
    let page = zendesk
        .helpdesk()
        .changed(None, start)
        .await
        .expect("a page");
    assert_eq!(
        page,
        ChangedTickets {
            ticket_ids: vec!["5158".into(), "5159".into()],
            cursor: Some("MTU3NjYxMzUzOS4wfHw0Njd8".into()),
            more: true,
        }
    );
    check_call(
        &zendesk.requests()[0],
        Method::GET,
        &format!(
            "/api/v2/incremental/tickets/cursor.json?start_time={}",
            start.timestamp()
        ),
    );

    zendesk.answer(
        200,
        json!({ "tickets": [], "after_cursor": "NEXT+/=", "end_of_stream": true }),
    );
    let page = zendesk
        .helpdesk()
        .changed(Some("a+b/c=="), start)
        .await
        .expect("a page");
    assert_eq!(
        page,
        ChangedTickets {
            ticket_ids: vec![],
            cursor: Some("NEXT+/=".into()),
            more: false,
        }
    );
    check_call(
        &zendesk.requests()[1],
        Method::GET,
        "/api/v2/incremental/tickets/cursor.json?cursor=a%2Bb%2Fc%3D%3D",
    );

    // No new cursor: the next poll starts from the same one.
    zendesk.answer(200, json!({ "tickets": [], "end_of_stream": true }));
    let page = zendesk
        .helpdesk()
        .changed(Some("same"), start)
        .await
        .expect("a page");
    assert_eq!(page.cursor.as_deref(), Some("same"));
}

#[tokio::test]
async fn errors_are_classified_and_never_show_the_token() {
    let zendesk = Zendesk::start().await;
    zendesk.platform.respond_next(
        FakeResponse::json(
            429,
            json!({ "error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded" }),
        )
        .with_header("retry-after", "7"),
    );
    match zendesk.helpdesk().ticket("5158").await {
        Err(DeliveryError::Retriable {
            retry_after,
            reason,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("a 429 must be retriable, got {other:?}"),
    }

    // Fresh connectors from here: the one above holds its calls back for 7 s.
    for (status, body, retriable) in [
        (500, json!({ "error": "InternalError" }), true),
        (503, json!("<html>maintenance</html>"), true),
        (
            400,
            json!({ "error": "RecordInvalid", "description": "Record validation errors" }),
            false,
        ),
        (
            401,
            json!({ "error": "Couldn't authenticate you", "token": API_TOKEN }),
            false,
        ),
        (
            403,
            json!({ "error": { "title": "Forbidden", "message": format!("token {API_TOKEN} may not") } }),
            false,
        ),
        (
            422,
            json!({ "error": "RecordInvalid", "details": { "status": [{ "description": "Status: closed prevents ticket update" }] } }),
            false,
        ),
    ] {
        let zendesk = Zendesk::start().await;
        zendesk.answer(status, body);
        let result = zendesk
            .helpdesk()
            .set_status("5158", TicketStatus::Open)
            .await;
        let reason = match (result, retriable) {
            (Err(DeliveryError::Retriable { reason, .. }), true)
            | (Err(DeliveryError::Permanent { reason }), false) => reason,
            (other, _) => panic!("HTTP {status}: got {other:?}"),
        };
        assert!(reason.contains(&status.to_string()), "{reason}");
        assert!(!reason.contains(API_TOKEN), "{reason}");
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let dead = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let unreachable = connector_at(&dead);
    match unreachable.helpdesk().expect("a helpdesk").me().await {
        Err(DeliveryError::Retriable { reason, .. }) => assert!(!reason.contains(API_TOKEN)),
        other => panic!("an unreachable Zendesk must be retriable, got {other:?}"),
    }
}

/// How long the second of two calls waits, the first answered with `first`.
async fn wait_after(first: FakeResponse) -> Duration {
    let zendesk = Zendesk::start().await;
    zendesk.platform.respond_next(first);
    zendesk.answer(200, json!({ "ticket": { "id": 5158, "status": "open" } }));
    let helpdesk = zendesk.helpdesk();
    let _ = helpdesk.set_status("5158", TicketStatus::Open).await;
    let started = Instant::now();
    helpdesk
        .set_status("5158", TicketStatus::Open)
        .await
        .expect("set");
    started.elapsed()
}

#[tokio::test]
async fn the_rate_gate_holds_calls_back_as_zendesk_asks() {
    let ok = FakeResponse::json(200, json!({ "ticket": { "id": 5158 } }));
    let held = Duration::from_millis(900);
    // Plain answers hold nothing back, so the waits below are the gate's.
    assert!(wait_after(ok.clone()).await < held);
    assert!(wait_after(FakeResponse::json(500, json!({}))).await < held);
    assert!(wait_after(ok.clone().with_header("x-rate-limit-remaining", "3")).await < held);

    let limited = FakeResponse::json(429, json!({ "error": "APIRateLimitExceeded" }))
        .with_header("retry-after", "1");
    assert!(wait_after(limited).await >= held);
    let spent = ok
        .clone()
        .with_header("ratelimit-remaining", "0")
        .with_header("ratelimit-reset", "1");
    assert!(wait_after(spent).await >= held);
    let spent_account = ok.with_header("x-rate-limit-remaining", "0");
    assert!(wait_after(spent_account).await >= held);
}
