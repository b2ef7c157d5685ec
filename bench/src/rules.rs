//! `rules`: what escalation rules cost per customer message. Compiles the default rules plus
//! typical custom ones (keywords, regular expressions, topics, tiers, values, sentiment) and
//! times `switchboard_routing::evaluate` over thousands of varied messages: p50 / p99 per message.
//! Also times compiling the whole set, which the hub now pays once per rules revision (it used
//! to pay it on every message).

use std::time::{Duration, Instant};

use chrono::Utc;
use rand::{Rng, SeedableRng, rngs::StdRng};
use switchboard_model::{EscalationRule, MatchMode, Priority, RuleActions, Trigger, new_id};
use switchboard_routing::{RuleSpec, Signals, compile_rules, default_rules, evaluate};

fn keywords(words: &[&str]) -> Trigger {
    Trigger::Keywords {
        any: words.iter().map(|word| (*word).to_owned()).collect(),
    }
}

fn regex(pattern: &str) -> Trigger {
    Trigger::Regex {
        pattern: pattern.to_owned(),
    }
}

fn words(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// Twenty rules of the kinds organizations write, after the defaults.
fn custom_rules() -> Vec<RuleSpec> {
    let act = |priority: Priority, tag: &str, escalate: bool| RuleActions {
        escalate,
        tags: vec![tag.to_owned()],
        team_id: None,
        priority: Some(priority),
    };
    let rule = |name: &str, match_mode, triggers, actions, continue_after| RuleSpec {
        name: name.to_owned(),
        enabled: true,
        match_mode,
        triggers,
        actions,
        continue_after,
    };
    use MatchMode::{All, Any};
    use Priority::{High, Low, Normal, Urgent};
    vec![
        rule(
            "Invoices",
            Any,
            vec![
                keywords(&["invoice", "receipt", "vat number", "billing address"]),
                Trigger::Topic {
                    any: words(&["billing"]),
                },
            ],
            act(Normal, "billing", false),
            true,
        ),
        rule(
            "Refunds",
            Any,
            vec![keywords(&[
                "refund",
                "money back",
                "reimburse",
                "return label",
            ])],
            act(Normal, "refund", false),
            true,
        ),
        rule(
            "Order numbers",
            Any,
            vec![regex(r"\b(order|ord)[ #-]?\d{5,10}\b")],
            act(Low, "has-order", false),
            true,
        ),
        rule(
            "Tracking numbers",
            Any,
            vec![regex(r"\b1Z[0-9A-Z]{16}\b|\b\d{12,22}\b")],
            act(Low, "tracking", false),
            true,
        ),
        rule(
            "Emails in text",
            Any,
            vec![regex(r"[\w.+-]+@[\w-]+\.[\w.]+")],
            act(Low, "email-given", false),
            true,
        ),
        rule(
            "Security",
            Any,
            vec![keywords(&[
                "hacked",
                "password reset",
                "phishing",
                "two factor",
                "2fa",
                "account takeover",
            ])],
            act(Urgent, "security", true),
            false,
        ),
        rule(
            "Outage",
            Any,
            vec![
                keywords(&["down", "outage", "not loading", "error 500", "503"]),
                Trigger::Topic {
                    any: words(&["outage"]),
                },
            ],
            act(High, "outage", true),
            false,
        ),
        rule(
            "Cancel",
            Any,
            vec![keywords(&[
                "cancel my subscription",
                "close my account",
                "unsubscribe",
                "terminate",
            ])],
            act(High, "churn-risk", true),
            false,
        ),
        rule(
            "Enterprise billing",
            All,
            vec![
                Trigger::CustomerTier {
                    any: words(&["enterprise"]),
                },
                Trigger::Topic {
                    any: words(&["billing"]),
                },
            ],
            act(High, "enterprise-billing", true),
            false,
        ),
        rule(
            "Big spender",
            Any,
            vec![Trigger::CustomerValueAtLeast { value: 10_000.0 }],
            act(High, "big-spender", false),
            true,
        ),
        rule(
            "Very unhappy",
            Any,
            vec![Trigger::SentimentBelow { value: 15 }],
            act(Urgent, "very-unhappy", true),
            false,
        ),
        rule(
            "Dropping mood",
            Any,
            vec![Trigger::SentimentFalling { min_drop: Some(30) }],
            act(High, "mood-drop", true),
            false,
        ),
        rule(
            "Shipping",
            Any,
            vec![Trigger::Topic {
                any: words(&["shipping", "delivery", "returns"]),
            }],
            act(Normal, "logistics", false),
            true,
        ),
        rule(
            "Legal words",
            Any,
            vec![regex(
                r"(?i)\b(gdpr|data protection|subpoena|court|attorney)\b",
            )],
            act(Urgent, "legal", true),
            false,
        ),
        rule(
            "Phone numbers",
            Any,
            vec![regex(r"\+?\d[\d\s().-]{7,}\d")],
            act(Low, "phone-given", false),
            true,
        ),
        rule(
            "Spanish billing",
            Any,
            vec![keywords(&["factura", "reembolso", "cobro doble"])],
            act(Normal, "billing-es", false),
            true,
        ),
        rule(
            "German billing",
            Any,
            vec![keywords(&[
                "rechnung",
                "rückerstattung",
                "doppelt abgebucht",
            ])],
            act(Normal, "billing-de", false),
            true,
        ),
        rule(
            "Bug reports",
            Any,
            vec![
                keywords(&["bug", "crash", "stack trace", "exception"]),
                regex(r"(?i)version \d+\.\d+(\.\d+)?"),
            ],
            act(Normal, "bug", false),
            true,
        ),
        rule(
            "Long and stuck",
            All,
            vec![
                Trigger::CustomerMessages { at_least: 5 },
                Trigger::AiFailures { at_least: 1 },
            ],
            act(Normal, "stuck", true),
            false,
        ),
        rule(
            "Press",
            Any,
            vec![keywords(&[
                "journalist",
                "press inquiry",
                "newspaper",
                "podcast",
            ])],
            act(High, "press", true),
            false,
        ),
    ]
}

fn as_rule(position: usize, spec: RuleSpec) -> EscalationRule {
    EscalationRule {
        id: new_id(),
        org_id: "bench".into(),
        name: spec.name,
        position: i32::try_from(position).unwrap_or(i32::MAX),
        enabled: spec.enabled,
        match_mode: spec.match_mode,
        triggers: spec.triggers,
        actions: spec.actions,
        continue_after: spec.continue_after,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

const OPENINGS: &[&str] = &[
    "Hi, ",
    "Hello team, ",
    "Hey, ",
    "Good morning. ",
    "",
    "Hola, ",
    "Hallo, ",
    "Bonjour, ",
];
const BODIES: &[&str] = &[
    "where is my parcel? It was due yesterday and the tracking shows nothing.",
    "I was charged twice for order 1234567, please fix this.",
    "can I get an invoice with our VAT number on it?",
    "the app crashes on start since version 4.2.1, stack trace attached.",
    "I want to cancel my subscription at the end of the month.",
    "how do I change my password? I think someone hacked my account.",
    "your site has been down for an hour, error 500 everywhere.",
    "can you send me a return label for the shoes?",
    "necesito la factura del mes pasado, gracias.",
    "ich habe eine Frage zu meiner Rechnung vom März.",
    "this is unacceptable, I have asked three times already!!",
    "please call me back on +49 30 1234 5678 when you can.",
    "my email is ada@example.com, I cannot log in.",
    "I am a journalist writing about customer service, can we talk?",
    "what are your opening hours during the holidays?",
    "can I talk to a human please",
    "the discount code from the newsletter does not work at checkout.",
    "how long does shipping to Canada take?",
];
const TOPICS: &[&str] = &[
    "billing", "shipping", "outage", "returns", "account", "other",
];
const TIERS: &[&str] = &["free", "pro", "enterprise", "vip"];

fn messages(count: usize) -> Vec<Signals> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..count)
        .map(|i| {
            let opening = OPENINGS[rng.random_range(0..OPENINGS.len())];
            let body = BODIES[rng.random_range(0..BODIES.len())];
            let tail = if i % 3 == 0 {
                " Thanks a lot, best regards."
            } else {
                ""
            };
            Signals {
                text: format!("{opening}{body}{tail}"),
                handoff_button: false,
                sentiment: rng.random_bool(0.8).then(|| rng.random_range(0..=100)),
                sentiment_drop: rng.random_bool(0.3).then(|| rng.random_range(0..=50)),
                sentiment_falling_fast: rng.random_bool(0.05),
                topic: rng
                    .random_bool(0.7)
                    .then(|| TOPICS[rng.random_range(0..TOPICS.len())].to_owned()),
                customer_tier: rng
                    .random_bool(0.5)
                    .then(|| TIERS[rng.random_range(0..TIERS.len())].to_owned()),
                customer_value: rng
                    .random_bool(0.5)
                    .then(|| rng.random_range(0.0..20_000.0)),
                ai_failures: rng.random_range(0..3),
                customer_messages: rng.random_range(1..10),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).map_or(0.0, |at| at.as_secs_f64() * 1e6)
}

/// Prints one markdown table row: rules, messages, compile µs, evaluate p50 / p99 / mean µs.
pub fn run(count: usize, rounds: usize) -> anyhow::Result<()> {
    let specs: Vec<RuleSpec> = default_rules().into_iter().chain(custom_rules()).collect();
    let rules: Vec<EscalationRule> = specs
        .into_iter()
        .enumerate()
        .map(|(position, spec)| as_rule(position, spec))
        .collect();
    let rule_count = rules.len();
    let mut compile_times = Vec::new();
    let mut compiled = Vec::new();
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        compiled = compile_rules(rules.clone());
        compile_times.push(started.elapsed());
    }
    anyhow::ensure!(
        compiled.len() == rule_count,
        "{} of {rule_count} rules compiled",
        compiled.len()
    );
    compile_times.sort();
    let signals = messages(count.max(1));
    let mut timings = Vec::with_capacity(signals.len() * rounds.max(1));
    let mut fired = 0usize;
    for _ in 0..rounds.max(1) {
        for message in &signals {
            let started = Instant::now();
            let decision = evaluate(&compiled, message);
            timings.push(started.elapsed());
            fired += usize::from(!decision.is_empty());
        }
    }
    timings.sort();
    let mean = timings.iter().sum::<Duration>().as_secs_f64() * 1e6 / timings.len() as f64;
    println!(
        "| rules | messages × rounds | compile the set (µs, median) | evaluate p50 (µs) | p99 (µs) | mean (µs) | decisions with a rule fired |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {rule_count} | {} × {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} % |",
        signals.len(),
        rounds.max(1),
        percentile(&compile_times, 0.5),
        percentile(&timings, 0.50),
        percentile(&timings, 0.99),
        mean,
        fired as f64 * 100.0 / timings.len() as f64,
    );
    Ok(())
}
