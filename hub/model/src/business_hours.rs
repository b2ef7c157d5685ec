//! Business hours: when an SLA clock runs. A calendar is a time zone, open ranges per weekday
//! and holidays; [`Calendar::add_business_time`] counts a target only in open time, in the
//! zone's wall-clock time (a day with a daylight-saving change has 23 or 25 hours).
//!
//! Pure calendar math: time zones come from the IANA database compiled into the binary
//! (`jiff`'s bundled copy), so the result does not depend on the host's `/usr/share/zoneinfo`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use jiff::{
    Timestamp,
    civil::{Date, Time, Weekday},
    tz::{TimeZone, TimeZoneDatabase},
};
use serde::{Deserialize, Serialize};

/// At most this many ranges a day.
pub const MAX_RANGES_PER_DAY: usize = 12;
/// At most this many holidays.
pub const MAX_HOLIDAYS: usize = 1000;
/// A target must be reachable within this many weeks of open time, so that computing a due
/// time stays a short loop.
pub const MAX_WEEKS: i64 = 52 * 10;

/// Business hours as written: `{"time_zone": "Europe/Berlin", "weekly": {"mon": [["09:00",
/// "12:00"], ["13:00", "17:30"]], …}, "holidays": ["2026-12-25"]}`. A day missing from `weekly`
/// is closed; `"24:00"` ends a range at midnight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`).
    pub time_zone: String,
    pub weekly: WeeklyHours,
    /// Closed days (`YYYY-MM-DD`, in the time zone).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Open ranges per weekday, each `["HH:MM", "HH:MM"]`, sorted and not overlapping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub mon: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub tue: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub wed: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub thu: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub fri: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub sat: Vec<[String; 2]>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub sun: Vec<[String; 2]>,
}

impl WeeklyHours {
    fn days(&self) -> [(&'static str, Weekday, &[[String; 2]]); 7] {
        [
            ("mon", Weekday::Monday, &self.mon),
            ("tue", Weekday::Tuesday, &self.tue),
            ("wed", Weekday::Wednesday, &self.wed),
            ("thu", Weekday::Thursday, &self.thu),
            ("fri", Weekday::Friday, &self.fri),
            ("sat", Weekday::Saturday, &self.sat),
            ("sun", Weekday::Sunday, &self.sun),
        ]
    }
}

/// Why business hours were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("business_hours: {0}")]
pub struct BusinessHoursError(pub String);

/// One open range of a day, in minutes since midnight; `end` may be 1440 (midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u16,
    end: u16,
}

/// Checked business hours, ready to compute due times.
#[derive(Clone, Debug)]
pub struct Calendar {
    zone: TimeZone,
    /// Indexed by `Weekday::to_monday_zero_offset`.
    weekly: [Vec<Range>; 7],
    holidays: HashSet<Date>,
}

fn parse_minutes(text: &str, end: bool) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    match (hours, minutes) {
        (24, 0) if end => Some(24 * 60),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

impl BusinessHours {
    /// Checks the hours and prepares them for computing: a known time zone, well-formed,
    /// sorted, non-overlapping ranges, valid holidays, and some open time in the week.
    pub fn calendar(&self) -> Result<Calendar, BusinessHoursError> {
        let invalid = |reason: String| Err(BusinessHoursError(reason));
        let zone = match TimeZoneDatabase::bundled().get(self.time_zone.trim()) {
            Ok(zone) => zone,
            Err(_) => {
                return invalid(format!(
                    "unknown time zone `{}` (use an IANA name such as `Europe/Berlin`)",
                    self.time_zone
                ));
            }
        };
        let mut weekly: [Vec<Range>; 7] = Default::default();
        for (name, weekday, ranges) in self.weekly.days() {
            if ranges.len() > MAX_RANGES_PER_DAY {
                return invalid(format!(
                    "`{name}` has more than {MAX_RANGES_PER_DAY} ranges"
                ));
            }
            let day = &mut weekly[usize::from(weekday.to_monday_zero_offset().unsigned_abs())];
            for [start, end] in ranges {
                let (Some(start_minute), Some(end_minute)) =
                    (parse_minutes(start, false), parse_minutes(end, true))
                else {
                    return invalid(format!(
                        "`{name}`: [\"{start}\", \"{end}\"] is not a range of \"HH:MM\" times"
                    ));
                };
                if start_minute >= end_minute {
                    return invalid(format!(
                        "`{name}`: [\"{start}\", \"{end}\"] ends before it starts"
                    ));
                }
                if day.last().is_some_and(|last| last.end > start_minute) {
                    return invalid(format!(
                        "`{name}`: ranges must be sorted and must not overlap (at \"{start}\")"
                    ));
                }
                day.push(Range {
                    start: start_minute,
                    end: end_minute,
                });
            }
        }
        if weekly.iter().all(Vec::is_empty) {
            return invalid("the week has no open time".into());
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return invalid(format!("at most {MAX_HOLIDAYS} holidays"));
        }
        let mut holidays = HashSet::new();
        for holiday in &self.holidays {
            match holiday.parse::<Date>() {
                Ok(date) if holiday.len() == 10 => holidays.insert(date),
                _ => return invalid(format!("holiday `{holiday}` is not a YYYY-MM-DD date")),
            };
        }
        Ok(Calendar {
            zone,
            weekly,
            holidays,
        })
    }
}

fn to_jiff(at: DateTime<Utc>) -> Option<Timestamp> {
    Timestamp::from_second(at.timestamp()).ok()
}

fn to_chrono(at: Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.as_second(), 0)
}

