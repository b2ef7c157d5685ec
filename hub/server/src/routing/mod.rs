//! Routing: when the bot stops and which person takes over.
//!
//! [`route_customer_message`] runs the organization's escalation rules
//! ([`switchboard_routing::evaluate`], a pure function) on each customer message of a
//! conversation the bot holds, and applies the decision: tags, team, priority, and on
//! escalation the handoff record ([`handoff::write`]), the SLA clock and assignment to an
//! online agent. [`sla::run`] finds missed SLA targets. The decisions are the
//! `switchboard_routing` crate's; this module does their I/O.
//!
//! Inputs routing cannot compute itself come in [`Signals`]: sentiment and topic from the
//! understanding layer, the run of AI failures from the bot turn
//! (`Store::record_ai_outcome`). Routing computes the rest (requests for a person, keywords,
//! rejections of the AI's answer, length, customer value).

pub mod assignment;
pub mod handoff;
pub mod sla;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Instant,
};

use serde_json::json;
use switchboard_ai::llm::LlmClient;
use switchboard_model::{
    Clock, Conversation, ConversationStatus, HandoffReason, Message, MessageRole,
};
use switchboard_routing::{
    CompiledRule, Decision, Fired, Signals, assignment::Liveness, compile_rules, evaluate,
    handoff::Context, language,
};
use switchboard_store::{NewHandoff, RoutingChange, Store, StoreError};

use crate::{
    bus::{EventBus, publish_change},
    presence::Heartbeats,
};

type Result<T> = std::result::Result<T, StoreError>;

/// What routing reads and writes: the store, the bus, the clock, the organizations' compiled
/// rules, the LLM that writes handoff notes, and what shows that an agent is alive.
/// `AppState::routing` makes one; routing never sees the whole state.
#[derive(Clone)]
pub struct RoutingContext {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub clock: Clock,
    pub rule_cache: Arc<RuleCache>,
    /// `None`: handoff notes are written offline.
    pub llm: Option<LlmClient>,
    /// `presence_stale_secs`: how long an agent's own heartbeat counts without Redis.
    pub presence_stale_secs: u64,
    /// The heartbeats in Redis, when there is one (`presence.rs`).
    pub heartbeats: Arc<Heartbeats>,
}

/// Who counts as alive among the agents who said they are online: those with a heartbeat in
/// Redis, or without Redis (or while it does not answer) those seen within
/// `presence_stale_secs`.
pub async fn liveness(state: &RoutingContext) -> Liveness {
    if let Some(alive) = state.heartbeats.alive().await {
        return Liveness::Heartbeats(alive);
    }
    let stale = i64::try_from(state.presence_stale_secs).unwrap_or(i64::MAX / 4);
    Liveness::SeenSince(state.clock.now() - chrono::Duration::seconds(stale.max(1)))
}

/// Each organization's compiled rules with the rules revision they were compiled at.
/// Compiling (regular expressions, keyword sets) is the costly part of routing a message; the
/// revision, bumped in the database by every rule change, tells every node when its copy is
/// stale.
#[derive(Default)]
pub struct RuleCache {
    compiled: RwLock<HashMap<String, RulesAt>>,
}

/// Compiled rules and the rules revision they were compiled at.
type RulesAt = (i64, Arc<Vec<CompiledRule>>);

impl RuleCache {
    fn get(&self, org_id: &str, revision: i64) -> Option<Arc<Vec<CompiledRule>>> {
        // A poisoned lock still holds complete entries: each is replaced whole.
        let compiled = self.compiled.read().unwrap_or_else(|err| err.into_inner());
        compiled
            .get(org_id)
            .filter(|(cached, _)| *cached == revision)
            .map(|(_, rules)| rules.clone())
    }

    fn put(&self, org_id: &str, revision: i64, rules: Arc<Vec<CompiledRule>>) {
        let mut compiled = self.compiled.write().unwrap_or_else(|err| err.into_inner());
        compiled.insert(org_id.to_owned(), (revision, rules));
    }
}

