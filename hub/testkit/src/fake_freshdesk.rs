//! A Freshdesk account on loopback: the API v2 calls the hub makes (the key's agent, contacts,
//! tickets with their conversations, replies, notes, statuses, search by tag and the list of
//! tickets updated since a time), with state, so that a test runs the whole sync loop and checks
//! what the hub wrote. Like Freshdesk it checks `Basic base64("{api_key}:X")` on every request,
//! refuses fields and query parameters it does not know, takes a reply's or note's files as
//! `multipart/form-data` (`attachments[]` parts, 20 MB in all), pages with a
//! `Link: <…>; rel="next"` header, and may answer 429 with `Retry-After` (once, or past a
//! per-minute budget, with the `X-Ratelimit-*` headers).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::fake_limits::Limits;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{Map, Value, json};

/// The agent whose API key the hub uses: what `agents/me` answers.
pub const FRESHDESK_API_AGENT: u64 = 80_000_000_001;
/// A Freshdesk agent who answers tickets.
pub const FRESHDESK_AGENT: u64 = 80_000_000_002;

/// Freshdesk's statuses: 2 open, 3 pending, 4 resolved, 5 closed, and the default custom ones
/// 6 waiting on customer, 7 waiting on third party.
const STATUSES: [u64; 6] = [2, 3, 4, 5, 6, 7];
const PRIORITIES: [u64; 4] = [1, 2, 3, 4];
/// Conversation sources: a reply, and a note (Freshdesk's codes).
const SOURCE_REPLY: u8 = 0;
const SOURCE_NOTE: u8 = 2;
/// Ticket sources: email, portal.
const SOURCE_EMAIL: u8 = 1;
const SOURCE_PORTAL: u8 = 2;
/// Freshdesk's default page, its largest, and the search's fixed one.
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;
const SEARCH_PAGE: usize = 30;
/// Without `updated_since`, the list only holds tickets created in the last 30 days.
const LIST_DAYS: i64 = 30;
/// Freshdesk takes at most 20 MB of attachments on one reply or note.
const MAX_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;
/// What the fake reads of a request body: a little over the attachments' limit, so that it
/// can refuse more than that as Freshdesk does.
const MAX_BODY_BYTES: usize = MAX_ATTACHMENT_BYTES + 1024 * 1024;

/// One conversation of a ticket: a reply, a note, or an incoming message.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshdeskConversation {
    pub id: u64,
    pub user_id: u64,
    /// HTML, as written.
    pub body: String,
    /// The body as plain text, as Freshdesk derives it.
    pub body_text: String,
    pub private: bool,
    /// Written as the customer's message (`incoming: true`).
    pub incoming: bool,
    /// 0 a reply, 2 a note.
    pub source: u8,
    pub created_at: DateTime<Utc>,
    /// The files sent with it, in order.
    pub attachments: Vec<FreshdeskAttachment>,
}

/// A file on a conversation entry, as its `attachments[]` part carried it.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshdeskAttachment {
    pub id: u64,
    /// The part's `filename`.
    pub name: String,
    /// The part's `Content-Type`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshdeskTicket {
    pub id: u64,
    pub subject: String,
    /// HTML, as written.
    pub description: String,
    pub description_text: String,
    /// 2 open, 3 pending, 4 resolved, 5 closed (6, 7 custom).
    pub status: u8,
    /// 1 low, 2 medium, 3 high, 4 urgent.
    pub priority: u8,
    /// 1 email, 2 portal…
    pub source: u8,
    pub requester_id: u64,
    pub tags: Vec<String>,
    /// Oldest first; the description is not one of them.
    pub conversations: Vec<FreshdeskConversation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user of the account: a contact (a customer) or an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshdeskContact {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub unique_external_id: Option<String>,
    pub agent: bool,
}

/// One request the fake answered, refusals included.
#[derive(Clone, Debug)]
pub struct FreshdeskRequest {
    pub method: Method,
    /// The path with its query, as sent.
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// The JSON body (`Null` for none); for a multipart form, its text fields as strings.
    pub body: Value,
}

impl FreshdeskRequest {
    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// The query's value of `key`, decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let uri: Uri = self.path.parse().ok()?;
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri).ok()?;
        pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

#[derive(Default)]
struct Account {
    base_url: String,
    tickets: BTreeMap<u64, FreshdeskTicket>,
    users: Vec<FreshdeskContact>,
    last_ticket: u64,
    last_id: u64,
    requests: Vec<FreshdeskRequest>,
    limits: Limits,
}

#[derive(Clone)]
struct Shared {
    account: Arc<Mutex<Account>>,
    authorization: String,
    base_url: String,
}

/// The running fake; dropping it stops the server.
pub struct FakeFreshdesk {
    pub base_url: String,
    pub api_key: String,
    shared: Shared,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeFreshdesk {
    pub async fn start() -> FakeFreshdesk {
        let api_key = "fd-key-Q2mXcV7bN1pL".to_owned();
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{api_key}:X"))
        );
        let agent = |id, name: &str, email: &str| FreshdeskContact {
            id,
            name: name.into(),
            email: Some(email.into()),
            phone: None,
            mobile: None,
            unique_external_id: None,
            agent: true,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let addr: SocketAddr = listener.local_addr().expect("has an address");
        let base_url = format!("http://{addr}");
        let account = Account {
            base_url: base_url.clone(),
            last_id: 80_000_000_100,
            users: vec![
                agent(
                    FRESHDESK_API_AGENT,
                    "Switchboard",
                    "switchboard@example.test",
                ),
                agent(FRESHDESK_AGENT, "Dana Agent", "dana@example.test"),
            ],
            ..Account::default()
        };
        let shared = Shared {
            account: Arc::new(Mutex::new(account)),
            authorization,
            base_url: base_url.clone(),
        };
        let app = Router::new()
            .fallback(serve)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeFreshdesk {
            base_url,
            api_key,
            shared,
            _shutdown: stop,
        }
    }

    fn account(&self) -> MutexGuard<'_, Account> {
        self.shared.account()
    }

    /// An inbox config for this account, polling as often as the connector allows.
    pub fn config(&self, webhook_secret: &str, escalation_desk: bool) -> Value {
        json!({
            "base_url": self.base_url,
            "api_key": self.api_key,
            "webhook_secret": webhook_secret,
            "escalation_desk": escalation_desk,
            "poll_interval_secs": 5,
        })
    }

    pub fn tickets(&self) -> Vec<FreshdeskTicket> {
        self.account().tickets.values().cloned().collect()
    }

    pub fn ticket(&self, id: u64) -> Option<FreshdeskTicket> {
        self.account().tickets.get(&id).cloned()
    }