impl Calendar {
    /// Open seconds in a week without holidays, counted in wall-clock time.
    pub fn weekly_open_seconds(&self) -> i64 {
        self.weekly
            .iter()
            .flatten()
            .map(|range| i64::from(range.end - range.start) * 60)
            .sum()
    }

    /// Refuses a target that these hours could not reach within [`MAX_WEEKS`] weeks.
    pub fn check_target(&self, field: &str, seconds: i64) -> Result<(), BusinessHoursError> {
        if seconds > self.weekly_open_seconds().saturating_mul(MAX_WEEKS) {
            return Err(BusinessHoursError(format!(
                "`{field}` needs more than {MAX_WEEKS} weeks of these business hours"
            )));
        }
        Ok(())
    }

    /// The instant of a wall-clock minute of `date` in the zone. A time the zone skips (the
    /// hour lost when clocks go forward) means the first instant after the gap; a time that
    /// occurs twice (clocks going back) means the earlier one.
    fn instant(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let civil = if minute >= 24 * 60 {
            date.tomorrow().ok()?.at(0, 0, 0, 0)
        } else {
            let time = Time::new(
                i8::try_from(minute / 60).ok()?,
                i8::try_from(minute % 60).ok()?,
                0,
                0,
            )
            .ok()?;
            date.to_datetime(time)
        };
        self.zone.to_timestamp(civil).ok()
    }

    /// The open seconds between `start` and `end` (0 when `end` is not after `start`): how long
    /// a wait lasted in business hours.
    pub fn business_seconds_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
        if end <= start {
            return 0;
        }
        let (Some(start_at), Some(end_at)) = (to_jiff(start), to_jiff(end)) else {
            return 0;
        };
        let mut date = self.zone.to_datetime(start_at).date();
        let last = self.zone.to_datetime(end_at).date();
        let mut open = 0;
        while date <= last {
            if !self.holidays.contains(&date) {
                let weekday = usize::from(date.weekday().to_monday_zero_offset().unsigned_abs());
                for range in &self.weekly[weekday] {
                    let (Some(from), Some(to)) = (
                        self.instant(date, range.start).and_then(to_chrono),
                        self.instant(date, range.end).and_then(to_chrono),
                    ) else {
                        continue;
                    };
                    let (from, to) = (from.max(start), to.min(end));
                    if to > from {
                        open += (to - from).num_seconds();
                    }
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        open
    }

    /// `start` plus `seconds` of open time: the clock runs only inside the day's ranges, not on
    /// holidays, in the zone's wall-clock time. `None` only if that lies beyond what the
    /// calendar can compute (years past [`MAX_WEEKS`], which validation refuses).
    pub fn add_business_time(&self, start: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        let start_at = to_jiff(start)?;
        let mut remaining = Duration::seconds(seconds.max(0));
        let mut date = self.zone.to_datetime(start_at).date();
        // Every week without holidays has open time (checked when the calendar was made).
        let max_days = (MAX_WEEKS + 2) * 7 + self.holidays.len() as i64;
        for _ in 0..max_days {
            if !self.holidays.contains(&date) {
                let weekday = usize::from(date.weekday().to_monday_zero_offset().unsigned_abs());
                for range in &self.weekly[weekday] {
                    let open = to_chrono(self.instant(date, range.start)?)?;
                    let close = to_chrono(self.instant(date, range.end)?)?;
                    let begin = open.max(start);
                    if close <= begin {
                        continue;
                    }
                    let available = close - begin;
                    if remaining <= available {
                        return Some(begin + remaining);
                    }
                    remaining -= available;
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: serde_json::Value) -> BusinessHours {
        serde_json::from_value(json).expect("valid business hours JSON")
    }

    fn office() -> BusinessHours {
        let day = serde_json::json!([["09:00", "12:00"], ["13:00", "17:30"]]);
        hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day },
            "holidays": ["2026-12-25", "2026-12-26"],
        }))
    }

    #[test]
    fn business_seconds_between_counts_only_open_time() {
        let calendar = nine_to_five().calendar().expect("valid");
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .expect("a time")
                .with_timezone(&Utc)
        };
        // Friday 16:00 Berlin (15:00 UTC) to Monday 10:00 Berlin: one hour on Friday, one on Monday.
        assert_eq!(
            calendar
                .business_seconds_between(at("2026-12-04T15:00:00Z"), at("2026-12-07T09:00:00Z")),
            2 * 3600
        );
        // Inside one open range, every second counts; the other way round, none.
        assert_eq!(
            calendar
                .business_seconds_between(at("2026-12-03T09:00:00Z"), at("2026-12-03T09:10:30Z")),
            630
        );
        assert_eq!(
            calendar
                .business_seconds_between(at("2026-12-03T10:00:00Z"), at("2026-12-03T09:00:00Z")),
            0
        );
    }

