//! A Zendesk account on loopback: the Support API v2 calls the hub makes (users, tickets,
//! comments, uploads, the cursor-based incremental export), with state, so that a test runs the
//! whole sync loop and checks what the hub wrote. It checks the API token on every request,
//! honours `Idempotency-Key` on ticket creates, may answer 429 with `Retry-After` (once, or past
//! a per-minute budget), and signs webhooks the way Zendesk does.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{fake_freshdesk::url_encoded, fake_limits::Limits};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// The API user the hub signs in as.
pub const ZENDESK_API_USER: u64 = 1;
/// A Zendesk agent who answers tickets.
pub const ZENDESK_AGENT: u64 = 2;

/// One comment of a ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct ZendeskComment {
    pub id: u64,
    pub author_id: u64,
    pub public: bool,
    pub body: String,
    /// `(file name, content URL)` of each file on the comment.
    pub attachments: Vec<(String, String)>,
}

/// A file uploaded with `POST /api/v2/uploads.json`, under its token.
#[derive(Clone, Debug, PartialEq)]
pub struct ZendeskUpload {
    pub file_name: String,
    /// The request's `Content-Type`.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// The comment it is attached to; `None` while no comment used its token.
    pub comment_id: Option<u64>,
}

/// Zendesk's largest upload (plans allow 20 to 50 MB).
const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// One ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct ZendeskTicket {
    pub id: u64,
    pub subject: String,
    pub status: String,
    pub priority: Option<String>,
    pub requester_id: u64,
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    pub comments: Vec<ZendeskComment>,
    /// The account's change counter when the ticket last changed: the export's cursor.
    version: u64,
    updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct User {
    id: u64,
    name: String,
    email: Option<String>,
    external_id: Option<String>,
}

/// One request the fake answered (429s included).
#[derive(Clone, Debug)]
pub struct ZendeskRequest {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub at: Instant,
    pub body: Value,
}

#[derive(Default)]
struct Account {
    tickets: BTreeMap<u64, ZendeskTicket>,
    users: Vec<User>,
    next_id: u64,
    version: u64,
    idempotency: HashMap<String, u64>,
    uploads: HashMap<String, ZendeskUpload>,
    requests: Vec<ZendeskRequest>,
    limits: Limits,
}

#[derive(Clone)]
struct Shared {
    account: Arc<Mutex<Account>>,
    authorization: String,
    base_url: String,
}

/// The running fake; dropping it stops the server.
pub struct FakeZendesk {
    pub base_url: String,
    pub email: String,
    pub api_token: String,
    shared: Shared,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeZendesk {
    pub async fn start() -> FakeZendesk {
        let email = "switchboard@example.test".to_owned();
        let api_token = "zd-token-123".to_owned();
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{api_token}"))
        );
        let account = Account {
            next_id: 1000,
            users: vec![
                User {
                    id: ZENDESK_API_USER,
                    name: "Switchboard".into(),
                    email: Some(email.clone()),
                    external_id: None,
                },
                User {
                    id: ZENDESK_AGENT,
                    name: "Dana Agent".into(),
                    email: Some("dana@example.test".into()),
                    external_id: None,
                },
            ],
            ..Account::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let addr: SocketAddr = listener.local_addr().expect("has an address");
        let shared = Shared {
            account: Arc::new(Mutex::new(account)),
            authorization,
            base_url: format!("http://{addr}"),
        };
        let app = Router::new()
            .route("/api/v2/users/me.json", get(me))
            .route(
                "/api/v2/users/create_or_update.json",
                post(create_or_update),
            )
            .route(
                "/api/v2/tickets.json",
                post(create_ticket).get(find_tickets),
            )
            .route(
                "/api/v2/tickets/{file}",
                get(show_ticket).put(update_ticket),
            )
            .route("/api/v2/tickets/{id}/comments.json", get(comments))
            .route("/api/v2/incremental/tickets/cursor.json", get(export))
            .route("/api/v2/uploads.json", post(upload))
            .route("/attachments/token/{token}/", get(download))
            .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeZendesk {
            base_url: shared.base_url.clone(),
            email,
            api_token,
            shared,
            _shutdown: stop,
        }
    }

    fn account(&self) -> MutexGuard<'_, Account> {
        self.shared.account()
    }

