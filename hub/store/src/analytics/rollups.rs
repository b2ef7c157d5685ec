//! The analytics roll-ups: the totals of each day per organization and dimension
//! (`docs/analytics.md`). Triggers log each reporting event and mark its conversation (in the
//! write's own transaction); [`Store::refresh_analytics`] counts the marked ones again from
//! their events: it takes out what each was last counted as and adds what it is now, and clears
//! the marks it read in the same transaction. A report then reads a row a day.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
    sea_query::{Expr, OnConflict},
};
use switchboard_model::{
    Calendar,
    analytics::{ConversationFacts, Dimension, ReportRange, ReportTotals, Totals, facts_from_log},
};

use super::{DEFAULT_REOPEN_WINDOW_SECS, ReportFilter, logs_of};
use crate::{Result, Store, StoreError, entities::*};

/// Conversations counted again per transaction: the refresh holds SQLite's one writer for a
/// batch's writes, so a batch stays short.
const BATCH: u64 = 250;

/// One refresh at a time in a process; on PostgreSQL, one in the cluster (an advisory lock).
static REFRESHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The advisory lock key of the refresh on PostgreSQL.
const ADVISORY_KEY: i64 = 0x5357_4241_4e41; // "SWBANA"

/// What a conversation was last counted as.
struct Counted {
    conversation_id: String,
    org_id: String,
    day: String,
    rows: Vec<(String, String)>,
    totals: Totals,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Corrupt(format!("analytics totals: {err}")))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|err| StoreError::Corrupt(format!("analytics totals: {err}")))
}

/// The zone an organization's roll-ups count days in, as a range (only its zone is used):
/// its own, or UTC when that is not a zone this build knows.
fn zone_of(time_zone: &str) -> ReportRange {
    ReportRange::new("2000-01-01", "2000-01-01", time_zone)
        .or_else(|_| ReportRange::new("2000-01-01", "2000-01-01", "UTC"))
        .expect("UTC is a zone")
}

/// What the organization's reports count by, read in one go: the time zone of its roll-ups
/// and its reopen window (an automated resolution reopened within it does not count).
pub(super) async fn org_reporting(
    db: &impl ConnectionTrait,
    org_id: &str,
) -> Result<(String, Duration)> {
    let org = organization::Entity::find_by_id(org_id).one(db).await?;
    let zone = org
        .as_ref()
        .map(|org| zone_of(&org.time_zone).time_zone)
        .unwrap_or_else(|| "UTC".into());
    let secs = org.map_or(DEFAULT_REOPEN_WINDOW_SECS, |org| org.reopen_window_secs);
    Ok((zone, Duration::seconds(Ord::max(secs, 0))))
}

/// What `fact` is counted as now.
fn counted(
    org_id: String,
    fact: &ConversationFacts,
    zone: &ReportRange,
    calendars: &HashMap<String, Calendar>,
) -> Counted {
    Counted {
        conversation_id: fact.conversation_id.clone(),
        org_id,
        day: zone.day_of(fact.opened_at),
        rows: Dimension::keys_of(fact)
            .into_iter()
            .map(|(dimension, key)| (dimension.as_str().to_owned(), key))
            .collect(),
        totals: Totals::of(fact, zone, calendars),
    }
}

/// The change to each roll-up row: `(organization, dimension, key, day)` → totals to add.
type Deltas = HashMap<(String, String, String, String), Totals>;

fn add_to(deltas: &mut Deltas, counted: &Counted, sign: i64) {
    for (dimension, key) in &counted.rows {
        let kept = Dimension::parse(dimension)
            .unwrap_or(Dimension::All)
            .kept(&counted.totals);
        deltas
            .entry((
                counted.org_id.clone(),
                dimension.clone(),
                key.clone(),
                counted.day.clone(),
            ))
            .or_default()
            .add(&kept, sign);
    }
}

impl Store {
    /// Counts again up to a batch of the conversations marked as changed; returns how many it
    /// took (0 when none was marked, or another node is counting).
    pub async fn refresh_analytics(&self) -> Result<usize> {
        Ok(self.refresh_marked().await?.0)
    }