    /// A contact or agent by id.
    pub fn contact(&self, id: u64) -> Option<FreshdeskContact> {
        self.account().user(id).cloned()
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<FreshdeskRequest> {
        self.account().requests.clone()
    }

    /// A Freshdesk agent's public reply on a ticket; answers its id. No webhook is sent.
    pub fn agent_reply(&self, ticket_id: u64, body: &str) -> u64 {
        self.agent_writes(ticket_id, body, false)
    }

    /// A Freshdesk agent's private note on a ticket; answers its id. No webhook is sent.
    pub fn agent_note(&self, ticket_id: u64, body: &str) -> u64 {
        self.agent_writes(ticket_id, body, true)
    }

    fn agent_writes(&self, ticket_id: u64, text: &str, private: bool) -> u64 {
        let source = if private { SOURCE_NOTE } else { SOURCE_REPLY };
        let written = self
            .account()
            .write(
                ticket_id,
                NewEntry {
                    user_id: FRESHDESK_AGENT,
                    body: &paragraph(text),
                    private,
                    incoming: false,
                    source,
                    files: Vec::new(),
                },
            )
            .expect("the ticket exists");
        written["id"].as_u64().expect("an id")
    }

    /// A Freshdesk agent sets a ticket's status (2 open, 3 pending, 4 resolved, 5 closed).
    pub fn set_status(&self, ticket_id: u64, status: u8) {
        assert!(
            STATUSES.contains(&u64::from(status)),
            "Freshdesk has no status {status}"
        );
        let mut account = self.account();
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        ticket.status = status;
        ticket.touch();
    }

    /// A customer opens a ticket in Freshdesk (by email); answers its id. No webhook is sent.
    pub fn customer_ticket(
        &self,
        name: &str,
        email: &str,
        subject: &str,
        description: &str,
    ) -> u64 {
        let mut account = self.account();
        let requester = match account.contact_by_email(email) {
            Some(contact) => contact.id,
            None => account.add_contact(name, Some(email), None),
        };
        account.open_ticket(subject, &paragraph(description), requester, SOURCE_EMAIL)
    }

    /// Makes a ticket look created and last changed `age` ago (before an inbox existed, say).
    pub fn backdate(&self, ticket_id: u64, age: Duration) {
        let mut account = self.account();
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        let at = now() - chrono::Duration::from_std(age).expect("a short duration");
        ticket.created_at = at;
        ticket.updated_at = at;
    }

    /// The next `count` requests are answered 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, count: usize, retry_after_secs: u64) {
        self.account().limits.throttle_next(count, retry_after_secs);
    }

    /// At most `per_minute` requests a minute; beyond, 429 with the seconds until one frees.
    /// Every answer then carries `X-Ratelimit-Total`, `-Remaining` and `-Used-CurrentRequest`.
    pub fn limit_per_minute(&self, per_minute: usize) {
        self.account().limits.limit_per_minute(per_minute);
    }

    /// The body of the automation rule's webhook for a ticket, as `docs/channels/freshdesk.md`
    /// sets it up: `{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}"}}`, expanded.
    pub fn webhook_body(&self, ticket_id: u64) -> Vec<u8> {
        json!({ "freshdesk_webhook": { "ticket_id": ticket_id.to_string() } })
            .to_string()
            .into_bytes()
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Plain text as the HTML Freshdesk's editor writes.
fn paragraph(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('\n', "<br>");
    format!("<div>{escaped}</div>")
}

/// The `body_text` Freshdesk derives from an HTML body: tags dropped, breaks and block ends as
/// new lines, entities decoded.
fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim()
            .trim_end_matches('/')
            .trim()
            .to_ascii_lowercase();
        match tag.split_whitespace().next().unwrap_or_default() {
            "br" => text.push('\n'),
            "/p" | "/div" | "/li" if !text.is_empty() && !text.ends_with('\n') => text.push('\n'),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded.trim_end_matches('\n').to_owned()
}

impl Account {
    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    fn user(&self, id: u64) -> Option<&FreshdeskContact> {
        self.users.iter().find(|user| user.id == id)
    }

    fn contact_by_email(&self, email: &str) -> Option<&FreshdeskContact> {
        self.users.iter().find(|user| {
            user.email
                .as_deref()
                .is_some_and(|known| known.eq_ignore_ascii_case(email))
        })
    }

    fn add_contact(
        &mut self,
        name: &str,
        email: Option<&str>,
        unique_external_id: Option<&str>,
    ) -> u64 {
        let id = self.next_id();
        self.users.push(FreshdeskContact {
            id,
            name: name.to_owned(),
            email: email.map(str::to_owned),
            phone: None,
            mobile: None,
            unique_external_id: unique_external_id.map(str::to_owned),
            agent: false,
        });
        id
    }

    /// A new ticket, Open, of Low priority, without tags; answers its id.
    fn open_ticket(
        &mut self,
        subject: &str,
        description: &str,
        requester_id: u64,
        source: u8,
    ) -> u64 {
        self.last_ticket += 1;
        let id = self.last_ticket;
        let at = now();
        self.tickets.insert(
            id,
            FreshdeskTicket {
                id,
                subject: subject.to_owned(),
                description: description.to_owned(),
                description_text: html_text(description),
                status: 2,
                priority: 1,
                source,
                requester_id,
                tags: Vec::new(),
                conversations: Vec::new(),
                created_at: at,
                updated_at: at,
            },
        );
        id
    }

    /// Adds a conversation to a ticket, which it updates; answers it as the API shows it, or
    /// `None` when there is no such ticket.
    fn write(&mut self, ticket_id: u64, new: NewEntry<'_>) -> Option<Value> {
        if !self.tickets.contains_key(&ticket_id) {
            return None;
        }
        let id = self.next_id();
        let attachments = new
            .files
            .into_iter()
            .map(|file| FreshdeskAttachment {
                id: self.next_id(),
                name: file.name,
                content_type: file.content_type,
                bytes: file.bytes,
            })
            .collect();
        let entry = FreshdeskConversation {
            id,
            user_id: new.user_id,
            body: new.body.to_owned(),
            body_text: html_text(new.body),
            private: new.private,
            incoming: new.incoming,
            source: new.source,
            created_at: now(),
            attachments,
        };
        let ticket = self.tickets.get_mut(&ticket_id)?;
        let json = conversation_json(&self.base_url, ticket, &entry);
        ticket.conversations.push(entry);
        ticket.touch();
        Some(json)
    }

    fn contact_json(&self, contact: &FreshdeskContact) -> Value {
        json!({
            "active": false,
            "address": null,
            "company_id": null,
            "description": null,
            "email": contact.email,
            "id": contact.id,
            "job_title": null,
            "language": "en",
            "mobile": contact.mobile,
            "name": contact.name,
            "phone": contact.phone,
            "time_zone": "UTC",
            "twitter_id": null,
            "unique_external_id": contact.unique_external_id,
            "other_emails": [],
            "custom_fields": {},
            "tags": [],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        })
    }

    fn agent_json(&self, agent: &FreshdeskContact) -> Value {
        json!({
            "available": true,
            "occasional": false,
            "id": agent.id,
            "ticket_scope": 1,
            "signature": null,
            "type": "support_agent",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "contact": {
                "active": true,
                "email": agent.email,
                "job_title": null,
                "language": "en",
                "last_login_at": "2024-01-01T00:00:00Z",
                "mobile": null,
                "name": agent.name,
                "phone": null,
                "time_zone": "UTC",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            },
        })
    }
}

/// What a reply or note writes.
struct NewEntry<'a> {
    user_id: u64,
    /// HTML.
    body: &'a str,
    private: bool,
    incoming: bool,
    source: u8,
    files: Vec<FormFile>,
}

/// How much of a ticket an answer shows: the list leaves out the description, the tags and the
/// attachments; a search shows the tags; a ticket's own view shows everything.
#[derive(Clone, Copy, PartialEq)]
enum View {
    List,
    Search,
    Full,
}

impl FreshdeskTicket {
    fn touch(&mut self) {
        self.updated_at = now();
    }