    /// An inbox config for this account.
    pub fn config(&self, webhook_secret: &str, escalation_desk: bool) -> Value {
        json!({
            "base_url": self.base_url,
            "email": self.email,
            "api_token": self.api_token,
            "webhook_secret": webhook_secret,
            "escalation_desk": escalation_desk,
            "poll_interval_secs": 5,
            "rate_limit_per_minute": 700,
        })
    }

    pub fn tickets(&self) -> Vec<ZendeskTicket> {
        self.account().tickets.values().cloned().collect()
    }

    pub fn ticket(&self, id: u64) -> Option<ZendeskTicket> {
        self.account().tickets.get(&id).cloned()
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<ZendeskRequest> {
        self.account().requests.clone()
    }

    /// The file uploaded under `token`, attached or not.
    pub fn upload(&self, token: &str) -> Option<ZendeskUpload> {
        self.account().uploads.get(token).cloned()
    }

    /// A helpdesk agent's comment on a ticket; answers its id. No webhook is sent.
    pub fn agent_comment(&self, ticket_id: u64, body: &str, public: bool) -> u64 {
        let mut account = self.account();
        let id = account.next();
        account.version += 1;
        let version = account.version;
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        ticket.comments.push(ZendeskComment {
            id,
            author_id: ZENDESK_AGENT,
            public,
            body: body.to_owned(),
            attachments: Vec::new(),
        });
        if public && ticket.status == "new" {
            ticket.status = "open".into();
        }
        ticket.touch(version);
        id
    }

    /// A helpdesk agent's public comment with a file; answers its id. No webhook is sent.
    pub fn agent_comment_with_file(&self, ticket_id: u64, body: &str, file_name: &str) -> u64 {
        let id = self.agent_comment(ticket_id, body, true);
        let url = format!("{}/attachments/token/{id}/?name={file_name}", self.base_url);
        let mut account = self.account();
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        if let Some(comment) = ticket.comments.iter_mut().find(|c| c.id == id) {
            comment.attachments.push((file_name.to_owned(), url));
        }
        id
    }

    /// A helpdesk agent sets a ticket's priority (`low`, `normal`, `high`, `urgent`).
    pub fn set_priority(&self, ticket_id: u64, priority: &str) {
        let mut account = self.account();
        account.version += 1;
        let version = account.version;
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        ticket.priority = Some(priority.to_owned());
        ticket.touch(version);
    }

    /// A helpdesk agent sets a ticket's status.
    pub fn set_status(&self, ticket_id: u64, status: &str) {
        let mut account = self.account();
        account.version += 1;
        let version = account.version;
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        ticket.status = status.to_owned();
        ticket.touch(version);
    }

    /// A customer opens a ticket in Zendesk (by email or a web form); answers its id.
    pub fn customer_ticket(&self, name: &str, email: &str, subject: &str, body: &str) -> u64 {
        let mut account = self.account();
        let requester = account.user_for(Some(name), Some(email), None);
        let id = account.next();
        let comment = account.next();
        account.version += 1;
        let version = account.version;
        account.tickets.insert(
            id,
            ZendeskTicket {
                id,
                subject: subject.to_owned(),
                status: "new".into(),
                priority: None,
                requester_id: requester,
                external_id: None,
                tags: Vec::new(),
                comments: vec![ZendeskComment {
                    id: comment,
                    author_id: requester,
                    public: true,
                    body: body.to_owned(),
                    attachments: Vec::new(),
                }],
                version,
                updated_at: Utc::now(),
            },
        );
        id
    }

    /// Makes a ticket look last changed `age` ago (before an inbox existed, say).
    pub fn backdate(&self, ticket_id: u64, age: Duration) {
        let mut account = self.account();
        let ticket = account
            .tickets
            .get_mut(&ticket_id)
            .expect("the ticket exists");
        ticket.updated_at = Utc::now() - chrono::Duration::from_std(age).expect("a short duration");
    }

    /// The next `count` requests are answered 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, count: usize, retry_after_secs: u64) {
        self.account().limits.throttle_next(count, retry_after_secs);
    }