/// The organization's enabled rules, compiled, from the cache while the rules revision is
/// unchanged. A stored rule that no longer compiles (it was valid when saved) is skipped with
/// a warning rather than stopping routing.
pub async fn compiled_rules(
    state: &RoutingContext,
    org_id: &str,
) -> Result<Arc<Vec<CompiledRule>>> {
    let revision = state.store.rules_revision(org_id).await?;
    compiled_rules_at(state, org_id, revision).await
}

/// [`compiled_rules`] at a rules revision the caller has just read.
async fn compiled_rules_at(
    state: &RoutingContext,
    org_id: &str,
    revision: i64,
) -> Result<Arc<Vec<CompiledRule>>> {
    if let Some(rules) = state.rule_cache.get(org_id, revision) {
        return Ok(rules);
    }
    // Read after the revision: what is cached under it is at least that new.
    let rules = Arc::new(compile_rules(state.store.list_rules(org_id).await?));
    metrics::counter!("switchboard_routing_rule_compilations_total").increment(1);
    state.rule_cache.put(org_id, revision, rules.clone());
    Ok(rules)
}

/// How many recent customer messages the sentiment trend looks at.
const TREND_MESSAGES: u64 = 8;

/// The signals the hub knows for a customer's message: its text, the conversation's sentiment
/// and topic as stored, the customer's tier and value, the number of customer messages, and the
/// run of AI failures — which this extends when the message rejects the AI's answer ("that
/// didn't help") — and the sentiment trend (the drop, "falling fast"); with the organization's
/// rules revision, read in the same statement ([`switchboard_store::Store::routing_inputs`]).
async fn gather_signals(
    state: &RoutingContext,
    conversation: &Conversation,
    message: &Message,
) -> Result<(Signals, i64)> {
    let store = &state.store;
    let org_id = &conversation.org_id;
    // The sentiment trend looks at the recent customer messages, the newest included, with the
    // same formula as the level the store keeps.
    let inputs = {
        let (store, conversation, seq) = (store.clone(), conversation.clone(), message.seq);
        crate::background::read(async move {
            store
                .routing_inputs(
                    &conversation.org_id,
                    &conversation.id,
                    &conversation.contact_id,
                    seq,
                    TREND_MESSAGES,
                )
                .await
        })
        .await?
    };
    let revision = match inputs.rules_revision {
        Some(revision) => revision,
        None => store.rules_revision(org_id).await?,
    };
    let trend = switchboard_ai::sentiment::trend(&inputs.recent_sentiments);
    let normalized = language::normalize(&message.text);
    let ai_failures = if conversation.status == ConversationStatus::Bot
        && inputs.ai_answers > 0
        && language::rejects_answer(&normalized)
    {
        store
            .record_customer_rejection(org_id, &conversation.id)
            .await?
    } else {
        inputs.ai_failures
    };
    let signals = Signals {
        text: message.text.clone(),
        handoff_button: false,
        sentiment: conversation.sentiment,
        sentiment_drop: trend
            .as_ref()
            .map(|trend| -trend.change)
            .filter(|drop| *drop > 0),
        sentiment_falling_fast: trend.is_some_and(|trend| trend.falling_fast),
        topic: conversation.topic.clone(),
        customer_tier: inputs.value.tier,
        customer_value: inputs.value.value,
        ai_failures,
        customer_messages: u32::try_from(inputs.customer_messages).unwrap_or(u32::MAX),
    };
    Ok((signals, revision))
}

/// Whether a sentiment that went from `before` to `after` can make a rule fire that did not:
/// the rules' sentiment triggers fire on a low score or a falling trend
/// (`switchboard_routing::rules`, `SentimentBelow` and `SentimentFalling`), so only a lower
/// score (or a first one) can. Routing again after a model's score is worth its reads only then.
pub fn may_fire_on(before: Option<i32>, after: Option<i32>) -> bool {
    match (before, after) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(before), Some(after)) => after < before,
    }
}

