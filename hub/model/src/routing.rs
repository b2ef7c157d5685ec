//! Routing's vocabulary: escalation rules (triggers and actions), handoff records, SLA policies
//! and clocks, agent presence. Pure data; the server evaluates rules, the store keeps them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BusinessHours, Priority};

/// One escalation rule of an organization. Rules run in `position` order; the first enabled rule
/// whose triggers match fires, and evaluation stops there unless the rule says `continue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationRule {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// 0, 1, 2… in evaluation order.
    pub position: i32,
    pub enabled: bool,
    /// Whether any one trigger (`any`, the default) or every trigger (`all`) must match.
    #[serde(rename = "match")]
    pub match_mode: MatchMode,
    pub triggers: Vec<Trigger>,
    pub actions: RuleActions,
    /// Keep evaluating the rules after this one fires (for rules that only tag or prioritize).
    #[serde(rename = "continue")]
    pub continue_after: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::string_enum! {
    #[derive(Default)]
    pub enum MatchMode {
        #[default]
        Any => "any",
        All => "all",
    }
}

/// What makes a rule fire. Stored and sent as `{"type": "...", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The customer asks for a person, in words (several languages) or with the widget's button.
    HumanRequest,
    /// The latest customer message's sentiment (0..100) is below `value`.
    SentimentBelow { value: i32 },
    /// The conversation's sentiment is falling fast; with `min_drop`, it fell by at least that
    /// many points over the recent messages.
    SentimentFalling {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_drop: Option<i32>,
    },
    /// Any of the words or phrases occurs in the message (case-insensitive, whole words).
    Keywords { any: Vec<String> },
    /// The message matches the regular expression (case-insensitive).
    Regex { pattern: String },
    /// The message's topic is one of these.
    Topic { any: Vec<String> },
    /// The contact's tier is one of these (`vip`, `enterprise`…).
    CustomerTier { any: Vec<String> },
    /// The contact's value (lifetime spend, plan value…) is at least this.
    CustomerValueAtLeast { value: f64 },
    /// The AI declined, or the customer rejected its answer, this many times in a row.
    AiFailures { at_least: u32 },
    /// The customer has written this many messages: too long for the bot.
    CustomerMessages { at_least: u32 },
}

/// What a rule does when it fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RuleActions {
    /// Hand the conversation to a person.
    pub escalate: bool,
    pub tags: Vec<String>,
    /// Route to this team.
    pub team_id: Option<String>,
    pub priority: Option<Priority>,
}

crate::string_enum! {
    /// Who wrote a handoff's summary and suggested reply.
    #[derive(Default)]
    pub enum SummarySource {
        /// Offline, quoting and counting what is in the conversation.
        #[default]
        Extractive => "extractive",
        /// The configured LLM.
        Llm => "llm",
    }
}

crate::string_enum! {
    /// Why a conversation went to a person, as a kind reports group by (the words are in
    /// [`Handoff::reason`]).
    #[derive(Default)]
    pub enum HandoffReason {
        /// A rule on the message or the customer (keywords, topic, tier, value, length…).
        #[default]
        Rule => "rule",
        /// The AI had no confident answer, or the customer rejected its answers.
        LowConfidence => "low_confidence",
        /// The customer asked for a person, in words or with the widget's button.
        HumanRequest => "human_request",
        /// The customer's sentiment was low or falling.
        Sentiment => "sentiment",
        /// The AI failed: the model erred or timed out.
        AiFailure => "ai_failure",
    }
}

/// The record made when a conversation is handed to a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Handoff {
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    /// Three lines: what the customer wants; what was tried; the mood.
    pub summary: Vec<String>,
    pub topic: Option<String>,
    pub sentiment: Option<i32>,
    pub priority: Priority,
    /// The rule that escalated, when a rule did.
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    /// Why, in words: the trigger that matched.
    pub reason: String,
    /// Why, as a kind.
    pub reason_kind: HandoffReason,
    /// A first reply the agent may send as is or edit.
    pub suggested_reply: String,
    /// Who wrote `summary` and `suggested_reply`.
    pub summary_source: SummarySource,
    pub created_at: DateTime<Utc>,
}

/// First-response and resolution targets for one priority, optionally for one team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicy {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub priority: Priority,
    /// Applies to conversations routed to this team; `null` applies to every team without its
    /// own policy for the priority.
    pub team_id: Option<String>,
    pub first_response_seconds: i64,
    pub resolution_seconds: i64,
    /// When the targets' clocks run; `null`: around the clock.
    pub business_hours: Option<BusinessHours>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::string_enum! {
    /// Where one SLA target stands.
    pub enum SlaTargetStatus {
        Pending => "pending",
        Met => "met",
        Breached => "breached",
    }
}

/// A conversation's SLA clock, started when it was escalated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaClock {
    pub policy_id: Option<String>,
    pub priority: Priority,
    pub started_at: DateTime<Utc>,
    pub first_response_due_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_response_breached_at: Option<DateTime<Utc>>,
    pub first_response: SlaTargetStatus,
    pub resolution_due_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_breached_at: Option<DateTime<Utc>>,
    pub resolution: SlaTargetStatus,
    /// Either target breached.
    pub breached: bool,
}

crate::string_enum! {
    pub enum PresenceStatus {
        Online => "online",
        Away => "away",
    }
}

/// Whether an agent takes conversations now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    pub user_id: String,
    pub status: PresenceStatus,
    pub last_seen_at: DateTime<Utc>,
    /// `online` and seen recently enough: gets assignments.
    pub online: bool,
    /// Most open assigned conversations the agent takes; `null`: no limit.
    pub capacity: Option<i32>,
    /// Open conversations assigned to the agent now.
    pub assigned: u32,
}

crate::string_enum! {
    /// How an escalated conversation picks its agent among those online.
    pub enum AssignmentStrategy {
        /// The agent with the fewest open assigned conversations.
        LeastLoaded => "least_loaded",
        /// Each online agent in turn.
        RoundRobin => "round_robin",
    }
}

/// What the AI made of a customer's message, reported by the bot turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AiOutcome {
    Answered,
    Declined,
}
