//! Counts that limit how often callers may do something, kept where every node sees the same
//! ones: in Redis when the hub has one (`redis_url`), else in this node's memory. Two kinds:
//!
//! - a rate with a burst, by the generic cell rate algorithm (GCRA: one timestamp per key, the
//!   "theoretical arrival time"), for the organizations' API limits ([`ApiLimit`]);
//! - a log of recent failures within a window, for login throttling (`login.rs`).
//!
//! Redis does each in one atomic step (a small Lua script; a `MULTI` of sorted-set commands),
//! so nodes counting the same key at once never lose a count. When Redis fails (an error, or no
//! answer within [`REDIS_BUDGET`]), the call is counted in this node's memory instead, as a hub
//! without Redis counts: the hub fails open to per-node limits, never refuses a request
//! because Redis is away; each failure is counted in `switchboard_limits_redis_errors_total`
//! and logged (at most every 10 s). Times are the hub's `Clock`, passed in, in microseconds.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};

/// How long a request waits for Redis before it is counted in memory instead.
pub const REDIS_BUDGET: Duration = Duration::from_millis(250);
/// The prefix of every key the limits write to Redis.
pub const REDIS_PREFIX: &str = "switchboard:limits:";
/// Keys kept per kind in memory (rates, failure logs): a few MB at most.
const MAX_KEYS: usize = 50_000;

/// A rate with a burst: `per_minute` on average, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

impl Quota {
    /// Microseconds between two requests at the average rate.
    fn interval(self) -> i64 {
        60_000_000 / i64::from(self.per_minute.max(1))
    }

    /// How far ahead of now the arrival time may run: the burst beyond the first request.
    fn tolerance(self) -> i64 {
        self.interval() * i64::from(self.burst.max(1) - 1)
    }
}

/// Up to `wanted` requests at once by GCRA, given the key's arrival time (`None`: never seen or
/// expired): how many are admitted (at least 1) and the new arrival time, or how many
/// microseconds until one would be. One request is the plain algorithm; more is how a node
/// reserves a share of a rate at once ([`Shares`]).
fn gcra(arrival: Option<i64>, now: i64, quota: Quota, wanted: u32) -> Result<(u32, i64), i64> {
    let arrival = match arrival {
        // Further ahead than any admitted request leaves it: the clock went back (a manual
        // clock, an NTP step). Start afresh rather than refuse for as long as it jumped.
        Some(arrival) if arrival > now + quota.tolerance() + quota.interval() => now,
        arrival => arrival.unwrap_or(now).max(now),
    };
    let allowed_at = arrival - quota.tolerance();
    if now < allowed_at {
        return Err(allowed_at - now);
    }
    // Each admitted request moves the arrival time on by one interval; it may run up to the
    // tolerance (plus the one interval of the request itself) ahead of now.
    let room = 1 + (now - allowed_at) / quota.interval();
    let admitted = u32::try_from(room.min(i64::from(wanted.max(1)))).unwrap_or(1);
    Ok((admitted, arrival + i64::from(admitted) * quota.interval()))
}

/// [`gcra`] in Redis, atomically (the same steps, the clock's jump back included): `KEYS[1]`
/// the arrival time (expiring when it passes);
/// `ARGV`: now, interval and tolerance in microseconds, and how many requests are wanted.
/// Answers `{admitted, 0}`, or `{0, microseconds to wait}`. (`%d`: Lua would write a number
/// this large in exponent form.)
const GCRA_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local wanted = math.max(1, tonumber(ARGV[4]))
local arrival = tonumber(redis.call('GET', KEYS[1])) or now
if arrival < now or arrival > now + tolerance + interval then arrival = now end
local allowed_at = arrival - tolerance
if now < allowed_at then return {0, allowed_at - now} end
local admitted = math.min(wanted, 1 + math.floor((now - allowed_at) / interval))
local next_arrival = arrival + admitted * interval
redis.call('SET', KEYS[1], string.format('%d', next_arrival),
  'PX', math.ceil((next_arrival - now) / 1000))
return {admitted, 0}
";

