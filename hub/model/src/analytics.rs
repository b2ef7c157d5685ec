//! Reports: the facts about one conversation that analytics counts, and the metrics computed
//! from them (`docs/analytics.md` defines each). Pure: the store reads the facts, the server
//! serves the figures.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use jiff::{
    Timestamp,
    civil::Date,
    tz::{TimeZone, TimeZoneDatabase},
};
use serde::Serialize;

use crate::{Calendar, HandoffReason};

mod log;
mod totals;

pub use log::{EVENT_KINDS, LoggedEvent, facts_from_log, parse_time, reopened_within};
pub use totals::{Dimension, Histogram, SlaCounts, Totals, bucket};

/// The longest range a report covers, in days.
pub const MAX_REPORT_DAYS: i64 = 731;

/// Why a report's range was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReportRangeError(pub String);

/// The days a report covers, `from` to `to` inclusive, in a time zone.
#[derive(Clone, Debug)]
pub struct ReportRange {
    pub from: Date,
    pub to: Date,
    pub time_zone: String,
    zone: TimeZone,
    /// The first instant of `from` in the zone.
    pub start: DateTime<Utc>,
    /// The first instant after `to` in the zone.
    pub end: DateTime<Utc>,
}

fn to_chrono(at: Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond().max(0) as u32)
}

fn to_jiff(at: DateTime<Utc>) -> Option<Timestamp> {
    Timestamp::from_second(at.timestamp()).ok()
}

impl ReportRange {
    /// `from` and `to` as `YYYY-MM-DD`, `time_zone` an IANA name (`UTC` when empty).
    pub fn new(from: &str, to: &str, time_zone: &str) -> Result<Self, ReportRangeError> {
        let date = |field: &str, text: &str| {
            text.trim().parse::<Date>().map_err(|_| {
                ReportRangeError(format!(
                    "`{field}` must be a date as YYYY-MM-DD, not `{text}`"
                ))
            })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if to < from {
            return Err(ReportRangeError("`to` is before `from`".into()));
        }
        let days = (to - from).get_days() as i64 + 1;
        if days > MAX_REPORT_DAYS {
            return Err(ReportRangeError(format!(
                "a report covers at most {MAX_REPORT_DAYS} days"
            )));
        }
        let time_zone = match time_zone.trim() {
            "" => "UTC".to_owned(),
            name => name.to_owned(),
        };
        let zone = TimeZoneDatabase::bundled().get(&time_zone).map_err(|_| {
            ReportRangeError(format!(
                "unknown time zone `{time_zone}` (use an IANA name such as `Europe/Berlin`)"
            ))
        })?;
        let midnight = |day: Date| {
            zone.to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
                .ok()
                .and_then(to_chrono)
                .ok_or_else(|| ReportRangeError("the range lies outside the calendar".into()))
        };
        let after = to
            .tomorrow()
            .map_err(|_| ReportRangeError("the range lies outside the calendar".into()))?;
        Ok(ReportRange {
            start: midnight(from)?,
            end: midnight(after)?,
            from,
            to,
            time_zone,
            zone,
        })
    }

    /// Like [`ReportRange::new`], where a missing `to` is today in the zone and a missing
    /// `from` 29 days before `to` (30 days).
    pub fn with_defaults(
        from: Option<&str>,
        to: Option<&str>,
        time_zone: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ReportRangeError> {
        let today = ReportRange::new("2000-01-01", "2000-01-01", time_zone)?.day_of(now);
        let to = to.map(str::to_owned).unwrap_or(today);
        let from = match from {
            Some(from) => from.to_owned(),
            None => to
                .trim()
                .parse::<Date>()
                .ok()
                .and_then(|day| day.checked_sub(jiff::Span::new().days(29)).ok())
                .map(|day| day.to_string())
                .unwrap_or_else(|| to.clone()),
        };
        ReportRange::new(&from, &to, time_zone)
    }

    /// As many days again, just before this range: what a headline figure is compared with.
    pub fn previous(&self) -> Result<ReportRange, ReportRangeError> {
        let span = self.to - self.from;
        let outside = || ReportRangeError("the range lies outside the calendar".into());
        let to = self.from.yesterday().map_err(|_| outside())?;
        let from = to.checked_sub(span).map_err(|_| outside())?;
        ReportRange::new(&from.to_string(), &to.to_string(), &self.time_zone)
    }

    /// The days of the range, `YYYY-MM-DD`.
    pub fn days(&self) -> Vec<String> {
        let mut days = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            days.push(day.to_string());
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        days
    }

    /// The day an instant falls on in the zone, `YYYY-MM-DD`.
    pub fn day_of(&self, at: DateTime<Utc>) -> String {
        to_jiff(at)
            .map(|at| self.zone.to_datetime(at).date().to_string())
            .unwrap_or_default()
    }

    /// The hour of the week an instant falls in, in the zone: 0 is Monday 00:00–01:00, 167
    /// Sunday 23:00–24:00.
    pub fn hour_of_week(&self, at: DateTime<Utc>) -> usize {
        to_jiff(at)
            .map(|at| {
                let civil = self.zone.to_datetime(at);
                let day = usize::from(civil.weekday().to_monday_zero_offset().unsigned_abs());
                day * 24 + usize::from(civil.hour().unsigned_abs())
            })
            .unwrap_or_default()
    }
}

/// A conversation's SLA, as analytics reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaFacts {
    pub policy_id: String,
    pub policy_name: String,
    pub priority: String,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_breached: bool,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub resolution_breached: bool,
}

/// Whether a conversation met its SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaOutcome {
    Met,
    Breached,
    /// A target not reached yet and not missed yet.
    Pending,
}

