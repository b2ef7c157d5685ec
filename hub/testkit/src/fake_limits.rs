//! The rate limits of a fake platform: 429s on demand, and a sliding one-minute window of
//! requests beyond which each is refused with the seconds until one frees.

use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Limits {
    /// 429s to answer before serving again, with their `Retry-After` seconds.
    throttle_next: Vec<u64>,
    /// At most this many requests a minute; beyond, 429.
    per_minute: Option<usize>,
    served: Vec<Instant>,
}

impl Limits {
    pub(crate) fn throttle_next(&mut self, count: usize, retry_after_secs: u64) {
        self.throttle_next
            .extend(std::iter::repeat_n(retry_after_secs, count));
    }

    pub(crate) fn limit_per_minute(&mut self, per_minute: usize) {
        self.per_minute = Some(per_minute);
    }

    /// Whether a request arriving `now` is refused, with its `Retry-After` seconds; a request
    /// served counts against the window.
    pub(crate) fn refuse(&mut self, now: Instant) -> Option<u64> {
        if !self.throttle_next.is_empty() {
            return Some(self.throttle_next.remove(0));
        }
        let limit = self.per_minute?;
        self.served
            .retain(|at| now.duration_since(*at) < Duration::from_secs(60));
        if self.served.len() >= limit {
            let wait = Duration::from_secs(60).saturating_sub(now.duration_since(self.served[0]));
            return Some(wait.as_secs().max(1));
        }
        self.served.push(now);
        None
    }

    /// The window's limit and what is left of it, when there is one.
    pub(crate) fn remaining(&self) -> Option<(usize, usize)> {
        self.per_minute
            .map(|limit| (limit, limit.saturating_sub(self.served.len())))
    }
}