    fn nine_to_five() -> BusinessHours {
        let day = serde_json::json!([["09:00", "17:00"]]);
        hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day },
        }))
    }

    fn every_day() -> BusinessHours {
        let day = serde_json::json!([["00:00", "24:00"]]);
        hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
        }))
    }

    fn night_shift() -> BusinessHours {
        let day = serde_json::json!([["00:00", "06:00"], ["22:00", "24:00"]]);
        hours(serde_json::json!({
            "time_zone": "America/New_York",
            "weekly": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day },
        }))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 instant")
    }

    #[test]
    fn due_times() {
        // (case, calendar, start, target seconds, expected due), instants in UTC. Berlin is
        // UTC+1 in winter and UTC+2 from 2026-03-29 02:00 to 2026-10-25 03:00.
        let hour = 3600;
        let table: Vec<(&str, BusinessHours, &str, i64, &str)> = vec![
            (
                "inside hours",
                office(),
                "2026-11-24T08:00:00Z",
                hour,
                "2026-11-24T09:00:00Z",
            ),
            (
                "before opening",
                office(),
                "2026-11-24T06:00:00Z",
                hour,
                "2026-11-24T09:00:00Z",
            ),
            (
                "across the lunch break",
                office(),
                "2026-11-24T10:30:00Z",
                hour,
                "2026-11-24T12:30:00Z",
            ),
            (
                "started during lunch",
                office(),
                "2026-11-24T11:15:00Z",
                30 * 60,
                "2026-11-24T12:30:00Z",
            ),
            (
                "ends exactly at closing",
                office(),
                "2026-11-24T15:30:00Z",
                hour,
                "2026-11-24T16:30:00Z",
            ),
            (
                "overnight",
                office(),
                "2026-11-24T16:00:00Z",
                hour,
                "2026-11-25T08:30:00Z",
            ),
            (
                "after closing",
                office(),
                "2026-11-24T20:00:00Z",
                hour,
                "2026-11-25T09:00:00Z",
            ),
            (
                "Friday 16:50 to Monday",
                nine_to_five(),
                "2026-11-27T15:50:00Z",
                hour,
                "2026-11-30T08:50:00Z",
            ),
            (
                "weekend start",
                nine_to_five(),
                "2026-11-28T10:00:00Z",
                hour,
                "2026-11-30T09:00:00Z",
            ),
            (
                "holidays skipped",
                office(),
                "2026-12-24T16:00:00Z",
                hour,
                "2026-12-28T08:30:00Z",
            ),
            (
                "target of a whole day",
                nine_to_five(),
                "2026-11-24T08:00:00Z",
                8 * hour,
                "2026-11-24T16:00:00Z",
            ),
            (
                "DST begins over a weekend",
                nine_to_five(),
                "2026-03-27T15:00:00Z",
                2 * hour,
                "2026-03-30T08:00:00Z",
            ),
            (
                "DST ends over a weekend",
                nine_to_five(),
                "2026-10-23T14:00:00Z",
                2 * hour,
                "2026-10-26T09:00:00Z",
            ),
            (
                "23-hour day counts 23 hours",
                every_day(),
                "2026-03-28T11:00:00Z",
                24 * hour,
                "2026-03-29T11:00:00Z",
            ),
            (
                "25-hour day counts 25 hours",
                every_day(),
                "2026-10-24T10:00:00Z",
                24 * hour,
                "2026-10-25T10:00:00Z",
            ),
            (
                "longer than a week",
                nine_to_five(),
                "2026-11-23T08:00:00Z",
                50 * hour,
                "2026-12-01T10:00:00Z",
            ),
            (
                "night shift across midnight",
                night_shift(),
                "2026-11-24T04:30:00Z",
                hour,
                "2026-11-24T05:30:00Z",
            ),
            (
                "night shift from the afternoon",
                night_shift(),
                "2026-11-24T19:00:00Z",
                3 * hour,
                "2026-11-25T06:00:00Z",
            ),
            (
                "zero target",
                nine_to_five(),
                "2026-11-28T10:00:00Z",
                0,
                "2026-11-30T08:00:00Z",
            ),
        ];
        for (case, hours, start, seconds, expected) in table {
            let calendar = hours.calendar().expect(case);
            let due = calendar.add_business_time(utc(start), seconds);
            assert_eq!(due, Some(utc(expected)), "{case}");
        }
    }

    #[test]
    fn refused_hours() {
        let day = |ranges: serde_json::Value| {
            hours(serde_json::json!({ "time_zone": "Europe/Berlin", "weekly": { "mon": ranges } }))
        };
        let table: Vec<(&str, BusinessHours, &str)> = vec![
            (
                "no open time",
                hours(serde_json::json!({ "time_zone": "UTC", "weekly": {} })),
                "no open time",
            ),
            (
                "unknown zone",
                hours(
                    serde_json::json!({ "time_zone": "Mars/Olympus", "weekly": { "mon": [["09:00", "17:00"]] } }),
                ),
                "unknown time zone",
            ),
            (
                "backwards",
                day(serde_json::json!([["17:00", "09:00"]])),
                "ends before",
            ),
            (
                "empty range",
                day(serde_json::json!([["09:00", "09:00"]])),
                "ends before",
            ),
            (
                "overlapping",
                day(serde_json::json!([["09:00", "12:00"], ["11:00", "13:00"]])),
                "overlap",
            ),
            (
                "unsorted",
                day(serde_json::json!([["13:00", "14:00"], ["09:00", "12:00"]])),
                "sorted",
            ),
            (
                "bad time",
                day(serde_json::json!([["9:00", "12:00"]])),
                "HH:MM",
            ),
            (
                "hour 25",
                day(serde_json::json!([["09:00", "25:00"]])),
                "HH:MM",
            ),
            (
                "24:00 as a start",
                day(serde_json::json!([["24:00", "24:00"]])),
                "HH:MM",
            ),
            (
                "bad holiday",
                hours(
                    serde_json::json!({ "time_zone": "UTC", "weekly": { "mon": [["09:00", "17:00"]] }, "holidays": ["2026-02-30"] }),
                ),
                "holiday",
            ),
        ];
        for (case, hours, message) in table {
            let err = hours.calendar().expect_err(case);
            assert!(err.0.contains(message), "{case}: {err}");
        }
        let unknown_day: Result<BusinessHours, _> = serde_json::from_value(
            serde_json::json!({ "time_zone": "UTC", "weekly": { "monday": [] } }),
        );
        assert!(unknown_day.is_err());
    }

    #[test]
    fn targets_must_be_reachable() {
        let minute_a_week = hours(serde_json::json!({
            "time_zone": "UTC", "weekly": { "mon": [["09:00", "09:01"]] },
        }))
        .calendar()
        .expect("valid");
        assert!(
            minute_a_week
                .check_target("first_response_seconds", 3600)
                .is_ok()
        );
        assert!(
            minute_a_week
                .check_target("resolution_seconds", 366 * 24 * 3600)
                .is_err()
        );
        let due = minute_a_week.add_business_time(utc("2026-11-23T10:00:00Z"), 120);
        assert_eq!(due, Some(utc("2026-12-07T09:01:00Z")));
    }
}
