//! The offline responder's reasoning: from the retrieved passages to a short answer with its
//! source and a calibrated confidence, with no network.
//!
//! The confidence is a logistic function of five features of the retrieval, fitted on two
//! knowledge bases (the demo's `fixtures/eval/answers.jsonl` and the tuning half of the public
//! COVID FAQ, `switchboard-bench faq`) and checked on held-out questions of both; see
//! BENCHMARKS.md:
//! - **coverage**: the share of the question's term weight (IDF) that the best passage, its
//!   heading, title and tags contain, counting only terms the knowledge base knows;
//! - **unknown**: the share of the question's term weight that no passage contains at all. A
//!   question about "solar power" or "Japan" has a term the knowledge base has never heard of:
//!   it is about something the knowledge base does not cover, however well the rest matches;
//! - **margin**: how far the best passage's BM25 leads the best passage of another article;
//! - **strength**: the best BM25 relative to the question's total term weight;
//! - **title recall**: the share of the best passage's title and heading term weight that the
//!   question holds: a question that restates an FAQ-shaped article's title is about it.
//!
//! A term the index does not hold but knows a spelling of ("cirus", "corona") counts as half
//! unknown (see `vocabulary.rs`).

use switchboard_model::Source;

use crate::{
    index::{Hit, Retrieval},
    text,
};

/// What the confidence is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Features {
    pub coverage: f64,
    pub unknown: f64,
    pub margin: f64,
    pub strength: f64,
    pub title_recall: f64,
}

/// The fitted weights: bias, coverage, unknown, margin, strength, title recall. Searched to
/// answer most on two knowledge bases at once (the demo's questions and the public COVID FAQ's
/// tuning half, `switchboard-bench faq`) while declining every unanswerable demo question and
/// ≥ 92% of out-of-scope ones; BENCHMARKS.md has the held-out figures.
const WEIGHTS: [f64; 6] = [-4.0, 6.5, -9.0, 1.5, 0.5, 2.0];

impl Features {
    /// Of the best hit of `retrieval`; `None` when nothing matched.
    pub fn of(retrieval: &Retrieval) -> Option<Features> {
        let best = retrieval.hits.first()?;
        let total: f64 = retrieval.terms.iter().map(|t| t.idf).sum();
        if total <= 0.0 {
            return None;
        }
        let known: f64 = retrieval
            .terms
            .iter()
            .filter(|t| t.doc_freq > 0)
            .map(|t| t.idf)
            .sum();
        // A term known only through a guess at its spelling is half unknown: it may as well be
        // a word the knowledge base lacks.
        let guessed: f64 = retrieval
            .terms
            .iter()
            .filter(|t| !t.variants.is_empty())
            .map(|t| t.idf / 2.0)
            .sum();
        let covered: f64 = retrieval
            .terms
            .iter()
            .zip(&best.matched)
            .filter(|(t, matched)| **matched && t.doc_freq > 0)
            .map(|(t, _)| t.idf)
            .sum();
        let runner_up = retrieval
            .hits
            .iter()
            .find(|hit| hit.passage.article_id != best.passage.article_id)
            .map_or(0.0, |hit| hit.score);
        let best_score = f64::from(best.score);
        Some(Features {
            coverage: if known > 0.0 { covered / known } else { 0.0 },
            unknown: (total - known + guessed) / total,
            margin: if best_score > 0.0 {
                (best_score - f64::from(runner_up)) / best_score
            } else {
                0.0
            },
            strength: (best_score / total).min(3.0),
            title_recall: best.title_recall,
        })
    }

    /// The probability that an answer from the best passage is right.
    pub fn confidence(&self) -> f64 {
        let [bias, coverage, unknown, margin, strength, title_recall] = WEIGHTS;
        let z = bias
            + coverage * self.coverage
            + unknown * self.unknown
            + margin * self.margin
            + strength * self.strength
            + title_recall * self.title_recall;
        1.0 / (1.0 + (-z).exp())
    }
}

/// An answer the offline responder could give, before the threshold decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub text: String,
    pub sources: Vec<Source>,
    pub confidence: f64,
    pub features: Features,
}

/// A passage of another article scoring at least this share of the best also answers.
const TIE: f32 = 0.9;

/// Longest answer, in characters, before the source line.
const MAX_ANSWER_CHARS: usize = 480;

/// Composes the answer from the best passage: its sentences that carry the question's terms, in
/// their order, with the article as the source. `None` when nothing matched.
pub fn compose(retrieval: &Retrieval) -> Option<Draft> {
    let features = Features::of(retrieval)?;
    let best = retrieval.hits.first()?;
    let mut text = answer_text(retrieval, best);
    let mut sources = vec![Source {
        article_id: best.passage.article_id.clone(),
        title: best.passage.title.clone(),
    }];
    // Two articles that match almost equally well both answer part of the question: say both
    // rather than pick one at random.
    let close = retrieval.hits.iter().find(|hit| {
        hit.passage.article_id != best.passage.article_id && hit.score >= best.score * TIE
    });
    if let Some(second) = close {
        text = format!("{text}\n\n{}", answer_text(retrieval, second));
        sources.push(Source {
            article_id: second.passage.article_id.clone(),
            title: second.passage.title.clone(),
        });
    }
    let titles: Vec<&str> = sources.iter().map(|s| s.title.as_str()).collect();
    Some(Draft {
        text: format!("{text}\n\nSource: {}", titles.join("; ")),
        sources,
        confidence: features.confidence(),
        features,
    })
}

fn answer_text(retrieval: &Retrieval, hit: &Hit) -> String {
    let mut analyzer = text::analyzer();
    let sentences = text::sentences(&hit.passage.text);
    let mut weight = |sentence: &str| -> f64 {
        let present = text::terms(&mut analyzer, sentence);
        retrieval
            .terms
            .iter()
            .filter(|t| t.found_in(&present))
            .map(|t| t.idf)
            .sum()
    };
    let scored: Vec<(usize, f64)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| (i, weight(s)))
        .collect();
    let mut ranked = scored.clone();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = Vec::new();
    let mut length = 0;
    for (i, score) in ranked {
        if score <= 0.0 && !chosen.is_empty() {
            break;
        }
        let len = sentences[i].len();
        if !chosen.is_empty() && length + len > MAX_ANSWER_CHARS {
            continue;
        }
        chosen.push(i);
        length += len + 1;
        // The sentence after the best one usually finishes its thought ("…; to do so, …").
        if chosen.len() == 1
            && let Some(next) = sentences.get(i + 1)
            && length + next.len() <= MAX_ANSWER_CHARS
        {
            chosen.push(i + 1);
            length += next.len() + 1;
        }
        if chosen.len() >= 3 {
            break;
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    if chosen.is_empty() {
        return hit.passage.text.chars().take(MAX_ANSWER_CHARS).collect();
    }
    chosen
        .iter()
        .map(|&i| sentences[i].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
