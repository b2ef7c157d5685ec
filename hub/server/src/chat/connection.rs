//! One web-chat connection: a task that reads the visitor's frames, writes what the fan-out
//! queued for it, pings, and keeps track of what it has sent so that a `resume` or a resync
//! never sends a message twice.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use switchboard_model::{
    BusEvent, ChannelKind, ContactRef, ConversationStatus, InboundMessage, MessageRole,
};
use switchboard_webchat::{
    ClientFrame, IdentityError, ServerFrame, Visitor, VisitorToken, parse_client_frame,
    status_frame,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    hub::{ChatHub, ChatInbox, Outgoing, Subscriber},
    limits::{ChatLimits, FrameKeys},
};
use crate::{
    app::ingest::{after_stored, store_message},
    limits::retry_after_secs,
    state::AppState,
};

/// A write the client does not take within this long ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages replayed per store read.
const REPLAY_PAGE: u64 = 200;
/// Sequence numbers remembered as sent live, to skip them in a later replay.
const LIVE_SENT_MAX: usize = 1024;
/// A visitor's typing is passed on at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(1);
/// Close codes: the client is too slow; a refused identity (do not retry as is).
const CLOSE_TOO_SLOW: u16 = 1008;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_IDENTITY: u16 = 4003;

/// Why a connection ends.
enum Stop {
    /// The client left or the socket failed.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

/// Keeps the connection in the registry under its current conversation; leaves it on drop, so
/// that no path out of the task (or a panic) leaves a dead sender behind.
struct Registration {
    hub: Arc<ChatHub>,
    subscriber: Subscriber,
    conversation_id: Option<String>,
}

impl Registration {
    fn move_to(&mut self, conversation_id: &str) {
        if self.conversation_id.as_deref() == Some(conversation_id) {
            return;
        }
        if let Some(old) = self.conversation_id.take() {
            self.hub.unregister(&old, self.subscriber.id);
        }
        self.hub.register(conversation_id, self.subscriber.clone());
        self.conversation_id = Some(conversation_id.to_owned());
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(conversation_id) = &self.conversation_id {
            self.hub.unregister(conversation_id, self.subscriber.id);
        }
        metrics::gauge!("switchboard_webchat_connections").decrement(1.0);
    }
}

struct Connection {
    state: AppState,
    inbox: Arc<ChatInbox>,
    visitor: Visitor,
    /// What this connection's frames count against beyond the visitor's own limit.
    frame_keys: FrameKeys,
    socket: WebSocket,
    registration: Registration,
    too_slow: CancellationToken,
    /// The conversation's status as this visitor last heard it.
    status: Option<ConversationStatus>,
    /// Every message with a `seq` up to this has been sent here or the client said it has it.
    replayed_through: i64,
    /// Messages with a `seq` in `(sent_floor, replayed_through]` were sent on this connection
    /// (or claimed by the client's `resume`): a later `resume` skips them.
    sent_floor: i64,
    /// Messages above `replayed_through` sent here (live, or acknowledged to this client).
    live_sent: BTreeSet<i64>,
    /// Ids of the latest messages sent whole, so that a late `delta` of one is dropped.
    sent_whole: std::collections::VecDeque<String>,
    last_typing: Option<Instant>,
    /// Whether this connection has served a `resume`: its first, part of reconnecting, counts
    /// against no limit, so that a visitor back after a storm of reconnections is never refused
    /// the replay of what it missed (the widget sends it once and does not resend it).
    resumed: bool,
    /// The routing of this visitor's last message, in the background lane: the next waits for
    /// it, so that one visitor's messages are routed in order.
    routing: Option<tokio::task::JoinHandle<()>>,
}

/// Runs one connection until the client leaves, is too slow or silent, or the hub stops.
pub(crate) async fn run(
    state: AppState,
    inbox: Arc<ChatInbox>,
    address: Option<std::net::IpAddr>,
    token: VisitorToken,
    identity: Result<Visitor, IdentityError>,
    mut socket: WebSocket,
) {
    let visitor = match identity {
        Ok(visitor) => visitor,
        Err(err) => {
            let frame = ServerFrame::error("identity_invalid", err.to_string());
            let _ = send_within(&mut socket, WsMessage::Text(frame.to_json().into())).await;
            close(&mut socket, CLOSE_IDENTITY, "identity_invalid").await;
            return;
        }
    };
    metrics::gauge!("switchboard_webchat_connections").increment(1.0);
    let hub = state.chat.clone();
    let (queue, mut outgoing) = mpsc::channel(hub.queue_frames);
    let too_slow = CancellationToken::new();
    let registration = Registration {
        subscriber: Subscriber {
            id: hub.next_id(),
            queue,
            too_slow: too_slow.clone(),
        },
        hub: hub.clone(),
        conversation_id: None,
    };
    let mut connection = Connection {
        state,
        frame_keys: ChatLimits::frame_keys(&inbox, address),
        inbox,
        visitor,
        socket,
        registration,
        too_slow,
        status: None,
        replayed_through: 0,
        sent_floor: 0,
        live_sent: BTreeSet::new(),
        sent_whole: std::collections::VecDeque::new(),
        last_typing: None,
        resumed: false,
        routing: None,
    };
    // The store's futures are large: boxed, they take memory only while they run, and an idle
    // connection's task stays small.
    let stop = match Box::pin(connection.start(&token)).await {
        Ok(()) => connection.serve(&mut outgoing, &hub).await,
        Err(stop) => stop,
    };
    if let Stop::Close(code, reason) = stop {
        close(&mut connection.socket, code, reason).await;
    }
}

async fn send_within(socket: &mut WebSocket, message: WsMessage) -> Result<(), Stop> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Stop::Gone),
        Err(_) => Err(Stop::Close(CLOSE_TOO_SLOW, "too slow")),
    }
}