/// What a report needs to know about one conversation, read as it is now.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationFacts {
    pub conversation_id: String,
    pub inbox_id: String,
    pub channel: String,
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    pub topic: Option<String>,
    /// The conversation's sentiment level now (0–100).
    pub sentiment: Option<i32>,
    pub opened_at: DateTime<Utc>,
    /// Set while the conversation is resolved or closed.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The AI answered at least once.
    pub ai_answered: bool,
    /// A person wrote to the customer (a reply, not a private note).
    pub human_replied: bool,
    /// Why it was last handed to a person, if it was.
    pub handoff: Option<HandoffReason>,
    pub handed_off_at: Option<DateTime<Utc>>,
    /// A person's first reply after the (last) handoff.
    pub first_human_reply_at: Option<DateTime<Utc>>,
    pub sla: Option<SlaFacts>,
    /// The customer's rating, 1–5.
    pub csat: Option<i32>,
    /// The knowledge-base articles the AI's answers cited, each once.
    pub cited: Vec<String>,
    /// The customer reopened it within the organization's reopen window of a resolution.
    pub reopened_soon: bool,
}

impl ConversationFacts {
    /// Resolved with nobody but the AI: never handed off, no person wrote to the customer, and
    /// not reopened within the window of a resolution.
    pub fn resolved_by_ai(&self) -> bool {
        self.resolved_at.is_some()
            && self.handoff.is_none()
            && !self.human_replied
            && !self.reopened_soon
    }

    /// From the handoff to a person's first reply, in seconds.
    pub fn first_response_seconds(&self) -> Option<f64> {
        let (from, to) = (self.handed_off_at?, self.first_human_reply_at?);
        (to >= from).then(|| (to - from).num_milliseconds() as f64 / 1000.0)
    }

    /// The same in the business hours of the conversation's SLA policy (every hour counts when
    /// the policy has none).
    pub fn first_response_business_seconds(
        &self,
        calendars: &HashMap<String, Calendar>,
    ) -> Option<f64> {
        let (from, to) = (self.handed_off_at?, self.first_human_reply_at?);
        let calendar = self
            .sla
            .as_ref()
            .and_then(|sla| calendars.get(&sla.policy_id));
        match calendar {
            Some(calendar) => Some(calendar.business_seconds_between(from, to) as f64),
            None => self.first_response_seconds(),
        }
    }

    /// From opening to resolution, in seconds.
    pub fn resolution_seconds(&self) -> Option<f64> {
        let resolved = self.resolved_at?;
        (resolved >= self.opened_at)
            .then(|| (resolved - self.opened_at).num_milliseconds() as f64 / 1000.0)
    }

