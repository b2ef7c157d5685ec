//! The defences of signing in: failed logins throttled by account and by client address
//! before any password is hashed, and passwords too short or too common refused.
//!
//! The throttle is in memory, per node: a cluster of N nodes allows up to N times the limits
//! (`docs/security.md`). Its maps are bounded; when one is full, the entries whose failures
//! are all older than the window go first, then the ones whose last failure is oldest.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, SocketAddr},
    sync::Mutex,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use chrono::{DateTime, Duration, Utc};

/// Failed logins for one email within [`WINDOW_MINUTES`] before it is refused.
pub const FAILURES_PER_ACCOUNT: usize = 5;
/// Failed logins from one client address within [`WINDOW_MINUTES`] before it is refused.
pub const FAILURES_PER_ADDRESS: usize = 20;
pub const WINDOW_MINUTES: i64 = 15;
/// Keys kept per map (accounts, addresses): about 10 MB at most.
const MAX_KEYS: usize = 50_000;

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

/// The address the connection came from, when the server was started with it (it is, by
/// `Application`); `None` otherwise.
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// Recent failures of one key, oldest first, at most the limit.
type Failures = VecDeque<DateTime<Utc>>;

/// Failed logins by account and by address, within the window.
#[derive(Default)]
pub struct LoginThrottle {
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

fn window() -> Duration {
    Duration::minutes(WINDOW_MINUTES)
}

/// How long `failures` still refuse logins at `now`, if they reach `limit` within the window.
fn refusal(failures: Option<&Failures>, limit: usize, now: DateTime<Utc>) -> Option<u64> {
    let failures = failures?;
    let recent: Vec<&DateTime<Utc>> = failures.iter().filter(|at| now - **at < window()).collect();
    if recent.len() < limit {
        return None;
    }
    // The oldest of the last `limit` failures leaves the window first.
    let frees_at = *recent[recent.len() - limit] + window();
    let seconds = (frees_at - now).num_seconds().max(1);
    Some(u64::try_from(seconds).unwrap_or(1))
}

fn record<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, Failures>>,
    key: &K,
    limit: usize,
    now: DateTime<Utc>,
) {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        map.retain(|_, failures| failures.back().is_some_and(|at| now - *at < window()));
        if map.len() >= MAX_KEYS {
            let oldest = map
                .iter()
                .min_by_key(|(_, failures)| failures.back().copied())
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
    }
    let failures = map.entry(key.clone()).or_default();
    failures.push_back(now);
    while failures.len() > limit {
        failures.pop_front();
    }
}

impl LoginThrottle {
    /// How many seconds a login for `email` from `address` must wait, if it must.
    pub fn refused_for(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let by_account = {
            let accounts = self
                .accounts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            refusal(accounts.get(&account(email)), FAILURES_PER_ACCOUNT, now)
        };
        let by_address = address.and_then(|address| {
            let addresses = self
                .addresses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            refusal(addresses.get(&address), FAILURES_PER_ADDRESS, now)
        });
        by_account.max(by_address)
    }

    /// A wrong email or password.
    pub fn failed(&self, email: &str, address: Option<IpAddr>, now: DateTime<Utc>) {
        record(&self.accounts, &account(email), FAILURES_PER_ACCOUNT, now);
        if let Some(address) = address {
            record(&self.addresses, &address, FAILURES_PER_ADDRESS, now);
        }
    }

    /// The right password: the account's failures are forgotten (the address's are not: one
    /// good account does not license guessing at others).
    pub fn succeeded(&self, email: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&account(email));
    }
}

/// Emails are compared as the store does: trimmed, without case.
fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_refuses_until_the_first_leaves_the_window() {
        let throttle = LoginThrottle::default();
        let start: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
        for minute in 0..5 {
            assert_eq!(throttle.refused_for("a@b.test", None, start), None);
            throttle.failed("A@b.test ", None, start + Duration::minutes(minute));
        }
        let now = start + Duration::minutes(5);
        assert_eq!(throttle.refused_for("a@b.test", None, now), Some(600));
        assert_eq!(throttle.refused_for("other@b.test", None, now), None);
        assert_eq!(
            throttle.refused_for("a@b.test", None, start + Duration::minutes(15)),
            None
        );
        throttle.succeeded("a@b.test");
        assert_eq!(throttle.refused_for("a@b.test", None, now), None);
    }

    #[test]
    fn one_address_is_limited_across_accounts() {
        let throttle = LoginThrottle::default();
        let now: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
        let address: IpAddr = "192.0.2.7".parse().expect("an address");
        for n in 0..FAILURES_PER_ADDRESS {
            throttle.failed(&format!("user{n}@b.test"), Some(address), now);
        }
        assert!(
            throttle
                .refused_for("new@b.test", Some(address), now)
                .is_some()
        );
        assert_eq!(throttle.refused_for("new@b.test", None, now), None);
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
