//! Roll-ups: what one conversation adds to the totals of the day it was opened, and the sums of
//! such totals. A report adds up a day's row per day of its range (365 rows for a year) rather
//! than reading every conversation; the figures come from the sums alone, so a report computed
//! from the conversations themselves (a filter the roll-ups do not keep) goes through the same
//! totals and gives the same figures.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{ConversationFacts, ReportRange, SlaOutcome};
use crate::Calendar;

/// Durations in whole seconds, counted per bucket: exact below 10,000 s (2 h 46 min), to four
/// significant digits above (123,456 s counts as 123,400 s, 0.1 % at most), so a day of first
/// responses is at most a few thousand numbers whatever the volume. The mean comes from the
/// exact sum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// The bucket's lower bound in seconds → how many durations fell in it.
    #[serde(rename = "b", default, skip_serializing_if = "BTreeMap::is_empty")]
    buckets: BTreeMap<i64, i64>,
    /// The sum of the durations, in milliseconds.
    #[serde(rename = "s", default, skip_serializing_if = "is_zero")]
    sum_ms: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// The bucket a duration falls in: its lower bound.
pub fn bucket(seconds: f64) -> i64 {
    let whole = seconds.max(0.0).floor() as i64;
    if whole < 10_000 {
        return whole;
    }
    let mut scale = 1;
    while whole / scale >= 10_000 {
        scale *= 10;
    }
    whole / scale * scale
}

impl Histogram {
    /// Counts `seconds` once (`sign` 1), or takes it out again (`sign` -1).
    pub fn record(&mut self, seconds: f64, sign: i64) {
        add_count(&mut self.buckets, bucket(seconds), sign);
        self.sum_ms += sign * (seconds.max(0.0) * 1000.0).round() as i64;
    }

    /// Adds `other` (`sign` 1) or takes it out (`sign` -1).
    pub fn add(&mut self, other: &Histogram, sign: i64) {
        for (bucket, count) in &other.buckets {
            add_count(&mut self.buckets, *bucket, sign * count);
        }
        self.sum_ms += sign * other.sum_ms;
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum::<i64>().max(0) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.sum_ms == 0
    }

    /// The `k`-th smallest duration (from 0), as its bucket's value.
    fn nth(&self, k: u64) -> Option<f64> {
        let mut seen = 0u64;
        for (bucket, count) in &self.buckets {
            seen += (*count).max(0) as u64;
            if k < seen {
                return Some(*bucket as f64);
            }
        }
        None
    }

    /// The `p`-quantile, interpolating linearly between the two nearest ranks (the median of
    /// 10 and 20 is 15).
    fn quantile(&self, p: f64) -> Option<f64> {
        let last = self.count().checked_sub(1)?;
        let rank = p * last as f64;
        let (low, high) = (rank.floor() as u64, rank.ceil() as u64);
        let (a, b) = (self.nth(low.min(last))?, self.nth(high.min(last))?);
        Some(a + (b - a) * (rank - low as f64))
    }

    pub fn stats(&self) -> super::Stats {
        let count = self.count();
        super::Stats {
            count,
            median: self.quantile(0.5),
            p90: self.quantile(0.9),
            mean: (count > 0).then(|| self.sum_ms as f64 / 1000.0 / count as f64),
        }
    }

    pub fn of(values: impl IntoIterator<Item = f64>) -> Histogram {
        let mut histogram = Histogram::default();
        for value in values.into_iter().filter(|value| value.is_finite()) {
            histogram.record(value, 1);
        }
        histogram
    }
}

/// Met, breached and pending conversations of one SLA policy and priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaCounts(pub i64, pub i64, pub i64);

/// The sums a report needs over a set of conversations. Each field is a count (of
/// conversations, or of their ratings and durations), so that totals add up and a
/// conversation's part can be taken out again when it changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub opened: i64,
    pub resolved: i64,
    pub automated: i64,
    pub handoffs: i64,
    pub ai_involved: i64,
    pub replied: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub handoff_reasons: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Histogram::is_empty")]
    pub first_response: Histogram,
    #[serde(skip_serializing_if = "Histogram::is_empty")]
    pub first_response_business: Histogram,
    #[serde(skip_serializing_if = "Histogram::is_empty")]
    pub resolution: Histogram,
    pub csat_responses: i64,
    pub csat_satisfied: i64,
    pub csat_sum: i64,
    pub sentiment_count: i64,
    pub sentiment_sum: i64,
    /// `policy id` + U+001F + `priority` → outcomes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sla: BTreeMap<String, SlaCounts>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_channel: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_inbox: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_topic: BTreeMap<String, i64>,
    /// Hour of the week (0 is Monday 00:00) → conversations opened in it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hour_of_week: BTreeMap<u8, i64>,
    /// Knowledge-base article → conversations where the AI cited it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cited: BTreeMap<String, i64>,
}