    /// Met: every target reached in time. Breached: any target missed (flagged by the SLA
    /// timer, or reached late). Pending: neither yet.
    pub fn sla_outcome(&self) -> Option<SlaOutcome> {
        let sla = self.sla.as_ref()?;
        let late = |due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>| matches!((due, done), (Some(due), Some(done)) if done > due);
        let breached = sla.first_response_breached
            || sla.resolution_breached
            || late(sla.first_response_due_at, self.first_human_reply_at)
            || late(sla.resolution_due_at, self.resolved_at);
        let reached = (sla.first_response_due_at.is_none() || self.first_human_reply_at.is_some())
            && (sla.resolution_due_at.is_none() || self.resolved_at.is_some());
        Some(match (breached, reached) {
            (true, _) => SlaOutcome::Breached,
            (false, true) => SlaOutcome::Met,
            (false, false) => SlaOutcome::Pending,
        })
    }
}

/// The median and 90th percentile of some durations, in seconds (`null` when there are none).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub count: u64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub mean: Option<f64>,
}

/// Customer satisfaction over a set of conversations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsatSummary {
    pub responses: u64,
    /// Ratings of 4 or 5 ÷ ratings.
    pub satisfied_share: Option<f64>,
    pub average: Option<f64>,
    /// Ratings ÷ resolved conversations.
    pub response_rate: Option<f64>,
}

impl CsatSummary {
    fn of(totals: &Totals) -> CsatSummary {
        let responses = totals.csat_responses.max(0) as u64;
        CsatSummary {
            responses,
            satisfied_share: ratio(totals.csat_satisfied.max(0) as u64, responses),
            average: (responses > 0).then(|| totals.csat_sum as f64 / responses as f64),
            response_rate: ratio(responses, totals.resolved.max(0) as u64),
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// `part ÷ whole`, 0 when there is no whole: a rate of no conversations is none of them.
fn rate(part: u64, whole: u64) -> f64 {
    ratio(part, whole).unwrap_or(0.0)
}

/// How many conversations carry one value of a dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Count {
    pub key: String,
    pub conversations: u64,
}

/// SLA outcomes of one policy and priority.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaRow {
    pub policy_id: String,
    pub policy: String,
    pub priority: String,
    pub met: u64,
    pub breached: u64,
    pub pending: u64,
    /// Met ÷ (met + breached).
    pub compliance: Option<f64>,
}

/// The headline figures of the conversations opened in a range.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub conversations_opened: u64,
    pub conversations_resolved: u64,
    pub automated_resolutions: u64,
    pub automated_resolution_rate: f64,
    pub handoffs: u64,
    pub handoff_rate: f64,
    pub ai_involved: u64,
    pub ai_involvement_rate: f64,
    pub first_response_time_seconds: Stats,
    pub first_response_time_business_seconds: Stats,
    pub resolution_time_seconds: Stats,
    pub csat: CsatSummary,
    pub sla_compliance: Option<f64>,
    pub sla_met: u64,
    pub sla_breached: u64,
    /// Every kind of handoff reason, with its count (zeros included).
    pub handoff_reasons: Vec<Count>,
    pub by_channel: Vec<Count>,
    pub by_inbox: Vec<Count>,
    pub by_topic: Vec<Count>,
    pub sla: Vec<SlaRow>,
    pub sentiment_average: Option<f64>,
    /// The knowledge-base articles the AI cited in the most conversations, at most 10.
    pub top_articles: Vec<ArticleCount>,
}

/// An article and the conversations where the AI cited it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleCount {
    pub article_id: String,
    /// Its title now (empty when it was deleted).
    pub title: String,
    pub conversations: u64,
}

/// The names a report shows for what the totals keep by id.
#[derive(Clone, Debug, Default)]
pub struct ReportNames {
    /// SLA policies' names by id.
    pub policies: HashMap<String, String>,
    /// Knowledge-base articles' titles by id.
    pub articles: HashMap<String, String>,
}

