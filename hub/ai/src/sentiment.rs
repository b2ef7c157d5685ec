//! The offline sentiment scorer for customer messages: 0 (very negative) to 100 (very positive),
//! three labels, and the trend of a conversation (its arithmetic is `switchboard_model::sentiment`'s,
//! re-exported here).
//!
//! A lexicon-and-rules scorer in the manner of VADER, rebuilt for what customers write to support:
//! the valences of everyday words are there, but so are the complaints that carry no "negative
//! word" at all ("charged twice", "still not working", "waiting for 3 weeks", "no one replied"),
//! politeness that is not praise ("pls", "thanks" at the end of a complaint), and sarcasm ("thanks
//! for nothing", "great job 🙄"). Nothing here is learned from data: the rules are written down,
//! so a surprising score can be explained by reading this file.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

// The thresholds and the trend arithmetic are the model's: the store moves a conversation's
// level on ingest without this crate.
pub use switchboard_model::sentiment::{
    NEGATIVE_BELOW, POSITIVE_ABOVE, TREND_WEIGHT, Trend, next_level, trend,
};

/// The three classes a score falls into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    pub const ALL: [SentimentLabel; 3] = [
        SentimentLabel::Negative,
        SentimentLabel::Neutral,
        SentimentLabel::Positive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }

    /// The class of a 0–100 score.
    pub fn of_score(score: u8) -> SentimentLabel {
        if score < NEGATIVE_BELOW {
            SentimentLabel::Negative
        } else if score > POSITIVE_ABOVE {
            SentimentLabel::Positive
        } else {
            SentimentLabel::Neutral
        }
    }

    /// Reads `negative` / `neutral` / `positive` (also `neg`, `neu`, `pos`), any case.
    pub fn parse(text: &str) -> Option<SentimentLabel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "negative" | "neg" => Some(SentimentLabel::Negative),
            "neutral" | "neu" => Some(SentimentLabel::Neutral),
            "positive" | "pos" => Some(SentimentLabel::Positive),
            _ => None,
        }
    }
}

/// A scored message.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// 0 (very negative) to 100 (very positive); 50 is neutral.
    pub score: u8,
    pub label: SentimentLabel,
}

/// Scores one message.
pub fn analyze(text: &str) -> Sentiment {
    let score = score(text);
    Sentiment {
        score,
        label: SentimentLabel::of_score(score),
    }
}

/// The score ingest stores with a customer message (`Store::ingest`): `None` for a message
/// without text (an attachment alone). Cheap (microseconds) and pure, so the ingest path runs it
/// inline before the message queues for its writer.
pub fn message_score(text: &str) -> Option<u8> {
    (!text.trim().is_empty()).then(|| score(text))
}

/// The 0–100 score of one message.
pub fn score(text: &str) -> u8 {
    let valence = valence(text);
    // VADER's normalization: unbounded sums squash into (-1, 1) smoothly.
    let compound = valence / (valence * valence + 15.0).sqrt();
    (50.0 + 50.0 * compound).round().clamp(0.0, 100.0) as u8
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word {
        text: String,
        caps: bool,
    },
    /// An emoji or an emoticon, already valued.
    Symbol(f64),
    /// A run of punctuation: `!!!`, `?!`, `.`.
    Punct(String),
}

/// How a word changes its neighbours.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Negator,
    Booster(f64),
    But,
    Plain,
}

const NEGATION_SCOPE: usize = 3;
const NEGATION_FACTOR: f64 = -0.74;
const BOOST: f64 = 0.293;
const CAPS_BOOST: f64 = 0.733;

fn valence(text: &str) -> f64 {
    let tokens = tokenize(text);
    let words: Vec<&str> = tokens
        .iter()
        .map(|token| match token {
            Token::Word { text, .. } => text.as_str(),
            _ => "",
        })
        .collect();
    let caps_words = tokens
        .iter()
        .filter(|t| matches!(t, Token::Word { caps: true, .. }))
        .count();
    let all_words = words.iter().filter(|w| !w.is_empty()).count();
    // In a message that is all capitals, capitals stress nothing in particular.
    let shouting = caps_words >= 1 && caps_words * 2 < all_words.max(1) + 1;
    let sarcastic = is_sarcastic(&tokens, &words);

    let mut content = Vec::<f64>::with_capacity(tokens.len());
    let mut politeness = 0.0;
    let mut but_at = None;
    let mut i = 0;
    while i < tokens.len() {
        if let Some((len, value)) = phrase_at(&words, i) {
            let value = in_context(&tokens, &words, i, value, shouting, sarcastic);
            content.push(value);
            i += len;
            continue;
        }
        match &tokens[i] {
            Token::Symbol(value) => content.push(*value),
            Token::Punct(_) => {}
            Token::Word { text, .. } => {
                if role(text) == Role::But && i > 0 {
                    but_at = Some(content.len());
                } else if let Some(value) = absence(&tokens, &words, i) {
                    content.push(value);
                } else if let Some(&value) = lexicon().get(text.as_str()) {
                    if POLITE.contains(&text.as_str()) {
                        politeness += value;
                    } else {
                        content.push(in_context(&tokens, &words, i, value, shouting, sarcastic));
                    }
                }
            }
        }
        i += 1;
    }
    // "but" shifts the weight to what follows it.
    if let Some(at) = but_at {
        for (index, value) in content.iter_mut().enumerate() {
            *value *= if index < at { 0.5 } else { 1.5 };
        }
    }
    let mut sum: f64 = content.iter().sum();
    // "Is there an outage in Leeds?", "how do I request a refund?": asking about a problem is
    // not having one. Mild problem words in an information question count for little.
    if is_information_question(&tokens, &words) {
        sum = content
            .iter()
            .map(|v| if v.abs() < 2.5 { v * 0.3 } else { *v })
            .sum();
    }
    // Thanks at the end of a complaint is manners (or sarcasm), not praise.
    if sum >= -0.5 && !sarcastic {
        sum += politeness;
    }
    sum + punctuation_emphasis(&tokens, sum, shouting)
}