    fn json(&self, view: View) -> Value {
        let mut ticket = json!({
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "ticket_cc_emails": [],
            "fr_escalated": false,
            "spam": false,
            "email_config_id": null,
            "group_id": null,
            "priority": self.priority,
            "requester_id": self.requester_id,
            "responder_id": null,
            "source": self.source,
            "company_id": null,
            "status": self.status,
            "subject": self.subject,
            "association_type": null,
            "support_email": null,
            "to_emails": null,
            "product_id": null,
            "id": self.id,
            "type": null,
            "due_by": timestamp(self.created_at + chrono::Duration::days(3)),
            "fr_due_by": timestamp(self.created_at + chrono::Duration::days(1)),
            "is_escalated": false,
            "custom_fields": {},
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
        });
        let fields = ticket.as_object_mut().expect("an object");
        if view != View::List {
            fields.insert("tags".into(), json!(self.tags));
        }
        if view == View::Full {
            fields.insert("description".into(), json!(self.description));
            fields.insert("description_text".into(), json!(self.description_text));
            fields.insert("attachments".into(), json!([]));
        }
        ticket
    }
}

fn conversation_json(
    base_url: &str,
    ticket: &FreshdeskTicket,
    entry: &FreshdeskConversation,
) -> Value {
    let attachments: Vec<Value> = entry
        .attachments
        .iter()
        .map(|file| {
            json!({
                "id": file.id,
                "name": file.name,
                "content_type": file.content_type,
                "size": file.bytes.len(),
                "attachment_url": format!("{base_url}/attachments/{}", file.id),
                "thumb_url": null,
                "created_at": timestamp(entry.created_at),
                "updated_at": timestamp(entry.created_at),
            })
        })
        .collect();
    json!({
        "body": entry.body,
        "body_text": entry.body_text,
        "id": entry.id,
        "incoming": entry.incoming,
        "private": entry.private,
        "user_id": entry.user_id,
        "support_email": null,
        "source": entry.source,
        "category": 2,
        "ticket_id": ticket.id,
        "to_emails": [],
        "from_email": null,
        "cc_emails": [],
        "bcc_emails": [],
        "attachments": attachments,
        "created_at": timestamp(entry.created_at),
        "updated_at": timestamp(entry.created_at),
    })
}

/// What a call answers, before the rate-limit headers.
struct Answer {
    status: StatusCode,
    /// `None`: an empty body (Freshdesk's 404).
    body: Option<Value>,
    retry_after: Option<u64>,
    /// The URL of the next page, for the `Link` header.
    next_page: Option<String>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer::with(StatusCode::OK, body)
    }

    fn created(body: Value) -> Answer {
        Answer::with(StatusCode::CREATED, body)
    }

    fn with(status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body: Some(body),
            retry_after: None,
            next_page: None,
        }
    }

    fn not_found() -> Answer {
        Answer {
            status: StatusCode::NOT_FOUND,
            body: None,
            retry_after: None,
            next_page: None,
        }
    }

    /// `{"code", "message"}`: Freshdesk's answer for what is not a field's fault.
    fn refusal(status: StatusCode, code: &str, message: &str) -> Answer {
        Answer::with(status, json!({ "code": code, "message": message }))
    }
}

/// One field's complaint in a validation answer.
struct FieldError {
    field: String,
    message: String,
    code: &'static str,
}

fn field_error(field: &str, message: impl Into<String>, code: &'static str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
        code,
    }
}

/// `400 {"description": "Validation failed", "errors": [{"field", "message", "code"}]}`.
fn validation(errors: Vec<FieldError>) -> Answer {
    validation_with(StatusCode::BAD_REQUEST, errors)
}

fn validation_with(status: StatusCode, errors: Vec<FieldError>) -> Answer {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|error| json!({ "field": error.field, "message": error.message, "code": error.code }))
        .collect();
    Answer::with(
        status,
        json!({ "description": "Validation failed", "errors": errors }),
    )
}

fn unexpected(name: &str) -> FieldError {
    field_error(name, "Unexpected/invalid field in request", "invalid_field")
}

/// A request's query, parsed, and the parameters the call takes.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Freshdesk refuses a parameter it does not know.
    fn only(&self, allowed: &[&str]) -> Result<(), Answer> {
        let errors: Vec<FieldError> = self
            .0
            .iter()
            .filter(|(key, _)| !allowed.contains(&key.as_str()))
            .map(|(key, _)| unexpected(key))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(validation(errors))
        }
    }

    /// `page` (from 1) and `per_page` (1 to 100, default 30).
    fn paging(&self) -> Result<(usize, usize), Answer> {
        let number = |key: &str, default: usize, max: usize, message: &str| match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| validation(vec![field_error(key, message, "invalid_value")])),
        };
        let page = number("page", 1, usize::MAX, "It should be a Positive Integer")?;
        let per_page = number(
            "per_page",
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
            "It should be a Positive Integer less than or equal to 100",
        )?;
        Ok((page, per_page))
    }
}

/// The page `page` of `items`, and whether another follows.
fn page_of<T: Clone>(items: &[T], page: usize, per_page: usize) -> (Vec<T>, bool) {
    let start = (page - 1).saturating_mul(per_page);
    let end = start.saturating_add(per_page);
    let slice = items.get(start..end.min(items.len())).unwrap_or_default();
    (slice.to_vec(), end < items.len())
}

/// A JSON body's fields, checked the way Freshdesk checks them.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn only(&self, allowed: &[&str]) -> Vec<FieldError> {
        self.0
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| unexpected(key))
            .collect()
    }

    fn string(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        match self.0.get(name) {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                errors.push(field_error(
                    name,
                    "It should be a/an String",
                    "datatype_mismatch",
                ));
                None
            }
        }
    }

    fn required_string(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        if !self.0.contains_key(name) {
            errors.push(field_error(
                name,
                "It should be a/an String",
                "missing_field",
            ));
            return None;
        }
        let text = self.string(name, errors)?;
        if text.trim().is_empty() {
            errors.push(field_error(name, "It should not be blank", "invalid_value"));
            return None;
        }
        Some(text)
    }

    fn boolean(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
        match self.0.get(name) {
            None => None,
            Some(Value::Bool(value)) => Some(*value),
            Some(_) => {
                errors.push(field_error(
                    name,
                    "It should be a/an Boolean",
                    "datatype_mismatch",
                ));
                None
            }
        }
    }

    fn id(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
        match self.0.get(name) {
            None => None,
            Some(value) => value.as_u64().or_else(|| {
                errors.push(field_error(
                    name,
                    "It should be a/an Positive Integer",
                    "datatype_mismatch",
                ));
                None
            }),
        }
    }

    fn one_of(&self, name: &str, allowed: &[u64], errors: &mut Vec<FieldError>) -> Option<u8> {
        let value = self.0.get(name)?;
        match value.as_u64().filter(|n| allowed.contains(n)) {
            Some(n) => u8::try_from(n).ok(),
            None => {
                let list: Vec<String> = allowed.iter().map(u64::to_string).collect();
                errors.push(field_error(
                    name,
                    format!("It should be one of these values: '{}'", list.join(",")),
                    "invalid_value",
                ));
                None
            }
        }
    }

    fn tags(&self, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
        let value = self.0.get("tags")?;
        let tags: Option<Vec<String>> = value
            .as_array()
            .and_then(|tags| tags.iter().map(|t| t.as_str().map(str::to_owned)).collect());
        if tags.is_none() {
            errors.push(field_error(
                "tags",
                "It should be a/an Array of String",
                "datatype_mismatch",
            ));
        }
        tags
    }
}

