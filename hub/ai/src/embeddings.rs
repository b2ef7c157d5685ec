//! Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint, for hybrid retrieval.

use std::time::Duration;

use serde::Deserialize;

use crate::index::KnowledgeError;

/// Inputs sent per request.
const BATCH: usize = 64;

pub struct Embedder {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    #[serde(default)]
    index: usize,
}

impl Embedder {
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
        timeout: Duration,
    ) -> Result<Embedder, KnowledgeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|err| KnowledgeError::Embeddings(err.to_string()))?;
        Ok(Embedder {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model: model.to_owned(),
        })
    }

    /// One vector per input, in order.
    pub async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let mut vectors = Vec::with_capacity(inputs.len());
        for batch in inputs.chunks(BATCH) {
            let mut request = self
                .client
                .post(format!("{}/embeddings", self.base_url))
                .json(&serde_json::json!({ "model": self.model, "input": batch }));
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let response = request
                .send()
                .await
                .map_err(|err| KnowledgeError::Embeddings(err.to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(KnowledgeError::Embeddings(format!(
                    "the embeddings endpoint answered {status}"
                )));
            }
            let mut body: EmbeddingResponse = response
                .json()
                .await
                .map_err(|err| KnowledgeError::Embeddings(err.to_string()))?;
            if body.data.len() != batch.len() {
                return Err(KnowledgeError::Embeddings(format!(
                    "asked for {} embeddings, got {}",
                    batch.len(),
                    body.data.len()
                )));
            }
            body.data.sort_by_key(|item| item.index);
            vectors.extend(body.data.into_iter().map(|item| item.embedding));
        }
        Ok(vectors)
    }
}

/// Cosine similarity; 0 for vectors of different lengths or zero vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