/// Sends a close frame if the client still takes one soon; the socket is dropped either way.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = WsMessage::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
}

fn unavailable(err: &dyn std::fmt::Display) -> ServerFrame {
    tracing::error!(error = %err, "web chat could not reach the store");
    ServerFrame::error(
        "unavailable",
        "the hub could not handle this right now; send it again",
    )
}

impl Connection {
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Stop> {
        self.send_text(frame.to_json().into()).await
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Stop> {
        let too_slow = self.too_slow.clone();
        tokio::select! {
            sent = send_within(&mut self.socket, WsMessage::Text(text)) => sent,
            _ = too_slow.cancelled() => Err(Stop::Close(CLOSE_TOO_SLOW, "too slow")),
        }
    }

    /// Registers under the visitor's conversation, then reads it, so that whatever is committed
    /// after the read arrives live; sends `session`, and the status when there is one.
    async fn start(&mut self, token: &VisitorToken) -> Result<(), Stop> {
        let store = self.state.store.clone();
        let thread_key = self.visitor.thread_key();
        let org_id = &self.inbox.org_id;
        let found = store
            .thread_conversation_id(org_id, &self.inbox.inbox_id, &thread_key)
            .await;
        // Read once registered: what is committed after the read arrives live.
        let conversation = match found {
            Ok(Some(id)) => {
                self.registration.move_to(&id);
                store.chat_conversation(org_id, &id).await
            }
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        };
        let conversation = match conversation {
            Ok(conversation) => conversation,
            Err(err) => {
                self.send(&unavailable(&err)).await?;
                return Err(Stop::Close(1011, "unavailable"));
            }
        };
        self.replayed_through = conversation.as_ref().map_or(0, |c| c.last_seq);
        self.sent_floor = self.replayed_through;
        self.send(&ServerFrame::Session {
            visitor_token: token.as_str().to_owned(),
            conversation_id: conversation.as_ref().map(|c| c.id.clone()),
            last_seq: self.replayed_through,
        })
        .await?;
        if let Some(conversation) = conversation {
            self.tell_status(conversation.status).await?;
            if conversation.status == ConversationStatus::Resolved {
                let rated = store
                    .csat(&self.inbox.org_id, &conversation.id)
                    .await
                    .map(|csat| csat.is_some())
                    .unwrap_or(true);
                if !rated {
                    self.send(&ServerFrame::CsatRequest).await?;
                }
            }
        }
        Ok(())
    }

    async fn serve(&mut self, outgoing: &mut mpsc::Receiver<Outgoing>, hub: &ChatHub) -> Stop {
        let ping_every = hub.ping_every;
        let silent_for = ping_every * 5 / 2;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        let too_slow = self.too_slow.clone();
        let shutdown = hub.shutdown.clone();
        loop {
            let step = tokio::select! {
                biased;
                _ = too_slow.cancelled() => Err(Stop::Close(CLOSE_TOO_SLOW, "too slow")),
                _ = shutdown.cancelled() => Err(Stop::Close(CLOSE_GOING_AWAY, "the hub is restarting")),
                item = outgoing.recv() => match item {
                    Some(item) => self.outgoing(item).await,
                    None => Err(Stop::Gone),
                },
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        Box::pin(self.incoming(message)).await
                    }
                    Some(Err(_)) | None => Err(Stop::Gone),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > silent_for {
                        metrics::counter!("switchboard_webchat_dead_connections_total").increment(1);
                        Err(Stop::Gone)
                    } else {
                        send_within(&mut self.socket, WsMessage::Ping(Default::default())).await
                    }
                }
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    async fn outgoing(&mut self, item: Outgoing) -> Result<(), Stop> {
        match item {
            Outgoing::Frame(text) => self.send_text(text).await,
            Outgoing::Message { seq, id, frame } => {
                if seq <= self.replayed_through || self.live_sent.contains(&seq) {
                    return Ok(());
                }
                self.remember_sent(seq);
                self.remember_whole(id);
                self.send_text(frame).await
            }
            Outgoing::Delta { message_id, frame } => {
                if self.sent_whole.contains(&message_id) {
                    return Ok(());
                }
                self.send_text(frame).await
            }
            Outgoing::Status(status) => self.tell_status(status).await,
            Outgoing::Resync => Box::pin(self.resync()).await,
        }
    }

    fn remember_whole(&mut self, id: String) {
        const KEEP: usize = 16;
        if self.sent_whole.len() == KEEP {
            self.sent_whole.pop_front();
        }
        self.sent_whole.push_back(id);
    }

    fn remember_sent(&mut self, seq: i64) {
        self.live_sent.insert(seq);
        if self.live_sent.len() > LIVE_SENT_MAX {
            self.live_sent.pop_first();
        }
    }

    /// Tells the visitor the conversation's status when it changed, and asks for a rating when
    /// it became resolved.
    async fn tell_status(&mut self, status: ConversationStatus) -> Result<(), Stop> {
        if self.status == Some(status) {
            return Ok(());
        }
        self.status = Some(status);
        self.send(&status_frame(status)).await?;
        if status == ConversationStatus::Resolved {
            self.send(&ServerFrame::CsatRequest).await?;
        }
        Ok(())
    }

    async fn incoming(&mut self, message: WsMessage) -> Result<(), Stop> {
        let text = match message {
            WsMessage::Text(text) => text,
            WsMessage::Binary(_) => {
                return self
                    .send(&ServerFrame::error(
                        "invalid_frame",
                        "binary frames are not part of the protocol: send JSON text frames",
                    ))
                    .await;
            }
            WsMessage::Close(_) => return Err(Stop::Gone),
            // Pongs (and pings, answered by the socket itself) only show the client is alive.
            WsMessage::Ping(_) | WsMessage::Pong(_) => return Ok(()),
        };
        let frame = parse_client_frame(text.as_str());
        if let Ok(ClientFrame::Typing) = frame {
            return self.typing();
        }
        let first_resume = matches!(frame, Ok(ClientFrame::Resume { .. })) && !self.resumed;
        if !first_resume && let Some(wait) = self.over_limit().await {
            return self
                .send(&ServerFrame::error(
                    "rate_limited",
                    format!("too many messages: wait {wait} s before sending again"),
                ))
                .await;
        }
        match frame {
            Err(err) => self.send(&ServerFrame::from(&err)).await,
            Ok(ClientFrame::Message { client_id, text }) => self.message(client_id, text).await,
            Ok(ClientFrame::Resume { after_seq }) => {
                self.resumed = true;
                if first_resume && self.caught_up(after_seq) {
                    return Ok(());
                }
                self.replay(after_seq).await
            }
            Ok(ClientFrame::Handoff) => self.handoff().await,
            Ok(ClientFrame::Csat { score, comment }) => self.csat(score, comment).await,
            Ok(ClientFrame::Typing) => self.typing(),
        }
    }

    /// Whether a frame is over a limit, and then the seconds to wait: the visitor's own limit
    /// first, on this node, so that a visitor over it costs no count shared with other
    /// nodes; then the address's and the inbox's (`limits.rs`).
    async fn over_limit(&mut self) -> Option<u64> {
        let refused = match self.inbox.limiter.check_key(&self.visitor.thread_key()) {
            Err(not_until) => {
                let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
                Some(("visitor", retry_after_secs(not_until.wait_time_from(now))))
            }
            Ok(()) => self
                .state
                .chat
                .limits
                .frame(&self.inbox, &self.frame_keys, self.state.clock.now())
                .await
                .map(|(limit, wait)| (limit.as_str(), wait)),
        };
        let (limit, wait) = refused?;
        metrics::counter!("switchboard_webchat_rate_limited_total", "limit" => limit).increment(1);
        Some(wait)
    }

    fn conversation_id(&self) -> Option<String> {
        self.registration.conversation_id.clone()
    }

    fn typing(&mut self) -> Result<(), Stop> {
        let Some(conversation_id) = self.conversation_id() else {
            return Ok(());
        };
        if self
            .last_typing
            .is_some_and(|last| last.elapsed() < TYPING_EVERY)
        {
            return Ok(());
        }
        self.last_typing = Some(Instant::now());
        self.state.bus.publish(BusEvent::Typing {
            org_id: self.inbox.org_id.clone(),
            inbox_id: self.inbox.inbox_id.clone(),
            conversation_id,
            role: MessageRole::Customer,
        });
        Ok(())
    }

    /// Stores the visitor's message (committed before the `ack`), idempotently on its
    /// `client_id`.
    async fn message(&mut self, client_id: String, text: String) -> Result<(), Stop> {
        let inbound = InboundMessage {
            thread_key: self.visitor.thread_key(),
            channel_message_id: Some(self.visitor.channel_message_id(&client_id)),
            sender: ContactRef {
                external_id: self.visitor.external_id(),
                ..ContactRef::default()
            },
            text,
            attachments: Vec::new(),
            subject: None,
            sent_at: None,
            ..Default::default()
        };
        let state = self.state.clone();
        let outcome = match store_message(
            &state,
            &self.inbox.org_id,
            &self.inbox.inbox_id,
            ChannelKind::Webchat,
            &inbound,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(err) => return self.send(&unavailable(&err)).await,
        };
        let stored = outcome.message().clone();
        let opened_here = self.conversation_id().as_deref() != Some(&stored.conversation_id);
        if opened_here {
            // A first message, or one after the last conversation closed: follow it.
            self.registration.move_to(&stored.conversation_id);
            self.replayed_through = 0;
            self.sent_floor = 0;
            self.live_sent.clear();
            self.status = None;
        }
        self.remember_sent(stored.seq);
        self.send(&ServerFrame::Ack {
            client_id,
            message_id: stored.id.clone(),
            seq: stored.seq,
        })
        .await?;
        let status = match &outcome {
            switchboard_store::IngestOutcome::Stored { conversation, .. } => {
                Some(conversation.status)
            }
            switchboard_store::IngestOutcome::Duplicate { .. } => None,
        };
        if let Some(status) = status {
            self.tell_status(status).await?;
        }
        if opened_here {
            // Anything committed between the ingest and the registration arrives here.
            self.replay(0).await?;
        }
        // Routing and the bot's turn come after the ack, in the background lane: the visitor
        // waits for the commit only. One visitor's messages are routed in order; a lane that is
        // far behind makes the connection wait here (backpressure) rather than queue more.
        let Some(room) = state.background.room().await else {
            return Ok(());
        };
        let previous = self.routing.take();
        let lane = state.in_background();
        let stored_at = Instant::now();
        self.routing = Some(state.background.spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            metrics::histogram!("switchboard_lane_wait_seconds")
                .record(stored_at.elapsed().as_secs_f64());
            after_stored(&lane, &outcome).await;
            drop(room);
        }));
        Ok(())
    }