/// A negation that negates no opinion word is itself the complaint in support messages:
/// "no heating", "can't get through", "wouldn't give us a hotel", "isn't even active".
fn absence(tokens: &[Token], words: &[&str], at: usize) -> Option<f64> {
    let word = words[at];
    let contraction = word.ends_with("n't") || matches!(word, "cannot" | "unable");
    if !(contraction || word == "no") {
        return None;
    }
    let scope = &tokens[at + 1..(at + 1 + NEGATION_SCOPE).min(tokens.len())];
    let mut opinion = false;
    let mut next_word = None;
    for token in scope {
        match token {
            Token::Punct(_) => break,
            Token::Word { text, .. } => {
                next_word.get_or_insert(text.as_str());
                if lexicon().get(text.as_str()).is_some_and(|v| *v != 0.0) {
                    opinion = true;
                }
            }
            Token::Symbol(_) => {}
        }
    }
    if opinion || phrase_at(words, at).is_some() {
        return None;
    }
    match (word, next_word) {
        (_, None) => None,
        ("no", Some("thanks" | "idea" | "worries" | "problem" | "rush")) => None,
        ("no", _) => Some(-1.2),
        ("don't" | "dont", Some("know" | "mind" | "think")) => None,
        _ => Some(-0.9),
    }
}

/// A question asking for information: it opens with an interrogative and ends with one `?`.
fn is_information_question(tokens: &[Token], words: &[&str]) -> bool {
    let first = words.iter().find(|w| !w.is_empty()).copied().unwrap_or("");
    let asks = matches!(
        first,
        "is" | "are"
            | "can"
            | "could"
            | "do"
            | "does"
            | "how"
            | "what"
            | "when"
            | "which"
            | "will"
            | "would"
            | "should"
            | "hi"
            | "hello"
            | "hey"
            | "any"
            | "rt"
    ) || words
        .windows(2)
        .any(|w| matches!(w, ["does", "anyone"] | ["can", "i"] | ["how", "do"]));
    let ends_plainly = match tokens.iter().rev().find(|t| !matches!(t, Token::Symbol(_))) {
        Some(Token::Punct(p)) => p == "?" || p == ".",
        Some(Token::Word { .. }) => true,
        _ => false,
    };
    let exasperated = tokens.iter().any(
        |t| matches!(t, Token::Punct(p) if p.len() > 1 && (p.contains('?') || p.contains('!'))),
    );
    asks && ends_plainly && !exasperated
}

/// Puts one word's or phrase's valence in its context: boosters and downtoners before it,
/// capitals, a negation within [`NEGATION_SCOPE`] words, sarcasm.
fn in_context(
    tokens: &[Token],
    words: &[&str],
    at: usize,
    value: f64,
    shouting: bool,
    sarcastic: bool,
) -> f64 {
    let mut value = value;
    let sign = value.signum();
    if let Token::Word { caps: true, .. } = tokens[at]
        && shouting
    {
        value += CAPS_BOOST * sign;
    }
    let mut negated = false;
    for distance in 1..=NEGATION_SCOPE {
        let Some(index) = at.checked_sub(distance) else {
            break;
        };
        match &tokens[index] {
            Token::Punct(p) if p != "'" => break,
            Token::Word { text, caps } => match role(text) {
                Role::But => break,
                Role::Negator => negated = !negated,
                Role::Booster(boost) => {
                    let fade = 1.0 - 0.05 * (distance - 1) as f64;
                    let mut boost = boost * fade;
                    if *caps && shouting {
                        boost += boost.signum() * 0.2;
                    }
                    value += boost * sign;
                }
                Role::Plain => {}
            },
            Token::Symbol(_) | Token::Punct(_) => {}
        }
    }
    // "not only" and "never been so" do not negate what follows them.
    if negated && !(at >= 1 && matches!(words[at - 1], "only")) {
        value *= NEGATION_FACTOR;
    }
    if sarcastic && value > 0.0 {
        value *= -0.6;
    }
    value
}

/// Exclamation marks amplify whatever the message says; repeated question marks (and `?!`)
/// in a message that is not positive read as exasperation; shouting a complaint sharpens it.
fn punctuation_emphasis(tokens: &[Token], sum: f64, shouting: bool) -> f64 {
    let bangs: usize = tokens
        .iter()
        .map(|t| match t {
            Token::Punct(p) => p.matches('!').count(),
            _ => 0,
        })
        .sum();
    let exasperated = tokens.iter().any(|t| match t {
        Token::Punct(p) => p.matches('?').count() >= 2 || (p.contains('?') && p.contains('!')),
        _ => false,
    });
    let mut emphasis = 0.0;
    if sum != 0.0 {
        emphasis += sum.signum() * 0.292 * bangs.min(4) as f64;
    }
    if exasperated && sum <= 0.5 {
        emphasis -= 0.9;
    }
    let caps_words = tokens
        .iter()
        .filter(
            |t| matches!(t, Token::Word { caps: true, text } if !ACRONYMS.contains(&text.as_str())),
        )
        .count();
    if caps_words > 0 && sum < 0.0 {
        emphasis -= if shouting { 0.8 } else { 0.4 };
    }
    emphasis
}