    /// At most `per_minute` requests a minute; beyond, 429 with the seconds until one frees.
    pub fn limit_per_minute(&self, per_minute: usize) {
        self.account().limits.limit_per_minute(per_minute);
    }

    /// The body of Zendesk's event-subscription webhook for a comment added to a ticket.
    pub fn comment_webhook(&self, ticket_id: u64) -> Vec<u8> {
        let account = self.account();
        let ticket = account.tickets.get(&ticket_id).expect("the ticket exists");
        let comment = ticket.comments.last().expect("the ticket has a comment");
        json!({
            "account_id": 22129848,
            "detail": {
                "id": ticket.id.to_string(),
                "status": ticket.status.to_uppercase(),
                "subject": ticket.subject,
                "requester_id": ticket.requester_id.to_string(),
            },
            "event": {
                "comment": {
                    "id": comment.id.to_string(),
                    "body": comment.body,
                    "is_public": comment.public,
                    "author": {"id": comment.author_id.to_string(), "is_staff": true, "name": "Dana"}
                }
            },
            "id": "d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52",
            "subject": format!("zen:ticket:{}", ticket.id),
            "time": Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            "type": "zen:event-type:ticket.comment_added",
            "zendesk_event_version": "2022-11-06"
        })
        .to_string()
        .into_bytes()
    }
}

/// The headers Zendesk signs a webhook with: base64 HMAC-SHA256, keyed with the signing
/// secret, over the timestamp and the body (`body_first` for the order Zendesk's published
/// example uses).
pub fn zendesk_signature(
    secret: &str,
    body: &[u8],
    at: DateTime<Utc>,
    body_first: bool,
) -> Vec<(&'static str, String)> {
    let timestamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    if body_first {
        mac.update(body);
        mac.update(timestamp.as_bytes());
    } else {
        mac.update(timestamp.as_bytes());
        mac.update(body);
    }
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("x-zendesk-webhook-signature", signature),
        ("x-zendesk-webhook-signature-timestamp", timestamp),
    ]
}

impl Account {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn user_for(
        &mut self,
        name: Option<&str>,
        email: Option<&str>,
        external_id: Option<&str>,
    ) -> u64 {
        if let Some(user) = self.users.iter().find(|user| {
            (email.is_some() && user.email.as_deref() == email)
                || (external_id.is_some() && user.external_id.as_deref() == external_id)
        }) {
            return user.id;
        }
        let id = self.next();
        self.users.push(User {
            id,
            name: name.or(email).unwrap_or("Customer").to_owned(),
            email: email.map(str::to_owned),
            external_id: external_id.map(str::to_owned),
        });
        id
    }

    /// The files of the uploads a comment names by token, now attached to it: `(file name,
    /// content URL)`. Stricter than Zendesk is known to be: a token that is unknown, already
    /// attached or named twice refuses the whole update (422), so that a test sees the mistake.
    fn attach(
        &mut self,
        base_url: &str,
        comment_id: u64,
        tokens: &Value,
    ) -> Result<Vec<(String, String)>, (StatusCode, String)> {
        let refused = |status, message: &str| Err((status, message.to_owned()));
        let tokens: Vec<&str> = match tokens {
            Value::Null => return Ok(Vec::new()),
            Value::Array(tokens) => match tokens.iter().map(Value::as_str).collect() {
                Some(tokens) => tokens,
                None => return refused(StatusCode::BAD_REQUEST, "uploads must be tokens"),
            },
            _ => return refused(StatusCode::BAD_REQUEST, "uploads must be a list"),
        };
        for (index, token) in tokens.iter().enumerate() {
            let usable = self
                .uploads
                .get(*token)
                .is_some_and(|upload| upload.comment_id.is_none());
            if !usable || tokens[..index].contains(token) {
                return refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("upload token {token} is unknown or already used"),
                );
            }
        }
        Ok(tokens
            .into_iter()
            .filter_map(|token| {
                let upload = self.uploads.get_mut(token)?;
                upload.comment_id = Some(comment_id);
                let url = format!(
                    "{base_url}/attachments/token/{token}/?name={}",
                    url_encoded(&upload.file_name)
                );
                Some((upload.file_name.clone(), url))
            })
            .collect())
    }

    fn user_json(&self, id: u64) -> Value {
        match self.users.iter().find(|user| user.id == id) {
            Some(user) => json!({
                "id": user.id, "name": user.name, "email": user.email,
                "external_id": user.external_id, "phone": null,
                "role": if user.id <= ZENDESK_AGENT { "agent" } else { "end-user" },
            }),
            None => Value::Null,
        }
    }
}