    /// Whether a visitor resuming after `after_seq` has everything already: it claims exactly
    /// the conversation's last `seq` as read when this connection started, and whatever was
    /// committed after that read comes live (the connection registered before it). A node's
    /// visitors reconnecting to another after it died are mostly caught up: each then costs
    /// the session's two reads, not four (a replay reads the conversation and a page).
    fn caught_up(&self, after_seq: i64) -> bool {
        after_seq > 0 && after_seq == self.replayed_through && self.sent_floor == after_seq
    }

    /// Sends every visible message with a larger `seq` than `after_seq` that this connection
    /// has not sent yet.
    async fn replay(&mut self, after_seq: i64) -> Result<(), Stop> {
        let Some(conversation_id) = self.conversation_id() else {
            return Ok(());
        };
        let org_id = self.inbox.org_id.clone();
        // A client cannot claim messages that do not exist yet (and so skip them when they do).
        // From the start there is nothing to claim: a conversation's first message, on
        // PostgreSQL, is then one read fewer.
        let last_seq = if after_seq <= 0 {
            0
        } else {
            match self
                .state
                .store
                .chat_conversation(&org_id, &conversation_id)
                .await
            {
                Ok(conversation) => conversation.map_or(0, |c| c.last_seq),
                Err(err) => return self.send(&unavailable(&err)).await,
            }
        };
        let after_seq = after_seq.min(last_seq);
        let mut cursor = after_seq;
        loop {
            let page = match self
                .state
                .store
                .messages(&org_id, &conversation_id, cursor, REPLAY_PAGE, false)
                .await
            {
                Ok(page) => page,
                Err(err) => return self.send(&unavailable(&err)).await,
            };
            let full = page.len() as u64 == REPLAY_PAGE;
            for message in page {
                cursor = message.seq;
                let sent_here = (self.sent_floor < message.seq
                    && message.seq <= self.replayed_through)
                    || self.live_sent.contains(&message.seq);
                if sent_here {
                    continue;
                }
                if let Some(visible) = self.state.chat.visible(&message) {
                    self.remember_whole(message.id.clone());
                    self.send(&ServerFrame::Message { message: visible })
                        .await?;
                }
            }
            if !full {
                break;
            }
        }
        self.sent_floor = self.sent_floor.min(after_seq);
        self.replayed_through = self.replayed_through.max(cursor);
        let through = self.replayed_through;
        self.live_sent.retain(|seq| *seq > through);
        Ok(())
    }