    /// [`Store::refresh_analytics`]: the conversations counted, and the marks read. A refresh
    /// running in this process is waited for (a report's catch-up then counts what is left);
    /// only another node's makes this one count nothing.
    async fn refresh_marked(&self) -> Result<(usize, usize)> {
        let _one = REFRESHING.lock().await;
        if self.is_sqlite() {
            // One writer: what is read before the write transaction cannot change under it but
            // by a write that marks its conversation again.
            let marks = marked(self.db()).await?;
            if marks.is_empty() {
                return Ok((0, 0));
            }
            let ids = conversations_of(&marks);
            let now = self.now_counted(self.db(), &ids).await?;
            let txn = self.begin_write().await?;
            apply(&txn.txn, &ids, &marks, now).await?;
            txn.commit().await?;
            return Ok((ids.len(), marks.len()));
        }
        let txn = self.begin_write().await?;
        let locked = txn
            .txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [ADVISORY_KEY.into()],
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            txn.rollback().await?;
            return Ok((0, 0));
        }
        let marks = marked(&txn.txn).await?;
        if marks.is_empty() {
            txn.rollback().await?;
            return Ok((0, 0));
        }
        let ids = conversations_of(&marks);
        let now = self.now_counted(&txn.txn, &ids).await?;
        apply(&txn.txn, &ids, &marks, now).await?;
        txn.commit().await?;
        Ok((ids.len(), marks.len()))
    }

    /// Refreshes until no conversation is marked, or `rounds` batches have been counted.
    pub async fn catch_up_analytics(&self, rounds: usize) -> Result<usize> {
        let mut total = 0;
        for _ in 0..rounds {
            let (counted, read) = self.refresh_marked().await?;
            total += counted;
            if (read as u64) < BATCH {
                break;
            }
        }
        Ok(total)
    }

    /// Throws the roll-ups away and counts every conversation again from the log: after a
    /// change to what they count, or to check them against it. Returns the conversations counted.
    pub async fn rebuild_analytics(&self) -> Result<usize> {
        {
            let _one = REFRESHING.lock().await;
            let txn = self.begin_write().await?;
            recount(&txn.txn, None).await?;
            txn.commit().await?;
        }
        self.catch_up_analytics(usize::MAX).await
    }

    /// What the marked conversations are counted as now (those that still exist).
    async fn now_counted(&self, db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<Counted>> {
        // Each organization's zone, reopen window and SLA calendars, read once a batch.
        let mut orgs: HashMap<String, (ReportRange, Duration, HashMap<String, Calendar>)> =
            HashMap::new();
        let mut now = Vec::with_capacity(ids.len());
        for (org_id, conversation_id, events) in logs_of(db, ids).await? {
            if !orgs.contains_key(&org_id) {
                let (zone, window) = org_reporting(db, &org_id).await?;
                let zone = zone_of(&zone);
                let calendars = self.report_calendars(&org_id).await?;
                orgs.insert(org_id.clone(), (zone, window, calendars));
            }
            let (zone, window, calendars) = &orgs[&org_id];
            if let Some(fact) = facts_from_log(&conversation_id, &events, *window) {
                now.push(counted(org_id, &fact, zone, calendars));
            }
        }
        Ok(now)
    }

    /// The totals a report adds up: from the roll-ups when they keep what it asks for (its
    /// days in their zone, no filter or one by inbox, channel, team or topic), otherwise from
    /// the conversations themselves. `agents`: the report is the agents' table, which wants
    /// each agent's totals (read from the roll-ups alone, without the days').
    pub async fn report_totals(
        &self,
        org_id: &str,
        range: &ReportRange,
        filter: &ReportFilter,
        agents: bool,
    ) -> Result<ReportTotals> {
        let (zone, _) = org_reporting(self.db(), org_id).await?;
        let Some((dimension, key)) = rollup_of(range, filter, agents, &zone) else {
            let facts = self
                .report_facts(org_id, range.start, range.end, filter)
                .await?;
            let calendars = self.report_calendars(org_id).await?;
            return Ok(ReportTotals::of_facts(range, &facts, &calendars));
        };
        self.catch_up_analytics(64).await?;
        let (from, to) = (range.from.to_string(), range.to.to_string());
        let rows = |dimension: Dimension, key: Option<String>| {
            let mut query = analytics_day::Entity::find()
                .filter(analytics_day::Column::OrgId.eq(org_id))
                .filter(analytics_day::Column::Dimension.eq(dimension.as_str()))
                .filter(analytics_day::Column::Day.gte(from.as_str()))
                .filter(analytics_day::Column::Day.lte(to.as_str()));
            if let Some(key) = key {
                query = query.filter(analytics_day::Column::Key.eq(key));
            }
            query.all(self.db())
        };
        let mut report = ReportTotals::default();
        if agents {
            for row in rows(Dimension::Agent, None).await? {
                let totals: Totals = parse(&row.totals)?;
                report.agents.entry(row.key).or_default().add(&totals, 1);
            }
            return Ok(report);
        }
        for row in rows(dimension, Some(key)).await? {
            report.days.insert(row.day, parse(&row.totals)?);
        }
        Ok(report)
    }

    /// Changes what an organization's reports count by: the zone of its days, the reopen window
    /// of its automated resolutions (seconds). Its roll-ups are counted again, in the background.
    pub async fn set_org_reporting(
        &self,
        org_id: &str,
        time_zone: Option<&str>,
        reopen_window_secs: Option<i64>,
    ) -> Result<()> {
        use organization::Column;
        let mut update = organization::Entity::update_many().filter(Column::Id.eq(org_id));
        if let Some(time_zone) = time_zone {
            let zone = ReportRange::new("2000-01-01", "2000-01-01", time_zone)
                .map_err(|err| StoreError::Invalid(err.0))?;
            update = update.col_expr(Column::TimeZone, Expr::value(zone.time_zone));
        }
        if let Some(secs) = reopen_window_secs {
            if !(0..=MAX_REOPEN_WINDOW_SECS).contains(&secs) {
                return Err(StoreError::Invalid(format!(
                    "the reopen window is 0 to {} hours",
                    MAX_REOPEN_WINDOW_SECS / 3600
                )));
            }
            update = update.col_expr(Column::ReopenWindowSecs, Expr::value(secs));
        }
        if time_zone.is_none() && reopen_window_secs.is_none() {
            return Ok(());
        }
        let _one = REFRESHING.lock().await;
        let txn = self.begin_write().await?;
        if update.exec(&txn.txn).await?.rows_affected == 0 {
            txn.rollback().await?;
            return Err(StoreError::NotFound);
        }
        recount(&txn.txn, Some(org_id)).await?;
        txn.commit().await
    }

    /// How many conversations wait to be counted again (for tests and the benchmark).
    pub async fn analytics_marked(&self) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(analytics_mark::Entity::find()
            .select_only()
            .column(analytics_mark::Column::ConversationId)
            .distinct()
            .count(self.db())
            .await?)
    }

    /// How many roll-up rows the organization has (for tests and the benchmark).
    pub async fn analytics_rollup_rows(&self, org_id: &str) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(analytics_day::Entity::find()
            .filter(analytics_day::Column::OrgId.eq(org_id))
            .count(self.db())
            .await?)
    }
}

