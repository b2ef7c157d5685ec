//! The responder the hub asks: retrieval from the organization's knowledge index, then the
//! offline composer or an LLM, behind a cache of answers to repeated questions.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU16, Ordering},
};

use switchboard_model::{Answer, Deltas, Question, Responder, ResponderError, Response, Source};

use crate::{
    cache::{AnswerCache, Cache, CacheKey, Cached, Kept},
    index::{Knowledge, OrgIndex, Retrieval},
    llm::{LlmClient, sources_of},
    offline::{Features, compose},
    pii,
};

/// The confidence an answer needs unless the inbox sets its own (`ai_min_confidence`); here,
/// beside the confidence it applies to, so that benchmarks judge with the hub's threshold.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.5;
/// Passages retrieved per question (and given to the model).
const PASSAGES: usize = 5;
/// Below this retrieval confidence the LLM is not asked (a question retrieval finds nothing
/// for: "the weather in Amsterdam tomorrow" scores 0.01).
const LLM_GATE: f64 = 0.02;
/// Answers kept in the cache, across organizations.
const CACHE_ENTRIES: usize = 10_000;
/// Retrievals kept for the questions whose answers are not (a few kilobytes each: the passages'
/// text).
const RETRIEVAL_ENTRIES: usize = 2_048;

/// The best article for a question, answered or not.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub source: Source,
    /// Its retrieval score.
    pub score: f32,
    /// The offline responder's confidence in an answer from it.
    pub confidence: f64,
    /// What the confidence was computed from.
    pub features: Features,
}

pub enum Engine {
    /// Extractive answers from the best passage; no network.
    Offline,
    Llm(LlmClient),
}

pub struct KnowledgeResponder {
    knowledge: Arc<Knowledge>,
    engine: Engine,
    cache: AnswerCache,
    /// What retrieval found for questions whose answer is not kept: a model's answer to a later
    /// question in a conversation depends on the conversation, what the knowledge base holds
    /// for the question's words does not. Searching (encoding the question, the index's
    /// lookups) was most of a model turn's work in the hub (BENCHMARKS.md).
    retrievals: Cache<Arc<Retrieval>>,
}

impl KnowledgeResponder {
    pub fn new(knowledge: Arc<Knowledge>, engine: Engine) -> KnowledgeResponder {
        KnowledgeResponder {
            knowledge,
            engine,
            cache: AnswerCache::new(Kept::Answers, CACHE_ENTRIES),
            retrievals: Cache::new(Kept::Retrievals, RETRIEVAL_ENTRIES),
        }
    }

    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// What retrieval finds for the question under `key`; kept for the next asker when the
    /// answer will not be (`answer_kept` false), unless ranked by words alone while the encoder
    /// was busy (`Retrieval::provisional`).
    async fn retrieve(
        &self,
        index: &Arc<OrgIndex>,
        key: &CacheKey,
        text: &str,
        answer_kept: bool,
    ) -> Result<Arc<Retrieval>, ResponderError> {
        if !answer_kept && let Some(found) = self.retrievals.get(key) {
            return Ok(found);
        }
        let retrieval = self
            .knowledge
            .search(index, &pii::without_pii(text), PASSAGES)
            .await
            .map_err(|err| ResponderError::Failed(err.to_string()))?;
        let retrieval = Arc::new(retrieval);
        if !answer_kept && !retrieval.provisional {
            self.retrievals.put(key.clone(), retrieval.clone());
        }
        Ok(retrieval)
    }