    /// The router missed events: catch up on messages and status from the store.
    async fn resync(&mut self) -> Result<(), Stop> {
        let Some(conversation_id) = self.conversation_id() else {
            return Ok(());
        };
        let conversation = self
            .state
            .store
            .chat_conversation(&self.inbox.org_id, &conversation_id)
            .await;
        if let Ok(Some(conversation)) = conversation {
            self.tell_status(conversation.status).await?;
        }
        self.replay(self.replayed_through).await
    }

    /// The visitor asks for a person: the conversation goes to the human queue unless a person
    /// already has it.
    async fn handoff(&mut self) -> Result<(), Stop> {
        let Some(conversation_id) = self.conversation_id() else {
            return self
                .send(&ServerFrame::error(
                    "no_conversation",
                    "send a message first: there is no conversation to hand over yet",
                ))
                .await;
        };
        let store = self.state.store.clone();
        let org_id = self.inbox.org_id.clone();
        let conversation = match store.conversation(&org_id, &conversation_id).await {
            Ok(Some(conversation)) => conversation,
            Ok(None) => return Ok(()),
            Err(err) => return self.send(&unavailable(&err)).await,
        };
        let status = match conversation.status {
            // Routing escalates it like any rule would: a handoff record, an SLA clock, an
            // assignment to an online agent, the status change published.
            ConversationStatus::Bot => {
                if let Err(err) = crate::routing::on_handoff_request(
                    &self.state.routing(),
                    &org_id,
                    &conversation_id,
                )
                .await
                {
                    return self.send(&unavailable(&err)).await;
                }
                metrics::counter!("switchboard_webchat_handoffs_total").increment(1);
                match store.conversation(&org_id, &conversation_id).await {
                    Ok(Some(changed)) => changed.status,
                    Ok(None) => return Ok(()),
                    Err(err) => return self.send(&unavailable(&err)).await,
                }
            }
            ConversationStatus::Resolved => {
                match store
                    .set_status(
                        &org_id,
                        &conversation_id,
                        ConversationStatus::Escalated,
                        "connector:webchat",
                    )
                    .await
                {
                    Ok(changed) => {
                        metrics::counter!("switchboard_webchat_handoffs_total").increment(1);
                        crate::bus::publish_change(self.state.bus.as_ref(), &changed);
                        changed.status
                    }
                    Err(err) => return self.send(&unavailable(&err)).await,
                }
            }
            unchanged => unchanged,
        };
        // Always answer, even when nothing changed.
        self.status = Some(status);
        self.send(&status_frame(status)).await
    }