fn is_sarcastic(tokens: &[Token], words: &[&str]) -> bool {
    let eye_roll = tokens
        .iter()
        .any(|t| matches!(t, Token::Symbol(v) if *v == EYE_ROLL));
    let marker = words.windows(2).any(|pair| {
        matches!(
            pair,
            ["yeah", "right"]
                | ["oh", "great"]
                | ["just", "great"]
                | ["so", "much"]
                | ["i", "guess"]
                | ["love", "how"]
                | ["love", "when"]
                | ["love", "that"]
                | ["thanks", "for"]
                | ["thanks", "a"]
        )
    }) && words
        .iter()
        .any(|w| lexicon().get(w).is_some_and(|v| *v <= -2.0) || COMPLAINT_CUES.contains(w));
    eye_roll || marker
}

fn role(word: &str) -> Role {
    match word {
        "not" | "no" | "never" | "without" | "nobody" | "nothing" | "none" | "neither" | "nor"
        | "hardly" | "barely" | "cannot" | "ain't" => Role::Negator,
        w if w.ends_with("n't") => Role::Negator,
        "but" | "however" | "although" | "though" | "yet" => Role::But,
        "very" | "so" | "really" | "extremely" | "absolutely" | "totally" | "super"
        | "incredibly" | "completely" | "utterly" | "truly" | "seriously" | "highly" | "most"
        | "such" | "too" | "fucking" | "bloody" | "damn" | "genuinely" | "literally" | "beyond"
        | "ridiculously" | "insanely" | "hugely" | "massively" | "way" => Role::Booster(BOOST),
        "slightly" | "somewhat" | "kinda" | "sorta" | "bit" | "little" | "fairly" | "pretty"
        | "quite" | "partly" | "mostly" | "marginally" => Role::Booster(-BOOST),
        _ => Role::Plain,
    }
}

/// Words that carry manners rather than opinion.
const POLITE: &[&str] = &["thanks", "thank", "cheers", "appreciated", "appreciate"];

/// Words that make "thanks for …" and "love how …" sarcastic when they sit beside them.
const COMPLAINT_CUES: &[&str] = &[
    "again", "still", "nothing", "hours", "days", "weeks", "ruining", "cutting", "hike",
];

/// Capitalized as a matter of course, not for stress.
const ACRONYMS: &[&str] = &[
    "asap", "pin", "uk", "us", "usa", "tv", "dm", "id", "faq", "atm", "sim", "puk", "pac", "eu",
    "isp", "ok", "i", "a", "gb", "mb", "tb", "am", "pm", "hd", "4k", "5g", "4g", "nhs", "rt",
    "ceo", "vip", "iban", "esim", "e7", "2fa", "uk's", "pc", "ps5", "it",
];

/// A multi-word expression starting at `at`: its length in tokens and its valence.
fn phrase_at(words: &[&str], at: usize) -> Option<(usize, f64)> {
    let rest = &words[at..];
    for (phrase, value) in phrases() {
        if rest.len() >= phrase.len() && rest.iter().zip(phrase).all(|(w, p)| w == p) {
            return Some((phrase.len(), *value));
        }
    }
    // "waiting for 3 weeks", "been 2 months", "10 days", "an hour": time spent on a problem.
    let is_count = |w: &str| {
        w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty()
            || matches!(
                w,
                "an" | "two" | "three" | "four" | "five" | "six" | "several" | "many" | "ten"
            )
    };
    let is_unit = |w: &str| {
        matches!(
            w,
            "hour"
                | "hours"
                | "hrs"
                | "day"
                | "days"
                | "week"
                | "weeks"
                | "month"
                | "months"
                | "mins"
                | "minutes"
                | "min"
                | "years"
        )
    };
    if rest.len() >= 2 && is_count(rest[0]) && is_unit(rest[1]) {
        let waiting_before = (1..=3).any(|d| {
            at.checked_sub(d).is_some_and(|i| {
                matches!(
                    words[i],
                    "waiting"
                        | "waited"
                        | "wait"
                        | "been"
                        | "for"
                        | "over"
                        | "after"
                        | "hold"
                        | "took"
                        | "queue"
                        | "queueing"
                        | "without"
                        | "delayed"
                        | "late"
                )
            })
        });
        let after = rest.get(2).copied().unwrap_or("");
        let complaint_after = matches!(after, "later" | "now" | "ago" | "and" | "late" | "without");
        if waiting_before || complaint_after {
            // Short waits of minutes count less than weeks.
            let weight = if matches!(rest[1], "mins" | "minutes" | "min") {
                -1.0
            } else {
                -1.8
            };
            return Some((2, weight));
        }
    }
    None
}