fn counts(by_key: &BTreeMap<String, i64>) -> Vec<Count> {
    let mut counts: Vec<Count> = by_key
        .iter()
        .map(|(key, conversations)| Count {
            key: key.clone(),
            conversations: (*conversations).max(0) as u64,
        })
        .collect();
    counts.sort_by(|a, b| {
        b.conversations
            .cmp(&a.conversations)
            .then(a.key.cmp(&b.key))
    });
    counts
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

fn sentiment_average(totals: &Totals) -> Option<f64> {
    (totals.sentiment_count > 0)
        .then(|| totals.sentiment_sum as f64 / totals.sentiment_count as f64)
}

/// What a report adds up: the totals of each day of its range (by the day each conversation
/// was opened), and each agent's totals over the range.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportTotals {
    pub days: BTreeMap<String, Totals>,
    pub agents: BTreeMap<String, Totals>,
}

impl ReportTotals {
    /// The totals of `facts`, the conversations opened in `range`, counted one by one.
    pub fn of_facts(
        range: &ReportRange,
        facts: &[ConversationFacts],
        calendars: &HashMap<String, Calendar>,
    ) -> ReportTotals {
        let mut report = ReportTotals::default();
        for fact in facts {
            let totals = Totals::of(fact, range, calendars);
            if let Some(agent) = &fact.assignee_id {
                report
                    .agents
                    .entry(agent.clone())
                    .or_default()
                    .add(&totals.for_agent(), 1);
            }
            report
                .days
                .entry(range.day_of(fact.opened_at))
                .or_default()
                .add(&totals, 1);
        }
        report
    }

    /// The whole range's totals.
    pub fn total(&self) -> Totals {
        Totals::sum(self.days.values())
    }
}

/// The articles cited in the most conversations, most first.
const TOP_ARTICLES: usize = 10;

/// The overview of the conversations opened in `range`.
pub fn overview(range: &ReportRange, report: &ReportTotals, names: &ReportNames) -> Overview {
    let policy_names = &names.policies;
    let totals = report.total();
    let opened = count(totals.opened);
    let automated_resolutions = count(totals.automated);
    let handoffs = count(totals.handoffs);
    let ai_involved = count(totals.ai_involved);
    let mut sla: Vec<SlaRow> = totals
        .sla
        .iter()
        .map(|(key, counts)| {
            let (policy_id, priority) = totals::split_sla_key(key);
            let (met, breached) = (count(counts.0), count(counts.1));
            SlaRow {
                policy_id: policy_id.to_owned(),
                policy: policy_names.get(policy_id).cloned().unwrap_or_default(),
                priority: priority.to_owned(),
                met,
                breached,
                pending: count(counts.2),
                compliance: ratio(met, met + breached),
            }
        })
        .collect();
    sla.sort_by(|a, b| (&a.policy_id, &a.priority).cmp(&(&b.policy_id, &b.priority)));
    let sla_met = sla.iter().map(|row| row.met).sum();
    let sla_breached = sla.iter().map(|row| row.breached).sum();
    let handoff_reasons = HandoffReason::ALL
        .iter()
        .map(|kind| Count {
            key: kind.as_str().to_owned(),
            conversations: count(
                totals
                    .handoff_reasons
                    .get(kind.as_str())
                    .copied()
                    .unwrap_or_default(),
            ),
        })
        .collect();
    Overview {
        from: range.from.to_string(),
        to: range.to.to_string(),
        time_zone: range.time_zone.clone(),
        conversations_opened: opened,
        conversations_resolved: count(totals.resolved),
        automated_resolutions,
        automated_resolution_rate: rate(automated_resolutions, opened),
        handoffs,
        handoff_rate: rate(handoffs, opened),
        ai_involved,
        ai_involvement_rate: rate(ai_involved, opened),
        first_response_time_seconds: totals.first_response.stats(),
        first_response_time_business_seconds: totals.first_response_business.stats(),
        resolution_time_seconds: totals.resolution.stats(),
        csat: CsatSummary::of(&totals),
        sla_compliance: ratio(sla_met, sla_met + sla_breached),
        sla_met,
        sla_breached,
        handoff_reasons,
        by_channel: counts(&totals.by_channel),
        by_inbox: counts(&totals.by_inbox),
        by_topic: counts(&totals.by_topic),
        sla,
        sentiment_average: sentiment_average(&totals),
        top_articles: counts(&totals.cited)
            .into_iter()
            .take(TOP_ARTICLES)
            .map(|count| ArticleCount {
                title: names.articles.get(&count.key).cloned().unwrap_or_default(),
                article_id: count.key,
                conversations: count.conversations,
            })
            .collect(),
    }
}