/// Microseconds since the epoch.
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A key's SHA-256 in hex: what a limit keys personal data by (emails, addresses), so that
/// Redis and the node's memory hold none.
pub fn hashed(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// This node's counts: without Redis, and whenever Redis fails.
#[derive(Default)]
struct Memory {
    /// Each key's arrival time (GCRA).
    arrivals: Mutex<HashMap<String, i64>>,
    /// Each key's recent failures, oldest first, at most the limit kept.
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Memory {
    fn take(&self, key: &str, quota: Quota, wanted: u32, now: i64) -> Result<u32, i64> {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if arrivals.len() >= MAX_KEYS && !arrivals.contains_key(key) {
            // An arrival time in the past counts as none: those keys lose nothing by going.
            arrivals.retain(|_, arrival| *arrival > now);
            if arrivals.len() >= MAX_KEYS {
                let oldest = arrivals
                    .iter()
                    .min_by_key(|(_, arrival)| **arrival)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    arrivals.remove(&oldest);
                }
            }
        }
        let (admitted, arrival) = gcra(arrivals.get(key).copied(), now, quota, wanted)?;
        arrivals.insert(key.to_owned(), arrival);
        Ok(admitted)
    }

    fn failures(&self, key: &str, since: i64) -> Vec<i64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(key).map_or_else(Vec::new, |times| {
            times.iter().copied().filter(|at| *at > since).collect()
        })
    }

    fn record_failure(&self, key: &str, keep: usize, since: i64, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            failures.retain(|_, times| times.back().is_some_and(|at| *at > since));
            if failures.len() >= MAX_KEYS {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        let times = failures.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > keep {
            times.pop_front();
        }
    }

    fn forget(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The counts in Redis, shared by every node.
struct Shared {
    redis: ConnectionManager,
    prefix: String,
    /// When a failure was last logged, so that an outage logs a line every 10 s, not one per
    /// request.
    last_warned: Mutex<Option<Instant>>,
}

/// Where the limits count: this node's memory, or Redis (with memory as the fallback).
pub struct Counters {
    memory: Memory,
    shared: Option<Shared>,
}

impl Counters {
    /// Counts kept in this node's memory.
    pub fn in_memory() -> Counters {
        Counters {
            memory: Memory::default(),
            shared: None,
        }
    }

    /// Counts kept in Redis at `url`, under keys starting with `prefix` ([`REDIS_PREFIX`]).
    /// Connects on first use, so a Redis that is away at start only means counting in memory
    /// until it is back.
    pub fn in_redis(url: &str, prefix: &str) -> Result<Counters, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_BUDGET))
            .set_response_timeout(Some(REDIS_BUDGET))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Counters {
            memory: Memory::default(),
            shared: Some(Shared {
                redis,
                prefix: prefix.to_owned(),
                last_warned: Mutex::new(None),
            }),
        })
    }

    /// Whether the counts are shared with other nodes (Redis), rather than this node's own.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// One request against `key`'s rate: `None` when admitted, else how long until it would be.
    pub async fn take(&self, key: &str, quota: Quota, now: DateTime<Utc>) -> Option<Duration> {
        self.take_up_to(key, quota, 1, now).await.err()
    }

    /// Up to `wanted` requests against `key`'s rate at once: how many were admitted (at least
    /// one), else how long until one would be.
    pub async fn take_up_to(
        &self,
        key: &str,
        quota: Quota,
        wanted: u32,
        now: DateTime<Utc>,
    ) -> Result<u32, Duration> {
        let now = micros(now);
        let taken = match &self.shared {
            Some(shared) => {
                let mut redis = shared.redis.clone();
                let mut script = redis::cmd("EVAL");
                script
                    .arg(GCRA_SCRIPT)
                    .arg(1)
                    .arg(format!("{}rate:{key}", shared.prefix))
                    .arg(now)
                    .arg(quota.interval())
                    .arg(quota.tolerance())
                    .arg(wanted);
                match shared
                    .ask(script.query_async::<(i64, i64)>(&mut redis))
                    .await
                {
                    Some((admitted, _)) if admitted > 0 => Ok(u32::try_from(admitted).unwrap_or(1)),
                    Some((_, wait)) => Err(wait),
                    None => self.memory.take(key, quota, wanted, now),
                }
            }
            None => self.memory.take(key, quota, wanted, now),
        };
        taken.map_err(|wait| Duration::from_micros(u64::try_from(wait).unwrap_or(0)))
    }

    /// `key`'s failures within `window` before `now`, oldest first (at most the `keep` last
    /// recorded).
    pub async fn failures(
        &self,
        key: &str,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let since = micros(now - window);
        let times = match &self.shared {
            Some(shared) => {
                let mut redis = shared.redis.clone();
                let mut range = redis::cmd("ZRANGEBYSCORE");
                range
                    .arg(format!("{}failures:{key}", shared.prefix))
                    .arg(format!("({since}"))
                    .arg("+inf")
                    .arg("WITHSCORES");
                let asked = range.query_async::<Vec<(String, f64)>>(&mut redis);
                match shared.ask(asked).await {
                    Some(members) => members.into_iter().map(|(_, at)| at as i64).collect(),
                    None => self.memory.failures(key, since),
                }
            }
            None => self.memory.failures(key, since),
        };
        times
            .into_iter()
            .filter_map(DateTime::from_timestamp_micros)
            .collect()
    }

    /// Records a failure of `key` at `now`, keeping its last `keep` within `window`.
    pub async fn record_failure(
        &self,
        key: &str,
        keep: usize,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) {
        let since = micros(now - window);
        let now = micros(now);
        if let Some(shared) = &self.shared {
            let mut redis = shared.redis.clone();
            let key = format!("{}failures:{key}", shared.prefix);
            let keep = i64::try_from(keep).unwrap_or(i64::MAX);
            let mut steps = redis::pipe();
            steps
                .atomic()
                // A unique member: two failures in the same microsecond are two.
                .cmd("ZADD")
                .arg(&key)
                .arg(now)
                .arg(format!("{now}:{}", switchboard_model::new_id()))
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(since)
                .ignore()
                .cmd("ZREMRANGEBYRANK")
                .arg(&key)
                .arg(0)
                .arg(-keep - 1)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(window.num_milliseconds().max(1))
                .ignore();
            if shared
                .ask(steps.query_async::<()>(&mut redis))
                .await
                .is_some()
            {
                return;
            }
        }
        self.memory.record_failure(key, keep, since, now);
    }

    /// Forgets `key`'s failures.
    pub async fn forget(&self, key: &str) {
        if let Some(shared) = &self.shared {
            let mut redis = shared.redis.clone();
            let mut delete = redis::cmd("DEL");
            delete.arg(format!("{}failures:{key}", shared.prefix));
            shared.ask(delete.query_async::<i64>(&mut redis)).await;
        }
        // Also what was counted here while Redis was away.
        self.memory.forget(key);
    }
}

