//! The hub's "now" for routing and SLAs: the system clock in production, a clock the tests set
//! and advance, so that "due Monday 09:50" can be checked without waiting for Monday.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from. Cloning shares the clock: setting a manual clock moves every copy.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock.
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `at` until it is set or advanced.
    pub fn manual(at: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            // A poisoned lock still holds a valid instant.
            Some(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Moves a manual clock to `at`. Returns false (and does nothing) on the system clock.
    pub fn set(&self, at: DateTime<Utc>) -> bool {
        match &self.manual {
            None => false,
            Some(now) => {
                *now.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
                true
            }
        }
    }

    /// Moves a manual clock forward by `by`. Returns false on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        self.set(self.now() + by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_every_copy_sees_it() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).expect("in range");
        let clock = Clock::manual(start);
        let copy = clock.clone();
        assert_eq!(copy.now(), start);
        assert!(clock.advance(Duration::hours(1)));
        assert_eq!(copy.now(), start + Duration::hours(1));
        assert!(!Clock::system().set(start));
        assert!(Clock::system().now() > start - Duration::days(36_500));
    }
}
