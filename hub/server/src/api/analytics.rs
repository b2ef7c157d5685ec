//! `/analytics`: the figures a support manager runs the team by, for the conversations opened
//! in a range of days, as JSON or CSV (`?format=csv` or `Accept: text/csv`). Definitions in
//! `docs/analytics.md`.

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_model::{
    ChannelKind, Permission,
    analytics::{self, AgentRow, Overview, ReportRange, ReportTotals, Stats, Timeseries},
};
use switchboard_store::{EventFilter, ReportFilter};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiQuery, ApiResult},
    state::AppState,
};

/// The range, the time zone and the filters every analytics route takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The first day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// The last day, included (default: today in `tz`).
    pub to: Option<String>,
    /// An IANA time zone the days are counted in (default `UTC`).
    pub tz: Option<String>,
    pub inbox_id: Option<String>,
    /// A channel name (`webchat`, `email`, `whatsapp`…); another name is a 422.
    pub channel: Option<String>,
    pub team_id: Option<String>,
    /// The agent the conversations are assigned to.
    pub agent_id: Option<String>,
    pub topic: Option<String>,
    /// A label name: only the conversations that carry it.
    pub label: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// What a report was asked for: its range and the totals it adds up.
struct Report {
    range: ReportRange,
    totals: ReportTotals,
    csv: bool,
}

/// The days asked for (`from`, `to`, `tz`, each with its default), or a 422 with the reason.
fn range_of(
    state: &AppState,
    from: &Option<String>,
    to: &Option<String>,
    tz: &Option<String>,
) -> ApiResult<ReportRange> {
    ReportRange::with_defaults(
        from.as_deref(),
        to.as_deref(),
        tz.as_deref().unwrap_or_default(),
        state.clock.now(),
    )
    .map_err(|err| ApiError::Unprocessable(err.0))
}

/// The report asked for; `agents`: whether it shows each agent's figures.
async fn report(
    state: &AppState,
    auth: &Auth,
    params: ReportParams,
    headers: &HeaderMap,
    agents: bool,
) -> ApiResult<Report> {
    auth.require(Permission::AnalyticsRead)?;
    let range = range_of(state, &params.from, &params.to, &params.tz)?;
    let filter = ReportFilter {
        inbox_id: params.inbox_id,
        channel: params
            .channel
            .map(|channel| {
                channel
                    .parse::<ChannelKind>()
                    .map(|kind| kind.as_str().to_owned())
                    .map_err(|_| {
                        let names: Vec<&str> =
                            ChannelKind::ALL.iter().map(|kind| kind.as_str()).collect();
                        ApiError::Unprocessable(format!(
                            "`channel` is one of {}, not `{channel}`",
                            names.join(", ")
                        ))
                    })
            })
            .transpose()?,
        team_id: params.team_id,
        agent_id: params.agent_id,
        topic: params.topic,
        label: params
            .label
            .as_deref()
            .map(switchboard_store::label_name)
            .transpose()?,
    };
    let totals = state
        .store
        .report_totals(auth.org_id(), &range, &filter, agents)
        .await?;
    let csv = super::other_format(params.format.as_deref(), headers, "csv", "text/csv")?;
    Ok(Report { range, totals, csv })
}

/// A CSV document: a header line, then one line per row; fields quoted when they need it, and
/// text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) made inert.
struct Csv {
    text: String,
}

impl Csv {
    fn new(header: &[&str]) -> Csv {
        let mut csv = Csv {
            text: String::new(),
        };
        csv.line(header.iter().map(|name| Cell::Text(name.to_string())));
        csv
    }

    fn line(&mut self, cells: impl IntoIterator<Item = Cell>) {
        let fields: Vec<String> = cells.into_iter().map(Cell::field).collect();
        self.text.push_str(&fields.join(","));
        self.text.push_str("\r\n");
    }

    fn into_response(self, name: &str) -> Response {
        let mut response = self.text.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }
}

enum Cell {
    Text(String),
    Number(Option<f64>),
    Count(u64),
}

impl Cell {
    fn field(self) -> String {
        match self {
            Cell::Text(text) => {
                let text = if text.starts_with(['=', '+', '-', '@']) {
                    format!("'{text}")
                } else {
                    text
                };
                if text.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", text.replace('"', "\"\""))
                } else {
                    text
                }
            }
            Cell::Number(Some(value)) => {
                let rounded = (value * 10_000.0).round() / 10_000.0;
                rounded.to_string()
            }
            Cell::Number(None) => String::new(),
            Cell::Count(count) => count.to_string(),
        }
    }
}

fn stats_cells(stats: &Stats) -> [Cell; 2] {
    [Cell::Number(stats.median), Cell::Number(stats.p90)]
}

