//! The house name: the company's own name, which its help centre repeats throughout ("Driftbox
//! for teams", "your Driftbox account") and which therefore says nothing about which article a
//! question is about. A question that names it ("Is Driftbox hiring engineers?", "What is the
//! stock price of Driftbox?") matched every article that does, by its words and by the sentence
//! encoder's meaning alike, and was answered as confidently as a question the knowledge base
//! covers. The index finds the name in the articles themselves, and a question is searched
//! without it (`index.rs`).
//!
//! The name is the word that the most articles hold among the proper names of the knowledge
//! base: written with a capital inside sentences of the articles' bodies (not only where a
//! sentence or a title capitalizes every word), not an acronym, not a word of the sentence
//! encoder's vocabulary ("Premium", "Bluetooth" and "Apple" are words of a plan, a product and
//! another company, which a question may well be about), and held by at least a fifth of the
//! articles and three of them. On the knowledge bases of `tests/fixtures/` it finds the brand in
//! seven of eight and nothing else.

use std::collections::{HashMap, HashSet};

/// Of the articles, at least this share, and [`MIN_ARTICLES`], hold the house name.
const MIN_SHARE: f64 = 0.2;
const MIN_ARTICLES: usize = 3;
/// Inside sentences, at least this share of a proper name's occurrences are capitalized.
const MIN_CAPITALIZED: f64 = 0.8;

/// Counts of the words of the articles, one article at a time.
#[derive(Default)]
pub struct HouseName {
    articles: usize,
    /// Word (lowercase) → articles holding it, anywhere.
    holding: HashMap<String, usize>,
    /// Word (lowercase) → (capitalized, lowercase) occurrences inside sentences of bodies.
    inside: HashMap<String, (usize, usize)>,
}

impl HouseName {
    /// Counts an article's title and the texts of its passages (headings apart: they are
    /// capitalized like titles).
    pub fn add<'a>(&mut self, title: &str, texts: impl IntoIterator<Item = &'a str>) {
        self.articles += 1;
        let mut seen: HashSet<String> = words(title).map(str::to_lowercase).collect();
        for text in texts {
            for line in text.lines() {
                for sentence in sentences(line) {
                    for (position, word) in words(sentence).enumerate() {
                        let lower = word.to_lowercase();
                        if position > 0 {
                            let counts = self.inside.entry(lower.clone()).or_default();
                            if word.starts_with(|c: char| c.is_uppercase()) {
                                counts.0 += 1;
                            } else {
                                counts.1 += 1;
                            }
                        }
                        seen.insert(lower);
                    }
                }
            }
        }
        for word in seen {
            *self.holding.entry(word).or_default() += 1;
        }
    }

    /// The house name (lowercase), if the articles have one; `known` tells the words of the
    /// sentence encoder's vocabulary.
    pub fn find(&self, known: impl Fn(&str) -> bool) -> Option<String> {
        let least = MIN_ARTICLES.max((self.articles as f64 * MIN_SHARE).ceil() as usize);
        self.holding
            .iter()
            .filter(|(word, held)| {
                let (capitalized, lowercase) = self.inside.get(*word).copied().unwrap_or_default();
                **held >= least
                    && capitalized > 0
                    && capitalized as f64 >= MIN_CAPITALIZED * (capitalized + lowercase) as f64
                    && !known(word)
            })
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(word, _)| word.clone())
    }
}

/// A line's sentences: cut after `.`, `!`, `?`, `:` or `;` followed by a space.
fn sentences(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = line;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest
            .char_indices()
            .zip(rest.chars().skip(1))
            .find(|((_, c), next)| matches!(c, '.' | '!' | '?' | ':' | ';') && next.is_whitespace())
            .map_or(rest.len(), |((at, c), _)| at + c.len_utf8());
        let (sentence, after) = rest.split_at(cut);
        rest = after.trim_start();
        Some(sentence)
    })
}

