//! Helpdesk sync, both directions, for every connector that is a
//! [`Helpdesk`](switchboard_model::Helpdesk) (Zendesk, Freshdesk).
//!
//! In: a webhook only names a ticket ([`take_webhook`]); the reconciliation poller names the
//! tickets changed since its stored cursor. Either way [`sync_ticket`] reads the ticket and its
//! comments through the API and takes each comment the hub has not seen: on the **escalation
//! desk** (`escalation_desk: true`) a helpdesk agent's public comment is a reply delivered to the
//! customer on the channel they used and a private one a note; solving the ticket resolves the
//! conversation. On a **channel** inbox a ticket opened in the helpdesk is a conversation of that
//! inbox: the requester's comments are customer messages (routed, answered by the AI), the
//! hub's replies go back as public comments through the outbox.
//!
//! Out ([`run`]): one task per node wakes every second and takes the lease of each helpdesk
//! inbox it can (so one node per inbox in a cluster); for each it holds, a task of its own opens
//! a ticket for each conversation newly escalated on another channel, appends the customer's
//! later messages to it (several queued messages as one comment), solves the ticket of a
//! resolved conversation, and runs the poller. That background work spends at most 92% of the
//! inbox's `rate_limit_per_minute` (default 200), evenly, so that a burst of escalations never
//! leaves a webhook without the requests to read its ticket.
//!
//! Echo: every comment the hub writes is recorded with its id in the same transaction as what
//! it carried, and comments by the integration's own user are skipped: two signals, never a
//! comparison of text.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use switchboard_model::{
    BusEvent, ChannelKind, Contact, ContactRef, Conversation, ConversationStatus, DeliveryError,
    Helpdesk, InboundFile, InboundMessage, Message, MessageRole, NewComment, NewTicket, RawInbound,
    RemoteTicket, TicketStatus, new_id,
};
use switchboard_store::{
    HelpdeskTicket, InboxWithSecrets, NewMessage, OpenedTicket, StoreError, TicketRole,
};
use tokio_util::sync::CancellationToken;