impl Shared {
    fn account(&self) -> MutexGuard<'_, Account> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks the key and the rate limits: `Some` is the refusal to answer instead.
    fn refuse(&self, account: &mut Account, headers: &HeaderMap, now: Instant) -> Option<Answer> {
        let authorized = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some(self.authorization.as_str());
        if !authorized {
            return Some(Answer::refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "You have to be logged in to perform this action.",
            ));
        }
        let throttled = |retry_after| Answer {
            retry_after: Some(retry_after),
            ..Answer::refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "You have exceeded the limit of requests per minute",
            )
        };
        account.limits.refuse(now).map(throttled)
    }
}

/// Every request: checked, answered by its call, recorded.
async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::GET
        && let Some(id) = uri.path().strip_prefix("/attachments/")
    {
        return download(&shared, id);
    }
    let now = Instant::now();
    let form = multipart_form(&headers, &body);
    let recorded = match &form {
        Some(Ok(parts)) => Value::Object(
            parts
                .iter()
                .filter(|part| part.file_name.is_none())
                .map(|part| {
                    let text = String::from_utf8_lossy(&part.bytes).into_owned();
                    (part.name.clone(), Value::String(text))
                })
                .collect(),
        ),
        _ => serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
    };
    let mut account = shared.account();
    let answer = match shared.refuse(&mut account, &headers, now) {
        Some(refusal) => refusal,
        None => answer(&shared, &mut account, &method, &uri, &headers, &body, form),
    };
    account.requests.push(FreshdeskRequest {
        method,
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        status: answer.status.as_u16(),
        at: now,
        body: recorded,
    });
    let remaining = account.limits.remaining();
    drop(account);
    respond(answer, remaining)
}

fn respond(answer: Answer, limits: Option<(usize, usize)>) -> Response {
    let mut response = match answer.body {
        Some(body) => (answer.status, axum::Json(body)).into_response(),
        None => answer.status.into_response(),
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    if let Some(seconds) = answer.retry_after {
        set("retry-after", seconds.to_string());
    }
    if let Some(next) = answer.next_page {
        set("link", format!("<{next}>; rel=\"next\""));
    }
    if let Some((total, remaining)) = limits {
        set("x-ratelimit-total", total.to_string());
        set("x-ratelimit-remaining", remaining.to_string());
        set("x-ratelimit-used-currentrequest", "1".into());
    }
    response
}

/// `GET /attachments/{id}`: a file of a conversation entry, served without the API's
/// authentication (as Freshdesk's `attachment_url`s are).
fn download(shared: &Shared, id: &str) -> Response {
    let account = shared.account();
    let file = id.parse::<u64>().ok().and_then(|id| {
        account
            .tickets
            .values()
            .flat_map(|ticket| &ticket.conversations)
            .flat_map(|entry| &entry.attachments)
            .find(|file| file.id == id)
    });
    match file {
        Some(file) => (
            [("content-type", file.content_type.clone())],
            file.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The call a request names, answered. `form`: the parts of a `multipart/form-data` body.
fn answer(
    shared: &Shared,
    account: &mut Account,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    form: Option<Result<Vec<FormPart>, Answer>>,
) -> Answer {
    let Some(path) = uri.path().strip_prefix("/api/v2/") else {
        return Answer::not_found();
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let params = match Query::<Vec<(String, String)>>::try_from_uri(uri) {
        Ok(Query(pairs)) => Params(pairs),
        Err(_) => return validation(vec![field_error("query", "Invalid query", "invalid_value")]),
    };
    let written = if *method == Method::POST || *method == Method::PUT {
        match form {
            Some(parts) => parts.and_then(form_fields),
            None => json_fields(headers, body).map(|fields| (fields, Vec::new())),
        }
    } else {
        Ok((Map::new(), Vec::new()))
    };
    let (fields, files) = match written {
        Ok(written) => written,
        Err(refusal) => return refusal,
    };
    let takes_files = matches!(
        (method, segments.as_slice()),
        (&Method::POST, ["tickets", _, "reply" | "notes"])
    );
    if !files.is_empty() && !takes_files {
        return validation(vec![field_error(
            "attachments",
            "This fake takes attachments only on replies and notes",
            "invalid_field",
        )]);
    }
    let fields = Fields(&fields);
    let ticket = |id: &str| id.parse::<u64>().ok();
    let result = match (method.clone(), segments.as_slice()) {
        (Method::GET, ["agents", "me"]) => me(account, &params),
        (Method::GET, ["contacts"]) => find_contacts(account, &params),
        (Method::POST, ["contacts"]) => create_contact(account, &fields),
        (Method::GET, ["tickets"]) => list_tickets(shared, account, &params),
        (Method::POST, ["tickets"]) => create_ticket(account, &fields),
        (Method::GET, ["search", "tickets"]) => search_tickets(account, &params),
        (Method::GET, ["tickets", id]) => show_ticket(account, ticket(id), &params),
        (Method::PUT, ["tickets", id]) => update_ticket(account, ticket(id), &fields),
        (Method::GET, ["tickets", id, "conversations"]) => {
            conversations(shared, account, ticket(id), &params)
        }
        (Method::POST, ["tickets", id, "reply"]) => reply(account, ticket(id), &fields, files),
        (Method::POST, ["tickets", id, "notes"]) => note(account, ticket(id), &fields, files),
        _ => Err(Answer::not_found()),
    };
    result.unwrap_or_else(|refusal| refusal)
}

/// A write's JSON object, or Freshdesk's refusal of its content type or syntax.
fn json_fields(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Answer> {
    let json_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !json_type {
        return Err(Answer::refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            "Content-Type header should have application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Answer::refusal(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Request body has invalid json format",
        )),
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormPart {
    pub name: String,
    /// Set for a file.
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A file a form carried.
struct FormFile {
    name: String,
    content_type: String,
    bytes: Vec<u8>,
}

/// The parts of a `multipart/form-data` body, or the refusal of a malformed one; `None` for any
/// other content type.
fn multipart_form(headers: &HeaderMap, body: &[u8]) -> Option<Result<Vec<FormPart>, Answer>> {
    let content_type = headers.get("content-type")?.to_str().ok()?;
    let (kind, _) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    Some(multipart_parts(content_type, body).ok_or_else(|| {
        Answer::refusal(
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
            "Request body is not valid multipart/form-data",
        )
    }))
}

/// The parts of a `multipart/form-data` body (RFC 7578) sent as `content_type`, in order;
/// `None` when the type is another or the body is malformed. For tests that check a form a
/// connector sent.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parameters(params)
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .filter(|boundary| !boundary.is_empty())?;
    form_parts(&boundary, body)
}

fn form_parts(boundary: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let delimiter = format!("--{boundary}");
    let between = format!("\r\n{delimiter}");
    let start = find(body, delimiter.as_bytes())?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    // After each delimiter: `--` ends the body, CRLF starts a part.
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, between.as_bytes())?;
        let (part, after) = rest.split_at(end);
        rest = &after[between.len()..];
        let head_end = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..head_end]).ok()?;
        let mut disposition = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':')?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => disposition = Some(value.trim()),
                "content-type" => content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let (kind, params) = disposition?.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("form-data") {
            return None;
        }
        let params = parameters(params);
        let param = |wanted: &str| {
            params
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.clone())
        };
        parts.push(FormPart {
            name: param("name")?,
            file_name: param("filename"),
            content_type,
            bytes: part[head_end + 4..].to_vec(),
        });
    }
    Some(parts)
}

/// `; name=value; name="a \"quoted\" value"` as `(lowercase name, value)` pairs.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name
            .trim()
            .trim_start_matches(';')
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            while chars.next_if(|c| *c != ';').is_some() {}
        } else {
            value = chars.by_ref().take_while(|c| *c != ';').collect();
            value = value.trim().to_owned();
        }
        pairs.push((name, value));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A form's fields as Freshdesk reads them (`true`/`false` and ids from their text), and its
