//! The handoff an agent reads first: a three-line summary (what the customer wants, what was
//! tried, the mood) and a suggested first reply. Written offline from the conversation itself
//! ([`summarize`]: extractive, every line quotes or counts what is in the conversation), or
//! from the LLM's note ([`from_note`]; the server makes the call).

use switchboard_model::{Message, MessageRole, SummarySource};

use crate::{
    RoutingState,
    language::{self, Wording},
};

/// The longest quote of the customer in a summary line.
const QUOTE_CHARS: usize = 160;

/// The three lines and the suggested reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub lines: Vec<String>,
    pub suggested_reply: String,
    pub source: SummarySource,
}

/// What the summary needs besides the messages.
pub struct Context<'a> {
    pub customer_name: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub sentiment: Option<i32>,
    pub sentiment_falling_fast: bool,
    pub routing: &'a RoutingState,
}

/// The first sentence (or so) of a text, at most `max` characters, cut on a word.
fn first_sentence(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat
        .char_indices()
        .find(|(i, c)| matches!(c, '.' | '!' | '?' | '\n') && *i >= 20)
        .map_or(flat.len(), |(i, c)| i + c.len_utf8());
    let sentence = &flat[..end];
    if sentence.chars().count() <= max {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

/// The customer message that says what they want: the first that is neither a bare greeting
/// nor only a request for a person; failing that, the latest one.
fn wanting<'a>(customer: &[&'a Message]) -> Option<&'a Message> {
    customer
        .iter()
        .find(|message| {
            let normalized = language::normalize(&message.text);
            let bare_request =
                language::human_request(&normalized).is_some() && normalized.len() < 60;
            !(normalized.is_empty() || language::is_greeting(&normalized) || bare_request)
        })
        .or(customer.last())
        .copied()
}

fn times(n: usize) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

fn mood(context: &Context<'_>, customer: &[&Message]) -> String {
    if let Some(score) = context.sentiment {
        let word = match score {
            0..=20 => "angry",
            21..=40 => "frustrated",
            41..=60 => "neutral",
            _ => "positive",
        };
        let trend = if context.sentiment_falling_fast {
            ", falling fast"
        } else {
            ""
        };
        return format!("Mood: {word} (sentiment {score}/100{trend}).");
    }
    let recent: Vec<&str> = customer
        .iter()
        .rev()
        .take(3)
        .map(|message| message.text.as_str())
        .collect();
    let wording = Wording::of(&recent.join("\n"));
    let word = match wording.heat() {
        0 => "calm",
        1 => "frustrated",
        _ => "angry",
    };
    let mut signs: Vec<String> = wording
        .angry_words
        .iter()
        .take(3)
        .map(|word| format!("\"{word}\""))
        .collect();
    if wording.shouting {
        signs.push("capitals".into());
    }
    if wording.repeated_punctuation {
        signs.push("repeated punctuation".into());
    }
    if signs.is_empty() {
        format!("Mood: {word}, from the wording.")
    } else {
        format!("Mood: {word}, from the wording ({}).", signs.join(", "))
    }
}

/// The summary and the suggested reply from the LLM's handoff note (what the customer wants,
/// what was tried, their mood, a first reply), with the sentiment score when there is one.
pub fn from_note(
    wants: &str,
    tried: &str,
    mood: &str,
    suggested_reply: String,
    sentiment: Option<i32>,
) -> Summary {
    let mood = mood.trim_end_matches('.');
    let mood = match sentiment {
        Some(score) => format!("Mood: {mood} (sentiment {score}/100)."),
        None => format!("Mood: {mood}."),
    };
    Summary {
        lines: vec![format!("Wants: {wants}"), format!("Tried: {tried}"), mood],
        suggested_reply,
        source: SummarySource::Llm,
    }
}