use crate::{
    app::ingest::IngestError,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// How often the sync task looks for work.
const TICK: Duration = Duration::from_secs(1);
/// How long a node keeps an inbox's lease without renewing it: a node that dies hands its
/// inboxes to another within this.
const LEASE: Duration = Duration::from_secs(30);
/// How often a node renews a lease it holds, or asks again for one another node holds: a write
/// each, so not every tick.
const LEASE_RENEWAL: Duration = Duration::from_secs(10);
/// Escalations opened as tickets, and tickets synced, per inbox and tick.
const BATCH: u64 = 50;
/// Pages of the poller's changes read per tick.
const POLL_PAGES: usize = 10;
/// Who the hub's audit log names for changes the helpdesk made.
const ACTOR: &str = "helpdesk";

/// Why a sync did not finish. It is tried again: by the helpdesk's webhook retry, the next
/// tick, or the poller.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("helpdesk: {0}")]
    Remote(#[from] DeliveryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Whether a helpdesk inbox is its organization's escalation desk.
pub fn is_escalation_desk(inbox: &InboxWithSecrets) -> bool {
    inbox
        .full_config
        .get("escalation_desk")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The poller's period of an inbox (`poll_interval_secs`, default 60).
fn poll_interval(inbox: &InboxWithSecrets) -> Duration {
    let secs = inbox
        .full_config
        .get("poll_interval_secs")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(60)
        .max(1);
    Duration::from_secs(secs)
}

/// A verified webhook of a helpdesk inbox: reads the ticket it names and takes what is new.
/// Answers once everything is committed; a helpdesk that cannot be read is a 503, which the
/// helpdesk retries (and the poller catches up anyway).
pub async fn take_webhook(
    state: &AppState,
    inbox: &InboxWithSecrets,
    helpdesk: &dyn Helpdesk,
    request: &RawInbound<'_>,
) -> ApiResult<()> {
    let ticket_id = helpdesk
        .webhook_ticket(request)
        .map_err(|err| ApiError::BadRequest(err.0))?;
    match sync_ticket(state, inbox, helpdesk, &ticket_id).await {
        Ok(()) => Ok(()),
        Err(SyncError::Remote(err)) => {
            tracing::warn!(%err, inbox_id = %inbox.inbox.id, ticket_id, "cannot read a ticket");
            Err(ApiError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "helpdesk_unavailable",
                message: format!("cannot read ticket {ticket_id}: {err}"),
            })
        }
        Err(SyncError::Store(err)) => Err(err.into()),
        Err(SyncError::Ingest(err)) => Err(err.into()),
    }
}

/// Reads one ticket and takes every comment of it the hub has not written or taken before, and
/// its status.
pub async fn sync_ticket(
    state: &AppState,
    inbox: &InboxWithSecrets,
    helpdesk: &dyn Helpdesk,
    ticket_id: &str,
) -> Result<(), SyncError> {
    let Some(remote) = helpdesk.ticket(ticket_id).await? else {
        return Ok(());
    };
    let me = helpdesk.me().await?;
    let inbox_id = &inbox.inbox.id;
    let mapped = state.store.helpdesk_ticket(inbox_id, &remote.id).await?;
    match mapped {
        Some(ticket) if ticket.role == TicketRole::Desk => {
            take_desk_ticket(state, &ticket, &remote, &me).await
        }
        // A ticket of the desk the hub did not open is the helpdesk's own business.
        None if is_escalation_desk(inbox) => Ok(()),
        mapped => take_channel_ticket(state, inbox, mapped, &remote, &me).await,
    }
}

/// The escalation desk's ticket of a conversation on another channel: a helpdesk agent's
/// comments go to the conversation, and the ticket's status to its status.
async fn take_desk_ticket(
    state: &AppState,
    ticket: &HelpdeskTicket,
    remote: &RemoteTicket,
    me: &str,
) -> Result<(), SyncError> {
    let store = &state.store;
    let ids: Vec<&str> = remote.comments.iter().map(|c| c.id.as_str()).collect();
    let known = store
        .known_helpdesk_comments(&ticket.inbox_id, &ids)
        .await?;
    for comment in remote.comments.iter().filter(|c| !known.contains(&c.id)) {
        // Ours (written before its id was recorded), or the customer's own words written in
        // the helpdesk (they are the conversation's already, or will be by their channel).
        if comment.author_id == me || comment.author_id == remote.requester.external_id {
            store
                .skip_helpdesk_comment(&ticket.inbox_id, &ticket.conversation_id, &comment.id)
                .await?;
            continue;
        }
        let mut new = NewMessage::agent(None, comment.body.trim(), !comment.public);
        new.attachments = comment.attachments.clone();
        if let Some((conversation, message)) = store
            .append_helpdesk_comment(ticket, &comment.id, new)
            .await?
        {
            metrics::counter!("switchboard_helpdesk_comments_taken_total",
                "public" => if comment.public { "true" } else { "false" })
            .increment(1);
            published(state, &conversation, message);
        }
    }
    take_state(state, ticket, remote).await
}

/// A ticket opened in the helpdesk of a channel inbox: the requester's comments are customer
/// messages of the ticket's conversation; other people's are notes.
async fn take_channel_ticket(
    state: &AppState,
    inbox: &InboxWithSecrets,
    mapped: Option<HelpdeskTicket>,
    remote: &RemoteTicket,
    me: &str,
) -> Result<(), SyncError> {
    let store = &state.store;
    let org_id = &inbox.inbox.org_id;
    let inbox_id = &inbox.inbox.id;
    let mut ticket = mapped;
    let ids: Vec<&str> = remote.comments.iter().map(|c| c.id.as_str()).collect();
    let known = store.known_helpdesk_comments(inbox_id, &ids).await?;
    for comment in remote.comments.iter().filter(|c| !known.contains(&c.id)) {
        if comment.author_id == me {
            // The hub's own reply whose delivery is not recorded yet: the outbox has it.
            continue;
        }
        if comment.author_id == remote.requester.external_id && comment.public {
            let message = InboundMessage {
                thread_key: remote.id.clone(),
                channel_message_id: Some(comment.id.clone()),
                sender: remote.requester.clone(),
                text: comment.body.trim().to_owned(),
                attachments: comment.attachments.clone(),
                subject: remote.subject.clone(),
                sent_at: comment.created_at,
                ..InboundMessage::default()
            };
            let outcome = crate::app::ingest::ingest_message(
                state,
                org_id,
                inbox_id,
                inbox.inbox.channel,
                &message,
            )
            .await
            .map_err(IngestError::from)?;
            if ticket.is_none()
                && let switchboard_store::IngestOutcome::Stored { conversation, .. } = &outcome
            {
                ticket = Some(
                    store
                        .record_helpdesk_ticket(OpenedTicket {
                            org_id,
                            inbox_id,
                            conversation_id: &conversation.id,
                            remote_ticket_id: &remote.id,
                            role: TicketRole::Channel,
                            synced_seq: 0,
                            status: remote.status,
                            comment_ids: &[],
                        })
                        .await?,
                );
            }
            continue;
        }
        // Another helpdesk user's comment: the agents' record, not sent anywhere.
        if let Some(ticket) = &ticket {
            let text = format!(
                "{}: {}",
                remote_author_label(comment.public),
                comment.body.trim()
            );
            if let Some((conversation, message)) = store
                .append_helpdesk_comment(ticket, &comment.id, NewMessage::agent(None, &text, true))
                .await?
            {
                published(state, &conversation, message);
            }
        }
    }
    match ticket {
        Some(ticket) => take_state(state, &ticket, remote).await,
        None => Ok(()),
    }
}

fn remote_author_label(public: bool) -> &'static str {
    if public {
        "Reply written in the helpdesk"
    } else {
        "Note written in the helpdesk"
    }
}

/// The ticket's status and priority, read from the helpdesk, applied to its conversation when
/// they changed there since the last read: solved or closed resolves it, reopened after being
/// done reopens it; a priority set in the helpdesk becomes the conversation's.
async fn take_state(
    state: &AppState,
    ticket: &HelpdeskTicket,
    remote: &RemoteTicket,
) -> Result<(), SyncError> {
    let status = remote.status;
    let priority = remote.priority;
    if status == ticket.remote_status && priority == ticket.remote_priority {
        return Ok(());
    }
    let store = &state.store;
    let Some(conversation) = store
        .conversation(&ticket.org_id, &ticket.conversation_id)
        .await?
    else {
        return Ok(());
    };
    if let Some(priority) = priority
        && ticket.remote_priority != Some(priority)
        && conversation.priority != priority
    {
        store
            .set_priority(&ticket.org_id, &ticket.conversation_id, priority, ACTOR)
            .await?;
    }
    let open = !matches!(
        conversation.status,
        ConversationStatus::Resolved | ConversationStatus::Closed
    );
    let mut changed = None;
    if status != ticket.remote_status {
        if status.is_done() && open {
            changed = Some(
                store
                    .set_status(
                        &ticket.org_id,
                        &ticket.conversation_id,
                        ConversationStatus::Resolved,
                        ACTOR,
                    )
                    .await?,
            );
        } else if !status.is_done() && ticket.remote_status.is_done() && !open {
            changed = Some(
                store
                    .reopen(&ticket.org_id, &ticket.conversation_id, ACTOR)
                    .await?,
            );
        }
    }
    store
        .set_helpdesk_ticket_read(ticket, status, priority)
        .await?;
    if let Some(conversation) = changed {
        crate::bus::publish_change(state.bus.as_ref(), &conversation);
    }
    Ok(())
}

/// Tells the bus about a message the sync stored, and the delivery workers when it goes out.
fn published(state: &AppState, conversation: &Conversation, message: Message) {
    if !message.private && !conversation.channel.delivered_by_hub() {
        state.delivery_wakeup.notify_one();
    }
    state.bus.publish(BusEvent::MessageCreated {
        org_id: conversation.org_id.clone(),
        inbox_id: conversation.inbox_id.clone(),
        message: Box::new(message),
    });
}

/// The sync task: see the module's documentation. Each inbox whose lease this node holds is
/// synced by a task of its own, so that one slow or rate-limited helpdesk holds up no other.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let holder = new_id();
    let mut idle: HashMap<String, Sync> = HashMap::new();
    let mut busy: HashMap<String, tokio::task::JoinHandle<Sync>> = HashMap::new();
    // Per inbox: when this node last asked for its lease, and whether it got it.
    let mut leases: HashMap<String, (Instant, bool)> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Take back the state of the tasks that finished.
        let finished: Vec<String> = busy
            .iter()
            .filter(|(_, task)| task.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        for inbox_id in finished {
            if let Some(task) = busy.remove(&inbox_id)
                && let Ok(sync) = task.await
            {
                idle.insert(inbox_id, sync);
            }
        }
        for inbox in helpdesk_inboxes(&state).await {
            let inbox_id = inbox.inbox.id.clone();
            let lease = format!("helpdesk:{inbox_id}");
            // Taken, or renewed, every LEASE_RENEWAL, also while this node's task for it runs.
            let held = match leases.get(&inbox_id) {
                Some((asked, held)) if asked.elapsed() < LEASE_RENEWAL => *held,
                _ => match state.store.take_lease(&lease, &holder, LEASE).await {
                    Ok(taken) => {
                        leases.insert(inbox_id.clone(), (Instant::now(), taken.is_some()));
                        taken.is_some()
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cannot take a helpdesk lease");
                        false
                    }
                },
            };
            if !held {
                idle.remove(&inbox_id);
                continue;
            }
            if busy.contains_key(&inbox_id) {
                continue;
            }
            let mut sync = idle.remove(&inbox_id).unwrap_or_default();
            let state = state.clone();
            let task = tokio::spawn(async move {
                if let Err(err) = sync.inbox(&state, &inbox).await {
                    metrics::counter!("switchboard_helpdesk_sync_failures_total",
                        "channel" => inbox.inbox.channel.as_str())
                    .increment(1);
                    tracing::warn!(%err, inbox_id = %inbox.inbox.id, "helpdesk sync stopped");
                }
                sync
            });
            busy.insert(inbox_id, task);
        }
    }
    // A sync under way finishes what it is writing, briefly.
    for mut task in busy.into_values() {
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    // Let another node take over at once.
    for inbox in helpdesk_inboxes(&state).await {
        let lease = format!("helpdesk:{}", inbox.inbox.id);
        let _ = state.store.release_lease(&lease, &holder).await;
    }
}

async fn helpdesk_inboxes(state: &AppState) -> Vec<InboxWithSecrets> {
    let mut all = Vec::new();
    for channel in [ChannelKind::Zendesk, ChannelKind::Freshdesk] {
        match state.store.inboxes_for_channel(channel).await {
            Ok(inboxes) => all.extend(inboxes),
            Err(err) => tracing::warn!(%err, "cannot list helpdesk inboxes"),
        }
    }
    all
}

/// The share of an inbox's `rate_limit_per_minute` the background sync spends, evenly; the rest
/// is kept for what cannot wait (a webhook's read of its ticket).
const SYNC_SHARE: f64 = 0.92;

/// What the sync of one inbox remembers between ticks.
#[derive(Default)]
struct Sync {
    /// When the inbox was last polled.
    polled: Option<Instant>,
    /// The helpdesk user of each desk conversation's customer.
    requesters: HashMap<String, String>,
    /// The background sync's budget, and the limit it was made for.
    budget: Option<(u32, governor::DefaultDirectRateLimiter)>,
}

impl Sync {
    async fn inbox(&mut self, state: &AppState, inbox: &InboxWithSecrets) -> Result<(), SyncError> {
        let connector = match state.connectors.connector_for(inbox) {
            Ok(connector) => connector,
            // A misconfigured inbox says so on its webhooks; nothing to sync here.
            Err(_) => return Ok(()),
        };
        let Some(helpdesk) = connector.helpdesk() else {
            return Ok(());
        };
        self.set_budget(inbox);
        // While there is a backlog, straight on: the budget paces it, not the tick. The poller
        // still runs on time (a lost webhook waits no longer than its interval).
        loop {
            let opened = if is_escalation_desk(inbox) {
                self.open_escalations(state, inbox, helpdesk).await?
            } else {
                0
            };
            let pushed = self.push(state, inbox, helpdesk).await?;
            if self
                .polled
                .is_none_or(|at| at.elapsed() >= poll_interval(inbox))
            {
                self.poll(state, inbox, helpdesk).await?;
                self.polled = Some(Instant::now());
            }
            if opened < BATCH && pushed < BATCH {
                break;
            }
        }
        Ok(())
    }

    /// The budget of `rate_limit_per_minute` (default 200), remade when the config changes.
    fn set_budget(&mut self, inbox: &InboxWithSecrets) {
        let limit = inbox
            .full_config
            .get("rate_limit_per_minute")
            .and_then(serde_json::Value::as_u64)
            .and_then(|limit| u32::try_from(limit).ok())
            .filter(|limit| *limit > 0)
            .unwrap_or(switchboard_model::HELPDESK_RATE_LIMIT_PER_MINUTE);
        if self
            .budget
            .as_ref()
            .is_some_and(|(made_for, _)| *made_for == limit)
        {
            return;
        }
        let per_minute = ((f64::from(limit) * SYNC_SHARE) as u32).max(1);
        let quota = governor::Quota::with_period(Duration::from_secs(60) / per_minute)
            .map(|quota| quota.allow_burst(std::num::NonZeroU32::MIN.saturating_add(4)));
        self.budget = quota.map(|quota| (limit, governor::RateLimiter::direct(quota)));
    }

    /// Waits until the budget allows `requests` more.
    async fn spend(&self, requests: u32) {
        if let Some((_, budget)) = &self.budget {
            for _ in 0..requests {
                budget.until_ready().await;
            }
        }
    }

    /// Reads the tickets changed since the inbox's cursor, syncs each, then stores the
    /// cursor: a restart resumes where the last page ended, and a ticket seen twice changes
    /// nothing.
    async fn poll(
        &mut self,
        state: &AppState,
        inbox: &InboxWithSecrets,
        helpdesk: &dyn Helpdesk,
    ) -> Result<(), SyncError> {
        let inbox_id = &inbox.inbox.id;
        for _ in 0..POLL_PAGES {
            let cursor = state.store.helpdesk_cursor(inbox_id).await?;
            self.spend(1).await;
            let page = helpdesk
                .changed(cursor.as_deref(), inbox.inbox.created_at)
                .await?;
            for ticket_id in &page.ticket_ids {
                // The ticket and its comments.
                self.spend(2).await;
                sync_ticket(state, inbox, helpdesk, ticket_id).await?;
            }
            if let Some(next) = &page.cursor
                && cursor.as_ref() != Some(next)
            {
                state.store.set_helpdesk_cursor(inbox_id, next).await?;
            }
            if !page.more {
                break;
            }
        }
        Ok(())
    }

    /// Opens a ticket for each conversation escalated since the desk exists.
    async fn open_escalations(
        &mut self,
        state: &AppState,
        inbox: &InboxWithSecrets,
        helpdesk: &dyn Helpdesk,
    ) -> Result<u64, SyncError> {
        let store = &state.store;
        let org_id = &inbox.inbox.org_id;
        let waiting = store
            .desk_conversations_to_open(org_id, &inbox.inbox.id, inbox.inbox.created_at, BATCH)
            .await?;
        let count = waiting.len() as u64;
        for conversation in waiting {
            let messages = store.messages_after(&conversation.id, 0).await?;
            let contact = store.contact(org_id, &conversation.contact_id).await?;
            let new = new_ticket(state, &conversation, contact.as_ref(), &messages, None).await?;
            // The requester, then the ticket.
            self.spend(2).await;
            let created = match helpdesk.create_ticket(&new).await {
                Ok(created) => created,
                Err(DeliveryError::Permanent { reason }) => {
                    // Never again, or it would stand first in line every tick.
                    tracing::warn!(%reason, conversation_id = %conversation.id,
                        "the helpdesk refused the ticket of an escalation");
                    metrics::counter!("switchboard_helpdesk_refused_total", "op" => "create")
                        .increment(1);
                    store
                        .refuse_helpdesk_ticket(org_id, &inbox.inbox.id, &conversation.id)
                        .await?;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            let synced_seq = messages.last().map_or(0, |message| message.seq);
            store
                .record_helpdesk_ticket(OpenedTicket {
                    org_id,
                    inbox_id: &inbox.inbox.id,
                    conversation_id: &conversation.id,
                    remote_ticket_id: &created.id,
                    role: TicketRole::Desk,
                    synced_seq,
                    status: TicketStatus::Open,
                    comment_ids: &created.comment_ids,
                })
                .await?;
            metrics::counter!("switchboard_helpdesk_tickets_opened_total",
                "channel" => inbox.inbox.channel.as_str())
            .increment(1);
        }
        Ok(count)
    }

    /// Carries what moved in the hub to the tickets: the customer's new messages (one comment
    /// for all that queued), a resolution.
    async fn push(
        &mut self,
        state: &AppState,
        inbox: &InboxWithSecrets,
        helpdesk: &dyn Helpdesk,
    ) -> Result<u64, SyncError> {
        let store = &state.store;
        let moved = store.desk_tickets_to_sync(&inbox.inbox.id, BATCH).await?;
        let count = moved.len() as u64;
        for (ticket, conversation) in moved {
            let resolved = matches!(
                conversation.status,
                ConversationStatus::Resolved | ConversationStatus::Closed
            );
            let pushed = if conversation.last_seq > ticket.synced_seq {
                self.push_messages(state, inbox, helpdesk, &ticket, &conversation)
                    .await
            } else if resolved && !ticket.remote_status.is_done() {
                self.spend(1).await;
                match helpdesk
                    .set_status(&ticket.remote_ticket_id, TicketStatus::Solved)
                    .await
                {
                    Ok(()) => store
                        .record_desk_sync(&ticket, &[], ticket.synced_seq, TicketStatus::Solved)
                        .await
                        .map_err(SyncError::from),
                    Err(err) => Err(err.into()),
                }
            } else {
                Ok(())
            };
            match pushed {
                // A ticket that takes nothing more (closed, deleted, refused): taken as closed,
                // so that what the customer writes next opens a follow-up ticket, and it never
                // stands first in line again.
                Err(SyncError::Remote(DeliveryError::Permanent { reason })) => {
                    tracing::warn!(%reason, ticket_id = %ticket.remote_ticket_id,
                        "the helpdesk refused a ticket update");
                    metrics::counter!("switchboard_helpdesk_refused_total", "op" => "update")
                        .increment(1);
                    store
                        .record_desk_sync(&ticket, &[], ticket.synced_seq, TicketStatus::Closed)
                        .await?;
                }
                other => other?,
            }
        }
        Ok(count)
    }

    /// Carries a conversation's messages after `synced_seq` to its ticket: on the desk, the
    /// customer's words as their own public comment (a closed ticket gets a follow-up ticket
    /// instead); on both, what agents wrote in Switchboard (on the desk their replies too,
    /// which the customer got on their channel) as one private comment. Messages that came
    /// from the helpdesk are never written back.
    async fn push_messages(
        &mut self,
        state: &AppState,
        inbox: &InboxWithSecrets,
        helpdesk: &dyn Helpdesk,
        ticket: &HelpdeskTicket,
        conversation: &Conversation,
    ) -> Result<(), SyncError> {
        let store = &state.store;
        let messages = store
            .messages_after(&conversation.id, ticket.synced_seq)
            .await?;
        let last_seq = messages.last().map_or(ticket.synced_seq, |m| m.seq);
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        let from_helpdesk = store.helpdesk_messages(&inbox.inbox.id, &ids).await?;
        let desk = ticket.role == TicketRole::Desk;
        let words: Vec<&Message> = messages
            .iter()
            .filter(|m| desk && m.role == MessageRole::Customer && !m.private)
            .collect();
        // On a channel inbox the public replies went out through the outbox as comments.
        let ours: Vec<&Message> = messages
            .iter()
            .filter(|m| m.role == MessageRole::Agent && !from_helpdesk.contains(&m.id))
            .filter(|m| desk || m.private)
            .collect();
        if words.is_empty() && (ours.is_empty() || ticket.remote_status == TicketStatus::Closed) {
            // Nothing for the ticket (the hub's status lines, what came from the helpdesk), or
            // nothing a closed ticket can take.
            store
                .record_desk_sync(ticket, &[], last_seq, ticket.remote_status)
                .await?;
            return Ok(());
        }
        if !words.is_empty() && ticket.remote_status == TicketStatus::Closed {
            // A closed ticket takes no more comments: a follow-up ticket carries the rest.
            let contact = store
                .contact(&conversation.org_id, &conversation.contact_id)
                .await?;
            let new = new_ticket(
                state,
                conversation,
                contact.as_ref(),
                &messages,
                Some(&ticket.remote_ticket_id),
            )
            .await?;
            self.spend(2).await;
            let created = helpdesk.create_ticket(&new).await?;
            store
                .record_helpdesk_ticket(OpenedTicket {
                    org_id: &conversation.org_id,
                    inbox_id: &inbox.inbox.id,
                    conversation_id: &conversation.id,
                    remote_ticket_id: &created.id,
                    role: TicketRole::Desk,
                    synced_seq: last_seq,
                    status: TicketStatus::Open,
                    comment_ids: &created.comment_ids,
                })
                .await?;
            return Ok(());
        }
        let mut written = Vec::new();
        let mut status = ticket.remote_status;
        if let Some(last) = words.last() {
            let requester = self.requester(state, helpdesk, conversation).await?;
            let id = self
                .write_comment(state, helpdesk, ticket, &words, with_files, Some(requester))
                .await?;
            written.push((id, Some(last.id.clone())));
            if status.is_done() {
                // The customer wrote again: the ticket is open again, as the conversation is.
                self.spend(1).await;
                helpdesk
                    .set_status(&ticket.remote_ticket_id, TicketStatus::Open)
                    .await?;
                status = TicketStatus::Open;
            }
        }
        if let Some(last) = ours.last() {
            let line = |m: &Message| {
                let what = if m.private {
                    "Note in Switchboard"
                } else {
                    "Reply sent to the customer from Switchboard"
                };
                format!("{what}: {}", with_files(m))
            };
            let id = self
                .write_comment(state, helpdesk, ticket, &ours, line, None)
                .await?;
            written.push((id, Some(last.id.clone())));
        }
        store
            .record_desk_sync(ticket, &written, last_seq, status)
            .await?;
        metrics::counter!("switchboard_helpdesk_comments_written_total",
            "channel" => inbox.inbox.channel.as_str())
        .increment(written.len() as u64);
        Ok(())
    }

    /// Writes one comment carrying `messages` (each a paragraph as `line` makes it, with the
    /// files the hub keeps): public and as `author_id` when one is given (the customer's own
    /// words), otherwise a private note by the integration. Answers the comment's id.
    async fn write_comment(
        &self,
        state: &AppState,
        helpdesk: &dyn Helpdesk,
        ticket: &HelpdeskTicket,
        messages: &[&Message],
        line: impl Fn(&Message) -> String,
        author_id: Option<String>,
    ) -> Result<String, SyncError> {
        let body = messages
            .iter()
            .map(|m| line(m))
            .collect::<Vec<_>>()
            .join("\n\n");
        let files = files_of(state, &ticket.org_id, messages).await;
        self.spend(1 + files.len() as u32).await;
        let comment = NewComment {
            body,
            public: author_id.is_some(),
            author_id,
            files,
        };
        Ok(helpdesk
            .add_comment(&ticket.remote_ticket_id, &comment)
            .await?)
    }

    /// The helpdesk user of a conversation's customer, found or created once per process.
    async fn requester(
        &mut self,
        state: &AppState,
        helpdesk: &dyn Helpdesk,
        conversation: &Conversation,
    ) -> Result<String, SyncError> {
        if let Some(id) = self.requesters.get(&conversation.id) {
            return Ok(id.clone());
        }
        let contact = state
            .store
            .contact(&conversation.org_id, &conversation.contact_id)
            .await?;
        self.spend(1).await;
        let id = helpdesk
            .requester(&contact_ref(conversation, contact.as_ref()))
            .await?;
        self.requesters.insert(conversation.id.clone(), id.clone());
        Ok(id)
    }
}

/// A message as the ticket shows it: its text, and the files it came with named (attached to
/// the comment where the hub keeps them, see [`files_of`]), never left out silently.
fn with_files(message: &Message) -> String {
    let text = message.text.trim();
    if message.attachments.is_empty() {
        return text.to_owned();
    }
    let names: Vec<&str> = message
        .attachments
        .iter()
        .map(|file| file.filename.as_str())
        .collect();
    format!("{text}\n[Attached: {}]", names.join(", "))
}

/// The largest file the hub attaches to a comment; a larger one is only named.
const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

/// The files of `messages` the hub keeps in its data dir, read to be attached to a comment.
/// Files another channel serves (a link) and files too large are only named by [`with_files`].
async fn files_of(state: &AppState, org_id: &str, messages: &[&Message]) -> Vec<InboundFile> {
    let mut files = Vec::new();
    for attachment in messages.iter().flat_map(|m| m.attachments.iter()) {
        let Some((hash, name)) = attachment
            .url
            .as_deref()
            .and_then(|url| url.strip_prefix("/api/v1/attachments/"))
            .and_then(|rest| rest.split_once('/'))
            .filter(|(hash, _)| crate::attachments::is_hash(hash))
        else {
            continue;
        };
        if attachment.size > MAX_FILE_BYTES {
            continue;
        }
        let name = crate::attachments::safe_filename(name);
        let path = crate::attachments::path(&state.settings.attachments_dir(), org_id, hash, &name);
        match tokio::fs::read(&path).await {
            Ok(bytes) => files.push(InboundFile {
                filename: attachment.filename.clone(),
                content_type: attachment.content_type.clone(),
                bytes,
            }),
            Err(err) => tracing::warn!(%err, path = %path.display(), "a kept file is missing"),
        }
    }
    files
}

/// The customer as the helpdesk should know them.
fn contact_ref(conversation: &Conversation, contact: Option<&Contact>) -> ContactRef {
    let identity = contact
        .and_then(|c| {
            c.identities
                .iter()
                .find(|i| i.channel == conversation.channel)
        })
        .map(|i| i.external_id.clone());
    ContactRef {
        external_id: identity.unwrap_or_else(|| conversation.contact_id.clone()),
        name: contact.and_then(|c| c.name.clone()),
        email: contact.and_then(|c| c.email.clone()),
        phone: contact.and_then(|c| c.phone.clone()),
    }
}

/// The ticket for an escalated conversation: the handoff's summary as subject, and the
/// handoff note with the transcript as its first, private comment. `follows`: the closed
/// ticket this one follows up.
async fn new_ticket(
    state: &AppState,
    conversation: &Conversation,
    contact: Option<&Contact>,
    messages: &[Message],
    follows: Option<&str>,
) -> Result<NewTicket, SyncError> {
    let store = &state.store;
    let handoff = store
        .handoff(&conversation.org_id, &conversation.id)
        .await?;
    let sla = store
        .sla_clock(&conversation.org_id, &conversation.id)
        .await?;
    let requester = contact_ref(conversation, contact);
    let who = requester
        .name
        .clone()
        .or_else(|| requester.email.clone())
        .unwrap_or_else(|| format!("a {} customer", conversation.channel.as_str()));
    let wants = handoff
        .as_ref()
        .and_then(|h| h.summary.iter().find(|line| !line.trim().is_empty()))
        .map(|line| line.trim().to_owned());
    let subject = match (follows, wants.or_else(|| conversation.subject.clone())) {
        (Some(old), Some(text)) => format!("Follow-up to #{old}: {text}"),
        (Some(old), None) => format!("Follow-up to #{old} from {who}"),
        (None, Some(text)) => text,
        (None, None) => format!("Conversation with {who}"),
    };
    let subject: String = subject.chars().take(150).collect();
    let mut note = format!(
        "Escalated from {} by Switchboard (conversation {}).\n",
        conversation.channel.as_str(),
        conversation.id
    );
    if let Some(handoff) = &handoff {
        note.push_str(&format!("Reason: {}\n", handoff.reason));
        for line in handoff.summary.iter().filter(|l| !l.trim().is_empty()) {
            note.push_str(&format!("- {}\n", line.trim()));
        }
        if let Some(topic) = &handoff.topic {
            note.push_str(&format!("Topic: {topic}\n"));
        }
        if let Some(sentiment) = handoff.sentiment {
            note.push_str(&format!("Sentiment: {sentiment}/100\n"));
        }
        if !handoff.suggested_reply.trim().is_empty() {
            note.push_str(&format!(
                "Suggested reply: {}\n",
                handoff.suggested_reply.trim()
            ));
        }
    }
    note.push_str(&format!("Priority: {}\n", conversation.priority.as_str()));
    if let Some(sla) = &sla {
        note.push_str(&format!(
            "First response due: {}\nResolution due: {}\n",
            sla.first_response_due_at.format("%Y-%m-%d %H:%M UTC"),
            sla.resolution_due_at.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    note.push_str("\nTranscript:\n");
    for message in messages.iter().filter(|m| !m.private) {
        let role = match message.role {
            MessageRole::Customer => who.as_str(),
            MessageRole::Ai => "AI assistant",
            MessageRole::Agent => "Agent",
            MessageRole::System => "Switchboard",
        };
        note.push_str(&format!(
            "[{}] {role}: {}\n",
            message.created_at.format("%Y-%m-%d %H:%M"),
            with_files(message)
        ));
    }
    let mut tags = vec![
        "switchboard".to_owned(),
        format!("switchboard_{}", conversation.channel.as_str()),
    ];
    if let Some(topic) = handoff.as_ref().and_then(|h| h.topic.as_ref()) {
        tags.push(format!("topic_{}", tag(topic)));
    }
    Ok(NewTicket {
        external_id: match follows {
            Some(old) => format!("{}-after-{old}", conversation.id),
            None => conversation.id.clone(),
        },
        subject,
        requester,
        note,
        priority: conversation.priority,
        tags,
    })
}

/// A tag as helpdesks take them: lower case, no spaces.
fn tag(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
