//! Answers to repeated questions, and what retrieval found for them, per organization and
//! knowledge-base version. The key holds the index's stamp, which changes with any article
//! change, so a change makes every older entry unreachable; they age out of the bounded map.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use switchboard_model::Response;

/// What a cached entry answers: the same organization, knowledge version, responder mode and
/// wording (case, spacing and punctuation aside).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    org_id: String,
    stamp: String,
    question: String,
}

impl CacheKey {
    pub fn new(org_id: &str, stamp: &str, question: &str) -> CacheKey {
        let question = question
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        CacheKey {
            org_id: org_id.to_owned(),
            stamp: stamp.to_owned(),
            question,
        }
    }
}

/// A response kept for the next asker, with what the model that wrote it told of the asker's
/// mood: a cached answer to the same first words then needs no call to score them.
#[derive(Clone, Debug, PartialEq)]
pub struct Cached {
    pub response: Response,
    /// 0 (very negative) to 100 (very positive); `None` when no model told it.
    pub sentiment: Option<u8>,
}

/// What a cache keeps, which names its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Responses (`switchboard_ai_cache_lookups_total`, `switchboard_ai_cache_hit_ratio`).
    Answers,
    /// Retrievals, for the questions whose answer depends on the conversation and so is not
    /// kept: a model's answers to later questions (`switchboard_ai_retrieval_cache_lookups_total`).
    Retrievals,
}

/// The answer cache.
pub type AnswerCache = Cache<Cached>;

/// A bounded map, oldest entries evicted first.
pub struct Cache<V> {
    kept: Kept,
    capacity: usize,
    entries: Mutex<(HashMap<CacheKey, V>, VecDeque<CacheKey>)>,
}

impl<V: Clone> Cache<V> {
    pub fn new(kept: Kept, capacity: usize) -> Cache<V> {
        Cache {
            kept,
            capacity,
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// The cached value, counting a hit or a miss in the metrics.
    pub fn get(&self, key: &CacheKey) -> Option<V> {
        let found = self
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.0.get(key).cloned());
        record(self.kept, found.is_some());
        found
    }

    pub fn put(&self, key: CacheKey, cached: V) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let (map, order) = &mut *entries;
        if map.insert(key.clone(), cached).is_none() {
            order.push_back(key);
        }
        while map.len() > self.capacity {
            match order.pop_front() {
                Some(oldest) => {
                    map.remove(&oldest);
                }
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.0.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

static HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LOOKUPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn record(kept: Kept, hit: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let outcome = if hit { "hit" } else { "miss" };
    if kept == Kept::Retrievals {
        metrics::counter!("switchboard_ai_retrieval_cache_lookups_total", "outcome" => outcome)
            .increment(1);
        return;
    }
    let lookups = LOOKUPS.fetch_add(1, Relaxed) + 1;
    let hits = if hit {
        HITS.fetch_add(1, Relaxed) + 1
    } else {
        HITS.load(Relaxed)
    };
    metrics::counter!("switchboard_ai_cache_lookups_total", "outcome" => outcome).increment(1);
    metrics::gauge!("switchboard_ai_cache_hit_ratio").set(hits as f64 / lookups as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declined(reason: &str) -> Cached {
        Cached {
            response: Response::Declined {
                reason: reason.into(),
                confidence: None,
            },
            sentiment: None,
        }
    }

    #[test]
    fn wording_aside_the_same_question_hits_and_a_new_stamp_misses() {
        let cache = AnswerCache::new(Kept::Answers, 2);
        cache.put(CacheKey::new("o", "1", "How do I reset?"), declined("a"));
        assert!(
            cache
                .get(&CacheKey::new("o", "1", "how do i  RESET"))
                .is_some()
        );
        assert!(
            cache
                .get(&CacheKey::new("o", "2", "how do i reset"))
                .is_none()
        );
        assert!(
            cache
                .get(&CacheKey::new("p", "1", "how do i reset"))
                .is_none()
        );
        cache.put(CacheKey::new("o", "1", "b"), declined("b"));
        cache.put(CacheKey::new("o", "1", "c"), declined("c"));
        assert_eq!(cache.len(), 2);
        assert!(
            cache
                .get(&CacheKey::new("o", "1", "how do i reset"))
                .is_none()
        );
    }
}
