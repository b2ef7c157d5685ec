//! An OpenAI-compatible `/v1/chat/completions` server on loopback standing in for the LLM: it
//! records every request and answers each kind of task (told apart by the hub's system prompt:
//! sentiment, handoff note, or anything else, the customer's answer) as the test scripts it:
//! an answer, an error status, a garbled body, or no answer at all.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// What a request asks the model for, read from its system prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LlmTask {
    /// "You rate the sentiment …"
    Sentiment,
    /// "You write the handoff note …"
    Handoff,
    /// Anything else: the responder's answer to a customer.
    Answer,
}

impl LlmTask {
    /// The task `body` (a chat-completions request) asks for.
    pub fn of(body: &Value) -> LlmTask {
        let system = body
            .pointer("/messages/0/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if system.contains("rate the sentiment") {
            LlmTask::Sentiment
        } else if system.contains("handoff note") {
            LlmTask::Handoff
        } else {
            LlmTask::Answer
        }
    }
}

/// How the fake answers a task.
#[derive(Clone, Debug)]
pub enum LlmReply {
    /// A completion with this text (streamed when the request asks for a stream).
    Content(String),
    /// This HTTP status with a short text body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbled,
    /// Never answers (within a minute).
    Hang,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    pub task: LlmTask,
    pub headers: HeaderMap,
    pub body: Value,
}

impl LlmRequest {
    /// The text of every message sent, joined: what left for the model.
    pub fn prompt_text(&self) -> String {
        self.body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .filter_map(|message| message["content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Script {
    requests: Vec<LlmRequest>,
    replies: HashMap<LlmTask, LlmReply>,
}

/// The fake model server, alive as long as this value.
pub struct FakeLlm {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts a server that answers every task with a 500 until told otherwise.
    pub async fn start() -> FakeLlm {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds on loopback");
        let addr = listener.local_addr().expect("an address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            addr,
            script,
            server,
        }
    }

    /// The `/v1` base URL to configure as the LLM's base URL.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers `task` with `reply` from now on.
    pub fn reply(&self, task: LlmTask, reply: LlmReply) {
        self.lock().replies.insert(task, reply);
    }

    pub fn requests(&self) -> Vec<LlmRequest> {
        self.lock().requests.clone()
    }

    /// The requests for `task`, oldest first.
    pub fn requests_for(&self, task: LlmTask) -> Vec<LlmRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|request| request.task == task)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("not poisoned")
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn complete(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let task = LlmTask::of(&body);
    let stream = body["stream"].as_bool().unwrap_or(false);
    let model = body["model"].clone();
    let reply = {
        let mut script = script.lock().expect("not poisoned");
        script.requests.push(LlmRequest {
            task,
            headers,
            body,
        });
        script
            .replies
            .get(&task)
            .cloned()
            .unwrap_or(LlmReply::Status(500))
    };
    match reply {
        LlmReply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        LlmReply::Status(status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "the fake model failed as asked",
        )
            .into_response(),
        LlmReply::Garbled => (
            [("content-type", "application/json")],
            "{\"choices\": [{\"message\": ",
        )
            .into_response(),
        LlmReply::Content(text) if stream => {
            let events = [
                json!({ "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }] }),
                json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }),
            ];
            let mut sse: String = events
                .iter()
                .map(|event| format!("data: {event}\n\n"))
                .collect();
            sse.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], sse).into_response()
        }
        LlmReply::Content(text) => Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "finish_reason": "stop",
            }],
            "usage": { "prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110 },
        }))
        .into_response(),
    }
}
