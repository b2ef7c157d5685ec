//! The assignment choice: which online agent with room takes a waiting conversation, by the
//! organization's strategy (least loaded, or round robin), and in which order the queue is
//! served. The store reads the online agents, their load and capacities and team members inside
//! its assignment transaction, and writes what [`AgentPool::choose`] picked.

use std::{
    cmp::Reverse,
    collections::{HashMap, HashSet},
};

use chrono::{DateTime, Utc};
use switchboard_model::{AssignmentStrategy, PresenceStatus, Priority};

use crate::Invalid;

/// The largest capacity an agent can be given.
pub const MAX_CAPACITY: i32 = 10_000;

/// Checks a capacity an admin sets (`None`: no limit).
pub fn check_capacity(capacity: Option<i32>) -> Result<(), Invalid> {
    if capacity.is_some_and(|capacity| !(0..=MAX_CAPACITY).contains(&capacity)) {
        return Err(Invalid(format!(
            "`capacity` must be between 0 and {MAX_CAPACITY}, or null for no limit"
        )));
    }
    Ok(())
}

/// What shows that an agent who said "online" is still there.
#[derive(Clone, Debug)]
pub enum Liveness {
    /// Their own heartbeat (`POST /me/presence`) since this instant: a single node, or a
    /// cluster whose Redis does not answer.
    SeenSince(DateTime<Utc>),
    /// These users have a live heartbeat in Redis, kept by the node holding their session: a
    /// node that dies stops beating, and its agents drop out within the heartbeat's TTL.
    Heartbeats(HashSet<String>),
}

impl Liveness {
    /// Whether an agent counts as online: they said so, and they are alive by this rule.
    pub fn is_online(
        &self,
        status: PresenceStatus,
        user_id: &str,
        last_seen_at: DateTime<Utc>,
    ) -> bool {
        status == PresenceStatus::Online
            && match self {
                Liveness::SeenSince(fresh_since) => last_seen_at >= *fresh_since,
                Liveness::Heartbeats(alive) => alive.contains(user_id),
            }
    }
}

/// The order the queue is served in: highest priority first, then the longest waiting (since
/// its escalation), then by id so that the order is total.
pub fn queue_order(
    priority: Priority,
    waiting_since: DateTime<Utc>,
    conversation_id: &str,
) -> (Reverse<Priority>, DateTime<Utc>, String) {
    (Reverse(priority), waiting_since, conversation_id.to_owned())
}

/// The agents an assignment pass chooses among.
#[derive(Clone, Debug)]
pub struct AgentPool {
    pub strategy: AssignmentStrategy,
    /// Online, active agents who may reply, sorted by id.
    pub online: Vec<String>,
    /// Open assigned conversations per agent.
    pub load: HashMap<String, u32>,
    pub capacity: HashMap<String, i32>,
    /// Members of the teams the waiting conversations are routed to.
    pub members: HashMap<String, HashSet<String>>,
    pub last_assigned: Option<String>,
}

impl AgentPool {
    fn load(&self, user_id: &str) -> u32 {
        self.load.get(user_id).copied().unwrap_or(0)
    }

    fn has_room(&self, user_id: &str) -> bool {
        self.capacity
            .get(user_id)
            .is_none_or(|capacity| i64::from(self.load(user_id)) < i64::from(*capacity))
    }

    /// The agent for a conversation of `team_id` (any online agent when `None`).
    pub fn choose(&self, team_id: Option<&str>) -> Option<String> {
        let mut candidates: Vec<&String> = self
            .online
            .iter()
            .filter(|user_id| {
                team_id.is_none_or(|team_id| {
                    self.members
                        .get(team_id)
                        .is_some_and(|members| members.contains(*user_id))
                })
            })
            .filter(|user_id| self.has_room(user_id))
            .collect();
        // Round-robin order: the agents after the last one assigned come first.
        let last = self.last_assigned.as_deref().unwrap_or("");
        let split = candidates.partition_point(|user_id| user_id.as_str() <= last);
        candidates.rotate_left(split);
        let chosen = match self.strategy {
            AssignmentStrategy::RoundRobin => candidates.first().copied(),
            // `min_by_key` keeps the first of equals: ties go round robin.
            AssignmentStrategy::LeastLoaded => candidates
                .iter()
                .min_by_key(|user_id| self.load(user_id))
                .copied(),
        };
        chosen.cloned()
    }

