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

mod account;
mod calls;
mod multipart;
use calls::*;
pub use multipart::multipart_parts;
use multipart::*;

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

/// The page `page` of `items`, and whether another follows.
fn page_of<T: Clone>(items: &[T], page: usize, per_page: usize) -> (Vec<T>, bool) {
    let start = (page - 1).saturating_mul(per_page);
    let end = start.saturating_add(per_page);
    let slice = items.get(start..end.min(items.len())).unwrap_or_default();
    (slice.to_vec(), end < items.len())
}

/// A JSON body's fields, checked the way Freshdesk checks them.
struct Fields<'a>(&'a Map<String, Value>);

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

type Call = Result<Answer, Answer>;

fn checked(errors: Vec<FieldError>) -> Result<(), Answer> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
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
mod tests;
