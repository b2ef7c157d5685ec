//! Escalation rules as a pure function: [`Signals`] about a customer's message in, a
//! [`Decision`] out, naming the rules that fired and why. Rules are compiled once (regular
//! expressions built and bounded, keywords folded) and evaluated in order.

use regex::{Regex, RegexBuilder};
use serde::Serialize;
use switchboard_model::{EscalationRule, HandoffReason, MatchMode, Priority, Trigger};

use crate::{Invalid, language, spec::RuleSpec};

/// The longest regular expression a rule may carry.
pub const MAX_PATTERN_LEN: usize = 500;
/// Compiled size limits: a pattern that needs more is refused rather than slowing every message.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// What routing knows about a customer's latest message and its conversation. Fields the hub
/// cannot know yet are `None` (sentiment, topic: the understanding layer fills them) or counters
/// kept by others (`ai_failures`: the bot turn records each answer or decline).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signals {
    /// The customer's message.
    pub text: String,
    /// The customer pressed the widget's "Talk to a human" button.
    pub handoff_button: bool,
    /// 0 (very negative) to 100 (very positive).
    pub sentiment: Option<i32>,
    /// How many points sentiment fell over the recent messages.
    pub sentiment_drop: Option<i32>,
    /// The understanding layer's "falling fast" signal.
    pub sentiment_falling_fast: bool,
    pub topic: Option<String>,
    pub customer_tier: Option<String>,
    pub customer_value: Option<f64>,
    /// Consecutive AI declines and customer rejections since the last answer.
    pub ai_failures: u32,
    /// Customer messages in the conversation, this one included.
    pub customer_messages: u32,
}

/// One rule that fired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    pub rule_id: String,
    pub rule_name: String,
    /// What matched, in words: `asked for a person ("talk to a human")`.
    pub reason: String,
    /// What matched, as a kind: the first trigger that matched.
    pub kind: HandoffReason,
    /// This rule's actions escalate.
    pub escalates: bool,
}

/// What the rules decided. Empty when none fired.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Decision {
    /// The rules that fired, in evaluation order.
    pub fired: Vec<Fired>,
    pub escalate: bool,
    pub tags: Vec<String>,
    /// The first fired rule's team wins.
    pub team_id: Option<String>,
    /// The highest priority any fired rule set.
    pub priority: Option<Priority>,
}

impl Decision {
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }

    /// The rule that escalated (the first fired rule that escalates), else the first that fired.
    pub fn deciding_rule(&self) -> Option<&Fired> {
        self.fired
            .iter()
            .find(|fired| fired.escalates)
            .or(self.fired.first())
    }
}

enum Matcher {
    HumanRequest,
    SentimentBelow(i32),
    SentimentFalling(Option<i32>),
    Keywords(Regex),
    Regex(Regex),
    Topic(Vec<String>),
    CustomerTier(Vec<String>),
    CustomerValueAtLeast(f64),
    AiFailures(u32),
    CustomerMessages(u32),
}

/// A rule ready to evaluate.
pub struct CompiledRule {
    pub rule: EscalationRule,
    matchers: Vec<Matcher>,
}

/// The message as the matchers read it, worked out once per evaluation.
struct Reading<'a> {
    signals: &'a Signals,
    normalized: String,
}

fn lowered(values: &[String], what: &str) -> Result<Vec<String>, Invalid> {
    if values.is_empty() || values.len() > 100 {
        return Err(Invalid(format!("`{what}`: give 1 to 100 values")));
    }
    values
        .iter()
        .map(|value| {
            let value = language::normalize(value.trim());
            if value.is_empty() || value.chars().count() > 100 {
                Err(Invalid(format!(
                    "`{what}`: each value is 1 to 100 characters"
                )))
            } else {
                Ok(value)
            }
        })
        .collect()
}

fn bounded_regex(pattern: &str) -> Result<Regex, Invalid> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| {
            Invalid(format!(
                "`pattern` is not a usable regular expression: {err}"
            ))
        })
}

