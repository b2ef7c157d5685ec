//! Retention: the job that purges, once per cluster, what organizations' policies no longer
//! keep ([`run`]), and one organization's purge ([`purge`]), shared by the job and
//! `switchboard retention run`. The rows go in the store's batches
//! (`Store::purge_expired_conversations`), the files after each batch commits. Audited with
//! counts only.

use std::{path::PathBuf, time::Duration};

use switchboard_store::{RetentionMode, RetentionPolicy, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::leased::Leased;

/// Who the audit log names for the job's purges.
pub const ACTOR: &str = "retention";
/// The lease that makes the job run on one node of a cluster at a time.
const LEASE: &str = "retention";
/// Conversations per transaction: a large purge never holds the write lock for long.
const BATCH: u64 = 500;

/// What one organization's purge took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Conversations deleted, or anonymized (by the policy's mode).
    pub conversations: usize,
    pub messages: usize,
    pub files: usize,
    pub knowledge_gaps: u64,
    /// Dead letters older than the conversations kept (`app/dead_letters.rs`).
    pub dead_letters: u64,
}

/// The job's hold on its lease during a run: asked before every batch, it renews the lease
/// and answers whether this node still holds it with the same fencing token (no other node
/// ran in between) and the hub is not stopping.
pub struct Fence<'a> {
    store: &'a Store,
    holder: &'a str,
    ttl: Duration,
    token: i64,
    shutdown: &'a CancellationToken,
}

impl Fence<'_> {
    async fn held(&self) -> bool {
        if self.shutdown.is_cancelled() {
            return false;
        }
        match self.store.take_lease(LEASE, self.holder, self.ttl).await {
            Ok(Some(token)) => token == self.token,
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(%err, "cannot renew the retention lease");
                false
            }
        }
    }
}

/// Purges what the organization's policy no longer keeps: expired conversations in batches
/// (deleted or anonymized, their files deleted), then expired knowledge gaps and dead letters. Writes one
/// audit entry with the counts when anything went, and counts
/// `switchboard_retention_purged_total{kind}`. With a fence (the job), stops between
/// batches when the lease is lost; the next run goes on where this one stopped.
pub async fn purge(
    store: &Store,
    files: &std::path::Path,
    org_id: &str,
    policy: &RetentionPolicy,
    actor: &str,
    fence: Option<&Fence<'_>>,
) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let mut stopped = false;
    if policy.resolved_conversations_days.is_some() {
        loop {
            if let Some(fence) = fence
                && !fence.held().await
            {
                stopped = true;
                break;
            }
            let batch = store
                .purge_expired_conversations(org_id, policy, BATCH)
                .await?;
            crate::gdpr::delete_files(files, org_id, &batch.orphaned_files).await;
            purged.conversations += batch.conversations;
            purged.messages += batch.messages;
            purged.files += batch.orphaned_files.len();
            if (batch.conversations as u64) < BATCH {
                break;
            }
        }
    }
    if !stopped {
        purged.knowledge_gaps = store.purge_expired_gaps(org_id, policy).await?;
        purged.dead_letters = store.purge_expired_dead_letters(org_id, policy).await?;
    }
    let conversations_kind = match policy.mode {
        RetentionMode::Delete => "conversations_deleted",
        RetentionMode::Anonymize => "conversations_anonymized",
    };
    metrics::counter!("switchboard_retention_purged_total", "kind" => conversations_kind)
        .increment(purged.conversations as u64);
    metrics::counter!("switchboard_retention_purged_total", "kind" => "knowledge_gaps")
        .increment(purged.knowledge_gaps);
    metrics::counter!("switchboard_retention_purged_total", "kind" => "dead_letters")
        .increment(purged.dead_letters);
    if purged != Purged::default() {
        store
            .audit(
                org_id,
                actor,
                "retention.purged",
                None,
                serde_json::json!({
                    "mode": policy.mode.as_str(),
                    "conversations": purged.conversations,
                    "messages": purged.messages,
                    "files": purged.files,
                    "knowledge_gaps": purged.knowledge_gaps,
                    "dead_letters": purged.dead_letters,
                }),
            )
            .await?;
    }
    Ok(purged)
}

/// The retention job: every `every` (`retention_check_secs`) the node that takes the lease
/// purges each organization with a policy. It keeps the lease for an interval, so the other
/// nodes' ticks in between find it taken; a node that dies hands the job on within that.
pub async fn run(store: Store, files: PathBuf, every: Duration, shutdown: CancellationToken) {
    let mut rounds = Leased::new(store.clone(), LEASE, every, every);
    while let Some(token) = rounds.next_round(&shutdown).await {
        let fence = Fence {
            store: &store,
            holder: rounds.holder(),
            ttl: every,
            token,
            shutdown: &shutdown,
        };
        let policies = match store.retention_policies().await {
            Ok(policies) => policies,
            Err(err) => {
                tracing::warn!(%err, "cannot read the retention policies");
                continue;
            }
        };
        for (org_id, policy) in policies {
            if let Err(err) = purge(&store, &files, &org_id, &policy, ACTOR, Some(&fence)).await {
                metrics::counter!("switchboard_retention_failures_total").increment(1);
                tracing::warn!(%err, %org_id, "retention purge stopped");
            }
        }
    }
}