/// [`route_customer_message`], the failure logged (the message is stored whatever becomes of
/// its routing): whether it escalated the conversation.
pub async fn route_or_log(
    state: &RoutingContext,
    conversation: &Conversation,
    message: &Message,
) -> bool {
    match route_customer_message(state, conversation, message).await {
        Ok(decision) => decision.escalate,
        Err(err) => {
            tracing::error!(error = %err, conversation_id = %conversation.id, "routing failed");
            false
        }
    }
}

/// Runs the escalation rules on a customer's message just stored and applies the decision,
/// with the signals the hub has ([`gather_signals`]). Only conversations the bot holds are
/// routed: once a person has one, rules no longer decide. Every decision that fires a rule is
/// written to the audit log (`routing.decision`) with the rules that fired and why. Ingest
/// calls this after publishing the message; the bot turn should run only if the conversation
/// is still the bot's afterwards.
pub async fn route_customer_message(
    state: &RoutingContext,
    conversation: &Conversation,
    message: &Message,
) -> Result<Decision> {
    if conversation.status != ConversationStatus::Bot {
        return Ok(Decision::default());
    }
    let (signals, revision) = gather_signals(state, conversation, message).await?;
    let rules = compiled_rules_at(state, &conversation.org_id, revision).await?;
    let started = Instant::now();
    let decision = evaluate(&rules, &signals);
    metrics::histogram!("switchboard_routing_evaluation_seconds")
        .record(started.elapsed().as_secs_f64());
    if !decision.is_empty() {
        apply(state, conversation, Some(message), &signals, &decision).await?;
    }
    Ok(decision)
}

/// The customer asked for a person with the widget's button: the rules run with
/// `handoff_button` set, and if none escalates (an organization may have removed the rule),
/// the conversation is escalated anyway, because the button must always work.
pub async fn on_handoff_request(
    state: &RoutingContext,
    org_id: &str,
    conversation_id: &str,
) -> Result<Decision> {
    escalate_anyway(
        state,
        org_id,
        conversation_id,
        true,
        "pressed the button to talk to a person",
        HandoffReason::HumanRequest,
    )
    .await
}

/// The bot could not answer (it declined: `LowConfidence`; it failed or timed out:
/// `AiFailure`): the conversation goes to a person with a handoff, an SLA and an assignment,
/// whatever the rules say.
pub async fn on_ai_declined(
    state: &RoutingContext,
    org_id: &str,
    conversation_id: &str,
    why: HandoffReason,
) -> Result<Decision> {
    let reason = match why {
        HandoffReason::AiFailure => "the AI failed to answer",
        _ => "the AI had no confident answer",
    };
    escalate_anyway(state, org_id, conversation_id, false, reason, why).await
}

