//! One connector's rate-limit gate, shared by all its calls. Zendesk limits requests per account
//! and minute: after a 429 (or any answer with `Retry-After`) no call is sent before that delay
//! has passed, and when an answer says the budget is spent (`x-rate-limit-remaining: 0` or
//! `ratelimit-remaining: 0`) none is sent before `ratelimit-reset` seconds (1 s when absent).

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use http::HeaderMap;
use switchboard_model::DeliveryError;
use tokio::time::Instant;

/// The pause when Zendesk says to wait but not how long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// The longest the gate holds calls back, whatever a header says: a retried job asks again.
const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default)]
pub(crate) struct RateGate {
    not_before: Mutex<Option<Instant>>,
}

impl RateGate {
    /// When the next call may be sent; `None`: now.
    pub fn not_before(&self) -> Option<Instant> {
        *self
            .not_before
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the next call may be sent.
    pub async fn wait(&self) {
        if let Some(at) = self.not_before() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Reads an answer's rate-limit headers, received at `now`.
    pub fn note(&self, now: Instant, status: u16, headers: &HeaderMap) {
        let Some(pause) = pause(status, headers) else {
            return;
        };
        let until = now + pause.min(MAX_PAUSE);
        let mut not_before = self
            .not_before
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if not_before.is_none_or(|at| at < until) {
            *not_before = Some(until);
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// How long an answer asks us to hold off, if at all.
fn pause(status: u16, headers: &HeaderMap) -> Option<Duration> {
    // Seconds or an HTTP date, read the way every answer's is.
    let retry_after = switchboard_connector_kit::retry_after(headers, chrono::Utc::now());
    if status == 429 || retry_after.is_some() {
        return Some(retry_after.unwrap_or(DEFAULT_PAUSE));
    }
    let spent = ["x-rate-limit-remaining", "ratelimit-remaining"]
        .iter()
        .any(|name| header(headers, name).is_some_and(|left| left.trim() == "0"));
    spent.then(|| {
        DeliveryError::retry_after_seconds(header(headers, "ratelimit-reset"))
            .unwrap_or(DEFAULT_PAUSE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().expect("a value"));
        }
        headers
    }

    #[test]
    fn answers_set_the_pause_they_ask_for() {
        for (status, pairs, expected) in [
            (200, vec![], None),
            (200, vec![("x-rate-limit-remaining", "12")], None),
            (429, vec![("retry-after", "7")], Some(7)),
            (429, vec![], Some(1)),
            (503, vec![("retry-after", "30")], Some(30)),
            (500, vec![], None),
            (200, vec![("x-rate-limit-remaining", "0")], Some(1)),
            (
                200,
                vec![("ratelimit-remaining", "0"), ("ratelimit-reset", "20")],
                Some(20),
            ),
            (
                200,
                vec![("x-rate-limit-remaining", "0"), ("ratelimit-reset", "soon")],
                Some(1),
            ),
        ] {
            assert_eq!(
                pause(status, &headers(&pairs)),
                expected.map(Duration::from_secs),
                "{status} {pairs:?}"
            );
        }
    }

    #[test]
    fn the_gate_keeps_the_latest_deadline_and_caps_it() {
        let gate = RateGate::default();
        let now = Instant::now();
        assert_eq!(gate.not_before(), None);
        gate.note(now, 200, &headers(&[("x-rate-limit-remaining", "40")]));
        assert_eq!(gate.not_before(), None);
        gate.note(now, 429, &headers(&[("retry-after", "7")]));
        assert_eq!(gate.not_before(), Some(now + Duration::from_secs(7)));
        // A shorter pause noted later does not shorten the one already promised.
        gate.note(now, 200, &headers(&[("ratelimit-remaining", "0")]));
        assert_eq!(gate.not_before(), Some(now + Duration::from_secs(7)));
        gate.note(now, 429, &headers(&[("retry-after", "99999999999")]));
        assert_eq!(gate.not_before(), Some(now + MAX_PAUSE));
    }
}