/// files, which only `attachments[]` parts may carry.
fn form_fields(parts: Vec<FormPart>) -> Result<(Map<String, Value>, Vec<FormFile>), Answer> {
    let mut fields = Map::new();
    let mut files = Vec::new();
    for part in parts {
        if let Some(name) = part.file_name {
            if part.name != "attachments[]" {
                return Err(validation(vec![unexpected(&part.name)]));
            }
            files.push(FormFile {
                name,
                content_type: part.content_type.unwrap_or_default(),
                bytes: part.bytes,
            });
            continue;
        }
        let Ok(text) = String::from_utf8(part.bytes) else {
            return Err(validation(vec![field_error(
                &part.name,
                "It should be UTF-8 text",
                "invalid_value",
            )]));
        };
        let value = match (part.name.as_str(), text.as_str()) {
            ("private" | "incoming", "true" | "false") => Value::Bool(text == "true"),
            ("user_id", _) => text.parse::<u64>().map_or(Value::String(text), Value::from),
            _ => Value::String(text),
        };
        fields.insert(part.name, value);
    }
    Ok((fields, files))
}

/// Freshdesk refuses more than 20 MB of files on one reply or note.
fn check_files(files: &[FormFile], errors: &mut Vec<FieldError>) {
    let total: usize = files.iter().map(|file| file.bytes.len()).sum();
    if total > MAX_ATTACHMENT_BYTES {
        errors.push(field_error(
            "attachments",
            "The total size of the attachments should not exceed 20 MB",
            "invalid_size",
        ));
    }
}

type Call = Result<Answer, Answer>;

fn checked(errors: Vec<FieldError>) -> Result<(), Answer> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
}

/// `GET /agents/me`.
fn me(account: &Account, params: &Params) -> Call {
    params.only(&[])?;
    let agent = account.user(FRESHDESK_API_AGENT).expect("the API agent");
    Ok(Answer::ok(account.agent_json(agent)))
}

/// `GET /contacts?email=…` (or `phone`, `mobile`, `unique_external_id`): the matching
/// contacts, agents left out.
fn find_contacts(account: &Account, params: &Params) -> Call {
    params.only(&[
        "email",
        "mobile",
        "phone",
        "unique_external_id",
        "company_id",
        "state",
        "updated_since",
        "page",
        "per_page",
    ])?;
    let (page, per_page) = params.paging()?;
    let matches = |wanted: Option<&str>, value: &Option<String>| {
        wanted.is_none_or(|wanted| {
            value
                .as_deref()
                .is_some_and(|value| value.eq_ignore_ascii_case(wanted))
        })
    };
    let found: Vec<Value> = account
        .users
        .iter()
        .filter(|user| !user.agent)
        .filter(|user| matches(params.get("email"), &user.email))
        .filter(|user| matches(params.get("phone"), &user.phone))
        .filter(|user| matches(params.get("mobile"), &user.mobile))
        .filter(|user| matches(params.get("unique_external_id"), &user.unique_external_id))
        .map(|user| account.contact_json(user))
        .collect();
    let (items, _) = page_of(&found, page, per_page);
    Ok(Answer::ok(Value::Array(items)))
}

/// `POST /contacts`: a name and at least one of email, phone, mobile, twitter_id or
/// unique_external_id; an email or external id already taken is a 409.
fn create_contact(account: &mut Account, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(&[
        "name",
        "email",
        "phone",
        "mobile",
        "twitter_id",
        "unique_external_id",
        "other_emails",
        "company_id",
        "view_all_tickets",
        "address",
        "custom_fields",
        "description",
        "job_title",
        "language",
        "tags",
        "time_zone",
    ]);
    let name = fields.required_string("name", &mut errors);
    let email = fields.string("email", &mut errors);
    let unique = fields.string("unique_external_id", &mut errors);
    let phone = fields.string("phone", &mut errors);
    let mobile = fields.string("mobile", &mut errors);
    let identified = email.is_some()
        || unique.is_some()
        || phone.is_some()
        || mobile.is_some()
        || fields.0.contains_key("twitter_id");
    if !identified {
        errors.push(field_error(
            "email",
            "Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields",
            "missing_field",
        ));
    }
    checked(errors)?;
    let taken = |field: &str, id: u64| {
        let errors = vec![field_error(
            field,
            "It should be a unique value",
            "duplicate_value",
        )];
        let mut answer = validation_with(StatusCode::CONFLICT, errors);
        if let Some(error) = answer
            .body
            .as_mut()
            .and_then(|body| body["errors"].get_mut(0))
        {
            error["additional_info"] = json!({ "user_id": id });
        }
        answer
    };
    if let Some(existing) = email.as_deref().and_then(|e| account.contact_by_email(e)) {
        return Err(taken("email", existing.id));
    }
    if let Some(existing) = unique.as_deref().and_then(|u| {
        account
            .users
            .iter()
            .find(|user| user.unique_external_id.as_deref() == Some(u))
    }) {
        return Err(taken("unique_external_id", existing.id));
    }
    let id = account.add_contact(
        name.as_deref().unwrap_or_default(),
        email.as_deref(),
        unique.as_deref(),
    );
    if let Some(contact) = account.users.iter_mut().find(|user| user.id == id) {
        contact.phone = phone;
        contact.mobile = mobile;
    }
    let contact = account.user(id).expect("just added");
    Ok(Answer::created(account.contact_json(contact)))
}