fn matcher(trigger: &Trigger) -> Result<Matcher, Invalid> {
    let score = |value: i32, what: &str| {
        if (0..=100).contains(&value) {
            Ok(value)
        } else {
            Err(Invalid(format!("`{what}` must be between 0 and 100")))
        }
    };
    let count = |value: u32| {
        if (1..=10_000).contains(&value) {
            Ok(value)
        } else {
            Err(Invalid("`at_least` must be between 1 and 10000".into()))
        }
    };
    Ok(match trigger {
        Trigger::HumanRequest => Matcher::HumanRequest,
        Trigger::SentimentBelow { value } => Matcher::SentimentBelow(score(*value, "value")?),
        Trigger::SentimentFalling { min_drop } => {
            Matcher::SentimentFalling(min_drop.map(|drop| score(drop, "min_drop")).transpose()?)
        }
        Trigger::Keywords { any } => {
            let words = lowered(any, "any")?;
            let alternation = words
                .iter()
                .map(|word| regex::escape(word))
                .collect::<Vec<_>>()
                .join("|");
            // Whole words only, so that `refund` does not fire inside `refunded`.
            Matcher::Keywords(bounded_regex(&format!(r"\b(?:{alternation})\b"))?)
        }
        Trigger::Regex { pattern } => {
            if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
                return Err(Invalid(format!(
                    "`pattern` must be 1 to {MAX_PATTERN_LEN} bytes"
                )));
            }
            Matcher::Regex(bounded_regex(pattern)?)
        }
        Trigger::Topic { any } => Matcher::Topic(lowered(any, "any")?),
        Trigger::CustomerTier { any } => Matcher::CustomerTier(lowered(any, "any")?),
        Trigger::CustomerValueAtLeast { value } => {
            if !value.is_finite() {
                return Err(Invalid("`value` must be a finite number".into()));
            }
            Matcher::CustomerValueAtLeast(*value)
        }
        Trigger::AiFailures { at_least } => Matcher::AiFailures(count(*at_least)?),
        Trigger::CustomerMessages { at_least } => Matcher::CustomerMessages(count(*at_least)?),
    })
}

/// Checks a rule as an API caller wrote it: every trigger must compile.
pub fn validate(spec: &RuleSpec) -> Result<(), Invalid> {
    for trigger in &spec.triggers {
        matcher(trigger)?;
    }
    Ok(())
}

impl CompiledRule {
    pub fn compile(rule: EscalationRule) -> Result<CompiledRule, Invalid> {
        let matchers = rule
            .triggers
            .iter()
            .map(matcher)
            .collect::<Result<_, _>>()?;
        Ok(CompiledRule { rule, matchers })
    }
}

/// Compiles the enabled rules, in order, skipping (with a warning) any that does not compile.
pub fn compile_rules(rules: Vec<EscalationRule>) -> Vec<CompiledRule> {
    rules
        .into_iter()
        .filter(|rule| rule.enabled)
        .filter_map(|rule| {
            let rule_id = rule.id.clone();
            CompiledRule::compile(rule)
                .inspect_err(|err| tracing::warn!(%rule_id, %err, "skipping a rule"))
                .ok()
        })
        .collect()
}

fn quoted(text: &str) -> String {
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("\"{cut}\"")
}

impl Matcher {
    /// The kind of handoff this trigger causes, for reports.
    fn kind(&self) -> HandoffReason {
        match self {
            Matcher::HumanRequest => HandoffReason::HumanRequest,
            Matcher::SentimentBelow(_) | Matcher::SentimentFalling(_) => HandoffReason::Sentiment,
            Matcher::AiFailures(_) => HandoffReason::LowConfidence,
            Matcher::Keywords(_)
            | Matcher::Regex(_)
            | Matcher::Topic(_)
            | Matcher::CustomerTier(_)
            | Matcher::CustomerValueAtLeast(_)
            | Matcher::CustomerMessages(_) => HandoffReason::Rule,
        }
    }