/// One day of a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayRow {
    pub date: String,
    pub conversations_opened: u64,
    pub automated_resolutions: u64,
    pub handoffs: u64,
    pub ai_involved: u64,
    pub resolved: u64,
    pub first_response_median_seconds: Option<f64>,
    pub csat_average: Option<f64>,
    pub sentiment_average: Option<f64>,
}

/// The range day by day, and its volume by hour of the week.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeseries {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub days: Vec<DayRow>,
    /// 168 counts of conversations opened: Monday 00:00–01:00 first, in the time zone.
    pub hour_of_week: Vec<u64>,
}

/// The conversations opened in `range`, day by day (by the day each was opened).
pub fn timeseries(range: &ReportRange, report: &ReportTotals) -> Timeseries {
    let empty = Totals::default();
    let mut hour_of_week = vec![0u64; 7 * 24];
    for day in report.days.values() {
        for (hour, conversations) in &day.hour_of_week {
            if let Some(into) = hour_of_week.get_mut(usize::from(*hour)) {
                *into += count(*conversations);
            }
        }
    }
    let days = range
        .days()
        .into_iter()
        .map(|date| {
            let day = report.days.get(&date).unwrap_or(&empty);
            DayRow {
                conversations_opened: count(day.opened),
                automated_resolutions: count(day.automated),
                handoffs: count(day.handoffs),
                ai_involved: count(day.ai_involved),
                resolved: count(day.resolved),
                first_response_median_seconds: day.first_response.stats().median,
                csat_average: CsatSummary::of(day).average,
                sentiment_average: sentiment_average(day),
                date,
            }
        })
        .collect();
    Timeseries {
        from: range.from.to_string(),
        to: range.to.to_string(),
        time_zone: range.time_zone.clone(),
        days,
        hour_of_week,
    }
}

/// One agent's conversations: those assigned to them now among the ones opened in the range.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentRow {
    pub agent_id: String,
    pub name: String,
    pub conversations: u64,
    pub replied: u64,
    pub resolved: u64,
    pub first_response_time_seconds: Stats,
    pub resolution_time_seconds: Stats,
    pub csat: CsatSummary,
}

