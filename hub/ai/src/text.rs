//! How text becomes search terms (one analyzer for the index, the questions and the confidence
//! features, so that they always agree), and how passages are cut into sentences.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};

/// The name the analyzer is registered under in every knowledge index.
pub const ANALYZER: &str = "kb_en";

/// Words that carry no topic: English function words plus the words questions are phrased with
/// ("how do I", "can you"). They would otherwise count as terms a passage fails to cover.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "each",
    "else",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "let",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "need",
    "of",
    "on",
    "one",
    "or",
    "other",
    "our",
    "out",
    "please",
    "s",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "still",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "too",
    "up",
    "us",
    "very",
    "want",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "hi",
    "hello",
    "thanks",
    "thank",
    "ll",
    "ve",
    "re",
    "d",
    "m",
    "way",
    "anything",
    "something",
    "tell",
    "know",
    "able",
    "possible",
    // What is left of a contraction once the apostrophe splits it ("doesn't" → "doesn", "t").
    "doesn",
    "didn",
    "isn",
    "aren",
    "wasn",
    "weren",
    "haven",
    "hasn",
    "hadn",
    "shouldn",
    "wouldn",
    "couldn",
    "won",
    "ain",
];

/// Lower-cased, stop words removed, English stems.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|word| (*word).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms of `text`, in order, repeats included.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(stream.token().text.clone());
    }
    terms
}

/// The distinct terms of `text`, in first-seen order.
pub fn distinct_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for term in terms(analyzer, text) {
        if !seen.contains(&term) {
            seen.push(term);
        }
    }
    seen
}

/// The sentences of a passage, with markdown list markers and emphasis removed. A list item is a
/// sentence of its own.
pub fn sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    for line in text.lines() {
        let line = line
            .trim()
            .trim_start_matches(['-', '*', '+', '>'])
            .trim()
            .replace("**", "")
            .replace('`', "");
        let line = strip_ordinal(&line);
        if line.is_empty() || line.starts_with('|') {
            continue;
        }
        let bytes: Vec<char> = line.chars().collect();
        let mut current = String::new();
        for (i, ch) in bytes.iter().enumerate() {
            current.push(*ch);
            let ends = matches!(ch, '.' | '?' | '!')
                && bytes.get(i + 1).is_none_or(|next| next.is_whitespace())
                && !ends_with_abbreviation(&current);
            if ends {
                let sentence = current.trim().to_owned();
                if !sentence.is_empty() {
                    sentences.push(sentence);
                }
                current.clear();
            }
        }
        let rest = current.trim();
        if !rest.is_empty() {
            sentences.push(rest.to_owned());
        }
    }
    sentences
}

fn strip_ordinal(line: &str) -> String {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 3 && line[digits..].starts_with(". ") {
        line[digits + 2..].trim().to_owned()
    } else {
        line.to_owned()
    }
}

fn ends_with_abbreviation(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "e.g.", "i.e.", "etc.", "approx.", "no.", "vs.", "mr.", "mrs.", "dr.",
    ]
    .iter()
    .any(|abbreviation| lower.ends_with(abbreviation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_reduce_to_their_topic_words() {
        let mut analyzer = analyzer();
        assert_eq!(
            terms(&mut analyzer, "How do I reset my passwords?"),
            vec!["reset", "password"]
        );
    }

    #[test]
    fn sentences_split_on_stops_not_abbreviations() {
        let split = sentences("- One, e.g. this. Two? Three\n1. Four.\n| table |");
        assert_eq!(split, vec!["One, e.g. this.", "Two?", "Three", "Four."]);
    }
}