/// Writes the summary and the suggested reply offline. `history` is the conversation without
/// notes, oldest first.
pub fn summarize(history: &[Message], context: &Context<'_>) -> Summary {
    let customer: Vec<&Message> = history
        .iter()
        .filter(|message| message.role == MessageRole::Customer)
        .collect();
    let wants = wanting(&customer)
        .map(|message| first_sentence(&message.text, QUOTE_CHARS))
        .filter(|text| !text.is_empty());
    let wants_line = match &wants {
        Some(text) => format!("Wants: \"{text}\""),
        None => "Wants: a person (pressed the button before writing).".to_owned(),
    };
    let ai_messages: Vec<&Message> = history
        .iter()
        .filter(|message| message.role == MessageRole::Ai)
        .collect();
    // The bot turn counts its answers too; the larger count covers answers not (yet) stored.
    let answers = ai_messages.len().max(context.routing.ai_answers as usize);
    let declines = context.routing.ai_declines as usize;
    let mut tried = Vec::new();
    if answers > 0 {
        let mut part = format!("the AI answered {}", times(answers));
        if let Some(last) = ai_messages.last() {
            part.push_str(&format!(" (last: \"{}\")", first_sentence(&last.text, 100)));
        }
        tried.push(part);
    }
    if declines > 0 {
        let mut part = format!("declined {}", times(declines));
        if answers == 0 {
            part = format!("the AI {part} (no confident answer in the knowledge base)");
        }
        tried.push(part);
    }
    let tried_line = if tried.is_empty() {
        "Tried: nothing yet; the customer was handed over before the AI answered.".to_owned()
    } else {
        let unsatisfied = if answers > 0 && context.routing.ai_failures > 0 {
            "; the customer was not satisfied"
        } else {
            ""
        };
        format!("Tried: {}{unsatisfied}.", tried.join(" and "))
    };
    let name = context
        .customer_name
        .and_then(|name| name.split_whitespace().next())
        .filter(|name| !name.contains('@'))
        .unwrap_or("there");
    let issue = match (context.topic, &wants) {
        (Some(topic), _) => format!("your {topic} question"),
        (None, Some(text)) => format!("your message (\"{}\")", first_sentence(text, 80)),
        (None, None) => "your request".to_owned(),
    };
    let suggested_reply = format!(
        "Hi {name}, thanks for your patience. I'm a member of the support team and I've read {issue}. I'm looking into it now and will get back to you shortly."
    );
    Summary {
        lines: vec![wants_line, tried_line, mood(context, &customer)],
        suggested_reply,
        source: SummarySource::Extractive,
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use switchboard_model::DeliveryStatus;

    use super::*;

    fn message(role: MessageRole, text: &str) -> Message {
        Message {
            id: String::new(),
            org_id: String::new(),
            conversation_id: String::new(),
            seq: 0,
            role,
            private: false,
            text: text.into(),
            attachments: vec![],
            sources: vec![],
            confidence: None,
            model: None,
            tokens: None,
            author_id: None,
            mentions: Vec::new(),
            channel_message_id: None,
            delivery_status: DeliveryStatus::Received,
            delivery_error: None,
            created_at: DateTime::UNIX_EPOCH,
            sentiment: None,
            text_full: None,
            automated: false,
        }
    }

    fn context(routing: &RoutingState) -> Context<'_> {
        Context {
            customer_name: Some("Ada Lovelace"),
            topic: None,
            sentiment: None,
            sentiment_falling_fast: false,
            routing,
        }
    }

    #[test]
    fn summary_quotes_the_want_counts_the_tries_and_reads_the_mood() {
        let history = [
            message(MessageRole::Customer, "Hello!"),
            message(
                MessageRole::Customer,
                "I was charged twice for order 1234. Please refund one of them.",
            ),
            message(
                MessageRole::Ai,
                "Refunds take 5 to 7 days. See our refund policy.",
            ),
            message(
                MessageRole::Customer,
                "That didn't help. I'm FURIOUS, get me a human NOW!!",
            ),
        ];
        let routing = RoutingState {
            ai_failures: 1,
            ai_answers: 1,
            ai_declines: 1,
            ..Default::default()
        };
        let summary = summarize(&history, &context(&routing));
        assert_eq!(
            summary.lines,
            [
                "Wants: \"I was charged twice for order 1234.\"",
                "Tried: the AI answered once (last: \"Refunds take 5 to 7 days.\") and declined once; the customer was not satisfied.",
                "Mood: angry, from the wording (\"furious\", \"charged twice\", capitals, repeated punctuation).",
            ]
        );
        assert!(summary.suggested_reply.starts_with("Hi Ada,"));
        assert!(
            summary
                .suggested_reply
                .contains("I was charged twice for order 1234.")
        );
    }

    #[test]
    fn a_bare_request_for_a_person_and_a_sentiment_score() {
        let history = [message(MessageRole::Customer, "talk to a human please")];
        let routing = RoutingState::default();
        let mut context = context(&routing);
        context.sentiment = Some(15);
        context.sentiment_falling_fast = true;
        context.topic = Some("billing");
        let summary = summarize(&history, &context);
        assert_eq!(summary.lines[0], "Wants: \"talk to a human please\"");
        assert!(summary.lines[1].starts_with("Tried: nothing yet"));
        assert_eq!(
            summary.lines[2],
            "Mood: angry (sentiment 15/100, falling fast)."
        );
        assert!(summary.suggested_reply.contains("your billing question"));
    }
}
