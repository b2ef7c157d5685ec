//! The Slack agent desk: a Slack inbox with an `agent_channel` gets every escalated conversation
//! of its organization (whatever the customer's channel) as a thread in that channel, with the
//! customer's later messages; agents answer in the thread, and the reply goes to the customer on
//! their own channel through the outbox (`note:` makes it a private note).
//!
//! Out: [`run`] reads the event bus beside the delivery workers and hands work to a bounded
//! queue, so a slow Slack never holds the bus (a full queue drops the post with a warning).
//! Every post is claimed in the store first (`Store::claim_slack_mirror`,
//! `Store::claim_slack_post`), so that with several nodes on one bus each is posted once, and
//! a message that came from Slack is never posted back. A failed post is retried a few times
//! and logged; it never touches the customer's conversation.
//!
//! In: [`take_desk_events`] runs in the webhook pipeline after `normalize` and before ingest,
//! and takes out every message written in the agent channel, so that none becomes a customer
//! conversation.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use serde_json::json;
use switchboard_model::{
    BusEvent, ChannelKind, Conversation, ConversationStatus, DeliveryError, InboundEvent,
    InboundMessage, Message, MessageRole,
};
use switchboard_slack::{SlackConfig, SlackThread};
use switchboard_store::{InboxWithSecrets, NewMessage, SlackMirror, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Posts waiting for Slack; beyond this the bus reader drops new ones rather than wait.
const QUEUE: usize = 1024;
/// How often at most a full queue is told in the log (each drop is counted in the metrics).
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);
/// Tries of one post before it is given up (and logged).
const POST_ATTEMPTS: u32 = 4;
/// The longest wait between two tries, whatever Slack's `Retry-After` says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// What an agent who is not a Switchboard user is told in the thread.
pub const NOT_AN_AGENT: &str = "Only Switchboard agents can answer here: link your Slack email \
    to a Switchboard user (the same address on both), then write again.";

/// The organization's agent desk: its Slack inbox and the channel it mirrors into.
#[derive(Clone, Debug)]
pub struct Desk {
    pub inbox_id: String,
    pub config: SlackConfig,
    pub channel: String,
}

/// The organization's agent desk: its oldest Slack inbox with an `agent_channel`. (An
/// organization has one desk; a second inbox with an agent channel is not used for mirroring.)
pub async fn desk(state: &AppState, org_id: &str) -> Result<Option<Desk>, StoreError> {
    let inboxes = state
        .store
        .org_inboxes_for_channel(org_id, ChannelKind::Slack)
        .await?;
    Ok(inboxes.iter().find_map(desk_of))
}

/// The desk an inbox is, when it is a Slack inbox with an agent channel.
fn desk_of(inbox: &InboxWithSecrets) -> Option<Desk> {
    if inbox.inbox.channel != ChannelKind::Slack {
        return None;
    }
    let config = SlackConfig::parse(&inbox.full_config).ok()?;
    let channel = config.agent_channel.clone()?;
    Some(Desk {
        inbox_id: inbox.inbox.id.clone(),
        config,
        channel,
    })
}

/// One piece of work for the desk, read from the bus.
#[derive(Debug)]
enum Job {
    /// The conversation's status changed: mirror an escalation, note a resolution.
    Changed {
        org_id: String,
        conversation_id: String,
        status: ConversationStatus,
    },
    /// A customer's message or an agent's public reply of a conversation that may be mirrored.
    Message(Box<Message>),
    /// The bus dropped events for this node: what was found may be out of date.
    Lagged,
}

fn job_of(event: &BusEvent) -> Option<Job> {
    match event {
        BusEvent::ConversationChanged {
            org_id,
            conversation_id,
            status,
            ..
        } if matches!(
            status,
            ConversationStatus::Escalated
                | ConversationStatus::Assigned
                | ConversationStatus::Resolved
        ) =>
        {
            Some(Job::Changed {
                org_id: org_id.clone(),
                conversation_id: conversation_id.clone(),
                status: *status,
            })
        }
        BusEvent::MessageCreated { message, .. }
            if !message.private
                && matches!(message.role, MessageRole::Customer | MessageRole::Agent) =>
        {
            Some(Job::Message(message.clone()))
        }
        _ => None,
    }
}