fn phrases() -> &'static [(Vec<&'static str>, f64)] {
    static PHRASES: OnceLock<Vec<(Vec<&'static str>, f64)>> = OnceLock::new();
    PHRASES.get_or_init(|| {
        let mut list: Vec<(Vec<&'static str>, f64)> = PHRASE_LIST
            .iter()
            .map(|(text, value)| (text.split(' ').collect(), *value))
            .collect();
        // Longest first, so "still not working" wins over "not working".
        list.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
        list
    })
}

/// Expressions of support conversations, on VADER's -4..4 scale.
const PHRASE_LIST: &[(&str, f64)] = &[
    ("thanks for nothing", -3.0),
    ("thanks for ruining", -3.2),
    ("thank you for nothing", -3.0),
    ("charged twice", -2.8),
    ("charged me twice", -2.8),
    ("double charged", -2.8),
    ("taken twice", -2.6),
    ("still not working", -3.0),
    ("still not fixed", -3.0),
    ("still not resolved", -3.0),
    ("still broken", -3.0),
    ("still waiting", -2.5),
    ("still no", -2.2),
    ("still nothing", -2.5),
    ("still hasn't", -2.3),
    ("still haven't", -2.3),
    ("still not", -2.2),
    ("still not here", -2.5),
    ("not working", -2.2),
    ("doesn't work", -2.2),
    ("don't work", -2.0),
    ("won't work", -2.0),
    ("not loading", -2.0),
    ("won't load", -2.0),
    ("keeps crashing", -2.5),
    ("keeps dropping", -2.3),
    ("keep getting", -1.0),
    ("cancel my subscription", -2.0),
    ("cancel my contract", -2.0),
    ("cancel my account", -2.0),
    ("cancel my membership", -2.0),
    ("close my account", -1.8),
    ("cancelling my", -2.0),
    ("i'm done", -2.5),
    ("i am done", -2.5),
    ("i'm out", -2.0),
    ("had enough", -2.5),
    ("never again", -2.8),
    ("never ordering again", -3.0),
    ("never using", -2.8),
    ("never received", -2.5),
    ("never arrived", -2.5),
    ("never showed", -2.5),
    ("never turned up", -2.5),
    ("never arrives", -2.3),
    ("never came", -2.5),
    ("never appeared", -2.0),
    ("didn't turn up", -2.5),
    ("didn't arrive", -2.3),
    ("hasn't arrived", -2.3),
    ("haven't received", -2.2),
    ("not received", -2.2),
    ("no one replied", -2.8),
    ("no one has replied", -2.8),
    ("no one is answering", -2.8),
    ("no one answers", -2.6),
    ("no one", -1.5),
    ("nobody replied", -2.8),
    ("no reply", -2.5),
    ("no response", -2.5),
    ("not one reply", -2.8),
    ("no answer", -2.2),
    ("not a single", -1.8),
    ("no signal", -2.2),
    ("no service", -2.2),
    ("no internet", -2.2),
    ("no wifi", -1.8),
    ("no explanation", -2.0),
    ("no solution", -2.2),
    ("no help", -2.2),
    ("zero help", -2.8),
    ("no info", -1.8),
    ("no update", -1.8),
    ("no updates", -1.8),
    ("no way", -1.0),
    ("on hold", -1.8),
    ("cut off", -2.0),
    ("cut me off", -2.2),
    ("hung up", -2.0),
    ("call back", -0.5),
    ("callback", -0.5),
    ("waste of time", -3.0),
    ("waste of money", -3.0),
    ("what a joke", -3.0),
    ("beyond a joke", -3.0),
    ("a joke", -2.5),
    ("is a joke", -2.5),
    ("sort it out", -2.0),
    ("sort this out", -2.0),
    ("fix it now", -2.5),
    ("fix your", -1.8),
    ("fix this", -1.2),
    ("want my money back", -2.8),
    ("my money back", -2.5),
    ("give me my money", -2.5),
    ("speak to a manager", -2.0),
    ("speak to a human", -1.6),
    ("talk to a human", -1.4),
    ("not happy", -2.4),
    ("not good enough", -2.8),
    ("not acceptable", -2.8),
    ("not impressed", -2.4),
    ("not bad", 1.5),
    ("not bad at all", 2.0),
    ("no problem", 1.0),
    ("no worries", 1.2),
    ("no issues", 1.2),
    ("can't fault", 2.5),
    ("couldn't have asked for", 2.5),
    ("can't stop", 1.5),
    ("can't believe", -1.8),
    ("cannot believe", -1.8),
    ("can't even", -1.8),
    ("hats off", 2.5),
    ("above and beyond", 3.0),
    ("went above", 2.5),
    ("made my day", 3.0),
    ("made my week", 3.0),
    ("you made my day", 3.0),
    ("well done", 2.5),
    ("good job", 2.2),
    ("great job", 2.5),
    ("nice one", 2.0),
    ("top notch", 2.8),
    ("spot on", 2.5),
    ("rock solid", 2.5),
    ("hands down", 1.0),
    ("never disappoints", 3.0),
    ("all sorted", 2.0),
    ("issue resolved", 2.0),
    ("problem solved", 2.0),
    ("unable to", -1.8),
    ("all working", 1.8),
    ("working now", 1.8),
    ("sorted it", 1.8),
    ("sorted now", 2.0),
    ("came through", 1.0),
    ("keep up the good work", 3.0),
    ("10/10", 3.0),
    ("5 stars", 3.0),
    ("five stars", 3.0),
    ("1 star", -2.5),
    ("one star", -2.5),
    ("customer service", 0.0),
    ("customer support", 0.0),
    ("where is my", -1.6),
    ("where's my", -1.6),
    ("where is it", -1.6),
    ("what am i paying for", -2.5),
    ("paying for this", -1.8),
    ("paying for premium", -1.0),
    ("how hard can it be", -2.5),
    ("how is it possible", -1.5),
    ("is anyone there", -1.8),
    ("anyone actually", -1.5),
    ("is it too much to ask", -2.5),
    ("what is this", -1.2),
    ("wtf is this", -2.8),
    ("come on", -1.5),
    ("now what", -1.5),
    ("for no reason", -2.0),
    ("without warning", -2.0),
    ("without notice", -2.0),
    ("without any notice", -2.0),
    ("without explanation", -2.0),
    ("small print", -1.5),
    ("false advertising", -3.0),
    ("price hike", -2.0),
    ("price increase", -1.5),
    ("price going up", -1.5),
    ("prices going up", -1.5),
    ("price up", -1.5),
    ("went up", -1.0),
    ("goes up", -1.0),
    ("the wrong", -1.5),
    ("wrong order", -2.0),
    ("wrong address", -1.8),
    ("wrong size", -1.8),
    ("late fee", -2.0),
    ("passed from", -1.5),
    ("out of pocket", -2.0),
    ("let down", -2.5),
    ("let me down", -2.5),
    ("ripped off", -3.0),
    ("rip off", -3.0),
    ("fed up", -2.8),
    ("sick of", -2.8),
    ("tired of", -2.5),
    ("over it", -2.0),
    ("last time", -1.2),
    ("every single", -1.5),
    ("every time", -1.0),
    ("third time", -1.5),
    ("3rd time", -1.5),
    ("fourth time", -1.8),
    ("4th time", -1.8),
    ("5th time", -2.0),
    ("the last straw", -3.0),
    ("out of stock", -0.8),
    ("back in stock", 0.5),
    ("in the cold", -1.0),
    ("shame on you", -3.0),
    ("how dare you", -3.0),
    ("good luck", 0.5),
    ("thank god", 1.0),
    ("oh well", -0.8),
    ("for once", -0.5),
];

fn lexicon() -> &'static HashMap<&'static str, f64> {
    static LEXICON: OnceLock<HashMap<&'static str, f64>> = OnceLock::new();
    LEXICON.get_or_init(|| LEXICON_LIST.iter().copied().collect())
}

/// Single words, on VADER's -4..4 scale. Support words ("refund", "broken", "again") are
/// valued as customers use them: a request for a refund is a complaint.
const LEXICON_LIST: &[(&str, f64)] = &[
    // Praise and satisfaction.
    ("good", 1.9),
    ("great", 3.1),
    ("excellent", 3.2),
    ("amazing", 3.1),
    ("awesome", 3.1),
    ("fantastic", 3.2),
    ("brilliant", 3.0),
    ("wonderful", 3.1),
    ("superb", 3.1),
    ("perfect", 3.0),
    ("perfectly", 2.8),
    ("outstanding", 3.2),
    ("incredible", 2.8),
    ("lovely", 2.8),
    ("love", 3.0),
    ("loving", 2.8),
    ("loved", 2.9),
    ("loves", 2.8),
    ("like", 0.0),
    ("enjoyed", 2.3),
    ("enjoy", 2.2),
    ("happy", 2.7),
    ("glad", 2.0),
    ("pleased", 2.2),
    ("delighted", 3.0),
    ("impressed", 2.6),
    ("impressive", 2.6),
    ("helpful", 2.3),
    ("friendly", 2.2),
    ("kind", 2.0),
    ("polite", 1.8),
    ("patient", 1.8),
    ("welcoming", 2.2),
    ("understanding", 1.5),
    ("generous", 2.3),
    ("sweet", 2.0),
    ("nice", 1.8),
    ("fast", 1.2),
    ("faster", 1.3),
    ("quick", 1.3),
    ("quicker", 1.3),
    ("quickly", 1.2),
    ("smooth", 1.8),
    ("smoothest", 2.3),
    ("easy", 1.6),
    ("easiest", 2.0),
    ("easier", 1.5),
    ("painless", 2.0),
    ("flawlessly", 2.8),
    ("flawless", 2.8),
    ("reliable", 2.0),
    ("best", 3.2),
    ("better", 1.9),
    ("recommend", 2.2),
    ("recommended", 2.0),
    ("favourite", 2.3),
    ("favorite", 2.3),
    ("gorgeous", 3.0),
    ("beautiful", 2.9),
    ("comfy", 1.8),
    ("comfortable", 1.8),
    ("clever", 2.0),
    ("decent", 1.5),
    ("worth", 1.2),
    ("value", 0.8),
    ("legend", 2.8),
    ("legends", 2.8),
    ("lifesaver", 3.0),
    ("hero", 2.6),
    ("heroes", 2.6),
    ("star", 2.0),
    ("stars", 0.0),
    ("wow", 2.0),
    ("yay", 2.4),
    ("woohoo", 2.6),
    ("finally", 0.6),
    ("fixed", 1.6),
    ("resolved", 1.8),
    ("sorted", 1.8),
    ("solved", 1.8),
    ("recovered", 1.5),
    ("works", 1.0),
    ("working", 0.0),
    ("welcome", 1.5),
    ("fun", 2.3),
    ("cool", 1.5),
    ("superb", 3.0),
    ("stellar", 3.0),
    ("phenomenal", 3.2),
    ("exceptional", 3.0),
    ("appreciated", 2.2),
    ("appreciate", 2.0),
    ("thanks", 1.9),
    ("thank", 1.9),
    ("cheers", 1.6),
    ("pleasure", 2.3),
    ("success", 2.0),
    ("win", 2.0),
    ("surprise", 1.2),
    ("upgraded", 1.6),
    ("free", 1.0),
    ("save", 1.0),
    ("saves", 1.2),
    ("bargain", 2.0),
    ("deal", 0.0),
    ("top", 1.5),
    ("lol", 0.6),
    ("haha", 1.5),
    ("lmao", 1.0),
    ("fab", 2.6),
    ("fabulous", 3.0),
    ("gem", 2.5),
    ("solid", 1.5),
    ("safe", 1.2),
    ("safely", 1.2),
    ("honest", 1.5),
    ("supportive", 2.0),
    ("efficient", 2.0),
    ("professional", 1.8),
    ("brill", 2.8),
    ("ace", 2.5),
    // Displeasure in general.
    ("bad", -2.5),
    ("worse", -2.8),
    ("worst", -3.4),
    ("terrible", -3.2),
    ("horrible", -3.2),
    ("awful", -3.1),
    ("dreadful", -3.1),
    ("appalling", -3.4),
    ("atrocious", -3.4),
    ("abysmal", -3.4),
    ("shocking", -2.8),
    ("poor", -2.1),
    ("rubbish", -2.8),
    ("garbage", -3.0),
    ("trash", -2.8),
    ("crap", -2.8),
    ("crappy", -2.8),
    ("shit", -3.0),
    ("shite", -3.0),
    ("shitty", -3.0),
    ("sucks", -2.6),
    ("suck", -2.4),
    ("useless", -2.9),
    ("pointless", -2.3),
    ("hopeless", -2.6),
    ("pathetic", -3.1),
    ("ridiculous", -2.6),
    ("disgrace", -3.2),
    ("disgraceful", -3.3),
    ("disgusting", -3.2),
    ("shameful", -3.2),
    ("shambles", -3.0),
    ("joke", -1.5),
    ("nightmare", -3.0),
    ("hate", -3.0),
    ("hated", -3.0),
    ("angry", -2.8),
    ("furious", -3.4),
    ("livid", -3.4),
    ("fuming", -3.2),
    ("mad", -2.2),
    ("annoyed", -2.2),
    ("annoying", -2.3),
    ("irritating", -2.3),
    ("frustrated", -2.5),
    ("frustrating", -2.5),
    ("frustration", -2.4),
    ("upset", -2.4),
    ("disappointed", -2.6),
    ("disappointing", -2.6),
    ("disappointment", -2.6),
    ("unhappy", -2.6),
    ("sad", -2.1),
    ("gutted", -2.6),
    ("fed", 0.0),
    ("sick", -1.8),
    ("tired", -1.4),
    ("exhausting", -2.2),
    ("stressful", -2.3),
    ("stressed", -2.2),
    ("unacceptable", -3.0),
    ("unbelievable", -2.0),
    ("unreal", -1.8),
    ("insane", -1.8),
    ("ashamed", -2.6),
    ("embarrassing", -2.2),
    ("rude", -2.8),
    ("incompetent", -3.0),
    ("clueless", -2.5),
    ("lazy", -2.3),
    ("unprofessional", -2.8),
    ("liars", -3.0),
    ("lies", -2.6),
    ("lied", -2.8),
    ("lying", -2.8),
    ("scam", -3.2),
    ("scammed", -3.2),
    ("fraud", -2.2),
    ("theft", -3.0),
    ("stolen", -2.2),
    ("stole", -2.8),
    ("criminal", -3.0),
    ("shady", -2.6),
    ("greedy", -2.6),
    ("robbery", -3.0),
    ("con", -1.0),
    ("misleading", -2.6),
    ("gross", -2.6),
    ("filthy", -2.8),
    ("dirty", -2.2),
    ("disaster", -3.0),
    ("mess", -2.2),
    ("chaos", -2.4),
    ("fail", -2.4),
    ("failed", -2.2),
    ("fails", -2.2),
    ("failing", -2.2),
    ("failure", -2.5),
    ("ugh", -2.0),
    ("argh", -2.0),
    ("smh", -2.0),
    ("wtf", -2.6),
    ("ffs", -2.8),
    ("omfg", -2.0),
    ("fuck", -3.0),
    ("fucked", -3.0),
    ("screwed", -2.5),
    ("dangerous", -2.5),
    ("fainting", -2.0),
    ("suffering", -2.6),
    ("ignored", -2.5),
    ("ignoring", -2.5),
    ("ignore", -1.8),
    ("unanswered", -2.3),
    ("stranded", -2.6),
    ("stuck", -2.0),
    ("trapped", -2.4),
    ("lost", -1.8),
    ("missing", -1.8),
    ("ruined", -2.9),
    ("ruining", -2.9),
    ("unusable", -2.8),
    ("unwatchable", -2.8),
    ("wasted", -2.5),
    ("waste", -2.4),
    ("problem", -1.5),
    ("problems", -1.6),
    ("issue", -1.2),
    ("issues", -1.3),
    ("complaint", -1.8),
    ("complain", -1.8),
    ("worried", -1.8),
    ("concerned", -1.3),
    ("confused", -1.3),
    ("confusing", -1.6),
    ("difficult", -1.5),
    ("hard", -0.6),
    ("slow", -1.6),
    ("slower", -1.6),
    ("sluggish", -1.8),
    ("damaged", -2.2),
    ("damage", -1.6),
    ("broken", -2.4),
    ("broke", -1.8),
    ("faulty", -2.2),
    ("defective", -2.4),
    ("smashed", -2.0),
    ("ripped", -1.8),
    ("soaked", -1.8),
    ("cold", -0.8),
    ("crashing", -2.4),
    ("crashes", -2.4),
    ("crashed", -2.4),
    ("freezing", -1.5),
    ("freezes", -2.0),
    ("glitch", -1.8),
    ("glitchy", -2.0),
    ("bug", -1.5),
    ("buggy", -2.2),
    ("error", -1.8),
    ("errors", -1.8),
    ("outage", -1.6),
    ("outages", -1.8),
    ("down", -0.8),
    ("dropping", -1.8),
    ("dropped", -1.6),
    ("dropouts", -2.0),
    ("buffering", -2.0),
    ("intermittent", -1.5),
    ("delayed", -2.0),
    ("delay", -1.8),
    ("delays", -2.0),
    ("late", -1.6),
    ("cancelled", -1.9),
    ("canceled", -1.9),
    ("cancel", -1.2),
    ("cancelling", -1.8),
    ("overbooked", -2.3),
    ("bumped", -1.5),
    ("overcharged", -2.8),
    ("overcharging", -2.8),
    ("charged", -1.3),
    ("charging", -1.3),
    ("overdraft", -1.0),
    ("fee", -1.0),
    ("fees", -1.2),
    ("penalty", -1.8),
    ("refund", -1.3),
    ("refunded", 0.8),
    ("refunding", 0.8),
    ("compensation", -1.6),
    ("declined", -1.8),
    ("denied", -2.2),
    ("refused", -2.3),
    ("rejected", -2.3),
    ("frozen", -1.8),
    ("locked", -1.6),
    ("blocked", -1.8),
    ("hacked", -2.3),
    ("cloned", -2.2),
    ("throttled", -2.2),
    ("expired", -1.2),
    ("pending", -0.8),
    ("wrong", -2.1),
    ("incorrect", -2.0),
    ("nonsense", -2.3),
    ("again", -1.0),
    ("still", -0.7),
    ("yet", 0.0),
    ("anyone", -0.4),
    ("nobody", -1.8),
    ("never", -0.8),
    ("nothing", -0.8),
    ("excuses", -2.0),
    ("excuse", -1.2),
    ("apology", -0.5),
    ("sorry", -0.8),
    ("sadly", -1.8),
    ("unfortunately", -1.6),
    ("shame", -2.2),
    ("pity", -1.4),
    ("queue", -0.8),
    ("queueing", -1.2),
    ("waiting", -1.2),
    ("waited", -1.6),
    ("chasing", -2.0),
    ("chased", -1.8),
    ("demand", -1.6),
    ("seriously", -1.0),
    ("really", 0.0),
    ("unreliable", -2.5),
    ("avoid", -2.0),
    ("warning", -1.0),
    ("losing", -1.5),
    ("lose", -1.4),
    ("threatened", -2.4),
    ("robbed", -3.0),
    ("cheated", -3.0),
    ("misery", -3.0),
    ("horrendous", -3.4),
    ("diabolical", -3.4),
    ("dire", -2.8),
    ("lousy", -2.6),
    ("hell", -2.5),
    ("idiots", -3.0),
    ("stupid", -2.5),
    ("goodbye", -1.0),
    ("bye", -0.6),
    ("leaving", -1.2),
    ("switching", -0.8),
    ("unsubscribed", -1.0),
    ("spam", -2.0),
    ("ads", -1.0),
    ("nope", -1.2),
    ("meh", -1.2),
    ("hmm", -0.4),
    ("please", 0.0),
];

/// 🙄: the sarcasm marker among emoji; it turns nearby praise around.
const EYE_ROLL: f64 = -2.1;

/// The valence of an emoji, or `None` when it carries none we know.
fn emoji_valence(c: char) -> Option<f64> {
    Some(match c {
        '😡' | '🤬' | '😠' | '👿' => -3.0,
        '😤' | '💩' | '🖕' => -2.5,
        '😭' | '😢' | '😞' | '😔' | '😩' | '😫' | '😖' | '😣' | '💔' | '😿' => {
            -2.2
        }
        '🙄' => EYE_ROLL,
        '😒' | '👎' | '🤦' | '😑' | '😾' | '🤢' | '🤮' => -2.0,
        '😕' | '🙁' | '☹' | '😟' | '😬' | '😰' | '😱' => -1.6,
        '😐' | '😶' => -0.5,
        '🤔' => -0.3,
        '🙂' | '☺' | '😌' => 1.6,
        '😊' | '😀' | '😃' | '😄' | '😁' | '😆' | '😉' | '🙌' | '💪' | '✨' | '🌟' | '⭐' => {
            2.2
        }
        '😂' | '🤣' => 1.2,
        '👍' | '👌' | '✅' | '🙏' | '💯' | '🔥' | '🍕' | '✈' | '🎂' => 1.8,
        '❤' | '💕' | '💙' | '💚' | '💜' | '🧡' | '💛' | '😍' | '🥰' | '😘' | '🤩' => {
            3.0
        }
        '🎉' | '🥳' | '👏' | '🏆' => 2.6,
        _ => return None,
    })
}

/// Text emoticons, matched as whole whitespace-separated pieces.
fn emoticon_valence(piece: &str) -> Option<f64> {
    Some(match piece {
        ":)" | ":-)" | "(:" | ":]" | "=)" | ";)" | ";-)" | ":p" | ":P" | ":-P" => 1.8,
        ":D" | ":-D" | "xD" | "XD" | "<3" | "^^" | "^_^" => 2.4,
        ":(" | ":-(" | "):" | ":[" | "=(" | ":/" | ":-/" | ":\\" | ":|" | "-_-" => -1.9,
        ":'(" | ">:(" | "D:" | ">:-(" | "</3" => -2.6,
        _ => return None,
    })
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for piece in text.split_whitespace() {
        let lower = piece.to_lowercase();
        if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            continue;
        }
        if piece.starts_with('@') && piece.len() > 1 {
            continue;
        }
        if let Some(value) = emoticon_valence(piece.trim_end_matches(['.', ',', '!'])) {
            tokens.push(Token::Symbol(value));
            continue;
        }
        split_piece(piece, &mut tokens);
    }
    tokens
}

/// Splits one whitespace-free piece into words, emoji and punctuation runs.
fn split_piece(piece: &str, tokens: &mut Vec<Token>) {
    let mut word = String::new();
    let mut punct = String::new();
    let flush_word = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            push_word(word, tokens);
            word.clear();
        }
    };
    let flush_punct = |punct: &mut String, tokens: &mut Vec<Token>| {
        if !punct.is_empty() {
            tokens.push(Token::Punct(std::mem::take(punct)));
        }
    };
    let chars: Vec<char> = piece.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        let c = if c == '’' || c == '‘' { '\'' } else { c };
        let inner_apostrophe = c == '\''
            && !word.is_empty()
            && chars.get(index + 1).is_some_and(|n| n.is_alphabetic());
        let in_number = (c == '/' || c == '.' || c == ',' || c == ':')
            && word.chars().last().is_some_and(|l| l.is_ascii_digit())
            && chars.get(index + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_alphanumeric() || inner_apostrophe || in_number {
            flush_punct(&mut punct, tokens);
            word.push(c);
        } else if c == '#' && word.is_empty() {
            // A hashtag is read as its word: #fail is "fail".
            flush_punct(&mut punct, tokens);
        } else if let Some(value) = emoji_valence(c) {
            flush_word(&mut word, tokens);
            flush_punct(&mut punct, tokens);
            tokens.push(Token::Symbol(value));
        } else if c.is_ascii_punctuation() {
            flush_word(&mut word, tokens);
            punct.push(c);
        } else {
            // Variation selectors, skin tones, other symbols: they separate words, nothing more.
            flush_word(&mut word, tokens);
        }
    }
    flush_word(&mut word, tokens);
    flush_punct(&mut punct, tokens);
}

