//! The reporting events of a conversation, as the store's log holds them (the kinds and their
//! data are listed in `docs/analytics.md`, "The reporting events"), and what a report
//! counts of a conversation, read back from them alone.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{ConversationFacts, SlaFacts};
use crate::{HandoffReason, Source};

/// Every kind of event the log holds.
pub const EVENT_KINDS: [&str; 12] = [
    "opened",
    "changed",
    "ai_answered",
    "replied",
    "handed_off",
    "sla_set",
    "first_human_reply",
    "sla_met",
    "sla_breached",
    "resolved",
    "reopened",
    "csat_given",
];

/// One event of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The event's fields, a JSON object.
    pub data: Value,
}

impl LoggedEvent {
    fn text(&self, name: &str) -> Option<String> {
        self.data.get(name)?.as_str().map(str::to_owned)
    }

    fn number(&self, name: &str) -> Option<i32> {
        let value = self.data.get(name)?;
        value
            .as_i64()
            .or_else(|| value.as_str()?.parse().ok())
            .and_then(|number| i32::try_from(number).ok())
    }

    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        parse_time(self.data.get(name)?.as_str()?)
    }
}

/// A timestamp as either database writes it into JSON: RFC 3339 (`T`, PostgreSQL) or with a
/// space before the time or the offset (SQLite's text).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.to_utc());
    }
    ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f %:z"]
        .iter()
        .find_map(|format| DateTime::parse_from_str(text, format).ok())
        .map(|at| at.to_utc())
}

/// Whether the customer reopened the conversation within `window` of a resolution.
pub fn reopened_within<'a>(
    events: impl IntoIterator<Item = (&'a str, DateTime<Utc>)>,
    window: Duration,
) -> bool {
    let mut resolved_at = None;
    for (kind, at) in events {
        match kind {
            "resolved" => resolved_at = Some(at),
            "reopened" => {
                if resolved_at.is_some_and(|resolved| at - resolved <= window) {
                    return true;
                }
                resolved_at = None;
            }
            _ => {}
        }
    }
    false
}

/// What a report counts of the conversation `conversation_id`, from its events in the order
/// they were written: `None` when the log does not hold its opening.
pub fn facts_from_log(
    conversation_id: &str,
    events: &[LoggedEvent],
    reopen_window: Duration,
) -> Option<ConversationFacts> {
    let opened = events.iter().find(|event| event.kind == "opened")?;
    let mut facts = ConversationFacts {
        conversation_id: conversation_id.to_owned(),
        inbox_id: opened.text("inbox_id").unwrap_or_default(),
        channel: opened.text("channel").unwrap_or_default(),
        team_id: None,
        assignee_id: None,
        topic: None,
        sentiment: None,
        opened_at: opened.at,
        resolved_at: None,
        ai_answered: false,
        human_replied: false,
        handoff: None,
        handed_off_at: None,
        first_human_reply_at: None,
        sla: None,
        csat: None,
        cited: Vec::new(),
        reopened_soon: reopened_within(
            events.iter().map(|event| (event.kind.as_str(), event.at)),
            reopen_window,
        ),
    };
    // A handoff starts the SLA clock again: a person's first reply and the breaches count from
    // the latest one (by time, so that a log written from rows in any order reads the same).
    let mut replies = Vec::new();
    let mut breaches = Vec::new();
    for event in events {
        match event.kind.as_str() {
            "opened" | "changed" => {
                facts.inbox_id = event.text("inbox_id").unwrap_or_default();
                facts.channel = event.text("channel").unwrap_or_default();
                facts.team_id = event.text("team_id");
                facts.assignee_id = event.text("assignee_id");
                facts.topic = event.text("topic");
                facts.sentiment = event.number("sentiment");
            }
            "ai_answered" => {
                facts.ai_answered = true;
                for source in sources(&event.data) {
                    if !facts.cited.contains(&source.article_id) {
                        facts.cited.push(source.article_id);
                    }
                }
            }
            "replied" => facts.human_replied = true,
            "handed_off" => {
                facts.handoff = Some(
                    event
                        .text("reason_kind")
                        .and_then(|kind| kind.parse::<HandoffReason>().ok())
                        .unwrap_or_default(),
                );
                facts.handed_off_at = Some(event.at);
            }
            "sla_set" => {
                facts.sla = event.text("policy_id").map(|policy_id| SlaFacts {
                    policy_id,
                    policy_name: String::new(),
                    priority: event.text("priority").unwrap_or_default(),
                    first_response_due_at: event.time("first_response_due_at"),
                    first_response_breached: false,
                    resolution_due_at: event.time("resolution_due_at"),
                    resolution_breached: false,
                });
            }
            "first_human_reply" => replies.push(event.at),
            "sla_breached" => breaches.push((event.text("target"), event.at)),
            "resolved" => facts.resolved_at = Some(event.at),
            "reopened" => facts.resolved_at = None,
            "csat_given" => facts.csat = event.number("score"),
            _ => {}
        }
    }
    let since_handoff =
        |at: &DateTime<Utc>| facts.handed_off_at.is_none_or(|handoff| *at >= handoff);
    facts.first_human_reply_at = replies.into_iter().filter(since_handoff).min();
    let breached: Vec<Option<String>> = breaches
        .into_iter()
        .filter(|(_, at)| since_handoff(at))
        .map(|(target, _)| target)
        .collect();
    if let Some(sla) = &mut facts.sla {
        sla.first_response_breached = breached.contains(&Some("first_response".to_owned()));
        sla.resolution_breached = breached.contains(&Some("resolution".to_owned()));
    }
    Some(facts)
}