    /// The response before the threshold: the engine's answer with its confidence, or a
    /// decline; and, when the model streamed it, what it streamed (else the caller passes the
    /// answer on, once it passes the threshold).
    async fn raw<'d>(
        &self,
        question: &Question,
        retrieval: &Retrieval,
        deltas: &'d dyn Deltas,
    ) -> Result<(Response, Option<Streamed<'d>>), ResponderError> {
        let Some(features) = Features::of(retrieval) else {
            return Ok((not_covered(None), None));
        };
        let retrieval_confidence = features.confidence();
        match &self.engine {
            Engine::Offline => Ok((offline(retrieval), None)),
            Engine::Llm(client) => {
                let streamed = Streamed::new(deltas);
                match ask_model(client, question, retrieval, retrieval_confidence, &streamed).await
                {
                    // The customer has seen nothing yet: the offline answer instead of a wait.
                    Err(
                        err @ (ResponderError::Busy(_)
                        | ResponderError::Timeout(_)
                        | ResponderError::Late(_)),
                    ) if !streamed.any.load(Ordering::Relaxed) => {
                        let reason = match err {
                            ResponderError::Busy(_) => "busy",
                            ResponderError::Late(_) => "late",
                            _ => "slow",
                        };
                        metrics::counter!("switchboard_llm_offline_answers_total", "reason" => reason)
                            .increment(1);
                        tracing::info!(%err, "answering offline: the model is {reason}");
                        Ok((offline(retrieval), None))
                    }
                    outcome => outcome.map(|response| (response, Some(streamed))),
                }
            }
        }
    }
}

/// The article retrieval ranks first for `text` and the offline confidence in it, whatever the
/// threshold and the engine: beside a decline it tells a bad retrieval from a timid confidence.
pub async fn candidate(
    knowledge: &Knowledge,
    org_id: &str,
    text: &str,
) -> Result<Option<Candidate>, ResponderError> {
    let failed = |err: crate::index::KnowledgeError| ResponderError::Failed(err.to_string());
    let index = knowledge.index(org_id).await.map_err(failed)?;
    let retrieval = knowledge
        .search(&index, &pii::without_pii(text), PASSAGES)
        .await
        .map_err(failed)?;
    let (Some(features), Some(best)) = (Features::of(&retrieval), retrieval.hits.first()) else {
        return Ok(None);
    };
    Ok(Some(Candidate {
        source: Source {
            article_id: best.passage.article_id.clone(),
            title: best.passage.title.clone(),
        },
        score: best.score,
        confidence: features.confidence(),
        features,
    }))
}

/// The model's answer from the retrieved passages, streamed into `deltas`.
async fn ask_model(
    client: &LlmClient,
    question: &Question,
    retrieval: &Retrieval,
    retrieval_confidence: f64,
    deltas: &dyn Deltas,
) -> Result<Response, ResponderError> {
    // A question retrieval finds nothing for (the weather, a product we do not
    // sell) is not worth a model call. The bar is low: chatty messages score low
    // on retrieval and the model, told to say when it does not know, decides.
    if retrieval_confidence < LLM_GATE {
        return Ok(not_covered(Some(retrieval_confidence)));
    }
    let model = client.model_for(question, retrieval_confidence).to_owned();
    let which = if client.config().small_model.as_deref() == Some(model.as_str()) {
        "small"
    } else {
        "main"
    };
    let completion = client
        .complete(&model, question, &retrieval.hits, deltas)
        .await?;
    // Counted once the model has answered: a call it was passed over for (busy, slow, late) is
    // counted with the offline answers instead.
    metrics::counter!("switchboard_llm_answers_total", "model" => which).increment(1);
    let sources = sources_of(&completion.cited, &retrieval.hits);
    // The model judges whether the passages answer; retrieval tempers it.
    let model_confidence = completion.model_confidence.unwrap_or(0.6);
    let mut confidence = model_confidence * (0.6 + 0.4 * retrieval_confidence);
    if sources.is_empty() {
        // An answer that cites nothing is not grounded in what we gave it.
        confidence *= 0.5;
    }
    if completion.declined {
        return Ok(Response::Declined {
            reason: "the model found no answer in the knowledge base".into(),
            confidence: Some(confidence.min(retrieval_confidence)),
        });
    }
    Ok(Response::Answered(Answer {
        text: completion.text,
        sources,
        confidence: Some(confidence),
        model: Some(completion.model),
        tokens: completion.tokens,
    }))
}