fn push_word(raw: &str, tokens: &mut Vec<Token>) {
    let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
    let caps = letters >= 2 && raw.chars().all(|c| !c.is_lowercase());
    let lower = raw.to_lowercase();
    // Hashtags run words together: #parcelfail, #neveragain.
    let lower = match lower.as_str() {
        "neveragain" => "never again",
        other if other.len() > 6 && other.ends_with("fail") => "fail",
        other => other,
    };
    for part in lower.split(' ') {
        for word in expand(part).split(' ').filter(|w| !w.is_empty()) {
            tokens.push(Token::Word {
                text: word.to_owned(),
                caps: caps && !ACRONYMS.contains(&word),
            });
        }
    }
}

/// Chat spellings and missing apostrophes, as customers type them.
fn expand(word: &str) -> &str {
    match word {
        "pls" | "plz" | "plse" | "pleeease" | "pleease" => "please",
        "thx" | "thnx" | "thanx" | "ty" | "tysm" | "thankyou" | "thnks" | "tks" => "thanks",
        "u" => "you",
        "ur" => "your",
        "r" => "are",
        "im" => "i'm",
        "dont" => "don't",
        "cant" => "can't",
        "wont" => "won't",
        "didnt" => "didn't",
        "doesnt" => "doesn't",
        "isnt" => "isn't",
        "wasnt" => "wasn't",
        "havent" => "haven't",
        "hasnt" => "hasn't",
        "arent" => "aren't",
        "couldnt" => "couldn't",
        "shouldnt" => "shouldn't",
        "wouldnt" => "wouldn't",
        "aint" => "ain't",
        "whats" => "what's",
        "wheres" => "where's",
        "noone" | "no-one" => "no one",
        "gr8" => "great",
        "luv" => "love",
        "thks" => "thanks",
        "hrs" => "hours",
        "wks" => "weeks",
        "tbh" | "imo" | "tbf" | "omg" => "",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> SentimentLabel {
        analyze(text).label
    }

    #[test]
    fn plain_words_point_the_right_way() {
        assert_eq!(
            label("the support team was great"),
            SentimentLabel::Positive
        );
        assert_eq!(
            label("the support team was terrible"),
            SentimentLabel::Negative
        );
        assert_eq!(
            label("what are your opening hours?"),
            SentimentLabel::Neutral
        );
    }

    #[test]
    fn negation_flips_within_its_scope() {
        assert!(score("not bad") > 50, "{}", score("not bad"));
        assert!(score("the app is not good") < 50);
        assert!(score("it's not very helpful") < 50);
        assert!(score("the delivery wasn't helpful") < score("the delivery was helpful"));
        // A negation does not reach past punctuation.
        assert!(score("no. the staff were great") > 58);
    }

    #[test]
    fn intensifiers_and_downtoners_scale() {
        assert!(score("very good service") > score("good service"));
        assert!(score("slightly good service") < score("good service"));
        assert!(score("extremely bad service") < score("bad service"));
    }

    #[test]
    fn capitals_and_exclamation_marks_intensify() {
        assert!(score("this is BAD") < score("this is bad"));
        assert!(score("this is bad!!!") < score("this is bad"));
        assert!(score("this is great!!!") > score("this is great"));
        // Repeated question marks read as exasperation.
        assert!(score("where is my parcel??") < score("where is my parcel"));
    }

    #[test]
    fn emoji_and_emoticons_count() {
        assert!(score("my order arrived 😡") < 45);
        assert!(score("my order arrived 😊") > 58);
        assert!(score("my order arrived :(") < 50);
        assert!(score("my order arrived :)") > 50);
        assert!(score("thanks 👍") > score("thanks"));
    }

    #[test]
    fn but_weighs_what_follows() {
        assert!(score("the staff were nice but the app is useless") < 45);
        assert!(score("the app is slow but the staff were brilliant") > 55);
    }

    #[test]
    fn support_complaints_without_a_negative_word_are_negative() {
        for text in [
            "I was charged twice for my order",
            "still not working",
            "I want to cancel my subscription",
            "waiting for 3 weeks for my refund",
            "no one replied to my email",
            "thanks for nothing",
            "thanks a lot for cutting my line off again 🙄",
            "@Brand pls where is my parcel it's been 10 days",
        ] {
            assert_eq!(
                label(text),
                SentimentLabel::Negative,
                "{text}: {}",
                score(text)
            );
        }
    }

    #[test]
    fn politeness_at_the_end_of_a_complaint_does_not_make_it_positive() {
        assert_eq!(
            label("my card was declined and the app is broken, thanks"),
            SentimentLabel::Negative
        );
        assert_eq!(
            label("thanks so much for the quick help!"),
            SentimentLabel::Positive
        );
    }

    #[test]
    fn urls_mentions_and_hashtags_are_read_sensibly() {
        assert_eq!(label("@Brand https://t.co/abc123"), SentimentLabel::Neutral);
        assert_eq!(label("@Brand #fail"), SentimentLabel::Negative);
    }

    #[test]
    fn scores_stay_in_range_on_odd_input() {
        for text in [
            "",
            "!!!!!!!!",
            "😡😡😡😡😡😡😡😡😡😡",
            "GREAT GREAT GREAT GREAT",
            "’'#@",
            "a\u{0}b",
        ] {
            let value = score(text);
            assert!(value <= 100, "{text}");
        }
        assert_eq!(score(""), 50);
    }
}