    /// Why this trigger matches the message, or `None`.
    fn check(&self, reading: &Reading<'_>) -> Option<String> {
        let signals = reading.signals;
        match self {
            Matcher::HumanRequest => {
                if signals.handoff_button {
                    return Some("pressed the button to talk to a person".into());
                }
                language::human_request(&reading.normalized)
                    .map(|phrase| format!("asked for a person ({})", quoted(phrase)))
            }
            Matcher::SentimentBelow(value) => signals
                .sentiment
                .filter(|sentiment| sentiment < value)
                .map(|sentiment| format!("sentiment {sentiment} below {value}")),
            Matcher::SentimentFalling(min_drop) => match (min_drop, signals.sentiment_drop) {
                (Some(min_drop), Some(drop)) if drop >= *min_drop => {
                    Some(format!("sentiment fell {drop} points"))
                }
                (None, _) if signals.sentiment_falling_fast => {
                    Some("sentiment falling fast".into())
                }
                _ => None,
            },
            Matcher::Keywords(regex) => regex
                .find(&reading.normalized)
                .map(|found| format!("keyword {}", quoted(found.as_str()))),
            Matcher::Regex(regex) => regex
                .find(&signals.text)
                .map(|found| format!("matched {}", quoted(found.as_str()))),
            Matcher::Topic(topics) => signals
                .topic
                .as_deref()
                .map(language::normalize)
                .filter(|topic| topics.contains(topic))
                .map(|topic| format!("topic {topic}")),
            Matcher::CustomerTier(tiers) => signals
                .customer_tier
                .as_deref()
                .map(language::normalize)
                .filter(|tier| tiers.contains(tier))
                .map(|tier| format!("customer tier {tier}")),
            Matcher::CustomerValueAtLeast(at_least) => signals
                .customer_value
                .filter(|value| value >= at_least)
                .map(|value| format!("customer value {value} at least {at_least}")),
            Matcher::AiFailures(at_least) => (signals.ai_failures >= *at_least).then(|| {
                format!(
                    "the AI failed {} times in a row (declined or rejected)",
                    signals.ai_failures
                )
            }),
            Matcher::CustomerMessages(at_least) => (signals.customer_messages >= *at_least)
                .then(|| format!("{} customer messages", signals.customer_messages)),
        }
    }
}