/// The offline composer's answer from the best passage, or a decline.
fn offline(retrieval: &Retrieval) -> Response {
    match compose(retrieval) {
        Some(draft) => Response::Answered(Answer {
            text: draft.text,
            sources: draft.sources,
            confidence: Some(draft.confidence),
            model: None,
            tokens: None,
        }),
        None => not_covered(None),
    }
}

/// Passes pieces on, noting whether any reached the customer, and what the model told of the
/// customer's mood.
struct Streamed<'a> {
    inner: &'a dyn Deltas,
    any: AtomicBool,
    /// The score told, `u16::MAX` for none.
    sentiment: AtomicU16,
}

impl<'a> Streamed<'a> {
    fn new(inner: &'a dyn Deltas) -> Streamed<'a> {
        Streamed {
            inner,
            any: AtomicBool::new(false),
            sentiment: AtomicU16::new(u16::MAX),
        }
    }

    fn sentiment_told(&self) -> Option<u8> {
        u8::try_from(self.sentiment.load(Ordering::Relaxed)).ok()
    }
}

impl Deltas for Streamed<'_> {
    fn push(&self, text: &str) {
        if !text.is_empty() {
            self.any.store(true, Ordering::Relaxed);
        }
        self.inner.push(text);
    }

    fn sentiment(&self, score: u8) {
        self.sentiment.store(u16::from(score), Ordering::Relaxed);
        self.inner.sentiment(score);
    }
}

fn not_covered(confidence: Option<f64>) -> Response {
    Response::Declined {
        reason: "the knowledge base does not cover this question".into(),
        confidence,
    }
}

/// Applies the inbox's threshold.
fn threshold(response: Response, min_confidence: f64) -> Response {
    match response {
        Response::Answered(answer) => {
            let confidence = answer.confidence.unwrap_or(0.0);
            if confidence < min_confidence {
                Response::Declined {
                    reason: format!("not confident enough ({confidence:.2} < {min_confidence:.2})"),
                    confidence: Some(confidence),
                }
            } else {
                Response::Answered(answer)
            }
        }
        declined => declined,
    }
}

#[async_trait::async_trait]
impl Responder for KnowledgeResponder {
    async fn respond(
        &self,
        question: &Question,
        deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        let index = self
            .knowledge
            .index_at(&question.org_id, question.knowledge_stamp.as_deref())
            .await
            .map_err(|err| ResponderError::Failed(err.to_string()))?;
        // An LLM answer depends on the conversation; only first questions are shared.
        let cacheable = matches!(self.engine, Engine::Offline) || question.history.is_empty();
        // Answers ranked by words alone while the encoder encodes the passages are kept apart from
        // those ranked by meaning too, which replace them once it is done.
        let key = CacheKey::new(
            &question.org_id,
            &self.knowledge.ranking(&index),
            &question.text,
        );
        if cacheable && let Some(cached) = self.cache.get(&key) {
            // The same first words the model read: the mood it told then holds.
            if let Some(score) = cached.sentiment {
                deltas.sentiment(score);
            }
            let response = threshold(cached.response, question.min_confidence);
            if let Response::Answered(answer) = &response {
                deltas.push(&answer.text);
            }
            return Ok(response);
        }
        let retrieval = self
            .retrieve(&index, &key, &question.text, cacheable)
            .await?;
        let (raw, streamed) = self.raw(question, &retrieval, deltas).await?;
        // An offline answer given because the model was busy or slow is not kept: the next
        // asker may get the model's; nor one ranked by words alone because the encoder was busy.
        let fell_back =
            (matches!(self.engine, Engine::Llm(_)) && streamed.is_none()) || retrieval.provisional;
        if cacheable && !fell_back {
            let sentiment = streamed.as_ref().and_then(Streamed::sentiment_told);
            self.cache.put(
                key,
                Cached {
                    response: raw.clone(),
                    sentiment,
                },
            );
        }
        let response = threshold(raw, question.min_confidence);
        if let (Response::Answered(answer), None) = (&response, &streamed) {
            deltas.push(&answer.text);
        }
        Ok(response)
    }
}