/// The roll-up rows a report can read instead of the conversations, if any.
fn rollup_of(
    range: &ReportRange,
    filter: &ReportFilter,
    agents: bool,
    zone: &str,
) -> Option<(Dimension, String)> {
    if range.time_zone != zone || filter.label.is_some() || filter.agent_id.is_some() {
        return None;
    }
    let filters: Vec<(Dimension, &String)> = [
        (Dimension::Inbox, &filter.inbox_id),
        (Dimension::Channel, &filter.channel),
        (Dimension::Team, &filter.team_id),
        (Dimension::Topic, &filter.topic),
    ]
    .into_iter()
    .filter_map(|(dimension, value)| value.as_ref().map(|value| (dimension, value)))
    .collect();
    match filters.as_slice() {
        [] => Some((Dimension::All, String::new())),
        // Agents' rows are not kept per inbox, channel, team or topic.
        [(dimension, value)] if !agents => Some((*dimension, (*value).clone())),
        _ => None,
    }
}

/// A batch of the oldest marks: `(id, conversation)`.
async fn marked(db: &impl ConnectionTrait) -> Result<Vec<(i64, String)>> {
    // In the key's order: the index skips the entries of rows already counted and deleted,
    // where a scan of the table would read past every dead row until the next vacuum.
    Ok(analytics_mark::Entity::find()
        .order_by_asc(analytics_mark::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row.conversation_id))
        .collect())
}

/// The conversations `marks` name, each once.
fn conversations_of(marks: &[(i64, String)]) -> Vec<String> {
    let mut seen = HashSet::new();
    marks
        .iter()
        .filter(|(_, id)| seen.insert(id.as_str()))
        .map(|(_, id)| id.clone())
        .collect()
}

/// Takes out what the conversations `ids` were counted as, adds what they are `now`, keeps
/// that, and deletes the `marks` read (a conversation marked again since stays marked).
async fn apply(
    db: &impl ConnectionTrait,
    ids: &[String],
    marks: &[(i64, String)],
    now: Vec<Counted>,
) -> Result<()> {
    let before = analytics_fact::Entity::find()
        .filter(analytics_fact::Column::ConversationId.is_in(ids.iter().cloned()))
        .all(db)
        .await?;
    let mut deltas = Deltas::new();
    for row in &before {
        let counted = Counted {
            conversation_id: row.conversation_id.clone(),
            org_id: row.org_id.clone(),
            day: row.day.clone(),
            rows: parse(&row.rows)?,
            totals: parse(&row.totals)?,
        };
        add_to(&mut deltas, &counted, -1);
    }
    let mut still: HashSet<&str> = HashSet::new();
    let mut facts = Vec::with_capacity(now.len());
    for counted in &now {
        add_to(&mut deltas, counted, 1);
        still.insert(counted.conversation_id.as_str());
        facts.push(analytics_fact::ActiveModel {
            conversation_id: sea_orm::Set(counted.conversation_id.clone()),
            org_id: sea_orm::Set(counted.org_id.clone()),
            day: sea_orm::Set(counted.day.clone()),
            rows: sea_orm::Set(json(&counted.rows)?),
            totals: sea_orm::Set(json(&counted.totals)?),
        });
    }
    write_deltas(db, deltas).await?;
    let gone: Vec<String> = ids
        .iter()
        .filter(|id| !still.contains(id.as_str()))
        .cloned()
        .collect();
    if !gone.is_empty() {
        analytics_fact::Entity::delete_many()
            .filter(analytics_fact::Column::ConversationId.is_in(gone))
            .exec(db)
            .await?;
    }
    for chunk in facts.chunks(200) {
        analytics_fact::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(analytics_fact::Column::ConversationId)
                    .update_columns([
                        analytics_fact::Column::OrgId,
                        analytics_fact::Column::Day,
                        analytics_fact::Column::Rows,
                        analytics_fact::Column::Totals,
                    ])
                    .to_owned(),
            )
            .exec(db)
            .await?;
    }
    // BATCH marks at most: one statement.
    analytics_mark::Entity::delete_many()
        .filter(analytics_mark::Column::Id.is_in(marks.iter().map(|(id, _)| *id)))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds each delta to its roll-up row: a row whose totals come to nothing goes.