/// Reads the bus and posts to the agent desks until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
    let mut events = state.bus.subscribe();
    let desks = Desks::default();
    let reader = async {
        // Drops are counted each time and told in the log at most every DROP_WARNING_EVERY.
        let mut dropped = 0u64;
        let mut warned: Option<Instant> = None;
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                event = events.recv() => event,
            };
            match event {
                Ok(event) => {
                    let Some(job) = job_of(&event) else { continue };
                    // A message goes only into a thread its escalation made, through a desk.
                    if let Job::Message(message) = &job
                        && desks.none_at(&state, &message.org_id)
                    {
                        continue;
                    }
                    if jobs.try_send(job).is_err() {
                        metrics::counter!("switchboard_slack_desk_dropped_total").increment(1);
                        dropped += 1;
                        if warned.is_none_or(|at| at.elapsed() >= DROP_WARNING_EVERY) {
                            tracing::warn!(
                                dropped,
                                "the Slack agent desk is behind: posts dropped"
                            );
                            warned = Some(Instant::now());
                            dropped = 0;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    metrics::counter!("switchboard_slack_desk_dropped_total").increment(missed);
                    tracing::warn!(missed, "the Slack agent desk lagged behind the bus");
                    // Waits for room: the findings must be forgotten before the next job.
                    if jobs.send(Job::Lagged).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        drop(jobs);
    };
    let worker = async {
        let mut known = Known {
            desks: desks.clone(),
            unmirrored: HashMap::new(),
        };
        while let Some(job) = tokio::select! {
            () = shutdown.cancelled() => None,
            job = queue.recv() => job,
        } {
            if let Err(err) = handle(&state, &mut known, job).await {
                tracing::error!(error = %err, "the Slack agent desk failed");
            }
        }
    };
    tokio::join!(reader, worker);
}

/// How long what was found of an organization's desk is trusted.
const DESK_RECHECK: Duration = Duration::from_secs(5);
/// How long a conversation found without a thread is trusted to have none, unless its status
/// changes first (an escalation makes the thread, and says so on the bus).
const MIRROR_RECHECK: Duration = Duration::from_secs(60);
/// Conversations remembered without a thread; beyond this they are all forgotten.
const UNMIRRORED_MAX: usize = 100_000;

/// Whether each organization had a desk, and when that was, shared by the bus reader and the
/// worker. Most organizations have none, and their customers' messages are most of the bus:
/// the reader drops those without queueing them, and when the finding is older than
/// [`DESK_RECHECK`] it keeps dropping them while one task reads it again. (The worker used to
/// read it in line: on a busy pool it stalled while a thousand messages a second overflowed its
/// queue.) Status changes, far fewer, always reach the worker, which reads a stale finding
/// again: an escalation is mirrored whenever the organization has a desk by then.
#[derive(Clone, Default)]
struct Desks(Arc<Mutex<HashMap<String, DeskSeen>>>);

struct DeskSeen {
    checked: Instant,
    has: bool,
    /// A read of the organization's desk is on its way.
    rechecking: bool,
}

impl Desks {
    /// The finding for `org_id` while it is fresh.
    fn fresh(&self, org_id: &str) -> Option<bool> {
        let seen = self.0.lock().expect("desks");
        seen.get(org_id)
            .filter(|seen| seen.checked.elapsed() < DESK_RECHECK)
            .map(|seen| seen.has)
    }

    fn record(&self, org_id: &str, has: bool) {
        self.0.lock().expect("desks").insert(
            org_id.to_owned(),
            DeskSeen {
                checked: Instant::now(),
                has,
                rechecking: false,
            },
        );
    }

    /// Whether `org_id` was found without a desk, fresh or not; a finding gone stale is read
    /// again in the background, once at a time.
    fn none_at(&self, state: &AppState, org_id: &str) -> bool {
        let mut seen = self.0.lock().expect("desks");
        let Some(found) = seen.get_mut(org_id).filter(|seen| !seen.has) else {
            return false;
        };
        if found.checked.elapsed() >= DESK_RECHECK && !found.rechecking {
            found.rechecking = true;
            let (desks, state, org_id) = (self.clone(), state.clone(), org_id.to_owned());
            tokio::spawn(async move {
                match desk(&state, &org_id).await {
                    Ok(found) => desks.record(&org_id, found.is_some()),
                    Err(err) => {
                        tracing::warn!(error = %err, org_id, "cannot check the Slack agent desk");
                        if let Some(seen) = desks.0.lock().expect("desks").get_mut(&org_id) {
                            seen.rechecking = false;
                        }
                    }
                }
            });
        }
        true
    }
}

/// What the worker found lately, so that a customer's message costs no read when there is
/// nothing to post it to:
/// - whether each organization had a desk ([`Desks`]);
/// - the conversations found without a thread in the desk: most are the bot's. A change of
///   the conversation's status (from any node, through the bus) forgets the finding, as does a
///   bus that lagged.
struct Known {
    desks: Desks,
    unmirrored: HashMap<String, Instant>,
}

impl Known {
    /// Whether the organization may have a desk, looked up unless it was lately.
    async fn may_have_desk(&mut self, state: &AppState, org_id: &str) -> Result<bool, StoreError> {
        if let Some(has) = self.desks.fresh(org_id) {
            return Ok(has);
        }
        let has = desk(state, org_id).await?.is_some();
        self.desks.record(org_id, has);
        Ok(has)
    }

    /// Whether the conversation was lately found without a thread.
    fn unmirrored(&self, conversation_id: &str) -> bool {
        self.unmirrored
            .get(conversation_id)
            .is_some_and(|checked| checked.elapsed() < MIRROR_RECHECK)
    }

    fn note_unmirrored(&mut self, conversation_id: &str) {
        if self.unmirrored.len() >= UNMIRRORED_MAX {
            self.unmirrored.clear();
        }
        self.unmirrored
            .insert(conversation_id.to_owned(), Instant::now());
    }
}

async fn handle(state: &AppState, known: &mut Known, job: Job) -> Result<(), StoreError> {
    if let Job::Changed {
        org_id,
        conversation_id,
        ..
    } = &job
    {
        known.unmirrored.remove(conversation_id);
        if !known.may_have_desk(state, org_id).await? {
            return Ok(());
        }
    }
    match job {
        Job::Changed {
            org_id,
            conversation_id,
            status: ConversationStatus::Resolved,
        } => note_resolved(state, &org_id, &conversation_id).await,
        Job::Changed {
            org_id,
            conversation_id,
            ..
        } => mirror_escalation(state, &org_id, &conversation_id).await,
        Job::Message(message) => {
            if !known.may_have_desk(state, &message.org_id).await?
                || known.unmirrored(&message.conversation_id)
            {
                return Ok(());
            }
            if !mirror_message(state, &message).await? {
                known.note_unmirrored(&message.conversation_id);
            }
            Ok(())
        }
        Job::Lagged => {
            // Desk findings age on their own; the conversations' depend on the bus.
            known.unmirrored.clear();
            Ok(())
        }
    }
}

/// Posts the first message of a conversation's thread, once a handoff made it a person's.
async fn mirror_escalation(
    state: &AppState,
    org_id: &str,
    conversation_id: &str,
) -> Result<(), StoreError> {
    let store = &state.store;
    // Most organizations have no desk: ask that first, before anything about the conversation.
    let Some(desk) = desk(state, org_id).await? else {
        return Ok(());
    };
    if store.slack_mirror(org_id, conversation_id).await?.is_some() {
        return Ok(());
    }
    // Only escalations: an agent taking a bot conversation over has no handoff.
    let Some(handoff) = store.handoff(org_id, conversation_id).await? else {
        return Ok(());
    };
    let Some(conversation) = store.conversation(org_id, conversation_id).await? else {
        return Ok(());
    };
    if !store
        .claim_slack_mirror(org_id, conversation_id, &desk.inbox_id, &desk.channel)
        .await?
    {
        return Ok(());
    }
    let contact = store.contact(org_id, &conversation.contact_id).await?;
    let sla = store.sla_clock(org_id, conversation_id).await?;
    let mut text = format!(
        ":raising_hand: *{}* needs a person · {} · priority *{}*\n",
        escape(&contact_name(contact.as_ref())),
        conversation.channel.as_str(),
        handoff.priority.as_str(),
    );
    for line in handoff
        .summary
        .iter()
        .filter(|line| !line.trim().is_empty())
    {
        text.push_str(&format!("> {}\n", escape(line)));
    }
    if let Some(sla) = sla {
        text.push_str(&format!(
            "First response due {} · ",
            sla.first_response_due_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    text.push_str(&format!(
        "<{}|Open in Switchboard>\n_Reply in this thread to answer on the customer's channel; \
         start with `note:` for an internal note._",
        conversation_url(state, conversation_id)
    ));
    match post(state, &desk.config, &desk.channel, None, &text).await {
        Ok(ts) => {
            store.set_slack_mirror_thread(conversation_id, &ts).await?;
            metrics::counter!("switchboard_slack_desk_posts_total", "kind" => "escalation")
                .increment(1);
        }
        Err(err) => {
            // Give the claim back: the next escalation of the conversation tries again.
            store.release_slack_mirror(conversation_id).await?;
            tracing::warn!(%err, conversation_id, "cannot mirror an escalation into Slack");
        }
    }
    Ok(())
}

/// A mirrored conversation's thread that takes posts: its first post went through, and its
/// desk is still the organization's desk.
struct LiveThread {
    mirror: SlackMirror,
    thread_ts: String,
    desk: Desk,
}

async fn live_thread(
    state: &AppState,
    org_id: &str,
    conversation_id: &str,
) -> Result<Option<LiveThread>, StoreError> {
    match state.store.slack_mirror(org_id, conversation_id).await? {
        Some(mirror) => live_thread_of(state, org_id, mirror).await,
        None => Ok(None),
    }
}

/// The desk's thread of `mirror`, once it is posted and while the desk is the same.
async fn live_thread_of(
    state: &AppState,
    org_id: &str,
    mirror: SlackMirror,
) -> Result<Option<LiveThread>, StoreError> {
    let Some(thread_ts) = mirror.thread_ts.clone() else {
        return Ok(None);
    };
    Ok(desk(state, org_id)
        .await?
        .filter(|desk| desk.inbox_id == mirror.inbox_id)
        .map(|desk| LiveThread {
            mirror,
            thread_ts,
            desk,
        }))
}

impl LiveThread {
    /// Claims the post of `key` (a hub message id) in this thread: `None` when it was posted
    /// already or came from Slack.
    async fn claim(&self, state: &AppState, key: &str) -> Result<Option<String>, StoreError> {
        state.store.claim_slack_post(&self.mirror, key).await
    }

    /// Posts a claimed `text` into the thread and records the Slack message it became; a post
    /// that fails for good is only logged.
    async fn post(
        &self,
        state: &AppState,
        claim: &str,
        text: &str,
        kind: &'static str,
    ) -> Result<(), StoreError> {
        let channel = &self.mirror.channel;
        match post(
            state,
            &self.desk.config,
            channel,
            Some(&self.thread_ts),
            text,
        )
        .await
        {
            Ok(ts) => {
                state
                    .store
                    .set_slack_post_id(claim, &format!("{channel}:{ts}"))
                    .await?;
                metrics::counter!("switchboard_slack_desk_posts_total", "kind" => kind)
                    .increment(1);
            }
            Err(err) => {
                tracing::warn!(%err, kind, conversation_id = %self.mirror.conversation_id,
                    "cannot post into a Slack thread");
            }
        }
        Ok(())
    }
}

/// Posts a customer's message, or an agent's reply written in the inbox, into the thread;
/// `false` when the conversation has no thread in the desk, nor one being made.
async fn mirror_message(state: &AppState, message: &Message) -> Result<bool, StoreError> {
    let store = &state.store;
    let Some(mirror) = store
        .slack_mirror(&message.org_id, &message.conversation_id)
        .await?
    else {
        return Ok(false);
    };
    let Some(thread) = live_thread_of(state, &message.org_id, mirror).await? else {
        return Ok(true);
    };
    // A reply that came from this thread is claimed already: it is not posted back.
    let Some(claim) = thread.claim(state, &message.id).await? else {
        return Ok(true);
    };
    let author = match message.role {
        MessageRole::Customer => {
            let conversation = store
                .conversation(&message.org_id, &message.conversation_id)
                .await?;
            let contact = match conversation {
                Some(conversation) => {
                    store
                        .contact(&message.org_id, &conversation.contact_id)
                        .await?
                }
                None => None,
            };
            contact_name(contact.as_ref())
        }
        _ => match message.author_id.as_deref() {
            Some(user_id) => store
                .user(&message.org_id, user_id)
                .await?
                .map_or_else(|| "An agent".to_owned(), |user| display_name(&user)),
            None => "An agent".to_owned(),
        },
    };
    let mut text = format!("*{}*: {}", escape(&author), escape(&message.text));
    if !message.attachments.is_empty() {
        text.push_str(&format!(
            "\n_({} attachment(s) in Switchboard)_",
            message.attachments.len()
        ));
    }
    thread.post(state, &claim, &text, "message").await?;
    Ok(true)
}

/// Tells the thread that the conversation was resolved (once per state of the conversation).
async fn note_resolved(
    state: &AppState,
    org_id: &str,
    conversation_id: &str,
) -> Result<(), StoreError> {
    let store = &state.store;
    let Some(thread) = live_thread(state, org_id, conversation_id).await? else {
        return Ok(());
    };
    let Some(conversation) = store.conversation(org_id, conversation_id).await? else {
        return Ok(());
    };
    // Resolving again without a new message in between says nothing new.
    let key = format!("resolved:{}:{}", conversation.id, conversation.last_seq);
    let Some(claim) = thread.claim(state, &key).await? else {
        return Ok(());
    };
    let by = match conversation.assignee_id.as_deref() {
        Some(user_id) => store
            .user(org_id, user_id)
            .await?
            .map(|user| format!(" (assigned to {})", escape(&display_name(&user)))),
        None => None,
    };
    let text = format!(
        ":white_check_mark: Resolved in Switchboard{}.",
        by.unwrap_or_default()
    );
    thread.post(state, &claim, &text, "resolved").await
}

/// `chat.postMessage` with a few retries of retriable errors, backing off exponentially from
/// the delivery workers' base delay (or as Slack's `Retry-After` asks, up to a cap).
async fn post(
    state: &AppState,
    config: &SlackConfig,
    channel: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Result<String, DeliveryError> {
    let base = Duration::from_millis(state.settings.delivery_retry_base_ms.max(1));
    let mut attempt = 1;
    loop {
        match switchboard_slack::post_to_channel(config, channel, thread_ts, text).await {
            Err(DeliveryError::Retriable {
                reason,
                retry_after,
            }) if attempt < POST_ATTEMPTS => {
                let delay = retry_after
                    .unwrap_or(base * 2u32.pow(attempt - 1))
                    .min(MAX_RETRY_DELAY);
                tracing::info!(%reason, attempt, ?delay, "Slack post failed; trying again");
                tokio::select! {
                    () = state.shutdown.cancelled() => {
                        return Err(DeliveryError::Retriable { reason, retry_after: None });
                    }
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Takes the messages written in the agent channel out of what a Slack inbox's request
/// carried, and handles them as the agent desk: replies and notes on mirrored conversations.
/// Everything else goes on to ingest. Fails (503, so Slack retries) only when Slack cannot
/// say who wrote a reply.
pub async fn take_desk_events(
    state: &AppState,
    inbox: &InboxWithSecrets,
    events: Vec<InboundEvent>,
) -> ApiResult<Vec<InboundEvent>> {
    let Some(desk) = desk_of(inbox) else {
        return Ok(events);
    };
    let mut rest = Vec::with_capacity(events.len());
    for event in events {
        match event {
            InboundEvent::Message(message) => match SlackThread::of(&message) {
                Some(thread) if thread.channel == desk.channel => {
                    agent_message(state, inbox, &desk, &thread, &message).await?;
                }
                _ => rest.push(InboundEvent::Message(message)),
            },
            other => rest.push(other),
        }
    }
    Ok(rest)
}

/// A person's message in the agent channel. Only a reply in a mirrored thread counts; its
/// author must be a user of the organization (matched by email through `users.info`).
async fn agent_message(
    state: &AppState,
    inbox: &InboxWithSecrets,
    desk: &Desk,
    thread: &SlackThread,
    message: &InboundMessage,
) -> ApiResult<()> {
    if thread.top_level {
        return Ok(());
    }
    let store = &state.store;
    let Some(mirror) = store
        .slack_mirror_for_thread(&desk.inbox_id, &thread.channel, &thread.thread_ts)
        .await?
        .filter(|mirror| mirror.org_id == inbox.inbox.org_id)
    else {
        return Ok(());
    };
    let user = match switchboard_slack::user_email(&desk.config, &message.sender.external_id).await
    {
        Ok(Some(email)) => store
            .user_by_email(&email)
            .await?
            .filter(|user| user.org_id == mirror.org_id && user.active),
        Ok(None) => None,
        Err(DeliveryError::Retriable { reason, .. }) => {
            tracing::warn!(%reason, "Slack cannot say who replied; asking Slack to retry");
            return Err(ApiError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "slack_unavailable",
                message: "cannot look the Slack user up now".into(),
            });
        }
        Err(DeliveryError::Permanent { reason }) => {
            tracing::warn!(%reason, "cannot look a Slack user up (does the app have users:read.email?)");
            None
        }
    };
    let Some(user) = user else {
        if store
            .refuse_slack_message(&mirror, &thread.message_id)
            .await?
        {
            metrics::counter!("switchboard_slack_desk_replies_total", "outcome" => "refused")
                .increment(1);
            refuse_in_background(state, desk, &mirror);
        }
        return Ok(());
    };
    let (private, text) = note_text(&message.text);
    if text.is_empty() {
        return Ok(());
    }
    let new = NewMessage::agent(Some(&user.id), text, private);
    let Some((conversation, stored)) = store
        .append_slack_reply(&mirror, &thread.message_id, new)
        .await?
    else {
        return Ok(());
    };
    metrics::counter!(
        "switchboard_slack_desk_replies_total",
        "outcome" => if private { "note" } else { "reply" }
    )
    .increment(1);
    after_reply(state, &user.id, &conversation, &stored, thread).await?;
    Ok(())
}

async fn after_reply(
    state: &AppState,
    user_id: &str,
    conversation: &Conversation,
    message: &Message,
    thread: &SlackThread,
) -> Result<(), StoreError> {
    super::agent_reply::after_agent_message(
        state,
        &format!("user:{user_id}"),
        Some(user_id),
        conversation,
        message,
        json!({ "message_id": message.id, "via": "slack", "slack_message_id": thread.message_id }),
    )
    .await
}

/// Answers a reply by someone who is not an agent, in its thread, without holding the webhook.
fn refuse_in_background(state: &AppState, desk: &Desk, mirror: &SlackMirror) {
    let (Some(thread_ts), state, desk) = (mirror.thread_ts.clone(), state.clone(), desk.clone())
    else {
        return;
    };
    tokio::spawn(async move {
        if let Err(err) = post(
            &state,
            &desk.config,
            &desk.channel,
            Some(&thread_ts),
            NOT_AN_AGENT,
        )
        .await
        {
            tracing::warn!(%err, "cannot answer a Slack user who is not an agent");
        }
    });
}

/// `note: …` (any case, after trimming) is a private note; the rest is a reply. Returns
/// whether it is a note, and the text to store.
pub fn note_text(text: &str) -> (bool, &str) {
    let text = text.trim();
    match text.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("note:") => (true, text[5..].trim()),
        _ => (false, text),
    }
}

/// How the desk names the customer: as the inbox does (`Contact::display_name`: name, email or
/// phone, or a visitor's generated name).
fn contact_name(contact: Option<&switchboard_model::Contact>) -> String {
    contact
        .map(|contact| contact.display_name.clone())
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "A customer".to_owned())
}

fn display_name(user: &switchboard_model::User) -> String {
    if user.name.trim().is_empty() {
        user.email.clone()
    } else {
        user.name.clone()
    }
}

/// The conversation in the agent inbox (its `#/inbox/{id}` route).
fn conversation_url(state: &AppState, conversation_id: &str) -> String {
    format!(
        "{}/#/inbox/{conversation_id}",
        state.settings.public_url().trim_end_matches('/')
    )
}

/// Slack's `mrkdwn` reads `&`, `<` and `>` as markup: what customers wrote is escaped so that
/// it cannot ping `@channel` or forge a link.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_is_named_as_the_inbox_names_them() {
        let visitor = "visitor:aead424967b31e33";
        let contact = switchboard_model::Contact {
            id: "c-1".into(),
            org_id: "o-1".into(),
            name: None,
            email: None,
            phone: None,
            identities: Vec::new(),
            created_at: chrono::Utc::now(),
            display_name: switchboard_model::friendly_name(visitor),
            avatar_colour: switchboard_model::avatar_colour(visitor).into(),
            labels: Vec::new(),
        };
        assert_eq!(
            contact_name(Some(&contact)),
            switchboard_model::friendly_name(visitor)
        );
        assert_eq!(contact_name(None), "A customer");
    }

    #[test]
    fn a_note_is_marked_by_its_prefix_in_any_case() {
        assert_eq!(
            note_text("  note: call them back "),
            (true, "call them back")
        );
        assert_eq!(note_text("NOTE:vip"), (true, "vip"));
        assert_eq!(note_text("Note :x"), (false, "Note :x"));
        assert_eq!(note_text("notes are fun"), (false, "notes are fun"));
        assert_eq!(note_text("é"), (false, "é"));
        assert_eq!(note_text("note:"), (true, ""));
    }

    #[test]
    fn customer_text_cannot_write_slack_markup() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