/// The fields a ticket's create and update take.
const TICKET_FIELDS: &[&str] = &[
    "name",
    "requester_id",
    "email",
    "facebook_id",
    "phone",
    "twitter_id",
    "unique_external_id",
    "subject",
    "type",
    "status",
    "priority",
    "description",
    "responder_id",
    "attachments",
    "cc_emails",
    "custom_fields",
    "due_by",
    "email_config_id",
    "fr_due_by",
    "group_id",
    "parent_id",
    "product_id",
    "source",
    "tags",
    "company_id",
    "internal_agent_id",
    "internal_group_id",
];

/// `POST /tickets`: the requester by `requester_id` (a contact that exists) or `email` (found,
/// or created with `name`), a subject and a description; status and priority from Freshdesk's
/// lists.
fn create_ticket(account: &mut Account, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(TICKET_FIELDS);
    let subject = fields.required_string("subject", &mut errors);
    let description = fields.required_string("description", &mut errors);
    let requester_id = fields.id("requester_id", &mut errors);
    let email = fields.string("email", &mut errors);
    let name = fields.string("name", &mut errors);
    let status = fields.one_of("status", &STATUSES, &mut errors);
    let priority = fields.one_of("priority", &PRIORITIES, &mut errors);
    let tags = fields.tags(&mut errors);
    if requester_id.is_none() && email.is_none() {
        errors.push(field_error(
            "requester_id",
            "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields",
            "missing_field",
        ));
    }
    if let Some(id) = requester_id
        && account.user(id).is_none_or(|user| user.agent)
    {
        errors.push(field_error(
            "requester_id",
            "There is no contact matching the given requester_id",
            "invalid_value",
        ));
    }
    if name.is_some() && email.is_none() && !fields.0.contains_key("phone") {
        errors.push(field_error(
            "name",
            "It should be given only with email or phone",
            "invalid_value",
        ));
    }
    checked(errors)?;
    let requester = match (requester_id, email.as_deref()) {
        (Some(id), _) => id,
        (None, Some(email)) => match account.contact_by_email(email) {
            Some(contact) => contact.id,
            None => {
                let local = email.split('@').next().unwrap_or(email);
                let name = name.as_deref().unwrap_or(local).to_owned();
                account.add_contact(&name, Some(email), None)
            }
        },
        (None, None) => unreachable!("refused above"),
    };
    let id = account.open_ticket(
        subject.as_deref().unwrap_or_default(),
        description.as_deref().unwrap_or_default(),
        requester,
        SOURCE_PORTAL,
    );
    let ticket = account.tickets.get_mut(&id).ok_or_else(Answer::not_found)?;
    ticket.status = status.unwrap_or(ticket.status);
    ticket.priority = priority.unwrap_or(ticket.priority);
    ticket.tags = tags.unwrap_or_default();
    Ok(Answer::created(ticket.json(View::Full)))
}

/// `GET /tickets/{id}?include=requester`.
fn show_ticket(account: &Account, id: Option<u64>, params: &Params) -> Call {
    params.only(&["include"])?;
    let includes: Vec<&str> = params
        .get("include")
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let known = [
        "conversations",
        "requester",
        "company",
        "stats",
        "sla_policy",
    ];
    if let Some(unknown) = includes.iter().find(|name| !known.contains(name)) {
        return Err(validation(vec![field_error(
            "include",
            format!(
                "It should be one of these values: '{}' ({unknown})",
                known.join(",")
            ),
            "invalid_value",
        )]));
    }
    let ticket = id
        .and_then(|id| account.tickets.get(&id))
        .ok_or_else(Answer::not_found)?;
    let mut json = ticket.json(View::Full);
    if includes.contains(&"requester") {
        let requester = account.user(ticket.requester_id);
        json["requester"] = requester.map_or(Value::Null, |user| {
            json!({
                "id": user.id, "name": user.name, "email": user.email,
                "mobile": user.mobile, "phone": user.phone,
            })
        });
    }
    if includes.contains(&"conversations") {
        let entries: Vec<Value> = ticket
            .conversations
            .iter()
            .take(10)
            .map(|entry| conversation_json(&account.base_url, ticket, entry))
            .collect();
        json["conversations"] = Value::Array(entries);
    }
    Ok(Answer::ok(json))
}

/// `PUT /tickets/{id}`: its status, priority, subject or tags.
fn update_ticket(account: &mut Account, id: Option<u64>, fields: &Fields<'_>) -> Call {
    let mut errors = fields.only(TICKET_FIELDS);
    let status = fields.one_of("status", &STATUSES, &mut errors);
    let priority = fields.one_of("priority", &PRIORITIES, &mut errors);
    let subject = fields.string("subject", &mut errors);
    let tags = fields.tags(&mut errors);
    checked(errors)?;
    let ticket = id
        .and_then(|id| account.tickets.get_mut(&id))
        .ok_or_else(Answer::not_found)?;
    if let Some(status) = status {
        ticket.status = status;
    }
    if let Some(priority) = priority {
        ticket.priority = priority;
    }
    if let Some(subject) = subject {
        ticket.subject = subject;
    }
    if let Some(tags) = tags {
        ticket.tags = tags;
    }
    ticket.touch();
    Ok(Answer::ok(ticket.json(View::Full)))
}

/// `GET /tickets/{id}/conversations?per_page=…&page=…`, oldest first, with `Link` to the next
/// page.
fn conversations(shared: &Shared, account: &Account, id: Option<u64>, params: &Params) -> Call {
    params.only(&["page", "per_page"])?;
    let (page, per_page) = params.paging()?;
    let ticket = id
        .and_then(|id| account.tickets.get(&id))
        .ok_or_else(Answer::not_found)?;
    let (entries, more) = page_of(&ticket.conversations, page, per_page);
    let mut answer = Answer::ok(Value::Array(
        entries
            .iter()
            .map(|entry| conversation_json(&account.base_url, ticket, entry))
            .collect(),
    ));
    answer.next_page = more.then(|| {
        format!(
            "{}/api/v2/tickets/{}/conversations?per_page={per_page}&page={}",
            shared.base_url,
            ticket.id,
            page + 1
        )
    });
    Ok(answer)
}

/// `POST /tickets/{id}/reply`: a public reply by the API key's agent (or `user_id`, an agent),
/// emailed to the requester.
fn reply(
    account: &mut Account,
    id: Option<u64>,
    fields: &Fields<'_>,
    files: Vec<FormFile>,
) -> Call {
    let mut errors = fields.only(&[
        "body",
        "cc_emails",
        "bcc_emails",
        "from_email",
        "user_id",
        "attachments",
    ]);
    let body = fields.required_string("body", &mut errors);
    let author = author(account, fields, true, &mut errors);
    check_files(&files, &mut errors);
    checked(errors)?;
    let body = body.unwrap_or_default();
    let entry = NewEntry {
        user_id: author,
        body: &body,
        private: false,
        incoming: false,
        source: SOURCE_REPLY,
        files,
    };
    id.and_then(|id| account.write(id, entry))
        .map(Answer::created)
        .ok_or_else(Answer::not_found)
}

