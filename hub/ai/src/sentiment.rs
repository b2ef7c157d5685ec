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

mod lexicon;
use lexicon::{LEXICON_LIST, PHRASE_LIST};

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

fn lexicon() -> &'static HashMap<&'static str, f64> {
    static LEXICON: OnceLock<HashMap<&'static str, f64>> = OnceLock::new();
    LEXICON.get_or_init(|| LEXICON_LIST.iter().copied().collect())
}

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
