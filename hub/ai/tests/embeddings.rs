//! Hybrid retrieval: passages and questions embedded through an OpenAI-compatible
//! `/v1/embeddings` endpoint on loopback (a hashed bag of words, written here), fused with BM25.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use support::FixtureSource;
use switchboard_ai::{
    embeddings::Embedder,
    index::Knowledge,
    responder::{Engine, KnowledgeResponder},
};
use switchboard_model::{NoDeltas, Question, Responder, Response};

fn vector(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0f32; 64];
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
        if word.len() > 3 {
            let hash = word
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
            vector[(hash % 64) as usize] += 1.0;
        }
    }
    vector
}

async fn embeddings(
    State(seen): State<Arc<Mutex<Vec<Value>>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let inputs: Vec<String> = body["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    seen.lock().expect("lock").push(body);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({ "object": "embedding", "index": index, "embedding": vector(text) }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

#[tokio::test]
async fn passages_are_embedded_once_and_fused_with_bm25() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let embedder = Embedder::new(
        &format!("http://{addr}/v1"),
        Some("key".into()),
        "embed-model",
        Duration::from_secs(5),
    )
    .expect("embedder");
    let knowledge = Arc::new(
        Knowledge::new(Some(dir.path()), Arc::new(FixtureSource::demo())).with_embeddings(embedder),
    );
    let responder = KnowledgeResponder::new(knowledge, Engine::Offline);
    let ask = |text: &str| Question {
        org_id: "demo".into(),
        inbox_id: "i".into(),
        conversation_id: "c".into(),
        text: text.into(),
        history: Vec::new(),
        min_confidence: 0.5,
        knowledge_stamp: None,
        received_at: None,
    };
    let response = responder
        .respond(&ask("How long does the backup battery last?"), &NoDeltas)
        .await
        .expect("answers");
    let Response::Answered(answer) = response else {
        panic!("expected an answer, got {response:?}");
    };
    assert_eq!(answer.sources[0].title, "Backup battery and power outages");
    let after_first = seen.lock().expect("lock").len();
    // One request per article (20) and one for the question.
    assert_eq!(after_first, 21);
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|body| body["model"] == "embed-model")
    );
    assert!(dir.path().join("kb/demo/vectors.json").exists());

    let response = responder
        .respond(&ask("Do you ship to Japan?"), &NoDeltas)
        .await
        .expect("responds");
    assert!(
        matches!(response, Response::Declined { .. }),
        "{response:?}"
    );
    assert_eq!(
        seen.lock().expect("lock").len(),
        after_first + 1,
        "passages are not embedded again"
    );
}