    /// Counts an assignment to `user_id`: one more open conversation, and the round robin
    /// moves past them.
    pub fn took(&mut self, user_id: &str) {
        *self.load.entry(user_id.to_owned()).or_default() += 1;
        self.last_assigned = Some(user_id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_online_by_their_word_and_the_rule_of_liveness() {
        let now = Utc::now();
        let minute_ago = now - chrono::Duration::minutes(1);
        let by_database = Liveness::SeenSince(minute_ago);
        assert!(by_database.is_online(PresenceStatus::Online, "a", now));
        assert!(!by_database.is_online(
            PresenceStatus::Online,
            "a",
            minute_ago - chrono::Duration::seconds(1)
        ));
        assert!(!by_database.is_online(PresenceStatus::Away, "a", now));
        // With heartbeats, when the agent last said so no longer matters: their node's beat does.
        let by_heartbeat = Liveness::Heartbeats(HashSet::from(["a".to_owned()]));
        let long_ago = now - chrono::Duration::days(1);
        assert!(by_heartbeat.is_online(PresenceStatus::Online, "a", long_ago));
        assert!(!by_heartbeat.is_online(PresenceStatus::Online, "b", now));
        assert!(!by_heartbeat.is_online(PresenceStatus::Away, "a", now));
    }

    fn pool(strategy: AssignmentStrategy) -> AgentPool {
        AgentPool {
            strategy,
            online: vec!["a".into(), "b".into(), "c".into()],
            load: HashMap::from([("a".into(), 2), ("b".into(), 0), ("c".into(), 1)]),
            capacity: HashMap::from([("b".into(), 1)]),
            members: HashMap::from([("team".into(), HashSet::from(["a".into(), "c".into()]))]),
            last_assigned: None,
        }
    }

    #[test]
    fn least_loaded_with_room_and_of_the_team() {
        let mut pool = pool(AssignmentStrategy::LeastLoaded);
        assert_eq!(pool.choose(None).as_deref(), Some("b"));
        pool.took("b");
        // `b` is at capacity now; `c` has the least load of the rest.
        assert_eq!(pool.choose(None).as_deref(), Some("c"));
        assert_eq!(pool.choose(Some("team")).as_deref(), Some("c"));
        assert_eq!(pool.choose(Some("nobody")), None);
    }

    #[test]
    fn round_robin_goes_on_after_the_last_assigned() {
        let mut pool = pool(AssignmentStrategy::RoundRobin);
        pool.capacity.clear();
        let mut order = Vec::new();
        for _ in 0..4 {
            let chosen = pool.choose(None).expect("someone");
            pool.took(&chosen);
            order.push(chosen);
        }
        assert_eq!(order, ["a", "b", "c", "a"]);
    }

    #[test]
    fn the_queue_serves_urgent_then_oldest() {
        let early = DateTime::UNIX_EPOCH;
        let late = early + chrono::Duration::minutes(5);
        let mut queue = [
            (Priority::Normal, early, "1"),
            (Priority::Urgent, late, "2"),
            (Priority::Urgent, early, "3"),
        ];
        queue.sort_by_key(|(priority, since, id)| queue_order(*priority, *since, id));
        let ids: Vec<&str> = queue.iter().map(|(_, _, id)| *id).collect();
        assert_eq!(ids, ["3", "2", "1"]);
        assert!(check_capacity(Some(MAX_CAPACITY + 1)).is_err());
        assert!(check_capacity(None).is_ok());
    }
}
