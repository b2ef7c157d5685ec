//! A real HTTP server on loopback standing in for a platform's API: it records every request
//! and answers with scripted responses, so tests check exactly what a connector sent.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};

/// One request the platform received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// The path and query, as sent.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The parts of a `multipart/form-data` body, in order; panics (in a test) when it is not
    /// one.
    pub fn form(&self) -> Vec<crate::fake_freshdesk::FormPart> {
        crate::fake_freshdesk::multipart_parts(
            self.header("content-type").unwrap_or_default(),
            &self.body,
        )
        .expect("the request body is multipart/form-data")
    }

    /// The text of the form field `name`, when the `multipart/form-data` body has one.
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|part| part.name == name)
            .map(|part| String::from_utf8_lossy(&part.bytes).into_owned())
    }

    /// The body as JSON; panics (in a test) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// What the platform answers.
#[derive(Clone, Debug)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl FakeResponse {
    pub fn json(status: u16, body: serde_json::Value) -> FakeResponse {
        FakeResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> FakeResponse {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl IntoResponse for FakeResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[derive(Default)]
struct Script {
    requests: Vec<RecordedRequest>,
    /// Every request whose path starts with the prefix gets the response, before all else.
    by_path: Vec<(String, FakeResponse)>,
    /// Answered first, one per request, before the default.
    next: VecDeque<FakeResponse>,
    default: Option<FakeResponse>,
}

/// A platform on `127.0.0.1:<port>`, alive as long as this value.
pub struct FakePlatform {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakePlatform {
    /// Starts a platform that answers every request with `default` unless a response is queued.
    pub async fn start(default: FakeResponse) -> FakePlatform {
        let script = Arc::new(Mutex::new(Script {
            default: Some(default),
            ..Script::default()
        }));
        let app = Router::new().fallback(record).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds on loopback");
        let addr = listener.local_addr().expect("an address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePlatform {
            addr,
            script,
            server,
        }
    }

    /// The base URL to configure as the platform's `api_base_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next request with `response` (queued in order).
    pub fn respond_next(&self, response: FakeResponse) {
        self.lock().next.push_back(response);
    }

    /// Answers every request whose path (with its query) starts with `prefix` with `response`,
    /// whatever is queued: for an API the code under test calls besides the one scripted.
    pub fn respond_to(&self, prefix: &str, response: FakeResponse) {
        self.lock().by_path.push((prefix.to_owned(), response));
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Waits until the platform has received at least `count` requests (or panics after 10 s).
    pub async fn wait_for_requests(&self, count: usize) -> Vec<RecordedRequest> {
        for _ in 0..400 {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the fake platform got {} requests, expected {count}",
            self.requests().len()
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("not poisoned")
    }
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 128 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let mut script = script.lock().expect("not poisoned");
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let by_path = script
        .by_path
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix.as_str()))
        .map(|(_, response)| response.clone());
    script.requests.push(RecordedRequest {
        method: parts.method,
        path,
        headers: parts.headers,
        body,
    });
    let response = by_path
        .or_else(|| script.next.pop_front())
        .or_else(|| script.default.clone())
        .unwrap_or_else(|| FakeResponse::json(404, serde_json::json!({})));
    response.into_response()
}