/// Runs the rules on the conversation's latest customer message and escalates even when
/// none does, giving `reason` as the cause. A conversation a person already holds is left alone.
async fn escalate_anyway(
    state: &RoutingContext,
    org_id: &str,
    conversation_id: &str,
    handoff_button: bool,
    reason: &str,
    kind: HandoffReason,
) -> Result<Decision> {
    let conversation = state
        .store
        .conversation(org_id, conversation_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if conversation.status != ConversationStatus::Bot {
        return Ok(Decision::default());
    }
    let messages = state
        .store
        .messages(org_id, conversation_id, 0, 10_000, false)
        .await?;
    let last_customer = messages
        .iter()
        .rev()
        .find(|message| message.role == MessageRole::Customer);
    let (mut signals, revision) = match last_customer {
        Some(message) => gather_signals(state, &conversation, message).await?,
        None => (
            Signals::default(),
            state.store.rules_revision(org_id).await?,
        ),
    };
    signals.text.clear();
    signals.handoff_button = handoff_button;
    let rules = compiled_rules_at(state, org_id, revision).await?;
    let mut decision = evaluate(&rules, &signals);
    if !decision.escalate {
        decision.escalate = true;
        decision.fired.push(Fired {
            rule_id: String::new(),
            rule_name: String::new(),
            reason: reason.into(),
            kind,
            escalates: true,
        });
    }
    apply(state, &conversation, last_customer, &signals, &decision).await?;
    Ok(decision)
}

/// Applies a decision: one store transaction for the audit entry, tags, team, priority and, on
/// escalation, the status, handoff and SLA clock; then assignment; then the bus.
async fn apply(
    state: &RoutingContext,
    conversation: &Conversation,
    message: Option<&Message>,
    signals: &Signals,
    decision: &Decision,
) -> Result<()> {
    let org_id = &conversation.org_id;
    let deciding = decision.deciding_rule();
    let handoff = if decision.escalate {
        let history = state
            .store
            .messages(org_id, &conversation.id, 0, 10_000, false)
            .await?;
        let routing = state.store.routing_state(org_id, &conversation.id).await?;
        let contact = state
            .store
            .contact(org_id, &conversation.contact_id)
            .await?;
        let summary = handoff::write(
            state.llm.as_ref(),
            &history,
            &Context {
                customer_name: contact.as_ref().and_then(|contact| contact.name.as_deref()),
                topic: signals.topic.as_deref(),
                sentiment: signals.sentiment,
                sentiment_falling_fast: signals.sentiment_falling_fast,
                routing: &routing,
            },
        )
        .await;
        Some(NewHandoff {
            summary: summary.lines,
            topic: signals.topic.clone(),
            sentiment: signals.sentiment,
            rule_id: deciding
                .map(|fired| fired.rule_id.clone())
                .filter(|id| !id.is_empty()),
            rule_name: deciding
                .map(|fired| fired.rule_name.clone())
                .filter(|name| !name.is_empty()),
            reason: deciding
                .map(|fired| fired.reason.clone())
                .unwrap_or_default(),
            reason_kind: deciding.map(|fired| fired.kind).unwrap_or_default(),
            suggested_reply: summary.suggested_reply,
            summary_source: summary.source,
        })
    } else {
        None
    };
    let change = RoutingChange {
        decision: json!({
            "message_id": message.map(|message| &message.id),
            "rules": decision.fired,
            "escalate": decision.escalate,
            "tags": decision.tags,
            "team_id": decision.team_id,
            "priority": decision.priority,
        }),
        tags: decision.tags.clone(),
        team_id: decision.team_id.clone(),
        priority: decision.priority,
        handoff,
    };
    let applied = state
        .store
        .apply_routing(org_id, &conversation.id, &change)
        .await?;
    let outcome = if applied.handoff.is_some() {
        "escalated"
    } else {
        "changed"
    };
    metrics::counter!("switchboard_routing_decisions_total", "outcome" => outcome).increment(1);
    let mut current = applied.conversation;
    let mut auto_assigned = false;
    if applied.handoff.is_some() {
        let liveness = liveness(state).await;
        if let Some(assigned) = state
            .store
            .auto_assign(org_id, &current.id, &liveness)
            .await?
        {
            current = assigned;
            auto_assigned = true;
        }
    }
    publish_change(state.bus.as_ref(), &current);
    if auto_assigned {
        crate::notifications::assigned(&state.store, state.bus.as_ref(), &current, None, None)
            .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::may_fire_on;

    #[test]
    fn only_a_lower_or_first_sentiment_routes_again() {
        assert!(may_fire_on(Some(50), Some(20)));
        assert!(may_fire_on(None, Some(70)));
        assert!(!may_fire_on(Some(50), Some(60)));
        assert!(!may_fire_on(Some(50), Some(50)));
        assert!(!may_fire_on(Some(50), None));
    }
}
