//! One connector's view of Freshdesk's rate limit, shared by all its calls. A 429 closes the
//! gate for its `Retry-After` (1 s when it gives none); an answer with
//! `X-Ratelimit-Remaining: 0` closes it for 1 s (or its `Retry-After`). A call waits for the
//! gate to open when that is at most [`MAX_WAIT`] away; further off, it fails at once as
//! retriable with the time left, so that an outbox worker or a webhook request is not held for
//! a minute: the caller retries after that time instead.

use std::{sync::Mutex, time::Duration};

use switchboard_model::DeliveryError;
use tokio::time::Instant;

/// The longest a call waits in line for the gate.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// The pause when Freshdesk says the limit is spent but not for how long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Gate {
    closed_until: Mutex<Option<Instant>>,
}

impl Gate {
    /// Returns when a call may be made, or the retriable error when that is too far off.
    pub async fn wait(&self) -> Result<(), DeliveryError> {
        let Some(until) = *self.lock() else {
            return Ok(());
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        if left > MAX_WAIT {
            return Err(DeliveryError::Retriable {
                reason: format!(
                    "Freshdesk's rate limit is spent for another {} s",
                    left.as_secs_f64().ceil()
                ),
                retry_after: Some(left),
            });
        }
        tokio::time::sleep_until(until).await;
        Ok(())
    }

    /// Takes in what an answer said about the rate limit.
    pub fn observe(&self, status: u16, retry_after: Option<Duration>, remaining: Option<u64>) {
        let pause = if status == 429 || remaining == Some(0) {
            retry_after.unwrap_or(DEFAULT_PAUSE)
        } else {
            return;
        };
        let until = Instant::now() + pause;
        let mut closed_until = self.lock();
        if closed_until.is_none_or(|current| current < until) {
            *closed_until = Some(until);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The guarded value is a plain instant: a panic elsewhere cannot leave it half-written.
        self.closed_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_out_short_pauses_and_refuses_long_ones() {
        let gate = Gate::default();
        let start = Instant::now();
        gate.wait().await.expect("open at first");
        gate.observe(200, None, Some(10));
        gate.observe(500, None, None);
        gate.wait().await.expect("still open");
        assert!(start.elapsed() < Duration::from_millis(500));

        gate.observe(200, None, Some(0));
        gate.wait().await.expect("opens after a second");
        assert!(start.elapsed() >= DEFAULT_PAUSE);

        gate.observe(429, Some(Duration::from_secs(30)), None);
        // A shorter pause never shortens a longer one.
        gate.observe(200, None, Some(0));
        let before = Instant::now();
        match gate.wait().await {
            Err(DeliveryError::Retriable {
                retry_after,
                reason,
            }) => {
                let left = retry_after.expect("the time left");
                assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
                assert!(reason.contains("30 s"), "{reason}");
            }
            other => panic!("expected a retriable refusal, got {other:?}"),
        }
        assert!(
            before.elapsed() < Duration::from_millis(500),
            "refused at once"
        );
    }
}