    /// Stores the visitor's rating of a resolved conversation.
    async fn csat(&mut self, score: u8, comment: Option<String>) -> Result<(), Stop> {
        let Some(conversation_id) = self.conversation_id() else {
            return self
                .send(&ServerFrame::error(
                    "no_conversation",
                    "there is no conversation to rate yet",
                ))
                .await;
        };
        let store = self.state.store.clone();
        let org_id = self.inbox.org_id.clone();
        let resolved = match store.conversation(&org_id, &conversation_id).await {
            Ok(conversation) => conversation.is_some_and(|c| {
                matches!(
                    c.status,
                    ConversationStatus::Resolved | ConversationStatus::Closed
                )
            }),
            Err(err) => return self.send(&unavailable(&err)).await,
        };
        if !resolved {
            return self
                .send(&ServerFrame::error(
                    "csat_not_requested",
                    "a conversation is rated once it is resolved",
                ))
                .await;
        }
        match store
            .record_csat(
                &org_id,
                &conversation_id,
                i32::from(score),
                comment.as_deref(),
            )
            .await
        {
            Ok(csat) => {
                metrics::counter!("switchboard_webchat_csat_total", "score" => score.to_string())
                    .increment(1);
                crate::webhooks::csat_submitted(&store, &org_id, &self.inbox.inbox_id, &csat).await;
                Ok(())
            }
            Err(err) => self.send(&unavailable(&err)).await,
        }
    }
}