impl Shared {
    /// Redis's answer, or `None` (counted and logged) when it fails or takes too long.
    async fn ask<T>(&self, asked: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        let failure = match tokio::time::timeout(REDIS_BUDGET, asked).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {} ms", REDIS_BUDGET.as_millis()),
        };
        metrics::counter!("switchboard_limits_redis_errors_total").increment(1);
        let mut last_warned = self.last_warned.lock().unwrap_or_else(|e| e.into_inner());
        if last_warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            *last_warned = Some(Instant::now());
            tracing::warn!(error = %failure, "Redis failed: limits are counted on this node until it is back");
        }
        None
    }
}

/// How long a node's reserved share of a rate may wait to be spent: tokens older than this
/// are dropped, so that a share reserved in a quiet moment is not spent much later on top of
/// what the other nodes admitted since.
const SHARE_LIFETIME_MICROS: i64 = 1_000_000;

/// A share is a quarter second of the rate, at most an eighth of the burst: a busy key goes to
/// Redis about four times a second per node instead of once per request, and the nodes
/// together hold back at most a little of the burst. Rates under 240 a minute have shares of
/// one: each request is counted in Redis, exactly.
fn share_size(quota: Quota) -> u32 {
    (quota.per_minute / 240).clamp(1, (quota.burst / 8).max(1))
}

/// Tokens of one key this node has reserved and not spent yet.
struct Share {
    tokens: u32,
    until: i64,
}

/// Rates counted across nodes without a round trip to Redis for every request: a node reserves
/// a share of a key's rate at once ([`Counters::take_up_to`]) and spends it locally. The nodes
/// together never admit more than the rate allows (each token was counted in Redis before it
/// is spent); a node may refuse a little early while another holds an unspent share (at most a
/// share per node, for at most [`SHARE_LIFETIME_MICROS`]). Without Redis, or for a rate with
/// shares of one, each request goes straight to the counters.
pub struct Shares {
    counters: Arc<Counters>,
    held: Mutex<HashMap<String, Share>>,
}