impl ZendeskTicket {
    fn touch(&mut self, version: u64) {
        self.version = version;
        self.updated_at = Utc::now();
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "url": format!("https://example.zendesk.com/api/v2/tickets/{}.json", self.id),
            "subject": self.subject,
            "status": self.status,
            "priority": self.priority,
            "requester_id": self.requester_id,
            "external_id": self.external_id,
            "tags": self.tags,
            "created_at": self.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "updated_at": self.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }
}

/// The comment as the API shows it; its files' types and sizes are those of their uploads.
fn comment_json(comment: &ZendeskComment, uploads: &HashMap<String, ZendeskUpload>) -> Value {
    let attachments: Vec<Value> = comment
        .attachments
        .iter()
        .zip(0..)
        .map(|((name, url), index)| {
            let upload = url
                .split_once("/attachments/token/")
                .and_then(|(_, rest)| rest.split('/').next())
                .and_then(|token| uploads.get(token));
            json!({
                "id": comment.id * 10 + index, "file_name": name, "content_url": url,
                "content_type": upload.map_or("image/png", |upload| upload.content_type.as_str()),
                "size": upload.map_or(2048, |upload| upload.bytes.len()),
            })
        })
        .collect();
    json!({
        "id": comment.id,
        "type": "Comment",
        "author_id": comment.author_id,
        "public": comment.public,
        "body": comment.body,
        "plain_body": comment.body,
        "html_body": format!("<p>{}</p>", comment.body),
        "attachments": attachments,
        "created_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

impl Shared {
    fn account(&self) -> MutexGuard<'_, Account> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks the token and the rate limits and records the request: `Some` is the refusal to
    /// answer instead of serving it.
    fn refuse(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Value,
    ) -> Option<Response> {
        let mut account = self.account();
        let now = Instant::now();
        let authorized = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some(self.authorization.as_str());
        let mut refusal = None;
        if !authorized {
            refusal = Some((StatusCode::UNAUTHORIZED, None));
        } else if let Some(retry_after) = account.limits.refuse(now) {
            refusal = Some((StatusCode::TOO_MANY_REQUESTS, Some(retry_after)));
        }
        account.requests.push(ZendeskRequest {
            method,
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
            status: refusal.as_ref().map_or(200, |(status, _)| status.as_u16()),
            at: now,
            body: body.clone(),
        });
        refusal.map(|(status, retry_after)| {
            let mut response = error(status, status.canonical_reason().unwrap_or("refused"));
            if let Some(secs) = retry_after
                && let Ok(value) = secs.to_string().parse()
            {
                response.headers_mut().insert("retry-after", value);
            }
            response
        })
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn me(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(refusal) = shared.refuse(Method::GET, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let account = shared.account();
    Json(json!({"user": account.user_json(ZENDESK_API_USER)})).into_response()
}

async fn create_or_update(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::POST, &uri, &headers, &body) {
        return refusal;
    }
    let user = &body["user"];
    let mut account = shared.account();
    let id = account.user_for(
        user["name"].as_str(),
        user["email"].as_str(),
        user["external_id"].as_str(),
    );
    Json(json!({"user": account.user_json(id)})).into_response()
}

async fn create_ticket(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::POST, &uri, &headers, &body) {
        return refusal;
    }
    let mut account = shared.account();
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if let Some(existing) = key.as_ref().and_then(|key| account.idempotency.get(key)) {
        let ticket = &account.tickets[existing];
        let mut response = (
            StatusCode::CREATED,
            Json(json!({"ticket": ticket.json(), "audit": {"events": []}})),
        )
            .into_response();
        response.headers_mut().insert(
            "x-idempotency-lookup",
            "hit".parse().expect("a header value"),
        );
        return response;
    }
    let new = &body["ticket"];
    let Some(requester_id) = new["requester_id"].as_u64() else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "requester_id is required");
    };
    let id = account.next();
    let comment_id = account.next();
    let attachments = match account.attach(&shared.base_url, comment_id, &new["comment"]["uploads"])
    {
        Ok(attachments) => attachments,
        Err((status, message)) => return error(status, &message),
    };
    account.version += 1;
    let comment = ZendeskComment {
        id: comment_id,
        author_id: ZENDESK_API_USER,
        public: new["comment"]["public"].as_bool().unwrap_or(true),
        body: new["comment"]["body"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        attachments,
    };
    let ticket = ZendeskTicket {
        id,
        subject: new["subject"].as_str().unwrap_or_default().to_owned(),
        status: "new".into(),
        priority: new["priority"].as_str().map(str::to_owned),
        requester_id,
        external_id: new["external_id"].as_str().map(str::to_owned),
        tags: new["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        comments: vec![comment.clone()],
        version: account.version,
        updated_at: Utc::now(),
    };
    let json = json!({
        "ticket": ticket.json(),
        "audit": {"id": account.next_id + 1, "events": [comment_json(&comment, &account.uploads)]},
    });
    account.tickets.insert(id, ticket);
    if let Some(key) = key {
        account.idempotency.insert(key, id);
    }
    (StatusCode::CREATED, Json(json)).into_response()
}

/// `GET /api/v2/tickets.json?external_id=…`: the tickets with that external id.
async fn find_tickets(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::GET, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let account = shared.account();
    let external_id = query.get("external_id");
    let tickets: Vec<Value> = account
        .tickets
        .values()
        .filter(|t| external_id.is_some() && t.external_id.as_ref() == external_id)
        .map(ZendeskTicket::json)
        .collect();
    Json(json!({"tickets": tickets, "next_page": null, "count": tickets.len()})).into_response()
}

/// `{id}.json` → the id.
fn ticket_id(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

async fn show_ticket(
    State(shared): State<Shared>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::GET, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let account = shared.account();
    let Some(ticket) = ticket_id(&file).and_then(|id| account.tickets.get(&id)) else {
        return error(StatusCode::NOT_FOUND, "RecordNotFound");
    };
    Json(json!({
        "ticket": ticket.json(),
        "users": [account.user_json(ticket.requester_id)],
    }))
    .into_response()
}

async fn update_ticket(
    State(shared): State<Shared>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::PUT, &uri, &headers, &body) {
        return refusal;
    }
    let mut guard = shared.account();
    let account = &mut *guard;
    let Some(id) = ticket_id(&file).filter(|id| account.tickets.contains_key(id)) else {
        return error(StatusCode::NOT_FOUND, "RecordNotFound");
    };
    if account.tickets[&id].status == "closed" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "closed tickets cannot be updated",
        );
    }
    let update = &body["ticket"];
    let mut events = Vec::new();
    let comment_id = account.next();
    let attachments = match update.get("comment") {
        Some(comment) => match account.attach(&shared.base_url, comment_id, &comment["uploads"]) {
            Ok(attachments) => attachments,
            Err((status, message)) => return error(status, &message),
        },
        None => Vec::new(),
    };
    account.version += 1;
    let version = account.version;
    let ticket = account.tickets.get_mut(&id).expect("checked above");
    if let Some(comment) = update.get("comment") {
        let comment = ZendeskComment {
            id: comment_id,
            author_id: comment["author_id"].as_u64().unwrap_or(ZENDESK_API_USER),
            public: comment["public"].as_bool().unwrap_or(true),
            body: comment["body"].as_str().unwrap_or_default().to_owned(),
            attachments,
        };
        events.push(comment_json(&comment, &account.uploads));
        // A requester's comment reopens a solved ticket, as in Zendesk.
        if comment.author_id == ticket.requester_id && ticket.status == "solved" {
            ticket.status = "open".into();
        }
        ticket.comments.push(comment);
    }
    if let Some(status) = update["status"].as_str() {
        ticket.status = status.to_owned();
    }
    ticket.touch(version);
    Json(json!({"ticket": ticket.json(), "audit": {"events": events}})).into_response()
}

/// `POST /api/v2/uploads.json?filename=…` with the file as the body, typed by `Content-Type`:
/// stored under a new token, answered 201 as Zendesk does.
async fn upload(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::POST, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let Some(file_name) = query
        .get("filename")
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
    else {
        return error(StatusCode::BAD_REQUEST, "filename is required");
    };
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut account = shared.account();
    let id = account.next();
    let token = format!("zdtoken{id:08x}");
    let attachment = json!({
        "id": id,
        "file_name": file_name,
        "content_url": format!(
            "{}/attachments/token/{token}/?name={}",
            shared.base_url,
            url_encoded(file_name)
        ),
        "content_type": content_type,
        "size": body.len(),
        "inline": false,
        "deleted": false,
        "thumbnails": [],
    });
    account.uploads.insert(
        token.clone(),
        ZendeskUpload {
            file_name: file_name.to_owned(),
            content_type,
            bytes: body.to_vec(),
            comment_id: None,
        },
    );
    let expires_at = Utc::now() + chrono::Duration::minutes(60);
    (
        StatusCode::CREATED,
        Json(json!({"upload": {
            "token": token,
            "expires_at": expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "attachments": [attachment],
            "attachment": attachment,
        }})),
    )
        .into_response()
}

/// `GET /attachments/token/{token}/?name=…`: an upload's bytes, as a content URL serves them
/// (without the API's authentication).
async fn download(State(shared): State<Shared>, Path(token): Path<String>) -> Response {
    let account = shared.account();
    match account.uploads.get(&token) {
        Some(upload) => (
            [("content-type", upload.content_type.clone())],
            upload.bytes.clone(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "RecordNotFound"),
    }
}

async fn comments(
    State(shared): State<Shared>,
    Path(id): Path<u64>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::GET, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let account = shared.account();
    let Some(ticket) = account.tickets.get(&id) else {
        return error(StatusCode::NOT_FOUND, "RecordNotFound");
    };
    Json(json!({
        "comments": ticket
            .comments
            .iter()
            .map(|comment| comment_json(comment, &account.uploads))
            .collect::<Vec<_>>(),
        "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
        "links": {"next": null, "prev": null},
    }))
    .into_response()
}

/// The cursor-based incremental export: tickets changed after the cursor (the account's change
/// counter), or since `start_time`.
async fn export(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = shared.refuse(Method::GET, &uri, &headers, &Value::Null) {
        return refusal;
    }
    let account = shared.account();
    let after_version = query.get("cursor").and_then(|c| c.parse::<u64>().ok());
    let since = query
        .get("start_time")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
    if after_version.is_none() && since.is_none() {
        return error(StatusCode::BAD_REQUEST, "start_time or cursor is required");
    }
    let mut changed: Vec<&ZendeskTicket> = account
        .tickets
        .values()
        .filter(|t| match after_version {
            Some(version) => t.version > version,
            None => since.is_some_and(|since| t.updated_at >= since),
        })
        .collect();
    changed.sort_by_key(|t| t.version);
    let cursor = changed
        .last()
        .map(|t| t.version)
        .or(after_version)
        .unwrap_or(0);
    Json(json!({
        "tickets": changed.iter().map(|t| t.json()).collect::<Vec<_>>(),
        "after_cursor": cursor.to_string(),
        "after_url": null,
        "before_cursor": null,
        "end_of_stream": true,
    }))
    .into_response()
}
