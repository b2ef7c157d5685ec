//! The terms a knowledge index holds, and the stand-ins for a question's term it does not hold:
//! a misspelling ("cirus" → "virus"), a word cut short ("corona" → "coronavirus"). Without them a
//! typo counts as a word the knowledge base has never heard of, which reads as "not covered".

use std::collections::HashMap;

use tantivy::{Searcher, schema::Field};

/// Stand-ins kept per unknown term, the most frequent first.
const MAX_VARIANTS: usize = 3;
/// Shorter terms have too many real neighbours one edit away ("boat", "boot", "bolt"): an
/// unknown short word is more often a word the knowledge base lacks than a typo.
const MIN_FUZZY_LEN: usize = 6;
/// From this length two edits are still the same word.
const TWO_EDITS_LEN: usize = 9;
/// A prefix this long names the word it starts ("corona" → "coronavirus").
const MIN_PREFIX_LEN: usize = 5;

#[derive(Default)]
pub struct Vocabulary {
    /// Term → passages holding it, over every segment.
    doc_freqs: HashMap<String, u64>,
}

impl Vocabulary {
    /// The terms of `field` in every segment of `searcher`.
    pub fn read(searcher: &Searcher, field: Field) -> tantivy::Result<Vocabulary> {
        let mut doc_freqs: HashMap<String, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted.terms().stream()?;
            while stream.advance() {
                if let Ok(term) = std::str::from_utf8(stream.key()) {
                    *doc_freqs.entry(term.to_owned()).or_default() +=
                        u64::from(stream.value().doc_freq);
                }
            }
        }
        Ok(Vocabulary { doc_freqs })
    }

    /// Every term with the passages holding it.
    pub fn terms(&self) -> impl Iterator<Item = (&str, u64)> {
        self.doc_freqs
            .iter()
            .map(|(term, freq)| (term.as_str(), *freq))
    }

    pub fn doc_freq(&self, term: &str) -> u64 {
        self.doc_freqs.get(term).copied().unwrap_or(0)
    }

    /// Known terms that `term` (unknown) most likely means, the most frequent first.
    pub fn variants(&self, term: &str) -> Vec<(String, u64)> {
        let length = term.chars().count();
        if length < MIN_PREFIX_LEN.min(MIN_FUZZY_LEN) || term.chars().any(|c| c.is_ascii_digit()) {
            return Vec::new();
        }
        let edits = if length >= TWO_EDITS_LEN { 2 } else { 1 };
        let mut found: Vec<(String, u64)> = self
            .doc_freqs
            .iter()
            .filter(|(known, _)| {
                let known_length = known.chars().count();
                (length >= MIN_PREFIX_LEN && known_length > length && known.starts_with(term))
                    || (length >= MIN_FUZZY_LEN
                        && known_length.abs_diff(length) <= edits
                        && known_length >= MIN_FUZZY_LEN
                        && within_edits(term, known, edits))
            })
            .map(|(known, freq)| (known.clone(), *freq))
            .collect();
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        found.truncate(MAX_VARIANTS);
        found
    }
}

/// Whether `a` becomes `b` in at most `limit` insertions, deletions, substitutions or swaps of
/// neighbours (optimal string alignment distance).
fn within_edits(a: &str, b: &str, limit: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        if current.iter().min().is_some_and(|&least| least > limit) {
            return false;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()] <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary(terms: &[(&str, u64)]) -> Vocabulary {
        Vocabulary {
            doc_freqs: terms.iter().map(|(t, f)| ((*t).to_owned(), *f)).collect(),
        }
    }

    #[test]
    fn edits_count_swaps_as_one() {
        assert!(within_edits("virus", "cirus", 1));
        assert!(within_edits("recieve", "receive", 1));
        assert!(!within_edits("solar", "polaroid", 1));
        assert!(within_edits("", "", 0));
    }

    #[test]
    fn an_unknown_term_finds_its_misspelled_and_cut_short_forms() {
        let known = vocabulary(&[
            ("subscript", 9),
            ("coronavirus", 4),
            ("refund", 3),
            ("polar", 1),
            ("boot", 1),
        ]);
        assert_eq!(
            known.variants("subscirpt"),
            vec![("subscript".to_owned(), 9)]
        );
        assert_eq!(known.variants("refnud"), vec![("refund".to_owned(), 3)]);
        assert_eq!(
            known.variants("corona"),
            vec![("coronavirus".to_owned(), 4)]
        );
        assert!(known.variants("japan").is_empty());
        // Short words are more often words the knowledge base lacks than typos.
        assert!(known.variants("solar").is_empty());
        assert!(known.variants("boat").is_empty());
    }
}
