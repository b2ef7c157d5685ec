//! The AI as the hub runs it: the knowledge index fed from the store, the organization-aware
//! responder built from the settings (offline unless an LLM is configured), the LLM client the
//! sentiment scorer and the handoff note share, knowledge gaps
//! recorded for unanswered questions, the per-inbox confidence threshold, and markdown imports.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use switchboard_ai::{
    article::{ArticleDoc, parse_markdown},
    embeddings::Embedder,
    index::{ArticleSource, Knowledge, KnowledgeError},
    llm::{LlmClient, LlmConfig},
    responder::{Engine, KnowledgeResponder},
    sentiment_llm::LlmSentiment,
    text,
};
use switchboard_model::{
    ArticleStatus, Deltas, KbArticle, Question, Responder, ResponderError, Response,
};
use switchboard_store::{ArticleChange, NewArticle, Store};

use crate::config::Settings;

/// The confidence an answer needs unless the inbox's config sets `ai_min_confidence` (0..1).
pub use switchboard_ai::responder::DEFAULT_MIN_CONFIDENCE;

/// The threshold of an inbox, from its public config: its `ai_min_confidence`, or
/// [`DEFAULT_MIN_CONFIDENCE`].
pub fn min_confidence_in(config: &serde_json::Value) -> f64 {
    config
        .get("ai_min_confidence")
        .and_then(serde_json::Value::as_f64)
        .filter(|value| (0.0..=1.0).contains(value))
        .unwrap_or(DEFAULT_MIN_CONFIDENCE)
}

/// The knowledge stamp of an organization at knowledge revision `revision`.
pub fn knowledge_stamp(revision: i64) -> String {
    revision.to_string()
}

/// The published articles of the store, for the index.
pub struct StoreSource(pub Store);

fn source_error(err: switchboard_store::StoreError) -> KnowledgeError {
    KnowledgeError::Source(err.to_string())
}

fn doc(article: KbArticle) -> ArticleDoc {
    ArticleDoc {
        id: article.id,
        title: article.title,
        category: article.category,
        tags: article.tags,
        body: article.body,
        version: article.version,
    }
}

#[async_trait::async_trait]
impl ArticleSource for StoreSource {
    async fn stamp(&self, org_id: &str) -> Result<String, KnowledgeError> {
        Ok(knowledge_stamp(
            self.0.kb_revision(org_id).await.map_err(source_error)?,
        ))
    }

    async fn published(&self, org_id: &str) -> Result<Vec<(String, i64)>, KnowledgeError> {
        self.0
            .published_article_versions(org_id)
            .await
            .map_err(source_error)
    }

    async fn articles(
        &self,
        org_id: &str,
        ids: &[String],
    ) -> Result<Vec<ArticleDoc>, KnowledgeError> {
        Ok(self
            .0
            .published_articles(org_id, ids)
            .await
            .map_err(source_error)?
            .into_iter()
            .map(doc)
            .collect())
    }
}

/// The knowledge indexes: on disk in the data dir (`persistent`), or in memory (for commands
/// that run beside a hub and must not fight it over the index files).
pub fn knowledge(
    settings: &Settings,
    store: &Store,
    persistent: bool,
) -> anyhow::Result<Arc<Knowledge>> {
    let dir = persistent.then_some(settings.data_dir.as_path());
    let mut knowledge = Knowledge::new(dir, Arc::new(StoreSource(store.clone())));
    if settings.offline_encoder {
        knowledge = knowledge.with_encoder();
        // A hub serving customers bounds the encoder's time on questions; a command (an
        // evaluation) encodes every one.
        if persistent {
            knowledge = knowledge.with_encoder_share(switchboard_ai::index::ENCODER_SHARE);
        }
    }
    if let (Some(base_url), Some(model)) = (
        non_empty(&settings.llm_base_url),
        &settings.embeddings_model,
    ) {
        let embedder = Embedder::new(
            base_url,
            settings
                .llm_api_key
                .as_ref()
                .map(|key| key.expose().to_owned()),
            model,
            Duration::from_secs(settings.llm_timeout_secs.max(1)),
        )
        .context("cannot set up the embeddings client")?;
        knowledge = knowledge.with_embeddings(embedder);
    }
    Ok(Arc::new(knowledge))
}

/// How long a hub at start waits for its knowledge bases to be encoded before it says they
/// are prepared anyway (an encoding that failed is logged where it failed).
const PREPARE_WAIT: Duration = Duration::from_secs(600);