/// The words of `text` that may be a name: letters and digits starting with a letter, not all
/// capitals (an acronym), not part of an address (`parcelo.example`, `help@parcelo.example`,
/// `/shop`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '@' | '/' | '-' | '_')))
        .filter(|token| !token.contains(['@', '/']))
        .flat_map(|token| {
            let token = token.trim_matches(['.', '-', '_']);
            // A dot inside a token ("parcelo.example") makes it an address.
            let address = token.contains('.');
            token
                .split(['-', '_'])
                .filter(move |_| !address)
                .filter(|word| word.starts_with(|c: char| c.is_alphabetic()))
                .filter(|word| word.chars().any(|c| c.is_lowercase()))
        })
}

/// `question` without the house name, or `None` when it does not name it or is nothing else.
pub fn without(question: &str, name: &str) -> Option<String> {
    let mut out = String::with_capacity(question.len());
    let mut named = false;
    let mut other = false;
    let mut rest = question;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if !word.is_empty() && word.eq_ignore_ascii_case(name) {
            named = true;
        } else {
            other |= !word.is_empty();
            out.push_str(word);
        }
        let gap = after
            .find(|c: char| c.is_alphanumeric())
            .unwrap_or(after.len());
        out.push_str(&after[..gap]);
        rest = &after[gap..];
    }
    (named && other).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn house(articles: &[(&str, &str)], known: &[&str]) -> Option<String> {
        let mut house = HouseName::default();
        for (title, body) in articles {
            house.add(title, [*body]);
        }
        house.find(|word| known.contains(&word))
    }

    #[test]
    fn the_name_the_articles_repeat_inside_their_sentences_is_the_house_name() {
        let articles = [
            (
                "Driftbox for teams",
                "Add people to your Driftbox team. Admins pay per seat.",
            ),
            (
                "Sharing",
                "Share a folder from Driftbox with anyone: they need no account.",
            ),
            (
                "Plans",
                "Driftbox Premium gives 2 TB. Every Driftbox plan syncs.",
            ),
            (
                "Security",
                "We encrypt files. Write to help@driftbox.example for more.",
            ),
            ("Sync", "Files sync when Driftbox runs in the background."),
        ];
        assert_eq!(house(&articles, &["premium"]).as_deref(), Some("driftbox"));
    }

    #[test]
    fn words_of_the_vocabulary_acronyms_rare_and_lowercase_words_are_not_the_house_name() {
        let articles = [
            (
                "Plans",
                "Our Premium plan has VAT included. Pay with PayPal or invoices.",
            ),
            (
                "Bluetooth",
                "Pair over Bluetooth. The VAT number is on invoices.",
            ),
            (
                "Billing",
                "Premium renews yearly; invoices list VAT. PayPal works too.",
            ),
            (
                "Refunds",
                "Premium is refunded within 14 days; see invoices. VAT is refunded.",
            ),
        ];
        // "premium" and "bluetooth" are known words, "VAT" an acronym, "paypal" in two of
        // four articles (three needed), "invoices" lowercase.
        assert_eq!(house(&articles, &["premium", "bluetooth"]), None);
    }

    #[test]
    fn an_address_is_not_a_word() {
        let articles = [
            (
                "One",
                "Mail support@acme.example or see acme.example/help today.",
            ),
            (
                "Two",
                "Visit acme.example for the status of acme.example/status now.",
            ),
            (
                "Three",
                "Reach billing@acme.example about acme.example invoices.",
            ),
        ];
        assert_eq!(house(&articles, &[]), None);
    }

    #[test]
    fn a_question_is_searched_without_the_house_name_unless_it_is_all_it_says() {
        assert_eq!(
            without("Is Driftbox hiring engineers?", "driftbox").as_deref(),
            Some("Is  hiring engineers?")
        );
        assert_eq!(
            without("Can I use DRIFTBOX with a NAS?", "driftbox").as_deref(),
            Some("Can I use  with a NAS?")
        );
        assert_eq!(without("Driftbox?", "driftbox"), None);
        assert_eq!(without("Where are my driftboxes?", "driftbox"), None);
    }
}