impl Shares {
    pub fn new(counters: Arc<Counters>) -> Shares {
        Shares {
            counters,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// One request against `key`'s rate: `None` when admitted, else how long until it would be.
    pub async fn take(&self, key: &str, quota: Quota, now: DateTime<Utc>) -> Option<Duration> {
        let size = share_size(quota);
        if size == 1 || !self.counters.is_shared() {
            return self.counters.take(key, quota, now).await;
        }
        let at = micros(now);
        if self.spend_held(key, at) {
            return None;
        }
        let admitted = match self.counters.take_up_to(key, quota, size, now).await {
            Ok(admitted) => admitted,
            Err(wait) => return Some(wait),
        };
        if admitted > 1 {
            self.hold(key, admitted - 1, at);
        }
        None
    }

    /// Spends one of the tokens held for `key`, if there is one still fresh.
    fn spend_held(&self, key: &str, now: i64) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get_mut(key) {
            Some(share) if share.until > now && share.tokens > 0 => {
                share.tokens -= 1;
                true
            }
            _ => false,
        }
    }

    /// Keeps `tokens` reserved for `key` (added to what another request of this node reserved
    /// at the same moment).
    fn hold(&self, key: &str, tokens: u32, now: i64) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() >= MAX_KEYS && !held.contains_key(key) {
            held.retain(|_, share| share.until > now);
            if held.len() >= MAX_KEYS {
                // Dropped: the tokens are lost to the rate, never admitted twice.
                return;
            }
        }
        let share = held.entry(key.to_owned()).or_insert(Share {
            tokens: 0,
            until: now,
        });
        if share.until <= now {
            share.tokens = 0;
        }
        share.tokens += tokens;
        share.until = now + SHARE_LIFETIME_MICROS;
    }
}

/// Requests to the REST API per organization (sessions and API keys together), at most
/// `api_requests_per_minute` on average and `api_burst` at once (`Settings`).
pub struct ApiLimit {
    counters: Arc<Counters>,
    /// `None`: no limit.
    quota: Option<Quota>,
}

impl ApiLimit {
    /// A limit of `quota` (none when `per_minute` is 0), counted in `counters`.
    pub fn new(counters: Arc<Counters>, quota: Quota) -> ApiLimit {
        ApiLimit {
            counters,
            quota: (quota.per_minute > 0).then_some(quota),
        }
    }

    /// One request of the organization at `now`: `None` when admitted, else the seconds to
    /// wait (at least 1), for `Retry-After`.
    pub async fn check(&self, org_id: &str, now: DateTime<Utc>) -> Option<u64> {
        let quota = self.quota?;
        let wait = self
            .counters
            .take(&format!("api:{org_id}"), quota, now)
            .await?;
        metrics::counter!("switchboard_api_requests_limited_total").increment(1);
        Some(retry_after_secs(wait))
    }
}