/// Opens every organization's knowledge index at start, so that the built-in encoder encodes
/// their passages (in the background lane) before the first question rather than after it.
/// The gauge `switchboard_knowledge_preparing` is 1 from the call until every index is encoded:
/// until then questions are ranked by their words alone, and the encoder takes CPU that the
/// answers would use (a load test waits for it, `switchboard-bench webchat`).
pub fn prepare_knowledge(
    store: Store,
    knowledge: Arc<Knowledge>,
) -> impl Future<Output = ()> + Send + 'static {
    let preparing = metrics::gauge!("switchboard_knowledge_preparing");
    preparing.set(1.0);
    async move {
        let started = std::time::Instant::now();
        let orgs = store.knowledge_orgs().await.unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot list the knowledge bases to prepare");
            Vec::new()
        });
        let mut indexes = Vec::with_capacity(orgs.len());
        for org_id in orgs {
            match knowledge.index(&org_id).await {
                Ok(index) => indexes.push(index),
                Err(err) => tracing::warn!(%err, org_id, "cannot prepare the knowledge index"),
            }
        }
        while !indexes.iter().all(|index| knowledge.is_encoded(index))
            && started.elapsed() < PREPARE_WAIT
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        preparing.set(0.0);
        tracing::info!(
            knowledge_bases = indexes.len(),
            secs = started.elapsed().as_secs_f64(),
            "knowledge bases prepared"
        );
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The client of the configured LLM, when `llm_base_url` is set (then `llm_model` must be).
/// The responder, the sentiment scorer and the handoff note share it.
pub fn llm_client(settings: &Settings) -> anyhow::Result<Option<LlmClient>> {
    let Some(base_url) = non_empty(&settings.llm_base_url) else {
        return Ok(None);
    };
    let model = non_empty(&settings.llm_model)
        .context("llm_base_url is set but llm_model is not (SWITCHBOARD_LLM_MODEL)")?;
    Ok(Some(LlmClient::new(LlmConfig {
        base_url: base_url.to_owned(),
        api_key: settings
            .llm_api_key
            .as_ref()
            .map(|key| key.expose().to_owned()),
        model: model.to_owned(),
        small_model: non_empty(&settings.llm_small_model).map(str::to_owned),
        timeout: Duration::from_secs(settings.llm_timeout_secs.max(1)),
        max_in_flight: settings.llm_max_in_flight.max(1),
        first_piece: Duration::from_millis(settings.llm_first_piece_ms.max(1)),
    })?))
}

/// The LLM sentiment scorer, when an LLM is configured, waiting at most `timeout` per message.
pub fn llm_sentiment(
    settings: &Settings,
    timeout: Duration,
) -> anyhow::Result<Option<LlmSentiment>> {
    Ok(llm_client(settings)?.map(|client| LlmSentiment::new(client, timeout)))
}

/// The responder of every organization: the LLM responder with `llm` (the hub's one client,
/// shared with the sentiment scorer and the handoff note, and so their limit of calls in
/// flight), the offline one without. With `record_gaps`, questions it does not answer are
/// recorded as knowledge gaps (the evaluation command leaves them out).
pub fn responder(
    llm: Option<LlmClient>,
    store: &Store,
    knowledge: Arc<Knowledge>,
    record_gaps: bool,
) -> Arc<dyn Responder> {
    let engine = match llm {
        None => Engine::Offline,
        Some(client) => Engine::Llm(client),
    };
    let inner = KnowledgeResponder::new(knowledge, engine);
    if record_gaps {
        Arc::new(GapRecorder {
            inner,
            store: store.clone(),
        })
    } else {
        Arc::new(inner)
    }
}

/// Records every question the responder does not answer as a knowledge gap.
struct GapRecorder {
    inner: KnowledgeResponder,
    store: Store,
}

#[async_trait::async_trait]
impl Responder for GapRecorder {
    async fn respond(
        &self,
        question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        let response = self.inner.respond(question, deltas).await;
        if !matches!(response, Ok(Response::Answered(_))) {
            // The gap log is read by roles that may not read conversations (knowledge editors,
            // `knowledge:read` keys): it keeps the question, not the customer's personal data.
            let question_text = switchboard_ai::pii::redact(&question.text);
            let terms = text::distinct_terms(
                &mut text::analyzer(),
                &switchboard_ai::pii::without_pii(&question.text),
            );
            if let Err(err) = self
                .store
                .record_gap(&question.org_id, &question_text, &terms)
                .await
            {
                tracing::warn!(error = %err, "could not record a knowledge gap");
            }
        }
        response
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Imports one markdown file (front matter with at least `title`) as a published article; an
/// article with the same title is updated instead of duplicated.
pub async fn import_markdown(
    store: &Store,
    org_id: &str,
    text: &str,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let parsed = parse_markdown(text)?;
    match store.article_by_title(org_id, &parsed.title).await? {
        None => {
            store
                .create_article(
                    org_id,
                    NewArticle {
                        title: parsed.title,
                        body: parsed.body,
                        category: parsed.category,
                        tags: parsed.tags,
                        status: ArticleStatus::Published,
                    },
                    None,
                )
                .await?;
            report.created += 1;
        }
        Some(existing) => {
            let updated = store
                .update_article(
                    org_id,
                    &existing.id,
                    ArticleChange {
                        title: None,
                        body: Some(parsed.body),
                        category: Some(parsed.category),
                        tags: Some(parsed.tags),
                        status: Some(ArticleStatus::Published),
                    },
                    None,
                )
                .await?;
            if updated.new_version || updated.previous_status.is_some() {
                report.updated += 1;
            } else {
                report.unchanged += 1;
            }
        }
    }
    Ok(())
}

/// The demo knowledge base, inside the binary so that it works wherever the binary runs.
#[derive(rust_embed::RustEmbed)]
#[folder = "../../fixtures/kb/demo"]
#[include = "*.md"]
struct DemoKnowledgeBase;

/// Imports the demo knowledge base into `org_id`.
pub async fn import_demo(store: &Store, org_id: &str) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut names: Vec<_> = DemoKnowledgeBase::iter().collect();
    names.sort();
    for name in names {
        let Some(file) = DemoKnowledgeBase::get(&name) else {
            continue;
        };
        let text = String::from_utf8_lossy(&file.data);
        import_markdown(store, org_id, &text, &mut report)
            .await
            .with_context(|| format!("demo article {name}"))?;
    }
    Ok(report)
}
