//! Agents' presence heartbeats in Redis, so that a node that dies takes its agents offline.
//!
//! An agent is online when they said so (`POST /me/presence`, in the database) and are alive.
//! On one node "alive" is the database's rule: seen within `presence_stale_secs`. With Redis,
//! the node holding an agent's session (their inbox's event stream, `GET /api/v1/events`)
//! beats for them: every `presence_ttl_secs / 3` it sets their expiry, `presence_ttl_secs`
//! ahead, in one sorted set of the cluster, `switchboard:presence` (member: the user's id,
//! score: when the heartbeat runs out, in milliseconds of Redis' own clock, so that the nodes'
//! clocks do not matter). `POST /me/presence {"status": "online"}` is one beat too, for an
//! agent without a stream. Routing reads the members that have not run out, in one call per
//! pass ([`Heartbeats::alive`]): a node killed with `kill -9` stops beating, and within the TTL
//! its agents are offline and their unanswered conversations go back to the queue. The set
//! itself expires with its last beat. While Redis does not answer, routing falls back to the
//! database's rule rather than taking everyone offline.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

/// The sorted set of the cluster's heartbeats.
const PRESENCE_KEY: &str = "switchboard:presence";

/// Sets the expiry of the users in `ARGV[2..]` to `ARGV[1]` milliseconds from Redis' now, drops
/// the members that ran out and makes the set expire with its last member.
const BEAT: &str = "
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', ms))
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], string.format('%d', ms + ttl), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1
";

/// The users whose heartbeat has not run out by Redis' now.
const ALIVE: &str = "
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', ms), '+inf')
";

/// A call about heartbeats that takes longer counts as Redis not answering.
const REDIS_WITHIN: Duration = Duration::from_secs(1);

/// This node's heartbeats: none without Redis.
pub struct Heartbeats {
    redis: Option<RedisHeartbeats>,
}

struct RedisHeartbeats {
    connection: redis::aio::ConnectionManager,
    ttl: Duration,
    /// The agents whose sessions this node holds, with how many each (several tabs).
    held: Mutex<HashMap<String, usize>>,
}

/// An agent's session on this node: beaten for while it lives.
pub struct Held {
    heartbeats: Arc<Heartbeats>,
    user_id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(redis) = &self.heartbeats.redis else {
            return;
        };
        let mut held = redis.held.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(count) = held.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                // Not removed from Redis: another node may hold a session of the same agent,
                // and without one the heartbeat runs out within the TTL.
                held.remove(&self.user_id);
            }
        }
    }
}

impl Heartbeats {
    /// No Redis: the database's rule decides who is alive.
    pub fn none() -> Heartbeats {
        Heartbeats { redis: None }
    }

    /// Heartbeats in the Redis at `url` that last `ttl`.
    pub async fn connect(url: &str, ttl: Duration) -> Result<Heartbeats, redis::RedisError> {
        let connection = redis::Client::open(url)?.get_connection_manager().await?;
        Ok(Heartbeats {
            redis: Some(RedisHeartbeats {
                connection,
                ttl: ttl.max(Duration::from_secs(1)),
                held: Mutex::default(),
            }),
        })
    }

    /// Beats for `user_id` while the returned session lives, starting now; `None` without
    /// Redis.
    pub async fn hold(self: &Arc<Self>, user_id: &str) -> Option<Held> {
        let redis = self.redis.as_ref()?;
        {
            let mut held = redis.held.lock().unwrap_or_else(|err| err.into_inner());
            *held.entry(user_id.to_owned()).or_default() += 1;
        }
        self.beat_once(user_id).await;
        Some(Held {
            heartbeats: self.clone(),
            user_id: user_id.to_owned(),
        })
    }

    /// One beat for `user_id` (they said they are online); nothing without Redis.
    pub async fn beat_once(&self, user_id: &str) {
        let Some(redis) = &self.redis else {
            return;
        };
        if let Err(err) = redis.beat(&[user_id.to_owned()]).await {
            metrics::counter!("switchboard_presence_heartbeat_errors_total").increment(1);
            tracing::warn!(%err, "failed to write a presence heartbeat to Redis");
        }
    }

    /// The users with a live heartbeat in the cluster; `None` without Redis, or when Redis
    /// does not answer (routing then falls back to the database's rule).
    pub async fn alive(&self) -> Option<HashSet<String>> {
        let redis = self.redis.as_ref()?;
        let mut connection = redis.connection.clone();
        let mut read = redis::cmd("EVAL");
        read.arg(ALIVE).arg(1).arg(PRESENCE_KEY);
        let read = read.query_async::<Vec<String>>(&mut connection);
        match tokio::time::timeout(REDIS_WITHIN, read).await {
            Ok(Ok(alive)) => Some(alive.into_iter().collect()),
            Ok(Err(err)) => {
                metrics::counter!("switchboard_presence_heartbeat_errors_total").increment(1);
                tracing::warn!(%err, "cannot read presence heartbeats; using the database's");
                None
            }
            Err(_) => {
                metrics::counter!("switchboard_presence_heartbeat_errors_total").increment(1);
                tracing::warn!(
                    "Redis did not answer for presence heartbeats; using the database's"
                );
                None
            }
        }
    }
}

impl RedisHeartbeats {
    async fn beat(&self, user_ids: &[String]) -> Result<(), redis::RedisError> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        let mut beat = redis::cmd("EVAL");
        beat.arg(BEAT)
            .arg(1)
            .arg(PRESENCE_KEY)
            .arg(ttl_ms)
            .arg(user_ids);
        // A Redis that hangs must not hold up the inbox stream that beats on opening.
        match tokio::time::timeout(REDIS_WITHIN, beat.query_async::<i64>(&mut connection)).await {
            Ok(beaten) => beaten.map(drop),
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no answer in time",
            ))),
        }
    }
}

/// Beats for the sessions this node holds, three times per TTL, until `shutdown`. A node that
/// stops (or dies) stops beating; its agents' heartbeats run out within the TTL unless they
/// reconnect to another node.
pub async fn run(heartbeats: Arc<Heartbeats>, shutdown: CancellationToken) {
    let Some(redis) = &heartbeats.redis else {
        return;
    };
    let mut tick = tokio::time::interval(redis.ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let user_ids: Vec<String> = {
            let held = redis.held.lock().unwrap_or_else(|err| err.into_inner());
            held.keys().cloned().collect()
        };
        if user_ids.is_empty() {
            continue;
        }
        if let Err(err) = redis.beat(&user_ids).await {
            metrics::counter!("switchboard_presence_heartbeat_errors_total").increment(1);
            tracing::warn!(%err, agents = user_ids.len(), "failed to write presence heartbeats to Redis");
        }
    }
}
