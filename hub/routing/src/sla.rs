//! SLA arithmetic: when a target comes due (around the clock or in business hours), whether a
//! target is met, pending or breached, and what "due soon" means. The store keeps the clocks;
//! the server's timer marks the breaches.

use chrono::{DateTime, Duration, Utc};
use switchboard_model::{BusinessHours, SlaTargetStatus};

/// `sla=due_soon` lists conversations with a target due within this.
pub const DUE_SOON_MINUTES: i64 = 30;

/// Targets due before this are "due soon" at `now`.
pub fn due_soon_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::minutes(DUE_SOON_MINUTES)
}

/// When a target of `seconds` started at `start` comes due under a policy's business `hours`
/// (`None`: around the clock; `Err`: the stored hours could not be read). Hours that no longer
/// make a calendar (they were valid when saved) count around the clock rather than leave a
/// conversation without a due time.
pub fn due_at(
    policy_id: &str,
    hours: Option<Result<BusinessHours, String>>,
    start: DateTime<Utc>,
    seconds: i64,
) -> DateTime<Utc> {
    let around_the_clock = start + Duration::seconds(seconds);
    let Some(hours) = hours else {
        return around_the_clock;
    };
    let calendar = hours.and_then(|hours| hours.calendar().map_err(|err| err.to_string()));
    match calendar {
        Ok(calendar) => calendar
            .add_business_time(start, seconds)
            .unwrap_or(around_the_clock),
        Err(err) => {
            tracing::warn!(%policy_id, %err, "SLA policy hours unusable; counting around the clock");
            around_the_clock
        }
    }
}

/// A target's status at `now`: `done` when it was met (the first response, the resolution),
/// `breached` when the timer marked it missed, `due` its due time.
pub fn target_status(
    done: Option<DateTime<Utc>>,
    breached: Option<DateTime<Utc>>,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> SlaTargetStatus {
    match (done, breached) {
        (_, Some(_)) => SlaTargetStatus::Breached,
        (Some(done), None) if done <= due => SlaTargetStatus::Met,
        (Some(_), None) => SlaTargetStatus::Breached,
        (None, None) if now > due => SlaTargetStatus::Breached,
        (None, None) => SlaTargetStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_met_pending_or_breached() {
        let due = DateTime::UNIX_EPOCH + Duration::hours(1);
        let before = due - Duration::minutes(1);
        let after = due + Duration::minutes(1);
        let cases = [
            (Some(before), None, after, SlaTargetStatus::Met),
            (Some(after), None, after, SlaTargetStatus::Breached),
            (None, Some(after), after, SlaTargetStatus::Breached),
            (Some(before), Some(after), after, SlaTargetStatus::Breached),
            (None, None, before, SlaTargetStatus::Pending),
            (None, None, due, SlaTargetStatus::Pending),
            (None, None, after, SlaTargetStatus::Breached),
        ];
        for (done, breached, now, expected) in cases {
            assert_eq!(
                target_status(done, breached, due, now),
                expected,
                "{done:?} {breached:?} {now}"
            );
        }
    }

    #[test]
    fn unusable_hours_count_around_the_clock() {
        let start = DateTime::UNIX_EPOCH;
        let around = start + Duration::seconds(90);
        assert_eq!(due_at("p", None, start, 90), around);
        assert_eq!(due_at("p", Some(Err("bad json".into())), start, 90), around);
    }
}
