//! Rules and SLA policies as an API caller writes them: the defaults a new organization starts
//! with, and the checks a rule or a policy passes before the store keeps it (the triggers'
//! own check is [`crate::rules::validate`]).

use switchboard_model::{BusinessHours, MatchMode, Priority, RuleActions, Trigger};

use crate::Invalid;

/// More rules than this per organization is a mistake, and slows every message down.
pub const MAX_RULES: usize = 100;

/// A rule as written by an API caller.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    pub enabled: bool,
    pub match_mode: MatchMode,
    pub triggers: Vec<Trigger>,
    pub actions: RuleActions,
    pub continue_after: bool,
}

/// An SLA policy as written by an API caller.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaPolicySpec {
    pub name: String,
    pub priority: Priority,
    pub team_id: Option<String>,
    pub first_response_seconds: i64,
    pub resolution_seconds: i64,
    /// `None`: the targets count around the clock.
    pub business_hours: Option<BusinessHours>,
}

/// The rules a new organization starts with. Ordered: the first that matches fires.
pub fn default_rules() -> Vec<RuleSpec> {
    let rule = |name: &str, triggers, actions, continue_after| RuleSpec {
        name: name.to_owned(),
        enabled: true,
        match_mode: MatchMode::Any,
        triggers,
        actions,
        continue_after,
    };
    let escalate = |priority: Priority, tags: &[&str]| RuleActions {
        escalate: true,
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        team_id: None,
        priority: Some(priority),
    };
    vec![
        rule(
            "Valuable customer",
            vec![Trigger::CustomerTier {
                any: vec!["vip".into(), "enterprise".into()],
            }],
            RuleActions {
                escalate: false,
                tags: vec!["vip".into()],
                team_id: None,
                priority: Some(Priority::High),
            },
            true,
        ),
        rule(
            "Customer asks for a person",
            vec![Trigger::HumanRequest],
            escalate(Priority::High, &["human-requested"]),
            false,
        ),
        rule(
            "Upset customer",
            vec![
                Trigger::SentimentBelow { value: 25 },
                Trigger::SentimentFalling { min_drop: None },
                Trigger::Keywords {
                    any: [
                        "furious",
                        "outraged",
                        "unacceptable",
                        "ridiculous",
                        "disgusting",
                        "scam",
                        "fraud",
                        "lawyer",
                        "legal action",
                        "chargeback",
                        "charged twice",
                        "double charged",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                },
            ],
            escalate(Priority::High, &["upset"]),
            false,
        ),
        rule(
            "The AI could not help",
            vec![Trigger::AiFailures { at_least: 2 }],
            escalate(Priority::Normal, &["ai-failed"]),
            false,
        ),
        rule(
            "Too long for the bot",
            vec![Trigger::CustomerMessages { at_least: 8 }],
            escalate(Priority::Normal, &["long-conversation"]),
            false,
        ),
    ]
}

/// The SLA targets a new organization starts with, per priority (seconds).
pub fn default_sla_policies() -> Vec<SlaPolicySpec> {
    let hours = |h: i64| h * 3600;
    [
        (Priority::Urgent, 15 * 60, hours(4)),
        (Priority::High, hours(1), hours(8)),
        (Priority::Normal, hours(4), hours(24)),
        (Priority::Low, hours(8), hours(72)),
    ]
    .into_iter()
    .map(|(priority, first, resolution)| SlaPolicySpec {
        name: format!("Default {priority}"),
        priority,
        team_id: None,
        first_response_seconds: first,
        resolution_seconds: resolution,
        business_hours: None,
    })
    .collect()
}

/// Checks a rule's name, the number of its triggers and its actions.
pub fn check_rule_spec(spec: &RuleSpec) -> Result<(), Invalid> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Invalid("a rule needs a name of 1 to 100 characters".into()));
    }
    if spec.triggers.is_empty() {
        return Err(Invalid("a rule needs at least one trigger".into()));
    }
    if spec.triggers.len() > 20 {
        return Err(Invalid("a rule has at most 20 triggers".into()));
    }
    let actions = &spec.actions;
    if !actions.escalate
        && actions.tags.is_empty()
        && actions.team_id.is_none()
        && actions.priority.is_none()
    {
        return Err(Invalid(
            "a rule needs an action: escalate, tags, team_id or priority".into(),
        ));
    }
    if actions.tags.len() > 20
        || actions
            .tags
            .iter()
            .any(|tag| tag.trim().is_empty() || tag.chars().count() > 50)
    {
        return Err(Invalid(
            "`tags`: at most 20, each 1 to 50 characters".into(),
        ));
    }
    Ok(())
}

/// Checks a policy's name and targets, and that its business hours make a calendar that can
/// meet them.
pub fn check_policy_spec(spec: &SlaPolicySpec) -> Result<(), Invalid> {
    const YEAR: i64 = 366 * 24 * 3600;
    if spec.name.trim().is_empty() || spec.name.chars().count() > 100 {
        return Err(Invalid(
            "a policy needs a name of 1 to 100 characters".into(),
        ));
    }
    for (field, seconds) in [
        ("first_response_seconds", spec.first_response_seconds),
        ("resolution_seconds", spec.resolution_seconds),
    ] {
        if !(1..=YEAR).contains(&seconds) {
            return Err(Invalid(format!("`{field}` must be between 1 and {YEAR}")));
        }
        if let Some(hours) = &spec.business_hours {
            hours
                .calendar()
                .and_then(|calendar| calendar.check_target(field, seconds))
                .map_err(|err| Invalid(err.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_and_policies_are_valid() {
        for rule in default_rules() {
            check_rule_spec(&rule).expect("a valid default rule");
        }
        let policies = default_sla_policies();
        assert_eq!(policies.len(), Priority::ALL.len());
        for policy in &policies {
            check_policy_spec(policy).expect("a valid default policy");
        }
    }

    #[test]
    fn rules_need_a_trigger_and_an_action() {
        let mut spec = default_rules().remove(1);
        spec.triggers.clear();
        assert!(check_rule_spec(&spec).is_err());
        let mut spec = default_rules().remove(1);
        spec.actions = RuleActions::default();
        assert!(check_rule_spec(&spec).is_err());
    }
}