/// Per agent, most conversations first; `names` gives each agent's display name.
pub fn agents(report: &ReportTotals, names: &HashMap<String, String>) -> Vec<AgentRow> {
    let mut rows: Vec<AgentRow> = report
        .agents
        .iter()
        .filter(|(_, totals)| totals.opened > 0)
        .map(|(agent, totals)| AgentRow {
            agent_id: agent.clone(),
            name: names.get(agent).cloned().unwrap_or_else(|| agent.clone()),
            conversations: count(totals.opened),
            replied: count(totals.replied),
            resolved: count(totals.resolved),
            first_response_time_seconds: totals.first_response.stats(),
            resolution_time_seconds: totals.resolution.stats(),
            csat: CsatSummary::of(totals),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.conversations
            .cmp(&a.conversations)
            .then(a.name.cmp(&b.name))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn opened(at_text: &str) -> ConversationFacts {
        ConversationFacts {
            conversation_id: "c".into(),
            inbox_id: "i".into(),
            channel: "webchat".into(),
            team_id: None,
            assignee_id: None,
            topic: None,
            sentiment: None,
            opened_at: at(at_text),
            resolved_at: None,
            ai_answered: false,
            human_replied: false,
            handoff: None,
            handed_off_at: None,
            first_human_reply_at: None,
            sla: None,
            csat: None,
            cited: Vec::new(),
            reopened_soon: false,
        }
    }

    #[test]
    fn a_range_is_whole_days_in_its_zone() {
        let range = ReportRange::new("2026-12-01", "2026-12-02", "Europe/Berlin").expect("valid");
        assert_eq!(range.start, at("2026-11-30T23:00:00Z"));
        assert_eq!(range.end, at("2026-12-02T23:00:00Z"));
        assert_eq!(range.days(), ["2026-12-01", "2026-12-02"]);
        assert_eq!(range.day_of(at("2026-12-01T23:30:00Z")), "2026-12-02");
        // Tuesday 00:30 in Berlin: the 25th hour of the week.
        assert_eq!(range.hour_of_week(at("2026-11-30T23:30:00Z")), 24);
        let previous = range.previous().expect("valid");
        assert_eq!(previous.days(), ["2026-11-29", "2026-11-30"]);
        assert!(ReportRange::new("2026-12-02", "2026-12-01", "UTC").is_err());
        assert!(ReportRange::new("2026-12-01", "2026-12-01", "Mars/Olympus").is_err());
        assert!(ReportRange::new("yesterday", "2026-12-01", "UTC").is_err());
        assert!(ReportRange::new("2020-01-01", "2026-12-01", "UTC").is_err());
    }

    #[test]
    fn the_overview_counts_each_conversation_once_by_its_definition() {
        let range = ReportRange::new("2026-12-01", "2026-12-01", "UTC").expect("valid");
        let mut by_ai = opened("2026-12-01T10:00:00Z");
        by_ai.ai_answered = true;
        by_ai.resolved_at = Some(at("2026-12-01T10:05:00Z"));
        by_ai.csat = Some(5);
        by_ai.cited = vec!["returns".into()];
        let mut handed = opened("2026-12-01T11:00:00Z");
        handed.ai_answered = true;
        handed.handoff = Some(HandoffReason::HumanRequest);
        handed.handed_off_at = Some(at("2026-12-01T11:01:00Z"));
        handed.first_human_reply_at = Some(at("2026-12-01T11:03:00Z"));
        handed.human_replied = true;
        handed.resolved_at = Some(at("2026-12-01T12:00:00Z"));
        handed.csat = Some(2);
        handed.sla = Some(SlaFacts {
            policy_id: "p".into(),
            policy_name: "Normal".into(),
            priority: "normal".into(),
            first_response_due_at: Some(at("2026-12-01T11:02:00Z")),
            first_response_breached: false,
            resolution_due_at: None,
            resolution_breached: false,
        });
        let waiting = opened("2026-12-01T13:00:00Z");
        let report = ReportTotals::of_facts(&range, &[by_ai, handed, waiting], &HashMap::new());
        let names = ReportNames {
            policies: HashMap::from([("p".to_owned(), "Normal".to_owned())]),
            articles: HashMap::new(),
        };
        let overview = overview(&range, &report, &names);
        assert_eq!(overview.sla[0].policy, "Normal");
        assert_eq!(overview.conversations_opened, 3);
        assert_eq!(overview.automated_resolutions, 1);
        assert!((overview.automated_resolution_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(overview.handoffs, 1);
        assert_eq!(overview.ai_involved, 2);
        assert_eq!(overview.first_response_time_seconds.median, Some(120.0));
        assert_eq!(overview.resolution_time_seconds.median, Some(1950.0));
        assert_eq!(overview.csat.responses, 2);
        assert_eq!(overview.csat.satisfied_share, Some(0.5));
        assert_eq!(overview.csat.average, Some(3.5));
        assert_eq!(overview.csat.response_rate, Some(1.0));
        // Replied a minute after the first-response target: breached.
        assert_eq!(overview.sla_breached, 1);
        assert_eq!(overview.sla_compliance, Some(0.0));
        let human = overview
            .handoff_reasons
            .iter()
            .find(|count| count.key == "human_request")
            .expect("every kind is listed");
        assert_eq!(human.conversations, 1);
        assert_eq!(overview.handoff_reasons.len(), HandoffReason::ALL.len());
        assert_eq!(overview.top_articles.len(), 1);
        assert_eq!(overview.top_articles[0].article_id, "returns");
        assert_eq!(overview.top_articles[0].conversations, 1);
    }
}