/// The sources an answer cited (a JSON list, or its text).
fn sources(data: &Value) -> Vec<Source> {
    match data.get("sources") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_default(),
        Some(value) => serde_json::from_value(value.clone()).unwrap_or_default(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .expect("a time")
            .to_utc()
            + Duration::minutes(minutes)
    }

    fn event(kind: &str, minutes: i64, data: Value) -> LoggedEvent {
        LoggedEvent {
            kind: kind.to_owned(),
            at: at(minutes),
            data,
        }
    }

    fn opened() -> LoggedEvent {
        event(
            "opened",
            0,
            json!({"inbox_id": "i1", "channel": "webchat", "team_id": null, "assignee_id": null,
                   "topic": null, "sentiment": 50}),
        )
    }

    #[test]
    fn a_conversation_is_read_back_from_its_events() {
        let events = [
            opened(),
            event(
                "ai_answered",
                1,
                json!({"sources": [{"article_id": "a1", "title": "Refunds"}]}),
            ),
            event(
                "ai_answered",
                2,
                json!({"sources": "[{\"article_id\":\"a1\",\"title\":\"Refunds\"},{\"article_id\":\"a2\",\"title\":\"X\"}]"}),
            ),
            event("handed_off", 3, json!({"reason_kind": "human_request"})),
            event(
                "sla_set",
                3,
                json!({"policy_id": "p1", "priority": "high",
                       "first_response_due_at": "2026-03-02 09:33:00.5 +00:00",
                       "resolution_due_at": "2026-03-02T13:03:00+00:00"}),
            ),
            event("sla_breached", 40, json!({"target": "first_response"})),
            event(
                "changed",
                41,
                json!({"inbox_id": "i1", "channel": "webchat", "team_id": "t1",
                       "assignee_id": "u1", "topic": "billing", "sentiment": "30"}),
            ),
            event("first_human_reply", 42, json!({})),
            event("replied", 42, json!({"author_id": "u1"})),
            event("resolved", 60, json!({"by": "human"})),
            event("csat_given", 61, json!({"score": 4})),
        ];
        let facts = facts_from_log("c1", &events, Duration::hours(24)).expect("opened");
        assert_eq!(facts.opened_at, at(0));
        assert_eq!(facts.cited, ["a1", "a2"]);
        assert!(facts.ai_answered && facts.human_replied);
        assert_eq!(facts.handoff, Some(HandoffReason::HumanRequest));
        assert_eq!(facts.handed_off_at, Some(at(3)));
        assert_eq!(facts.first_human_reply_at, Some(at(42)));
        let sla = facts.sla.as_ref().expect("an SLA");
        assert_eq!(sla.priority, "high");
        assert!(sla.first_response_breached && !sla.resolution_breached);
        assert_eq!(
            sla.first_response_due_at,
            Some(at(33) + Duration::milliseconds(500))
        );
        assert_eq!(sla.resolution_due_at, Some(at(243)));
        assert_eq!(
            (facts.team_id.as_deref(), facts.assignee_id.as_deref()),
            (Some("t1"), Some("u1"))
        );
        assert_eq!(
            (facts.topic.as_deref(), facts.sentiment),
            (Some("billing"), Some(30))
        );
        assert_eq!(facts.resolved_at, Some(at(60)));
        assert_eq!(facts.csat, Some(4));
        assert!(!facts.resolved_by_ai());
    }

    #[test]
    fn a_reopening_within_the_window_takes_the_automated_resolution_away() {
        let resolved_twice = |reopened_after: i64| {
            [
                opened(),
                event("ai_answered", 1, json!({"sources": []})),
                event("resolved", 2, json!({"by": "ai"})),
                event("reopened", 2 + reopened_after, json!({})),
                event("ai_answered", 3 + reopened_after, json!({"sources": []})),
                event("resolved", 4 + reopened_after, json!({"by": "ai"})),
            ]
        };
        let window = Duration::hours(24);
        let soon = facts_from_log("c", &resolved_twice(60), window).expect("opened");
        assert!(soon.reopened_soon && !soon.resolved_by_ai());
        let days_later = facts_from_log("c", &resolved_twice(3 * 24 * 60), window).expect("opened");
        assert!(!days_later.reopened_soon && days_later.resolved_by_ai());
        // The window is the organization's.
        let short =
            facts_from_log("c", &resolved_twice(60), Duration::minutes(30)).expect("opened");
        assert!(short.resolved_by_ai());
        // Still open after the reopening: not resolved at all.
        let open = facts_from_log("c", &resolved_twice(60)[..4], window).expect("opened");
        assert_eq!(open.resolved_at, None);
    }

    #[test]
    fn a_reply_and_a_breach_count_from_the_latest_handoff_in_any_order() {
        let events = [
            opened(),
            // Written from rows: the routing state's reply and breach before the handoffs.
            event("first_human_reply", 9, json!({})),
            event("first_human_reply", 30, json!({})),
            event("sla_breached", 5, json!({"target": "first_response"})),
            event("sla_breached", 40, json!({"target": "resolution"})),
            event("sla_set", 1, json!({"policy_id": "p", "priority": "high"})),
            event("handed_off", 1, json!({"reason_kind": "rule"})),
            event("handed_off", 20, json!({"reason_kind": "sentiment"})),
        ];
        let facts = facts_from_log("c", &events, Duration::hours(24)).expect("opened");
        assert_eq!(facts.handoff, Some(HandoffReason::Sentiment));
        assert_eq!(facts.handed_off_at, Some(at(20)));
        assert_eq!(facts.first_human_reply_at, Some(at(30)));
        let sla = facts.sla.expect("an SLA");
        assert!(!sla.first_response_breached && sla.resolution_breached);
    }

    #[test]
    fn a_log_without_the_opening_is_no_conversation() {
        assert_eq!(
            facts_from_log("c", &[event("resolved", 1, json!({}))], Duration::hours(1)),
            None
        );
    }
}