/// The separator of an SLA key's policy and priority.
const SLA_KEY: char = '\u{1f}';

pub(super) fn sla_key(policy_id: &str, priority: &str) -> String {
    format!("{policy_id}{SLA_KEY}{priority}")
}

pub(super) fn split_sla_key(key: &str) -> (&str, &str) {
    key.split_once(SLA_KEY).unwrap_or((key, ""))
}

/// Adds `count` to `key`'s, leaving out a key that comes to nothing.
fn add_count<K: Ord>(into: &mut BTreeMap<K, i64>, key: K, count: i64) {
    use std::collections::btree_map::Entry;
    match into.entry(key) {
        Entry::Occupied(mut entry) => {
            *entry.get_mut() += count;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
        Entry::Vacant(entry) => {
            if count != 0 {
                entry.insert(count);
            }
        }
    }
}

fn add_counts<K: Ord + Clone>(into: &mut BTreeMap<K, i64>, from: &BTreeMap<K, i64>, sign: i64) {
    for (key, count) in from {
        add_count(into, key.clone(), sign * count);
    }
}

impl Totals {
    /// What one conversation adds: counted in `range`'s time zone (its hour of the week).
    pub fn of(
        fact: &ConversationFacts,
        range: &ReportRange,
        calendars: &HashMap<String, Calendar>,
    ) -> Totals {
        let one = |yes: bool| i64::from(yes);
        let mut totals = Totals {
            opened: 1,
            resolved: one(fact.resolved_at.is_some()),
            automated: one(fact.resolved_by_ai()),
            handoffs: one(fact.handoff.is_some()),
            ai_involved: one(fact.ai_answered),
            replied: one(fact.human_replied),
            first_response: Histogram::of(fact.first_response_seconds()),
            first_response_business: Histogram::of(fact.first_response_business_seconds(calendars)),
            resolution: Histogram::of(fact.resolution_seconds()),
            ..Totals::default()
        };
        if let Some(reason) = fact.handoff {
            totals.handoff_reasons.insert(reason.as_str().to_owned(), 1);
        }
        if let Some(score) = fact.csat {
            totals.csat_responses = 1;
            totals.csat_satisfied = one(score >= 4);
            totals.csat_sum = i64::from(score);
        }
        if let Some(sentiment) = fact.sentiment {
            totals.sentiment_count = 1;
            totals.sentiment_sum = i64::from(sentiment);
        }
        if let (Some(sla), Some(outcome)) = (&fact.sla, fact.sla_outcome()) {
            let counts = match outcome {
                SlaOutcome::Met => SlaCounts(1, 0, 0),
                SlaOutcome::Breached => SlaCounts(0, 1, 0),
                SlaOutcome::Pending => SlaCounts(0, 0, 1),
            };
            totals
                .sla
                .insert(sla_key(&sla.policy_id, &sla.priority), counts);
        }
        totals.by_channel.insert(fact.channel.clone(), 1);
        totals.by_inbox.insert(fact.inbox_id.clone(), 1);
        totals
            .by_topic
            .insert(fact.topic.clone().unwrap_or_else(|| "none".into()), 1);
        let hour = u8::try_from(range.hour_of_week(fact.opened_at)).unwrap_or_default();
        totals.hour_of_week.insert(hour, 1);
        for article in &fact.cited {
            totals.cited.insert(article.clone(), 1);
        }
        totals
    }

    /// Adds `other` (`sign` 1) or takes it out (`sign` -1).
    pub fn add(&mut self, other: &Totals, sign: i64) {
        self.opened += sign * other.opened;
        self.resolved += sign * other.resolved;
        self.automated += sign * other.automated;
        self.handoffs += sign * other.handoffs;
        self.ai_involved += sign * other.ai_involved;
        self.replied += sign * other.replied;
        add_counts(&mut self.handoff_reasons, &other.handoff_reasons, sign);
        self.first_response.add(&other.first_response, sign);
        self.first_response_business
            .add(&other.first_response_business, sign);
        self.resolution.add(&other.resolution, sign);
        self.csat_responses += sign * other.csat_responses;
        self.csat_satisfied += sign * other.csat_satisfied;
        self.csat_sum += sign * other.csat_sum;
        self.sentiment_count += sign * other.sentiment_count;
        self.sentiment_sum += sign * other.sentiment_sum;
        for (key, counts) in &other.sla {
            let into = self.sla.entry(key.clone()).or_default();
            into.0 += sign * counts.0;
            into.1 += sign * counts.1;
            into.2 += sign * counts.2;
            if *into == SlaCounts::default() {
                self.sla.remove(key);
            }
        }
        add_counts(&mut self.by_channel, &other.by_channel, sign);
        add_counts(&mut self.by_inbox, &other.by_inbox, sign);
        add_counts(&mut self.by_topic, &other.by_topic, sign);
        add_counts(&mut self.hour_of_week, &other.hour_of_week, sign);
        add_counts(&mut self.cited, &other.cited, sign);
    }

    /// The part an agent's row keeps: what the agents' table shows, without the volume
    /// breakdowns that only the organization's figures need.
    pub fn for_agent(&self) -> Totals {
        Totals {
            by_channel: BTreeMap::new(),
            by_inbox: BTreeMap::new(),
            by_topic: BTreeMap::new(),
            hour_of_week: BTreeMap::new(),
            cited: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// Nothing counted: a row of such totals can go.
    pub fn is_empty(&self) -> bool {
        *self == Totals::default()
    }

    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Totals>) -> Totals {
        let mut sum = Totals::default();
        for totals in all {
            sum.add(totals, 1);
        }
        sum
    }
}

/// A dimension a roll-up keeps totals by, beside the organization's own (`All`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    All,
    Inbox,
    Channel,
    Team,
    Agent,
    Topic,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Inbox => "inbox",
            Dimension::Channel => "channel",
            Dimension::Team => "team",
            Dimension::Agent => "agent",
            Dimension::Topic => "topic",
        }
    }

    pub fn parse(text: &str) -> Option<Dimension> {
        [
            Dimension::All,
            Dimension::Inbox,
            Dimension::Channel,
            Dimension::Team,
            Dimension::Agent,
            Dimension::Topic,
        ]
        .into_iter()
        .find(|dimension| dimension.as_str() == text)
    }

    /// The rows a conversation counts in: the organization's, and one per dimension it has a
    /// value for (a conversation with no team counts in no team's row).
    pub fn keys_of(fact: &ConversationFacts) -> Vec<(Dimension, String)> {
        let mut keys = vec![
            (Dimension::All, String::new()),
            (Dimension::Inbox, fact.inbox_id.clone()),
            (Dimension::Channel, fact.channel.clone()),
            (
                Dimension::Topic,
                fact.topic.clone().unwrap_or_else(|| "none".into()),
            ),
        ];
        keys.extend(fact.team_id.clone().map(|team| (Dimension::Team, team)));
        keys.extend(
            fact.assignee_id
                .clone()
                .map(|agent| (Dimension::Agent, agent)),
        );
        keys
    }

    /// The totals a row of this dimension keeps of `totals`.
    pub fn kept(self, totals: &Totals) -> Totals {
        match self {
            Dimension::Agent => totals.for_agent(),
            _ => totals.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_ten_thousand_seconds_and_four_digits_above() {
        assert_eq!(bucket(0.4), 0);
        assert_eq!(bucket(30.0), 30);
        assert_eq!(bucket(9_999.9), 9_999);
        assert_eq!(bucket(12_345.0), 12_340);
        assert_eq!(bucket(167_400.0), 167_400);
        assert_eq!(bucket(86_399.0), 86_390);
        assert_eq!(bucket(-5.0), 0);
    }

    #[test]
    fn a_histogram_gives_the_quantiles_of_its_values_and_forgets_what_is_taken_out() {
        let mut histogram = Histogram::of([30.0, 10.0, 20.0, 40.0]);
        let stats = histogram.stats();
        assert_eq!(stats.median, Some(25.0));
        assert_eq!(stats.p90, Some(37.0));
        assert_eq!(stats.mean, Some(25.0));
        histogram.add(&Histogram::of([10.0, 20.0, 30.0]), -1);
        assert_eq!(histogram, Histogram::of([40.0]));
        histogram.record(40.0, -1);
        assert!(histogram.is_empty());
        assert_eq!(histogram.stats().median, None);
    }

    #[test]
    fn totals_serialize_compactly_and_back() {
        let mut totals = Totals {
            opened: 2,
            first_response: Histogram::of([120.0, 3_600.0]),
            ..Totals::default()
        };
        totals.sla.insert(sla_key("p", "high"), SlaCounts(1, 0, 0));
        let text = serde_json::to_string(&totals).expect("serializes");
        assert!(!text.contains("by_channel"), "{text}");
        let back: Totals = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, totals);
        let mut emptied = back.clone();
        emptied.add(&totals, -1);
        assert!(emptied.is_empty());
    }
}