/// `POST /tickets/{id}/notes`: private unless `private: false`; `incoming: true` makes it the
/// customer's message; `user_id` (any user of the account) writes it as someone else than the
/// API key's agent.
fn note(account: &mut Account, id: Option<u64>, fields: &Fields<'_>, files: Vec<FormFile>) -> Call {
    let mut errors = fields.only(&[
        "body",
        "private",
        "incoming",
        "user_id",
        "notify_emails",
        "attachments",
    ]);
    let body = fields.required_string("body", &mut errors);
    let private = fields.boolean("private", &mut errors).unwrap_or(true);
    let incoming = fields.boolean("incoming", &mut errors).unwrap_or(false);
    let author = author(account, fields, false, &mut errors);
    check_files(&files, &mut errors);
    checked(errors)?;
    let body = body.unwrap_or_default();
    let entry = NewEntry {
        user_id: author,
        body: &body,
        private,
        incoming,
        source: SOURCE_NOTE,
        files,
    };
    id.and_then(|id| account.write(id, entry))
        .map(Answer::created)
        .ok_or_else(Answer::not_found)
}

/// Who writes a reply or note: `user_id` (an agent, for a reply; any user, for a note), else
/// the API key's agent.
fn author(
    account: &Account,
    fields: &Fields<'_>,
    agents_only: bool,
    errors: &mut Vec<FieldError>,
) -> u64 {
    let Some(id) = fields.id("user_id", errors) else {
        return FRESHDESK_API_AGENT;
    };
    let allowed = account
        .user(id)
        .is_some_and(|user| user.agent || !agents_only);
    if !allowed {
        let who = if agents_only { "agent" } else { "contact" };
        errors.push(field_error(
            "user_id",
            format!("There is no {who} matching the given user_id"),
            "invalid_value",
        ));
    }
    id
}

/// `GET /search/tickets?query="tag:'…'"`: the query language's tag clause, in its double
/// quotes; 30 results a page.
fn search_tickets(account: &Account, params: &Params) -> Call {
    params.only(&["query", "page"])?;
    let invalid = |message: &str| validation(vec![field_error("query", message, "invalid_value")]);
    let query = params.get("query").ok_or_else(|| {
        validation(vec![field_error(
            "query",
            "It should be a/an String",
            "missing_field",
        )])
    })?;
    let clause = query
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| invalid("The query should be enclosed in double quotes"))?;
    let tag = clause
        .trim()
        .strip_prefix("tag:'")
        .and_then(|rest| rest.strip_suffix('\''))
        .filter(|tag| !tag.is_empty() && !tag.contains('\''))
        .ok_or_else(|| invalid("This fake only searches one tag: \"tag:'…'\""))?;
    let page = match params.get("page") {
        None => 1,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|page| (1..=10).contains(page))
            .ok_or_else(|| {
                validation(vec![field_error(
                    "page",
                    "It should be a Positive Integer less than or equal to 10",
                    "invalid_value",
                )])
            })?,
    };
    let mut found: Vec<&FreshdeskTicket> = account
        .tickets
        .values()
        .filter(|ticket| ticket.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
        .collect();
    found.sort_by_key(|ticket| std::cmp::Reverse((ticket.created_at, ticket.id)));
    let (results, _) = page_of(&found, page, SEARCH_PAGE);
    Ok(Answer::ok(json!({
        "results": results.iter().map(|ticket| ticket.json(View::Search)).collect::<Vec<_>>(),
        "total": found.len(),
    })))
}

/// `GET /tickets?updated_since=…&order_by=…&order_type=…&per_page=…&page=…`: without
/// `updated_since`, only tickets created in the last 30 days.
fn list_tickets(shared: &Shared, account: &Account, params: &Params) -> Call {
    params.only(&[
        "filter",
        "requester_id",
        "email",
        "company_id",
        "updated_since",
        "order_by",
        "order_type",
        "include",
        "per_page",
        "page",
    ])?;
    let (page, per_page) = params.paging()?;
    let since = match params.get("updated_since") {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| {
                    validation(vec![field_error(
                        "updated_since",
                        "It should be in the 'YYYY-MM-DDTHH:MM:SSZ' format",
                        "invalid_value",
                    )])
                })?,
        ),
    };
    let order_by = params.get("order_by").unwrap_or("created_at");
    if !["created_at", "due_by", "updated_at", "status"].contains(&order_by) {
        return Err(validation(vec![field_error(
            "order_by",
            "It should be one of these values: 'created_at,due_by,updated_at,status'",
            "invalid_value",
        )]));
    }
    let descending = match params.get("order_type").unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => {
            return Err(validation(vec![field_error(
                "order_type",
                "It should be one of these values: 'asc,desc'",
                "invalid_value",
            )]));
        }
    };
    let oldest_created = now() - chrono::Duration::days(LIST_DAYS);
    let mut tickets: Vec<&FreshdeskTicket> = account
        .tickets
        .values()
        .filter(|ticket| match since {
            Some(since) => ticket.updated_at >= since,
            None => ticket.created_at >= oldest_created,
        })
        .collect();
    tickets.sort_by_key(|ticket| {
        let at = match order_by {
            "updated_at" => ticket.updated_at,
            "due_by" => ticket.created_at + chrono::Duration::days(3),
            "status" => {
                DateTime::<Utc>::from_timestamp(i64::from(ticket.status), 0).unwrap_or_default()
            }
            _ => ticket.created_at,
        };
        (at, ticket.id)
    });
    if descending {
        tickets.reverse();
    }
    let (items, more) = page_of(&tickets, page, per_page);
    let mut answer = Answer::ok(Value::Array(
        items.iter().map(|ticket| ticket.json(View::List)).collect(),
    ));
    answer.next_page = more.then(|| {
        let mut next: Vec<(String, String)> = params
            .0
            .iter()
            .filter(|(key, _)| key != "page")
            .cloned()
            .collect();
        next.push(("page".into(), (page + 1).to_string()));
        let query: Vec<String> = next
            .iter()
            .map(|(key, value)| format!("{key}={}", url_encoded(value)))
            .collect();
        format!("{}/api/v2/tickets?{}", shared.base_url, query.join("&"))
    });
    Ok(answer)
}