/// Runs the rules in order on one message. The first enabled rule that matches fires; later
/// rules run only while the fired ones say `continue`.
pub fn evaluate(rules: &[CompiledRule], signals: &Signals) -> Decision {
    let reading = Reading {
        signals,
        normalized: language::normalize(&signals.text),
    };
    let mut decision = Decision::default();
    for compiled in rules {
        let rule = &compiled.rule;
        if !rule.enabled || compiled.matchers.is_empty() {
            continue;
        }
        let mut reasons = compiled
            .matchers
            .iter()
            .map(|m| Some((m.check(&reading)?, m.kind())));
        let matched = match rule.match_mode {
            MatchMode::Any => reasons.find_map(|reason| reason),
            MatchMode::All => reasons.collect::<Option<Vec<_>>>().map(|reasons| {
                let kind = reasons.first().map(|(_, kind)| *kind).unwrap_or_default();
                let words: Vec<String> = reasons.into_iter().map(|(words, _)| words).collect();
                (words.join(" and "), kind)
            }),
        };
        let Some((reason, kind)) = matched else {
            continue;
        };
        let actions = &rule.actions;
        decision.escalate |= actions.escalate;
        for tag in &actions.tags {
            if !decision.tags.contains(tag) {
                decision.tags.push(tag.clone());
            }
        }
        if decision.team_id.is_none() {
            decision.team_id = actions.team_id.clone();
        }
        decision.priority = decision.priority.max(actions.priority);
        decision.fired.push(Fired {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            reason,
            kind,
            escalates: actions.escalate,
        });
        if !rule.continue_after {
            break;
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use switchboard_model::RuleActions;

    use super::*;

    fn rule(name: &str, triggers: Vec<Trigger>, actions: RuleActions) -> EscalationRule {
        EscalationRule {
            id: format!("id-{name}"),
            org_id: "org".into(),
            name: name.into(),
            position: 0,
            enabled: true,
            match_mode: MatchMode::Any,
            triggers,
            actions,
            continue_after: false,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn escalate(priority: Priority) -> RuleActions {
        RuleActions {
            escalate: true,
            priority: Some(priority),
            ..Default::default()
        }
    }

    fn compiled(rules: Vec<EscalationRule>) -> Vec<CompiledRule> {
        rules
            .into_iter()
            .map(|rule| CompiledRule::compile(rule).expect("compiles"))
            .collect()
    }

    fn defaults() -> Vec<CompiledRule> {
        compiled(
            crate::default_rules()
                .into_iter()
                .enumerate()
                .map(|(i, spec)| {
                    let mut r = rule(&spec.name, spec.triggers, spec.actions);
                    r.position = i as i32;
                    r.continue_after = spec.continue_after;
                    r.match_mode = spec.match_mode;
                    r
                })
                .collect(),
        )
    }

    fn text(text: &str) -> Signals {
        Signals {
            text: text.into(),
            customer_messages: 1,
            ..Default::default()
        }
    }

    /// (what, signals, the rules expected to fire, escalates, priority)
    type Case = (
        &'static str,
        Signals,
        &'static [&'static str],
        bool,
        Option<Priority>,
    );

    #[test]
    fn default_rules_decide_as_expected() {
        let cases: Vec<Case> = vec![
            (
                "calm question",
                text("How do I change my delivery address?"),
                &[],
                false,
                None,
            ),
            (
                "a person, in English",
                text("can I talk to a human?"),
                &["Customer asks for a person"],
                true,
                Some(Priority::High),
            ),
            (
                "a person, in German",
                text("Ich möchte mit einem Menschen sprechen"),
                &["Customer asks for a person"],
                true,
                Some(Priority::High),
            ),
            (
                "the widget's button",
                Signals {
                    handoff_button: true,
                    ..text("")
                },
                &["Customer asks for a person"],
                true,
                Some(Priority::High),
            ),
            (
                "angry wording",
                text("I was charged twice and I'm furious. Fix it NOW"),
                &["Upset customer"],
                true,
                Some(Priority::High),
            ),
            (
                "low sentiment",
                Signals {
                    sentiment: Some(10),
                    ..text("ok")
                },
                &["Upset customer"],
                true,
                Some(Priority::High),
            ),
            (
                "sentiment not low enough",
                Signals {
                    sentiment: Some(40),
                    ..text("ok")
                },
                &[],
                false,
                None,
            ),
            (
                "falling fast",
                Signals {
                    sentiment_falling_fast: true,
                    ..text("hmm")
                },
                &["Upset customer"],
                true,
                Some(Priority::High),
            ),
            (
                "one AI failure",
                Signals {
                    ai_failures: 1,
                    ..text("hmm")
                },
                &[],
                false,
                None,
            ),
            (
                "two AI failures",
                Signals {
                    ai_failures: 2,
                    ..text("hmm")
                },
                &["The AI could not help"],
                true,
                Some(Priority::Normal),
            ),
            (
                "a long conversation",
                Signals {
                    customer_messages: 8,
                    ..text("and another thing")
                },
                &["Too long for the bot"],
                true,
                Some(Priority::Normal),
            ),
            (
                "a VIP asking for a person: tagged and continued",
                Signals {
                    customer_tier: Some("VIP".into()),
                    ..text("real person please")
                },
                &["Valuable customer", "Customer asks for a person"],
                true,
                Some(Priority::High),
            ),
            (
                "a VIP with a question: tagged, not escalated",
                Signals {
                    customer_tier: Some("vip".into()),
                    ..text("where is my parcel?")
                },
                &["Valuable customer"],
                false,
                Some(Priority::High),
            ),
        ];
        let rules = defaults();
        for (what, signals, fired, escalates, priority) in cases {
            let decision = evaluate(&rules, &signals);
            let names: Vec<&str> = decision
                .fired
                .iter()
                .map(|f| f.rule_name.as_str())
                .collect();
            assert_eq!(names, fired, "{what}");
            assert_eq!(decision.escalate, escalates, "{what}");
            assert_eq!(decision.priority, priority, "{what}");
        }
    }

    #[test]
    fn first_match_wins_and_disabled_rules_are_skipped() {
        let keyword = |name: &str, word: &str, priority| {
            rule(
                name,
                vec![Trigger::Keywords {
                    any: vec![word.into()],
                }],
                escalate(priority),
            )
        };
        let mut off = keyword("off", "refund", Priority::Urgent);
        off.enabled = false;
        let rules = compiled(vec![
            off,
            keyword("first", "refund", Priority::Low),
            keyword("second", "refund", Priority::High),
        ]);
        let decision = evaluate(&rules, &text("I want a REFUND"));
        assert_eq!(decision.fired.len(), 1);
        assert_eq!(decision.fired[0].rule_name, "first");
        assert_eq!(decision.fired[0].reason, "keyword \"refund\"");
        assert_eq!(decision.priority, Some(Priority::Low));
        assert!(
            evaluate(&rules, &text("refunded already")).is_empty(),
            "whole words"
        );
    }

    #[test]
    fn all_mode_needs_every_trigger_and_actions_merge() {
        let mut both = rule(
            "billing and angry",
            vec![
                Trigger::Topic {
                    any: vec!["Billing".into()],
                },
                Trigger::SentimentBelow { value: 30 },
            ],
            RuleActions {
                tags: vec!["billing".into()],
                team_id: Some("team-billing".into()),
                priority: Some(Priority::Urgent),
                escalate: true,
            },
        );
        both.match_mode = MatchMode::All;
        let rules = compiled(vec![both]);
        let billing = Signals {
            topic: Some("billing".into()),
            ..text("my invoice")
        };
        assert!(evaluate(&rules, &billing).is_empty());
        let decision = evaluate(
            &rules,
            &Signals {
                sentiment: Some(20),
                ..billing
            },
        );
        assert_eq!(decision.team_id.as_deref(), Some("team-billing"));
        assert_eq!(decision.tags, ["billing"]);
        assert_eq!(
            decision.fired[0].reason,
            "topic billing and sentiment 20 below 30"
        );
    }

    #[test]
    fn regex_value_and_drop_triggers() {
        let rules = compiled(vec![
            rule(
                "order number",
                vec![Trigger::Regex {
                    pattern: r"order\s*#?\d{6}".into(),
                }],
                escalate(Priority::Normal),
            ),
            rule(
                "big spender",
                vec![Trigger::CustomerValueAtLeast { value: 1000.0 }],
                escalate(Priority::High),
            ),
            rule(
                "dropping",
                vec![Trigger::SentimentFalling { min_drop: Some(30) }],
                escalate(Priority::High),
            ),
        ]);
        assert_eq!(
            evaluate(&rules, &text("about ORDER #123456")).fired[0].rule_name,
            "order number"
        );
        let rich = Signals {
            customer_value: Some(1500.0),
            ..text("hi")
        };
        assert_eq!(evaluate(&rules, &rich).fired[0].rule_name, "big spender");
        let falling = Signals {
            sentiment_drop: Some(35),
            ..text("hi")
        };
        assert_eq!(evaluate(&rules, &falling).fired[0].rule_name, "dropping");
        let slight = Signals {
            sentiment_drop: Some(5),
            ..text("hi")
        };
        assert!(evaluate(&rules, &slight).is_empty());
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let bad = [
            Trigger::Regex {
                pattern: "(unclosed".into(),
            },
            Trigger::Regex {
                pattern: "a".repeat(MAX_PATTERN_LEN + 1),
            },
            // Compiles to far more than the size limit.
            Trigger::Regex {
                pattern: r"(\w{100}){100}".into(),
            },
            Trigger::Keywords { any: vec![] },
            Trigger::SentimentBelow { value: 101 },
            Trigger::AiFailures { at_least: 0 },
            Trigger::CustomerValueAtLeast { value: f64::NAN },
        ];
        for trigger in bad {
            let error =
                CompiledRule::compile(rule("bad", vec![trigger.clone()], escalate(Priority::Low)));
            assert!(error.is_err(), "{trigger:?} should be refused");
        }
    }
}