fn overview_csv(overview: &Overview) -> Csv {
    let mut header = vec![
        "from",
        "to",
        "time_zone",
        "conversations_opened",
        "conversations_resolved",
        "automated_resolutions",
        "automated_resolution_rate",
        "handoffs",
        "handoff_rate",
        "ai_involved",
        "ai_involvement_rate",
        "first_response_time_median_seconds",
        "first_response_time_p90_seconds",
        "first_response_time_business_median_seconds",
        "first_response_time_business_p90_seconds",
        "resolution_time_median_seconds",
        "resolution_time_p90_seconds",
        "csat_responses",
        "csat_satisfied_share",
        "csat_average",
        "csat_response_rate",
        "sla_compliance",
        "sla_met",
        "sla_breached",
    ];
    let reasons: Vec<String> = overview
        .handoff_reasons
        .iter()
        .map(|count| format!("handoffs_{}", count.key))
        .collect();
    header.extend(reasons.iter().map(String::as_str));
    let mut csv = Csv::new(&header);
    let mut cells = vec![
        Cell::Text(overview.from.clone()),
        Cell::Text(overview.to.clone()),
        Cell::Text(overview.time_zone.clone()),
        Cell::Count(overview.conversations_opened),
        Cell::Count(overview.conversations_resolved),
        Cell::Count(overview.automated_resolutions),
        Cell::Number(Some(overview.automated_resolution_rate)),
        Cell::Count(overview.handoffs),
        Cell::Number(Some(overview.handoff_rate)),
        Cell::Count(overview.ai_involved),
        Cell::Number(Some(overview.ai_involvement_rate)),
    ];
    cells.extend(stats_cells(&overview.first_response_time_seconds));
    cells.extend(stats_cells(&overview.first_response_time_business_seconds));
    cells.extend(stats_cells(&overview.resolution_time_seconds));
    cells.extend([
        Cell::Count(overview.csat.responses),
        Cell::Number(overview.csat.satisfied_share),
        Cell::Number(overview.csat.average),
        Cell::Number(overview.csat.response_rate),
        Cell::Number(overview.sla_compliance),
        Cell::Count(overview.sla_met),
        Cell::Count(overview.sla_breached),
    ]);
    cells.extend(
        overview
            .handoff_reasons
            .iter()
            .map(|count| Cell::Count(count.conversations)),
    );
    csv.line(cells);
    csv
}

/// The headline figures of the conversations opened in the range: volume, automated
/// resolution, handoffs and their reasons, AI involvement, first response (from the handoff)
/// and resolution times, CSAT, SLA compliance, volume by channel, inbox and topic.
#[utoipa::path(get, path = "/analytics/overview", tag = "analytics", params(ReportParams),
    responses((status = 200, body = Overview, description = "JSON, or `text/csv` with a header line and one row"),
        (status = 403, description = "Not a manager or an admin"),
        (status = 422, description = "A bad range, time zone or format")))]
pub async fn overview(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    let report = report(&state, &auth, params, &headers, false).await?;
    let names = state.store.report_names(auth.org_id()).await?;
    let overview = analytics::overview(&report.range, &report.totals, &names);
    Ok(if report.csv {
        overview_csv(&overview).into_response("overview")
    } else {
        ApiJson(overview).into_response()
    })
}

/// The range day by day (each conversation on the day it was opened), and the volume by hour
/// of the week.
#[utoipa::path(get, path = "/analytics/timeseries", tag = "analytics", params(ReportParams),
    responses((status = 200, body = Timeseries, description = "JSON, or `text/csv` with one row per day"),
        (status = 403, description = "Not a manager or an admin"),
        (status = 422, description = "A bad range, time zone or format")))]
pub async fn timeseries(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    let report = report(&state, &auth, params, &headers, false).await?;
    let series = analytics::timeseries(&report.range, &report.totals);
    if !report.csv {
        return Ok(ApiJson(series).into_response());
    }
    let mut csv = Csv::new(&[
        "date",
        "conversations_opened",
        "automated_resolutions",
        "handoffs",
        "ai_involved",
        "resolved",
        "first_response_median_seconds",
        "csat_average",
        "sentiment_average",
    ]);
    for day in series.days {
        csv.line([
            Cell::Text(day.date),
            Cell::Count(day.conversations_opened),
            Cell::Count(day.automated_resolutions),
            Cell::Count(day.handoffs),
            Cell::Count(day.ai_involved),
            Cell::Count(day.resolved),
            Cell::Number(day.first_response_median_seconds),
            Cell::Number(day.csat_average),
            Cell::Number(day.sentiment_average),
        ]);
    }
    Ok(csv.into_response("timeseries"))
}

/// Per agent: the conversations opened in the range that are assigned to them.
#[derive(Serialize, ToSchema)]
pub struct AgentsReport {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub agents: Vec<AgentRow>,
}

/// Per agent: conversations handled (assigned to them), replied to and resolved, first
/// response and resolution times, CSAT.
#[utoipa::path(get, path = "/analytics/agents", tag = "analytics", params(ReportParams),
    responses((status = 200, body = AgentsReport, description = "JSON, or `text/csv` with one row per agent"),
        (status = 403, description = "Not a manager or an admin"),
        (status = 422, description = "A bad range, time zone or format")))]