/// A query value as a URL carries it: unreserved characters as they are, the rest as `%XX`.
pub(crate) fn url_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_become_freshdesk_body_text() {
        assert_eq!(
            html_text("<div>Hi &lt;b&gt; &amp; you</div>"),
            "Hi <b> & you"
        );
        assert_eq!(html_text("line one<br>line two"), "line one\nline two");
        assert_eq!(
            html_text("Ann&#39;s &quot;parcel&quot;<br/>two"),
            "Ann's \"parcel\"\ntwo"
        );
        assert_eq!(html_text(&paragraph("a <b>\nc")), "a <b>\nc");
    }

    #[test]
    fn pages_and_whether_more_follow() {
        let items: Vec<u32> = (1..=5).collect();
        assert_eq!(page_of(&items, 1, 2), (vec![1, 2], true));
        assert_eq!(page_of(&items, 3, 2), (vec![5], false));
        assert_eq!(page_of(&items, 4, 2), (vec![], false));
        assert_eq!(page_of(&items, 1, 5), (items.clone(), false));
    }

    /// One HTTP/1.1 exchange with the fake: the status line's code, the head, the body. `body`
    /// is JSON.
    async fn call(
        fake: &FakeFreshdesk,
        method: &str,
        path: &str,
        authorized: bool,
        body: Option<&str>,
    ) -> (u16, String, String) {
        let body = body.unwrap_or_default().as_bytes();
        exchange(fake, method, path, authorized, "application/json", body).await
    }

    async fn exchange(
        fake: &FakeFreshdesk,
        method: &str,
        path: &str,
        authorized: bool,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = fake.base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("connects");
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:X", fake.api_key));
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
        if authorized {
            request.push_str(&format!("authorization: Basic {credentials}\r\n"));
        }
        request.push_str(&format!(
            "content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ));
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).await.expect("writes");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("reads");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_default();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn refuses_what_freshdesk_refuses_and_counts_the_minute() {
        let fake = FakeFreshdesk::start().await;
        let (status, _, body) = call(&fake, "GET", "/api/v2/agents/me", false, None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("invalid_credentials"), "{body}");

        let (status, _, body) = call(&fake, "GET", "/api/v2/tickets?since=x", true, None).await;
        assert_eq!(status, 400);
        assert!(body.contains("invalid_field"), "{body}");
        let unknown_field = r#"{"name": "Ann", "email": "ann@example.test", "nick": "A"}"#;
        let (status, _, body) =
            call(&fake, "POST", "/api/v2/contacts", true, Some(unknown_field)).await;
        assert_eq!(status, 400);
        assert!(body.contains("nick"), "{body}");
        let (status, _, _) = call(&fake, "GET", "/api/v2/tickets/1", true, None).await;
        assert_eq!(status, 404);

        fake.limit_per_minute(2);
        let (status, head, _) = call(&fake, "GET", "/api/v2/agents/me", true, None).await;
        assert_eq!(status, 200);
        assert!(head.contains("x-ratelimit-remaining: 1"), "{head}");
        call(&fake, "GET", "/api/v2/agents/me", true, None).await;
        let (status, head, _) = call(&fake, "GET", "/api/v2/agents/me", true, None).await;
        assert_eq!(status, 429);
        assert!(head.contains("retry-after: "), "{head}");
        let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [401, 400, 400, 404, 200, 200, 429]);
    }

    /// `(name, file name, content type, bytes)` of a part to send.
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    /// A form as reqwest writes one: text parts, then files with a name and a type.
    fn form(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
        let mut body = b"preamble\r\n".to_vec();
        for (name, file_name, content_type, bytes) in parts {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
            );
            if let Some(file_name) = file_name {
                body.extend(format!("; filename=\"{file_name}\"").bytes());
            }
            if let Some(content_type) = content_type {
                body.extend(format!("\r\nContent-Type: {content_type}").bytes());
            }
            body.extend(b"\r\n\r\n");
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        body
    }

    #[test]
    fn multipart_bodies_are_read_part_by_part() {
        let boundary = "a1b2-c3";
        let body = form(
            boundary,
            &[
                ("body", None, None, b"<div>Hi</div>"),
                (
                    "attachments[]",
                    Some(r#"say \"hi\".bin"#),
                    Some("application/octet-stream"),
                    b"\r\n--a1b2 not the end\r\n",
                ),
            ],
        );
        let parts = multipart_parts(
            &format!("multipart/form-data; boundary=\"{boundary}\""),
            &body,
        )
        .expect("a form");
        assert_eq!(
            parts,
            [
                FormPart {
                    name: "body".into(),
                    file_name: None,
                    content_type: None,
                    bytes: b"<div>Hi</div>".to_vec(),
                },
                FormPart {
                    name: "attachments[]".into(),
                    file_name: Some("say \"hi\".bin".into()),
                    content_type: Some("application/octet-stream".into()),
                    bytes: b"\r\n--a1b2 not the end\r\n".to_vec(),
                },
            ]
        );
        assert_eq!(multipart_parts("application/json", &body), None);
        assert_eq!(
            multipart_parts("multipart/form-data; boundary=other", &body),
            None
        );
        let cut = &body[..body.len() - 12];
        assert_eq!(
            multipart_parts("multipart/form-data; boundary=a1b2-c3", cut),
            None
        );
    }

    #[tokio::test]
    async fn a_note_with_files_keeps_them_on_the_conversation() {
        let fake = FakeFreshdesk::start().await;
        let ticket = fake.customer_ticket("Ann", "ann@example.test", "Parcel", "Where is it?");
        let content_type = "multipart/form-data; boundary=xyz";
        let photo: &[u8] = &[0xff, 0xd8, 0xff, 0x00, 0x0d, 0x0a];
        let note = form(
            "xyz",
            &[
                ("body", None, None, b"<div>Photo</div>"),
                ("private", None, None, b"false"),
                ("attachments[]", Some("door.jpg"), Some("image/jpeg"), photo),
            ],
        );
        let path = format!("/api/v2/tickets/{ticket}/notes");
        let (status, _, answer) = exchange(&fake, "POST", &path, true, content_type, &note).await;
        assert_eq!(status, 201, "{answer}");
        let written: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(written["attachments"][0]["name"], "door.jpg");
        assert_eq!(written["attachments"][0]["size"], photo.len());
        let entry = &fake.ticket(ticket).expect("the ticket").conversations[0];
        assert!(!entry.private, "the form's \"false\" is read as a boolean");
        assert_eq!(entry.body, "<div>Photo</div>");
        assert_eq!(entry.attachments.len(), 1);
        assert_eq!(entry.attachments[0].name, "door.jpg");
        assert_eq!(entry.attachments[0].content_type, "image/jpeg");
        assert_eq!(entry.attachments[0].bytes, photo);
        assert_eq!(
            fake.requests().last().expect("recorded").body,
            json!({ "body": "<div>Photo</div>", "private": "false" })
        );

        // Files only as `attachments[]`, and only on replies and notes.
        let misnamed = form(
            "xyz",
            &[
                ("body", None, None, b"x"),
                ("file", Some("a.txt"), None, b"a"),
            ],
        );
        let (status, _, answer) =
            exchange(&fake, "POST", &path, true, content_type, &misnamed).await;
        assert_eq!(status, 400);
        assert!(answer.contains("file"), "{answer}");
        let on_ticket = form("xyz", &[("attachments[]", Some("a.txt"), None, b"a")]);
        let put = format!("/api/v2/tickets/{ticket}");
        let (status, _, _) = exchange(&fake, "PUT", &put, true, content_type, &on_ticket).await;
        assert_eq!(status, 400);
        let (status, _, _) = exchange(&fake, "POST", &path, true, content_type, b"garbage").await;
        assert_eq!(status, 400);
        assert_eq!(
            fake.ticket(ticket).expect("the ticket").conversations.len(),
            1
        );
    }
}
