//! The defences of signing in: failed logins throttled by account and by client address
//! before any password is hashed, and passwords too short or too common refused.
//!
//! The failures are counted in the hub's `Counters` (`limits.rs`): in Redis when the hub has
//! one, so that every node of a cluster sees the same counts; else in this node's memory
//! (`docs/security.md`). Accounts and addresses are keyed by their SHA-256.

use std::{net::IpAddr, sync::Arc};

use chrono::{DateTime, Duration, Utc};

use crate::limits::{Counters, hashed};

/// Failed logins for one email within [`WINDOW_MINUTES`] before it is refused.
pub const FAILURES_PER_ACCOUNT: usize = 5;
/// Failed logins from one client address within [`WINDOW_MINUTES`] before it is refused.
pub const FAILURES_PER_ADDRESS: usize = 20;
pub const WINDOW_MINUTES: i64 = 15;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Passwords that lists of breached passwords start with, compared without case: long enough
/// to pass the length rule, and the first ones an attacker tries.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "0987654321",
    "1111111111",
    "0000000000",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "admin12345",
    "administrator",
    "abc1234567",
    "abcdefghij",
    "changeme123",
    "football123",
    "baseball123",
    "sunshine123",
    "monkey1234",
    "dragon1234",
    "superman123",
    "trustno1234",
    "princess123",
    "starwars123",
    "zaq12wsxcde",
    "asdfghjkl1",
    "switchboard",
    "switchboard1",
];

/// Why a password is refused, or `Ok` when it may be used.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let lowered = password.trim().to_lowercase();
    if COMMON_PASSWORDS.contains(&lowered.as_str())
        || lowered
            .chars()
            .next()
            .is_some_and(|first| lowered.chars().all(|c| c == first))
    {
        return Err("this password is among the first ones attackers try: choose another".into());
    }
    Ok(())
}

/// Failed logins by account and by address, within the window.
pub struct LoginThrottle {
    counters: Arc<Counters>,
}

fn window() -> Duration {
    Duration::minutes(WINDOW_MINUTES)
}

/// How long `failures` (within the window, oldest first) still refuse logins at `now`, if
/// they reach `limit`.
fn refusal(failures: &[DateTime<Utc>], limit: usize, now: DateTime<Utc>) -> Option<u64> {
    if failures.len() < limit {
        return None;
    }
    // The oldest of the last `limit` failures leaves the window first.
    let frees_at = failures[failures.len() - limit] + window();
    let seconds = (frees_at - now).num_seconds().max(1);
    Some(u64::try_from(seconds).unwrap_or(1))
}

impl LoginThrottle {
    pub fn new(counters: Arc<Counters>) -> LoginThrottle {
        LoginThrottle { counters }
    }

    /// How many seconds a login for `email` from `address` must wait, if it must.
    pub async fn refused_for(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let by_account = refusal(
            &self.counters.failures(&account(email), window(), now).await,
            FAILURES_PER_ACCOUNT,
            now,
        );
        let by_address = match address {
            Some(address) => refusal(
                &self
                    .counters
                    .failures(&by_address(address), window(), now)
                    .await,
                FAILURES_PER_ADDRESS,
                now,
            ),
            None => None,
        };
        by_account.max(by_address)
    }

    /// A wrong email or password.
    pub async fn failed(&self, email: &str, address: Option<IpAddr>, now: DateTime<Utc>) {
        self.counters
            .record_failure(&account(email), FAILURES_PER_ACCOUNT, window(), now)
            .await;
        if let Some(address) = address {
            self.counters
                .record_failure(&by_address(address), FAILURES_PER_ADDRESS, window(), now)
                .await;
        }
    }

    /// The right password: the account's failures are forgotten (the address's are not: one
    /// good account does not license guessing at others).
    pub async fn succeeded(&self, email: &str) {
        self.counters.forget(&account(email)).await;
    }
}

/// The key of an account's failures. Emails are compared as the store does: trimmed, without
/// case.
fn account(email: &str) -> String {
    format!("login:account:{}", hashed(&email.trim().to_lowercase()))
}

/// The key of an address's failures.
fn by_address(address: IpAddr) -> String {
    format!("login:address:{}", hashed(&address.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_memory() -> LoginThrottle {
        LoginThrottle::new(Arc::new(Counters::in_memory()))
    }

    async fn the_fifth_failure_refuses(throttles: [&LoginThrottle; 2], email: &str) {
        let start: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
        let upper = email.to_uppercase();
        for minute in 0..5 {
            let throttle = throttles[minute % 2];
            assert_eq!(throttle.refused_for(email, None, start).await, None);
            throttle
                .failed(
                    &format!("{upper} "),
                    None,
                    start + Duration::minutes(minute as i64),
                )
                .await;
        }
        let now = start + Duration::minutes(5);
        for throttle in throttles {
            assert_eq!(throttle.refused_for(email, None, now).await, Some(600));
            assert_eq!(
                throttle
                    .refused_for(&format!("other.{email}"), None, now)
                    .await,
                None
            );
            assert_eq!(
                throttle
                    .refused_for(email, None, start + Duration::minutes(15))
                    .await,
                None
            );
        }
        throttles[1].succeeded(email).await;
        assert_eq!(throttles[0].refused_for(email, None, now).await, None);
    }

    #[tokio::test]
    async fn the_fifth_failure_refuses_until_the_first_leaves_the_window() {
        let throttle = in_memory();
        the_fifth_failure_refuses([&throttle, &throttle], "a@b.test").await;
    }

    /// Two nodes on one Redis: failures on either count for both, and a success on one
    /// forgets them on both.
    #[tokio::test]
    async fn nodes_share_the_failures_through_redis() {
        let Some(url) = crate::bus::tests::redis_url() else {
            return;
        };
        let (a, b) = crate::limits::tests::two_nodes(&url);
        let (a, b) = (
            LoginThrottle::new(Arc::new(a)),
            LoginThrottle::new(Arc::new(b)),
        );
        the_fifth_failure_refuses([&a, &b], "a@b.test").await;
    }

    #[tokio::test]
    async fn one_address_is_limited_across_accounts() {
        let throttle = in_memory();
        let now: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
        let address: IpAddr = "192.0.2.7".parse().expect("an address");
        for n in 0..FAILURES_PER_ADDRESS {
            throttle
                .failed(&format!("user{n}@b.test"), Some(address), now)
                .await;
        }
        assert!(
            throttle
                .refused_for("new@b.test", Some(address), now)
                .await
                .is_some()
        );
        assert_eq!(throttle.refused_for("new@b.test", None, now).await, None);
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "12345678",
            "short",
            "password123",
            "PASSWORD123",
            "aaaaaaaaaaaa",
        ] {
            assert!(check_password(weak).is_err(), "{weak}");
        }
        assert!(check_password("correct horse battery").is_ok());
    }
}
