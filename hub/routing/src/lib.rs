//! Routing's decisions, without I/O: the escalation rules and their evaluation (`rules`), what
//! routing reads in a customer's words (`language`), the rules and SLA policies a new
//! organization starts with and the checks an API caller's rule or policy passes (`spec`), SLA
//! arithmetic (`sla`), the assignment choice (`assignment`) and the handoff summary
//! (`handoff`).
//!
//! The store reads and writes what these decide; the server's `routing` module runs them on
//! each customer message and does the I/O (the LLM's handoff note, the bus, the timer).

pub mod assignment;
pub mod handoff;
pub mod language;
pub mod rules;
pub mod sla;
pub mod spec;

use chrono::{DateTime, Utc};

pub use assignment::{AgentPool, MAX_CAPACITY};
pub use rules::{CompiledRule, Decision, Fired, Signals, compile_rules, evaluate};
pub use sla::DUE_SOON_MINUTES;
pub use spec::{
    MAX_RULES, RuleSpec, SlaPolicySpec, check_policy_spec, check_rule_spec, default_rules,
    default_sla_policies,
};

/// A rule, policy or value that cannot be used, with the reason for the API caller.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// What routing knows about a conversation beyond the conversation row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingState {
    /// Consecutive AI declines and customer rejections since the last answer.
    pub ai_failures: u32,
    pub ai_answers: u32,
    pub ai_declines: u32,
    pub tags: Vec<String>,
    pub escalated_at: Option<DateTime<Utc>>,
}

/// A customer's tier and value, as routing sees them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerValue {
    pub tier: Option<String>,
    pub value: Option<f64>,
}

impl CustomerValue {
    /// The tier and value as they are kept: a finite value, the tier trimmed and in lower case
    /// (none when empty), at most 50 characters.
    pub fn checked(&self) -> Result<CustomerValue, Invalid> {
        if self.value.is_some_and(|value| !value.is_finite()) {
            return Err(Invalid("`value` must be a finite number".into()));
        }
        let tier = self
            .tier
            .as_deref()
            .map(|tier| tier.trim().to_lowercase())
            .filter(|tier| !tier.is_empty());
        if tier.as_ref().is_some_and(|tier| tier.chars().count() > 50) {
            return Err(Invalid("`tier` is at most 50 characters".into()));
        }
        Ok(CustomerValue {
            tier,
            value: self.value,
        })
    }
}
