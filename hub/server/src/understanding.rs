//! Sentiment and topics at ingest: the LLM's sentiment of a customer message when an LLM is
//! configured, and the organizations' topic classifiers (cached) that give a conversation its
//! topic. The commands that train and measure them are `understanding_cli.rs`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use switchboard_ai::{
    llm::LlmClient,
    sentiment_llm::{self, LlmSentiment},
    topics::TopicModel,
};
use switchboard_model::{Conversation, Message, MessageRole};
use switchboard_store::Store;

use crate::routing::RoutingContext;

/// How long a cached classifier is trusted before the database is asked whether it changed
/// (another node, or `switchboard topics train` beside a running hub, may have replaced it).
const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// Each organization's topic classifier, loaded once and reloaded when it is retrained.
#[derive(Default)]
pub struct TopicModels {
    cached: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    checked: Instant,
    trained_at: Option<DateTime<Utc>>,
    model: Option<Arc<TopicModel>>,
}

impl TopicModels {
    /// The organization's classifier, or `None` when it has not trained one.
    pub async fn get(
        &self,
        store: &Store,
        org_id: &str,
    ) -> Result<Option<Arc<TopicModel>>, switchboard_store::StoreError> {
        let cached = self.lock().get(org_id).cloned();
        if let Some(cached) = &cached
            && cached.checked.elapsed() < RECHECK_AFTER
        {
            return Ok(cached.model.clone());
        }
        let trained_at = store.topic_model_trained_at(org_id).await?;
        let model = match cached {
            Some(cached) if cached.trained_at == trained_at => cached.model,
            _ => match store.topic_model(org_id).await? {
                None => None,
                Some(stored) => {
                    let decoded =
                        tokio::task::spawn_blocking(move || TopicModel::from_bytes(&stored.model))
                            .await;
                    match decoded {
                        Ok(Ok(model)) => Some(Arc::new(model)),
                        Ok(Err(err)) => {
                            tracing::warn!(org_id, %err, "the stored topic model does not load");
                            None
                        }
                        Err(err) => {
                            tracing::warn!(org_id, %err, "loading the topic model failed");
                            None
                        }
                    }
                }
            },
        };
        self.lock().insert(
            org_id.to_owned(),
            Cached {
                checked: Instant::now(),
                trained_at,
                model: model.clone(),
            },
        );
        Ok(model)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic while holding this lock leaves a plain map behind: still usable.
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Gives a conversation without a topic the one its organization's classifier finds in a
/// customer message, when the classifier is sure enough (not "unknown"). Failures are logged:
/// the message is already stored and acknowledged, a topic is an extra.
pub async fn classify_conversation(
    models: &TopicModels,
    store: &Store,
    org_id: &str,
    conversation_id: &str,
    text: &str,
) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    let model = match models.get(store, org_id).await {
        Ok(Some(model)) => model,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(org_id, %err, "cannot read the topic model");
            return None;
        }
    };
    let prediction = model.predict(text);
    if prediction.is_unknown() {
        return None;
    }
    match store
        .set_conversation_topic(org_id, conversation_id, Some(&prediction.label))
        .await
    {
        Ok(_) => Some(prediction.label),
        Err(err) => {
            tracing::warn!(org_id, conversation_id, %err, "cannot set the conversation's topic");
            None
        }
    }
}

/// Has the model score a customer message ([`rescore_with_llm`]) and, when that lowered the
/// conversation's trend, runs the rules again on it. Nothing happens without an LLM.
pub async fn rescore_and_route(
    routing: &RoutingContext,
    conversation: &Conversation,
    message: &Message,
) {
    let Some(llm) = &routing.llm else {
        return;
    };
    if let Some(rescored) = rescore_with_llm(&routing.store, llm, conversation, message).await
        && crate::routing::may_fire_on(conversation.sentiment, rescored.sentiment)
    {
        crate::routing::route_or_log(routing, &rescored, message).await;
    }
}

/// Customer messages looked back over for the previous one, the LLM's context.
const CONTEXT_LOOKBACK: i64 = 20;

/// Asks the configured LLM for the sentiment of a customer message just stored (ingest gave it
/// the offline score) and, when it answers within [`sentiment_llm::HUB_TIMEOUT`], stores that
/// score instead and moves the conversation's trend. Returns the conversation as it is then,
/// for routing; `None` when nothing changed (no text, the LLM failed, or the store did).
pub async fn rescore_with_llm(
    store: &Store,
    llm: &LlmClient,
    conversation: &Conversation,
    message: &Message,
) -> Option<Conversation> {
    message.sentiment?;
    let scorer = LlmSentiment::new(llm.clone(), sentiment_llm::HUB_TIMEOUT);
    let org_id = &conversation.org_id;
    let earlier = store
        .messages(
            org_id,
            &conversation.id,
            (message.seq - CONTEXT_LOOKBACK).max(0),
            CONTEXT_LOOKBACK as u64,
            false,
        )
        .await
        .unwrap_or_default();
    let previous = earlier
        .iter()
        .rev()
        .find(|earlier| earlier.role == MessageRole::Customer && earlier.seq < message.seq)
        .map(|earlier| earlier.text.as_str());
    let started = Instant::now();
    let score = match scorer.score(&message.text, previous).await {
        Ok(score) => score,
        Err(err) => {
            metrics::counter!("switchboard_llm_sentiment_total", "outcome" => "fallback")
                .increment(1);
            tracing::warn!(%err, conversation_id = %conversation.id, "LLM sentiment failed; the offline score stands");
            return None;
        }
    };
    metrics::counter!("switchboard_llm_sentiment_total", "outcome" => "llm").increment(1);
    metrics::histogram!("switchboard_llm_sentiment_seconds")
        .record(started.elapsed().as_secs_f64());
    match store.rescore_message(org_id, &message.id, score).await {
        Ok(updated) => updated,
        Err(err) => {
            tracing::warn!(%err, conversation_id = %conversation.id, "cannot store the LLM's sentiment");
            None
        }
    }
}