async fn write_deltas(db: &impl ConnectionTrait, deltas: Deltas) -> Result<()> {
    type Key = (String, String, String, String);
    let row_of = |(org_id, dimension, key, day): &Key| {
        Condition::all()
            .add(analytics_day::Column::OrgId.eq(org_id.as_str()))
            .add(analytics_day::Column::Dimension.eq(dimension.as_str()))
            .add(analytics_day::Column::Key.eq(key.as_str()))
            .add(analytics_day::Column::Day.eq(day.as_str()))
    };
    let deltas: BTreeMap<Key, Totals> = deltas
        .into_iter()
        .filter(|(_, delta)| !delta.is_empty())
        .collect();
    let keys: Vec<&Key> = deltas.keys().collect();
    let mut current: HashMap<Key, Totals> = HashMap::new();
    for chunk in keys.chunks(100) {
        let rows = chunk
            .iter()
            .fold(Condition::any(), |any, key| any.add(row_of(key)));
        for row in analytics_day::Entity::find().filter(rows).all(db).await? {
            let totals = parse(&row.totals)?;
            current.insert((row.org_id, row.dimension, row.key, row.day), totals);
        }
    }
    let (mut upserts, mut emptied) = (Vec::new(), Vec::new());
    for (key, delta) in deltas {
        let mut totals = current.remove(&key).unwrap_or_default();
        totals.add(&delta, 1);
        if totals.is_empty() {
            emptied.push(key);
            continue;
        }
        let (org_id, dimension, row_key, day) = key;
        upserts.push(analytics_day::ActiveModel {
            org_id: sea_orm::Set(org_id),
            dimension: sea_orm::Set(dimension),
            key: sea_orm::Set(row_key),
            day: sea_orm::Set(day),
            totals: sea_orm::Set(json(&totals)?),
        });
    }
    for chunk in upserts.chunks(200) {
        analytics_day::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    analytics_day::Column::OrgId,
                    analytics_day::Column::Dimension,
                    analytics_day::Column::Key,
                    analytics_day::Column::Day,
                ])
                .update_column(analytics_day::Column::Totals)
                .to_owned(),
            )
            .exec(db)
            .await?;
    }
    for chunk in emptied.chunks(100) {
        let rows = chunk
            .iter()
            .fold(Condition::any(), |any, key| any.add(row_of(key)));
        analytics_day::Entity::delete_many()
            .filter(rows)
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The longest reopen window an organization may set: 30 days.
pub const MAX_REOPEN_WINDOW_SECS: i64 = 30 * 86_400;

/// Throws away the roll-ups of `org_id` (of every organization with `None`) and marks its
/// conversations to be counted again.
async fn recount(db: &impl ConnectionTrait, org_id: Option<&str>) -> Result<()> {
    let mut days = analytics_day::Entity::delete_many();
    let mut facts = analytics_fact::Entity::delete_many();
    if let Some(org_id) = org_id {
        days = days.filter(analytics_day::Column::OrgId.eq(org_id));
        facts = facts.filter(analytics_fact::Column::OrgId.eq(org_id));
    }
    days.exec(db).await?;
    facts.exec(db).await?;
    let backend = db.get_database_backend();
    let (condition, values) = match org_id {
        Some(org_id) => {
            let placeholder = if backend == DbBackend::Postgres {
                "$1"
            } else {
                "?"
            };
            (
                format!(" WHERE org_id = {placeholder}"),
                vec![org_id.into()],
            )
        }
        None => (String::new(), Vec::new()),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO analytics_marks (conversation_id) SELECT id FROM conversations{condition}"
        ),
        values,
    ))
    .await?;
    Ok(())
}
