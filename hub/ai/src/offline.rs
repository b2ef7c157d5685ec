//! The offline responder's reasoning: from the retrieved passages to a short answer with its
//! source and a calibrated confidence, with no network.
//!
//! The confidence is a logistic function of five features of the retrieval, fitted on several
//! knowledge bases (the demo's `fixtures/eval/answers.jsonl` and the tuning half of the public
//! COVID FAQ in two shapes, `switchboard-bench faq`) and checked on held-out questions of each;
//! see BENCHMARKS.md:
//! - **coverage**: the share of the question's term weight (IDF) that the best passage, its
//!   heading, title and tags contain, counting only terms the knowledge base knows;
//! - **unknown**: the share of the question's term weight that no passage contains at all. A
//!   question about "solar power" or "Japan" has a term the knowledge base has never heard of:
//!   it is about something the knowledge base does not cover, however well the rest matches;
//! - **margin**: how far the best passage's BM25 leads the best passage of another article;
//! - **strength**: the best BM25 relative to the question's total term weight;
//! - **title match**: how closely the best passage's title or heading restates the question (a
//!   cosine of their IDF-weighted terms): a question that restates an FAQ-shaped article's
//!   question is about it.
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
    pub title_match: f64,
}

/// The fitted weights: bias, coverage, unknown, margin, strength, title match. Searched to
/// answer most on three knowledge bases at once (the demo's questions and the public COVID FAQ's
/// tuning half as FAQ entries and as sectioned articles, `switchboard-bench faq [--sections]`)
/// while declining every unanswerable demo question and ≥ 92% of out-of-scope ones;
/// BENCHMARKS.md has the held-out figures.
const WEIGHTS: [f64; 6] = [-4.2, 6.5, -9.0, 1.5, 0.5, 2.0];

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
            title_match: best.title_match,
        })
    }

    /// The probability that an answer from the best passage is right.
    pub fn confidence(&self) -> f64 {
        let [bias, coverage, unknown, margin, strength, title_match] = WEIGHTS;
        let z = bias
            + coverage * self.coverage
            + unknown * self.unknown
            + margin * self.margin
            + strength * self.strength
            + title_match * self.title_match;
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
/// An answer quotes at most this many sentences, whatever it cites: the one that answers and
/// what completes it, not the passage around them.
pub const MAX_SENTENCES: usize = 3;
/// Another sentence carrying at least this share of the best one's question weight answers too.
const ALSO_ANSWERS: f64 = 0.6;

/// Composes the answer from the best passage: the one to three sentences that carry the most of
/// the question's terms, in their order, with the article as the source. `None` when nothing
/// matched.
pub fn compose(retrieval: &Retrieval) -> Option<Draft> {
    let features = Features::of(retrieval)?;
    let best = retrieval.hits.first()?;
    // Two articles that match almost equally well both answer part of the question: say both
    // rather than pick one at random, the second in its one best sentence.
    let close = retrieval.hits.iter().find(|hit| {
        hit.passage.article_id != best.passage.article_id && hit.score >= best.score * TIE
    });
    let mut sources = vec![Source {
        article_id: best.passage.article_id.clone(),
        title: best.passage.title.clone(),
    }];
    let mut text = answer_text(
        retrieval,
        best,
        MAX_SENTENCES - usize::from(close.is_some()),
    );
    if let Some(second) = close {
        text = format!("{text}\n\n{}", answer_text(retrieval, second, 1));
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

/// The passage's best sentence for the question, with up to `max_sentences - 1` more: the items
/// a sentence ending in a colon introduces, then other sentences nearly as much about the
/// question.
fn answer_text(retrieval: &Retrieval, hit: &Hit, max_sentences: usize) -> String {
    let mut analyzer = text::analyzer();
    let sentences = text::sentences(&hit.passage.text);
    let weights: Vec<f64> = sentences
        .iter()
        .map(|sentence| {
            let present = text::terms(&mut analyzer, sentence);
            retrieval
                .terms
                .iter()
                .filter(|t| t.found_in(&present))
                .map(|t| t.idf)
                .sum()
        })
        .collect();
    // The first of the heaviest; the first sentence when none carries a term.
    let Some(best) =
        (0..sentences.len()).reduce(|a, b| if weights[b] > weights[a] { b } else { a })
    else {
        return hit.passage.text.chars().take(MAX_ANSWER_CHARS).collect();
    };
    let mut chosen = vec![best];
    let mut length = sentences[best].len();
    let mut take = |i: usize, chosen: &mut Vec<usize>| {
        let fits = length + sentences[i].len() < MAX_ANSWER_CHARS;
        if chosen.len() < max_sentences && fits && !chosen.contains(&i) {
            length += sentences[i].len() + 1;
            chosen.push(i);
        }
    };
    if sentences[best].ends_with(':') {
        for i in best + 1..sentences.len() {
            take(i, &mut chosen);
        }
    }
    let mut others: Vec<usize> = (0..sentences.len())
        .filter(|&i| weights[i] > 0.0 && weights[i] >= weights[best] * ALSO_ANSWERS)
        .collect();
    others.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    for i in others {
        take(i, &mut chosen);
    }
    chosen.sort_unstable();
    chosen
        .iter()
        .map(|&i| sentences[i].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