/// A wait as the whole seconds of `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn at(seconds: f64) -> DateTime<Utc> {
        let start: DateTime<Utc> = "2030-01-01T09:00:00Z".parse().expect("a time");
        start + chrono::Duration::microseconds((seconds * 1e6) as i64)
    }

    const QUOTA: Quota = Quota {
        per_minute: 60,
        burst: 3,
    };

    /// What a sequence of requests (seconds from the start) is answered, each `None` (admitted)
    /// or the whole milliseconds to wait.
    async fn answers(counters: &Counters, key: &str, times: &[f64]) -> Vec<Option<u128>> {
        let mut answers = Vec::new();
        for time in times {
            let wait = counters.take(key, QUOTA, at(*time)).await;
            answers.push(wait.map(|wait| wait.as_millis()));
        }
        answers
    }

    /// The burst at once, then one a second; a refusal takes nothing.
    const REQUESTS: [f64; 7] = [0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0];
    const EXPECTED: [Option<u128>; 7] = [None, None, None, Some(1000), Some(500), None, Some(1000)];

    #[tokio::test]
    async fn a_rate_admits_its_burst_then_its_pace() {
        let counters = Counters::in_memory();
        assert_eq!(answers(&counters, "a", &REQUESTS).await, EXPECTED);
        // Another key has its own.
        assert_eq!(counters.take("b", QUOTA, at(1.0)).await, None);
        // A minute later the whole burst is back.
        assert_eq!(
            answers(&counters, "a", &[61.0, 61.0, 61.0, 61.0]).await,
            [None, None, None, Some(1000)]
        );
    }

    /// Up to a number of requests at once: as many as the rate has room for, then a wait.
    async fn a_share_takes_what_there_is_room_for(counters: &Counters) {
        let mut taken = Vec::new();
        for (time, wanted) in [(0.0, 2), (0.0, 2), (0.0, 2), (1.0, 5), (3.5, 5)] {
            let answer = counters.take_up_to("share", QUOTA, wanted, at(time)).await;
            taken.push(answer.map_err(|wait| wait.as_millis()));
        }
        assert_eq!(taken, [Ok(2), Ok(1), Err(1000), Ok(1), Ok(2)]);
    }

    #[tokio::test]
    async fn a_share_takes_what_there_is_room_for_in_memory() {
        a_share_takes_what_there_is_room_for(&Counters::in_memory()).await;
    }

    #[test]
    fn shares_are_a_quarter_second_of_the_rate_within_an_eighth_of_the_burst() {
        let size = |per_minute, burst| share_size(Quota { per_minute, burst });
        assert_eq!(size(60, 60), 1);
        assert_eq!(size(300, 300), 1);
        assert_eq!(size(600_000, 600_000), 2_500);
        assert_eq!(size(600_000, 800), 100);
        assert_eq!(size(12_000, 1), 1);
    }

    /// A clock that goes back does not hold a key up for as long as it jumped.
    async fn a_clock_going_back_starts_afresh(counters: &Counters) {
        for _ in 0..4 {
            counters.take("jump", QUOTA, at(3600.0)).await;
        }
        assert_eq!(
            answers(counters, "jump", &[0.0, 0.0, 0.0, 0.0]).await,
            [None, None, None, Some(1000)]
        );
    }

    #[tokio::test]
    async fn a_clock_going_back_starts_afresh_in_memory() {
        a_clock_going_back_starts_afresh(&Counters::in_memory()).await;
    }

    #[tokio::test]
    async fn an_api_limit_of_zero_is_none() {
        let counters = Arc::new(Counters::in_memory());
        let off = ApiLimit::new(
            counters.clone(),
            Quota {
                per_minute: 0,
                burst: 1,
            },
        );
        for _ in 0..100 {
            assert_eq!(off.check("org", at(0.0)).await, None);
        }
        let on = ApiLimit::new(counters, QUOTA);
        for _ in 0..3 {
            assert_eq!(on.check("org", at(0.0)).await, None);
        }
        assert_eq!(on.check("org", at(0.0)).await, Some(1));
        assert_eq!(on.check("other", at(0.0)).await, None);
    }

    #[tokio::test]
    async fn failures_are_kept_within_their_window_and_forgotten() {
        let counters = Counters::in_memory();
        let window = chrono::Duration::minutes(15);
        for minute in 0..4 {
            counters
                .record_failure("k", 3, window, at(60.0 * minute as f64))
                .await;
        }
        assert_eq!(
            counters.failures("k", window, at(300.0)).await,
            [at(60.0), at(120.0), at(180.0)],
            "the last three"
        );
        assert_eq!(
            counters.failures("k", window, at(60.0 * 17.0)).await,
            [at(180.0)]
        );
        counters.forget("k").await;
        assert!(counters.failures("k", window, at(300.0)).await.is_empty());
    }

    /// Two nodes' counters on one Redis, under a prefix of this test's own.
    pub(crate) fn two_nodes(url: &str) -> (Counters, Counters) {
        let prefix = format!("switchboard-test:{}:", switchboard_model::new_id());
        (
            Counters::in_redis(url, &prefix).expect("node a"),
            Counters::in_redis(url, &prefix).expect("node b"),
        )
    }

    /// Redis answers as memory does (the Lua script is the same algorithm), and two nodes
    /// count one rate together.
    #[tokio::test]
    async fn nodes_share_a_rate_through_redis() {
        let Some(url) = crate::bus::tests::redis_url() else {
            return;
        };
        let (a, b) = two_nodes(&url);
        assert_eq!(answers(&a, "alone", &REQUESTS).await, EXPECTED);
        let mut shared = Vec::new();
        for (n, time) in REQUESTS.iter().enumerate() {
            let node = if n % 2 == 0 { &a } else { &b };
            shared.push(answers(node, "shared", &[*time]).await[0]);
        }
        assert_eq!(shared, EXPECTED, "the same answers, alternating nodes");
        a_clock_going_back_starts_afresh(&b).await;
        a_share_takes_what_there_is_room_for(&a).await;
    }

    /// Two nodes reserving shares of one busy rate in Redis admit no more together than the
    /// rate allows, and none of it is lost.
    #[tokio::test]
    async fn nodes_spend_shares_of_a_rate_without_exceeding_it() {
        let Some(url) = crate::bus::tests::redis_url() else {
            return;
        };
        let (a, b) = two_nodes(&url);
        let (a, b) = (Shares::new(Arc::new(a)), Shares::new(Arc::new(b)));
        // Shares of 10 (a quarter second of 2,400 a minute) within a burst of 100.
        let quota = Quota {
            per_minute: 2_400,
            burst: 100,
        };
        let mut admitted = [0, 0];
        for n in 0..300 {
            let (node, count) = if n % 3 == 0 {
                (&a, &mut admitted[0])
            } else {
                (&b, &mut admitted[1])
            };
            if node.take("busy", quota, at(0.0)).await.is_none() {
                *count += 1;
            }
        }
        assert_eq!(admitted[0] + admitted[1], 100, "{admitted:?}");
        assert!(admitted[0] >= 10 && admitted[1] >= 10, "{admitted:?}");
        // A held share is spent a token at a time, and not once it is stale.
        a.hold("held", 2, micros(at(0.0)));
        assert!(a.spend_held("held", micros(at(0.5))));
        assert!(a.spend_held("held", micros(at(0.5))));
        assert!(!a.spend_held("held", micros(at(0.5))), "spent");
        a.hold("stale", 5, micros(at(0.0)));
        assert!(!a.spend_held("stale", micros(at(2.0))), "too old");
    }

    #[tokio::test]
    async fn nodes_share_failures_through_redis() {
        let Some(url) = crate::bus::tests::redis_url() else {
            return;
        };
        let (a, b) = two_nodes(&url);
        let window = chrono::Duration::minutes(15);
        a.record_failure("k", 3, window, at(0.0)).await;
        b.record_failure("k", 3, window, at(60.0)).await;
        a.record_failure("k", 3, window, at(120.0)).await;
        b.record_failure("k", 3, window, at(180.0)).await;
        let seen_by_b = b.failures("k", window, at(300.0)).await;
        assert_eq!(seen_by_b, [at(60.0), at(120.0), at(180.0)]);
        assert_eq!(a.failures("k", window, at(300.0)).await, seen_by_b);
        assert_eq!(
            a.failures("k", window, at(60.0 * 17.0)).await,
            [at(180.0)],
            "older ones leave the window"
        );
        b.forget("k").await;
        assert!(a.failures("k", window, at(300.0)).await.is_empty());
    }

    /// Redis that does not answer: each call is admitted by the node's own count, within
    /// the budget, and the node's count still holds the limit.
    #[tokio::test]
    async fn without_redis_the_node_counts_alone() {
        // A port that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let silent = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let counters =
            Counters::in_redis(&format!("redis://{silent}"), REDIS_PREFIX).expect("a client");
        let started = Instant::now();
        assert_eq!(answers(&counters, "a", &REQUESTS).await, EXPECTED);
        assert!(
            started.elapsed() < REDIS_BUDGET * 2 * REQUESTS.len() as u32,
            "each call waits at most the budget"
        );
        let window = chrono::Duration::minutes(15);
        counters.record_failure("k", 3, window, at(0.0)).await;
        assert_eq!(counters.failures("k", window, at(1.0)).await, [at(0.0)]);
        // And one that refuses connections.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.local_addr().expect("an address")
        };
        let counters =
            Counters::in_redis(&format!("redis://{closed}"), REDIS_PREFIX).expect("a client");
        assert_eq!(answers(&counters, "a", &REQUESTS).await, EXPECTED);
    }
}