pub async fn agents(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    let report = report(&state, &auth, params, &headers, true).await?;
    let names: HashMap<String, String> = state
        .store
        .list_users(auth.org_id())
        .await?
        .into_iter()
        .map(|user| (user.id, user.name))
        .collect();
    let agents = analytics::agents(&report.totals, &names);
    if !report.csv {
        return Ok(ApiJson(AgentsReport {
            from: report.range.from.to_string(),
            to: report.range.to.to_string(),
            time_zone: report.range.time_zone.clone(),
            agents,
        })
        .into_response());
    }
    let mut csv = Csv::new(&[
        "agent_id",
        "name",
        "conversations",
        "replied",
        "resolved",
        "first_response_time_median_seconds",
        "first_response_time_p90_seconds",
        "resolution_time_median_seconds",
        "resolution_time_p90_seconds",
        "csat_responses",
        "csat_average",
    ]);
    for agent in agents {
        let mut cells = vec![
            Cell::Text(agent.agent_id),
            Cell::Text(agent.name),
            Cell::Count(agent.conversations),
            Cell::Count(agent.replied),
            Cell::Count(agent.resolved),
        ];
        cells.extend(stats_cells(&agent.first_response_time_seconds));
        cells.extend(stats_cells(&agent.resolution_time_seconds));
        cells.extend([
            Cell::Count(agent.csat.responses),
            Cell::Number(agent.csat.average),
        ]);
        csv.line(cells);
    }
    Ok(csv.into_response("agents"))
}

/// The range and filters of `GET /analytics/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The first day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// The last day, included (default: today in `tz`).
    pub to: Option<String>,
    /// An IANA time zone the days are counted in (default `UTC`).
    pub tz: Option<String>,
    pub conversation_id: Option<String>,
    /// One kind of event (`opened`, `ai_answered`, `handed_off`, `resolved`…).
    pub kind: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<i64>,
    /// Events per page, 1–5,000 (default 1,000).
    pub limit: Option<u64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One reporting event.
#[derive(Serialize, ToSchema)]
pub struct ReportingEvent {
    /// Its place in the log: events are listed in this order.
    pub id: i64,
    pub conversation_id: String,
    pub kind: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Its fields (`docs/analytics.md`, "The reporting events").
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of reporting events.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<ReportingEvent>,
    /// The `after` of the next page; `null` on the last.
    pub next_after: Option<i64>,
}

/// The reporting events that happened in the range, oldest first, a page at a time: the log
/// the figures are counted from, for a warehouse or a BI tool.
#[utoipa::path(get, path = "/analytics/events", tag = "analytics", params(EventParams),
    responses((status = 200, body = EventPage, description = "JSON, or `text/csv` with one row per event (`data` as JSON)"),
        (status = 403, description = "Not a manager or an admin"),
        (status = 422, description = "A bad range, time zone, kind, limit or format")))]
pub async fn events(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Response> {
    auth.require(Permission::AnalyticsRead)?;
    let range = range_of(&state, &params.from, &params.to, &params.tz)?;
    if let Some(kind) = &params.kind
        && !analytics::EVENT_KINDS.contains(&kind.as_str())
    {
        return Err(ApiError::Unprocessable(format!(
            "`kind` is one of {}",
            analytics::EVENT_KINDS.join(", ")
        )));
    }
    let limit = params.limit.unwrap_or(1_000);
    if !(1..=5_000).contains(&limit) {
        return Err(ApiError::Unprocessable("`limit` is 1 to 5000".to_owned()));
    }
    let csv = super::other_format(params.format.as_deref(), &headers, "csv", "text/csv")?;
    let filter = EventFilter {
        conversation_id: params.conversation_id,
        kind: params.kind,
    };
    let rows = state
        .store
        .reporting_event_page(
            auth.org_id(),
            (range.start, range.end),
            &filter,
            params.after,
            limit,
        )
        .await?;
    let next_after = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|(id, _, _)| *id))
        .flatten();
    let events: Vec<ReportingEvent> = rows
        .into_iter()
        .map(|(id, conversation_id, event)| ReportingEvent {
            id,
            conversation_id,
            kind: event.kind,
            at: event.at,
            data: event.data,
        })
        .collect();
    if !csv {
        return Ok(ApiJson(EventPage { events, next_after }).into_response());
    }
    let mut csv = Csv::new(&["id", "conversation_id", "kind", "at", "data"]);
    for event in events {
        csv.line([
            Cell::Count(event.id.unsigned_abs()),
            Cell::Text(event.conversation_id),
            Cell::Text(event.kind),
            Cell::Text(event.at.to_rfc3339()),
            Cell::Text(event.data.to_string()),
        ]);
    }
    let mut response = csv.into_response("events");
    if let Some(next) = next_after
        && let Ok(value) = HeaderValue::from_str(&next.to_string())
    {
        response.headers_mut().insert("x-next-after", value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_made_inert() {
        assert_eq!(Cell::Text("plain".into()).field(), "plain");
        assert_eq!(Cell::Text("a, b".into()).field(), "\"a, b\"");
        assert_eq!(
            Cell::Text("say \"hi\"".into()).field(),
            "\"say \"\"hi\"\"\""
        );
        assert_eq!(Cell::Text("=1+2".into()).field(), "'=1+2");
        assert_eq!(Cell::Number(Some(1.0 / 3.0)).field(), "0.3333");
        assert_eq!(Cell::Number(None).field(), "");
    }
}
