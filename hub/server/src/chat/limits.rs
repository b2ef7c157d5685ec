//! The web chat's limits beyond each visitor's own (`hub.rs`, checked first, on this node):
//! new connections and frames per client address, so that minting new visitor tokens or
//! opening new connections resets nothing, and frames per inbox, an abuse ceiling. Each is a
//! rate in the inbox's config, counted across nodes in the hub's `Counters` (Redis when it has
//! one, failing open to this node's memory) through `Shares`, so that a busy key costs a few
//! Redis round trips a second rather than one per frame.

use std::{net::IpAddr, sync::Arc};

use chrono::{DateTime, Utc};

use super::hub::ChatInbox;
use crate::limits::{Counters, Quota, Shares, hashed, retry_after_secs};

/// The keys a connection's frames are counted under, made once per connection.
pub(crate) struct FrameKeys {
    /// `None`: the hub does not know the client's address (no limit by address).
    address: Option<String>,
    inbox: String,
}

/// A rate of `per_minute`, a minute's worth of it at once.
fn per_minute(per_minute: u32) -> Quota {
    Quota {
        per_minute,
        burst: per_minute,
    }
}

/// A client address as the limits key it: by its SHA-256, so that neither Redis nor memory
/// holds addresses.
fn address_key(kind: &str, inbox: &ChatInbox, address: IpAddr) -> String {
    format!(
        "webchat:{kind}:{}:{}",
        inbox.inbox_id,
        hashed(&address.to_string())
    )
}

/// Which limit refused a frame, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Address,
    Inbox,
}

impl Refused {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refused::Address => "address",
            Refused::Inbox => "inbox",
        }
    }
}

/// The web chat's shared limits.
pub(crate) struct ChatLimits {
    shares: Shares,
}

impl ChatLimits {
    pub(crate) fn new(counters: Arc<Counters>) -> ChatLimits {
        ChatLimits {
            shares: Shares::new(counters),
        }
    }

    /// A new connection to `inbox` from `address` at `now`: `None` when admitted, else the
    /// seconds to wait (at least 1), for `Retry-After`.
    pub(crate) async fn connection(
        &self,
        inbox: &ChatInbox,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let address = address?;
        let quota = per_minute(inbox.config.address_connections_per_minute);
        let key = address_key("connections", inbox, address);
        self.shares
            .take(&key, quota, now)
            .await
            .map(retry_after_secs)
    }

    pub(crate) fn frame_keys(inbox: &ChatInbox, address: Option<IpAddr>) -> FrameKeys {
        FrameKeys {
            address: address.map(|address| address_key("frames", inbox, address)),
            inbox: format!("webchat:inbox:{}", inbox.inbox_id),
        }
    }

    /// One frame of a visitor of `inbox` (already within the visitor's own limit): `None`
    /// when admitted, else which limit refused it and the seconds to wait (at least 1).
    pub(crate) async fn frame(
        &self,
        inbox: &ChatInbox,
        keys: &FrameKeys,
        now: DateTime<Utc>,
    ) -> Option<(Refused, u64)> {
        if let Some(address) = &keys.address {
            let quota = per_minute(inbox.config.address_messages_per_minute);
            if let Some(wait) = self.shares.take(address, quota, now).await {
                return Some((Refused::Address, retry_after_secs(wait)));
            }
        }
        let quota = per_minute(inbox.config.inbox_messages_per_minute);
        let wait = self.shares.take(&keys.inbox, quota, now).await?;
        Some((Refused::Inbox, retry_after_secs(wait)))
    }
}
