//! An OpenAI-compatible model for the benchmarks (`switchboard-bench fake-llm`): its
//! `/v1/chat/completions` waits `--first-token-ms` before the first piece of an answer and then
//! streams `--words` words at `--words-per-sec`, citing passage 1, then the customer's mood and
//! a confidence line, as the hub's prompt asks; a non-streamed call (the sentiment score, the handoff note) gets its
//! JSON after the same wait. Shares of the calls can be answered 429 with `Retry-After`, 500,
//! or never, to see what the hub does with a provider that is rate-limited, failing or hung.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use switchboard_testkit::LlmTask;

#[derive(clap::Args, Clone)]
pub struct Options {
    #[arg(long, default_value = "127.0.0.1:18490")]
    listen: SocketAddr,
    /// Milliseconds before the first piece of an answer (or a non-streamed reply)
    #[arg(long, default_value_t = 400)]
    first_token_ms: u64,
    /// Words in a streamed answer
    #[arg(long, default_value_t = 20)]
    words: usize,
    /// How fast the words come after the first
    #[arg(long, default_value_t = 50.0)]
    words_per_sec: f64,
    /// Share of calls answered 429 with `Retry-After: --retry-after-secs`
    #[arg(long, default_value_t = 0.0)]
    rate_limited: f64,
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// Share of calls answered 500
    #[arg(long, default_value_t = 0.0)]
    errors: f64,
    /// Share of calls never answered (held for ten minutes)
    #[arg(long, default_value_t = 0.0)]
    hangs: f64,
}

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    in_flight: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
    hangs: AtomicU64,
}

#[derive(Clone)]
struct Fake {
    options: Arc<Options>,
    counts: Arc<Counts>,
}

/// Serves until killed, printing what it was asked every five seconds.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let fake = Fake {
        options: Arc::new(options),
        counts: Arc::default(),
    };
    let counts = fake.counts.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!(
                "fake-llm: {} calls, {} in flight, {} answered 429, {} 500, {} hung",
                counts.calls.load(Relaxed),
                counts.in_flight.load(Relaxed),
                counts.rate_limited.load(Relaxed),
                counts.errors.load(Relaxed),
                counts.hangs.load(Relaxed),
            );
        }
    });
    eprintln!("fake-llm on http://{}/v1", fake.options.listen);
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Counts a call in flight until dropped (a stream ends, or its client goes away).
struct InFlight(Arc<Counts>);

impl InFlight {
    fn new(counts: &Arc<Counts>) -> InFlight {
        counts.calls.fetch_add(1, Relaxed);
        counts.in_flight.fetch_add(1, Relaxed);
        InFlight(counts.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

async fn completions(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let options = &fake.options;
    let counts = &fake.counts;
    let in_flight = InFlight::new(counts);
    let draw = rand::random::<f64>();
    if draw < options.rate_limited {
        counts.rate_limited.fetch_add(1, Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", options.retry_after_secs.to_string())],
            "rate limited",
        )
            .into_response();
    }
    if draw < options.rate_limited + options.errors {
        counts.errors.fetch_add(1, Relaxed);
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failed").into_response();
    }
    if draw < options.rate_limited + options.errors + options.hangs {
        counts.hangs.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_secs(600)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    tokio::time::sleep(Duration::from_millis(options.first_token_ms)).await;
    if body["stream"] != true {
        return Json(json!({
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": reply_to(&body) }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320 },
        }))
        .into_response();
    }
    let words = options.words.max(1);
    let gap = Duration::from_secs_f64(1.0 / options.words_per_sec.max(0.001));
    let pieces = futures::stream::unfold(0usize, move |sent| async move {
        let event = match sent {
            0 => piece("Here is what our help centre says"),
            n if n < words => {
                tokio::time::sleep(gap).await;
                piece(if n + 1 == words { " [1]." } else { " word" })
            }
            n if n == words => piece("\nSENTIMENT: 60\nCONFIDENCE: 0.9"),
            n if n == words + 1 => {
                json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] })
            }
            n if n == words + 2 => {
                json!({ "choices": [], "usage": { "prompt_tokens": 300, "completion_tokens": words, "total_tokens": 300 + words } })
            }
            n if n == words + 3 => {
                return Some((
                    Ok::<_, std::io::Error>("data: [DONE]\n\n".to_owned()),
                    n + 1,
                ));
            }
            _ => return None,
        };
        Some((Ok(format!("data: {event}\n\n")), sent + 1))
    });
    // The call stays counted in flight until the stream is done.
    let pieces = futures::StreamExt::map(pieces, move |piece| {
        let _ = &in_flight;
        piece
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(pieces))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn piece(text: &str) -> Value {
    json!({ "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }] })
}

/// A non-streamed task's reply, told apart by the hub's system prompt as the tests' fake does.
fn reply_to(body: &Value) -> String {
    match LlmTask::of(body) {
        LlmTask::Sentiment => "{\"score\": 60}".to_owned(),
        LlmTask::Handoff => json!({
            "wants": "An answer to their question.",
            "tried": "Asking the assistant.",
            "mood": "calm",
            "suggested_reply": "Hi, I'm looking into this for you now.",
        })
        .to_string(),
        LlmTask::Answer => {
            "Here is what our help centre says [1].\nSENTIMENT: 60\nCONFIDENCE: 0.9".to_owned()
        }
    }
}
