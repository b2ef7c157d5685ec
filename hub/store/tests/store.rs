//! The store against real databases: SQLite always, PostgreSQL when configured. Each test gets
//! a fresh database.

use std::{collections::HashSet, time::Duration};

use switchboard_model::{
    AiOutcome, ChannelKind, Clock, ContactRef, ConversationStatus, DeliveryStatus, DeliveryUpdate,
    InboundMessage, MessageRole, Permission, Role,
};
use switchboard_store::{ConversationFilter, IngestOutcome, NewMessage, Store};
use switchboard_testkit::{Backend, TestDatabase, backend_tests};

backend_tests!(
    ingest_is_idempotent_on_the_channel_message_id,
    concurrent_duplicates_store_one_message,
    a_batch_with_a_resend_a_known_thread_and_a_new_one,
    concurrent_messages_get_consecutive_seqs,
    two_hubs_racing_for_one_conversation_number_every_message_once,
    a_burst_of_messages_each_gets_its_own_outcome,
    answers_that_finish_together_each_commit_once,
    a_bot_turn_reads_what_it_needs_while_the_bot_holds_the_conversation,
    one_contact_per_identity_and_one_conversation_per_thread,
    closed_conversations_are_not_reopened_but_resolved_ones_are,
    answers_find_their_conversation_by_reply_keys,
    organizations_never_see_each_other,
    outbox_retries_then_completes,
    expired_leases_are_claimed_again,
    two_hubs_racing_for_delivery_jobs_take_each_once,
    failed_jobs_mark_the_message_failed,
    delivery_statuses_only_move_forward,
    tokens_and_api_keys_identify_principals,
    conversations_page_with_a_cursor,
    data_survives_reconnecting,
    sqlite_keeps_its_query_plans,
    with_heartbeats_only_agents_whose_heartbeat_lives_are_online,
    an_inbox_read_for_its_channel_is_read_again_once_changed,
    the_reports_count_again_only_what_wrote_an_event,
    a_report_catching_up_waits_for_the_refresh_under_way,
);

async fn store(db: &TestDatabase) -> Store {
    let store = Store::connect(&db.url).await.expect("connects");
    store.migrate().await.expect("migrates");
    store
}

struct Fixture {
    store: Store,
    org_id: String,
    inbox_id: String,
    channel: ChannelKind,
}

async fn fixture(db: &TestDatabase) -> Fixture {
    fixture_on(db, ChannelKind::Webchat).await
}

/// A fixture whose inbox is on `channel`: the outbox's tests need one whose replies a
/// connector delivers (a web-chat reply is delivered by the hub, with no job).
async fn fixture_on(db: &TestDatabase, channel: ChannelKind) -> Fixture {
    let store = store(db).await;
    let org = store.create_org("acme", "Acme").await.expect("org");
    let inbox = store
        .create_inbox(&org.id, "Inbox", channel, serde_json::json!({}))
        .await
        .expect("inbox");
    Fixture {
        store,
        org_id: org.id,
        inbox_id: inbox.id,
        channel,
    }
}

fn inbound(thread: &str, sender: &str, channel_id: Option<&str>, text: &str) -> InboundMessage {
    InboundMessage {
        thread_key: thread.into(),
        channel_message_id: channel_id.map(str::to_owned),
        sender: ContactRef {
            external_id: sender.into(),
            name: Some("Ada".into()),
            ..Default::default()
        },
        text: text.into(),
        ..Default::default()
    }
}

/// A stand-in for the caller's sentiment scorer (`switchboard_ai::sentiment::message_score`,
/// which the store does not depend on): none without text, low for a complaint, high otherwise.
fn score(text: &str) -> Option<u8> {
    (!text.trim().is_empty()).then_some(if text.contains("awful") { 20 } else { 70 })
}

/// [`Store::ingest`] of a web-chat message, scored by [`score`].
async fn ingest_chat(
    store: &Store,
    org_id: &str,
    inbox_id: &str,
    message: &InboundMessage,
) -> switchboard_store::Result<IngestOutcome> {
    let score = score(&message.text);
    store
        .ingest(org_id, inbox_id, ChannelKind::Webchat, message, score)
        .await
}

impl Fixture {
    async fn ingest(&self, message: &InboundMessage) -> IngestOutcome {
        self.store
            .ingest(
                &self.org_id,
                &self.inbox_id,
                self.channel,
                message,
                score(&message.text),
            )
            .await
            .expect("ingests")
    }

    async fn stored(&self, message: &InboundMessage) -> (String, i64) {
        match self.ingest(message).await {
            IngestOutcome::Stored {
                conversation,
                message,
                ..
            } => (conversation.id, message.seq),
            IngestOutcome::Duplicate { .. } => panic!("expected a new message"),
        }
    }

    async fn reply(&self, conversation_id: &str) -> String {
        let agent = self
            .store
            .create_user(
                &self.org_id,
                &format!("{}@acme.test", switchboard_model::new_id()),
                "Agent",
                Role::SupportAgent,
                "password123",
            )
            .await
            .expect("agent");
        let (_, message) = self
            .store
            .append_message(
                &self.org_id,
                conversation_id,
                NewMessage::agent(Some(&agent.id), "On it!", false),
            )
            .await
            .expect("appends");
        message.id
    }
}

async fn ingest_is_idempotent_on_the_channel_message_id(db: TestDatabase) {
    let f = fixture(&db).await;
    let message = inbound("visitor-1", "visitor-1", Some("m-1"), "Where is my parcel?");
    let (conversation_id, seq) = f.stored(&message).await;
    assert_eq!(seq, 1);
    let IngestOutcome::Duplicate { message: again } = f.ingest(&message).await else {
        panic!("the second delivery must be a duplicate");
    };
    assert_eq!(again.seq, 1);
    let messages = f
        .store
        .messages(&f.org_id, &conversation_id, 0, 100, true)
        .await
        .expect("reads");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text, "Where is my parcel?");
    assert_eq!(messages[0].role, MessageRole::Customer);
}

async fn concurrent_duplicates_store_one_message(db: TestDatabase) {
    let f = fixture(&db).await;
    let message = inbound("t", "s", Some("same-id"), "hello");
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (store, org, inbox, message) = (
                f.store.clone(),
                f.org_id.clone(),
                f.inbox_id.clone(),
                message.clone(),
            );
            tokio::spawn(async move { ingest_chat(&store, &org, &inbox, &message).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        if let IngestOutcome::Stored { .. } = task.await.expect("joins").expect("ingests") {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    let page = f
        .store
        .list_conversations(&f.org_id, &ConversationFilter::default(), None, 10)
        .await
        .expect("lists");
    assert_eq!(page.conversations.len(), 1);
    assert_eq!(page.conversations[0].last_seq, 1);
}

/// Messages arriving together (one batch on SQLite): a resend of a committed message, a
/// message on a thread the hub knows and one on a new thread each get their own outcome.
async fn a_batch_with_a_resend_a_known_thread_and_a_new_one(db: TestDatabase) {
    let f = fixture(&db).await;
    let first = inbound("known", "ada", Some("m1"), "first");
    let IngestOutcome::Stored {
        message: stored,
        conversation: known,
        ..
    } = f.ingest(&first).await
    else {
        panic!("the first message is stored");
    };
    let together = [
        first.clone(),
        inbound("known", "ada", Some("m2"), "second"),
        inbound("new", "bob", Some("m3"), "hello"),
    ];
    let tasks: Vec<_> = together
        .into_iter()
        .map(|message| {
            let (store, org, inbox) = (f.store.clone(), f.org_id.clone(), f.inbox_id.clone());
            tokio::spawn(async move { ingest_chat(&store, &org, &inbox, &message).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("joins").expect("ingests"));
    }
    match &outcomes[0] {
        IngestOutcome::Duplicate { message } => assert_eq!(message.id, stored.id),
        other => panic!("the resend is a duplicate, not {other:?}"),
    }
    match &outcomes[1] {
        IngestOutcome::Stored {
            conversation,
            message,
            opened,
            ..
        } => {
            assert_eq!(conversation.id, known.id, "the known thread's conversation");
            assert_eq!(message.seq, 2);
            assert!(!opened);
        }
        other => panic!("the second message is stored, not {other:?}"),
    }
    match &outcomes[2] {
        IngestOutcome::Stored {
            conversation,
            message,
            opened,
            ..
        } => {
            assert_ne!(
                conversation.id, known.id,
                "a new thread, a new conversation"
            );
            assert_eq!(message.seq, 1);
            assert!(opened);
        }
        other => panic!("the new thread's message is stored, not {other:?}"),
    }
}

async fn concurrent_messages_get_consecutive_seqs(db: TestDatabase) {
    let f = fixture(&db).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, org, inbox) = (f.store.clone(), f.org_id.clone(), f.inbox_id.clone());
            tokio::spawn(async move {
                let message = inbound(
                    "thread",
                    "person",
                    Some(&format!("m{i}")),
                    &format!("message {i}"),
                );
                ingest_chat(&store, &org, &inbox, &message).await
            })
        })
        .collect();
    let mut conversations = std::collections::HashSet::new();
    for task in tasks {
        match task.await.expect("joins").expect("ingests") {
            IngestOutcome::Stored { conversation, .. } => conversations.insert(conversation.id),
            IngestOutcome::Duplicate { .. } => panic!("no duplicates here"),
        };
    }
    assert_eq!(conversations.len(), 1, "one thread, one conversation");
    let id = conversations.into_iter().next().expect("one");
    let seqs: Vec<i64> = f
        .store
        .messages(&f.org_id, &id, 0, 100, true)
        .await
        .expect("reads")
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
}

/// Two hubs on one PostgreSQL database (two stores, each with its own writers) and, on each,
/// several senders writing to one thread at once, with the bot answering in between: every
/// message gets its own `seq`, with no gap; a sender's messages, each sent after the last was
/// committed, are numbered in the order they committed; reading on from any `seq`, as `resume`
/// does, gives each message once.
async fn two_hubs_racing_for_one_conversation_number_every_message_once(db: TestDatabase) {
    const SENDERS: usize = 4;
    const EACH: usize = 25;
    let f = fixture(&db).await;
    // SQLite is one node's database (one process writes it): there, one hub's senders race.
    let two_hubs = db.backend == Backend::Postgres;
    let other_hub = if two_hubs {
        store(&db).await
    } else {
        f.store.clone()
    };
    let opened = f
        .stored(&inbound("race", "ada", Some("first"), "hello"))
        .await;
    let mut senders = Vec::new();
    for (hub, store) in [f.store.clone(), other_hub.clone()].into_iter().enumerate() {
        for sender in 0..SENDERS {
            let (store, org, inbox) = (store.clone(), f.org_id.clone(), f.inbox_id.clone());
            let conversation_id = opened.0.clone();
            senders.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let id = format!("h{hub}-s{sender}-m{i}");
                    let message = inbound("race", "ada", Some(&id), &id);
                    match ingest_chat(&store, &org, &inbox, &message)
                        .await
                        .expect("ingests")
                    {
                        IngestOutcome::Stored { message, .. } => seqs.push(message.seq),
                        IngestOutcome::Duplicate { .. } => panic!("{id} is new"),
                    }
                    if i % 5 == 0 {
                        let (_, answer) = store
                            .append_bot_message(
                                &org,
                                &conversation_id,
                                &switchboard_model::new_id(),
                                NewMessage {
                                    role: MessageRole::Ai,
                                    confidence: Some(0.9),
                                    ..NewMessage::agent(None, "An answer", false)
                                },
                                AiOutcome::Answered,
                            )
                            .await
                            .expect("answers");
                        seqs.push(answer.seq);
                    }
                }
                seqs
            }));
        }
    }
    let mut all = vec![opened.1];
    for sender in senders {
        let seqs = sender.await.expect("the sender");
        assert!(
            seqs.windows(2).all(|pair| pair[0] < pair[1]),
            "one sender's messages are numbered in commit order: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    let total = all.len() as i64;
    assert_eq!(all, (1..=total).collect::<Vec<_>>(), "one seq each, no gap");
    for after in [0, 1, total / 3, total - 1] {
        let mut replayed = Vec::new();
        let mut cursor = after;
        loop {
            let page = f
                .store
                .messages(&f.org_id, &opened.0, cursor, 17, true)
                .await
                .expect("reads");
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            replayed.extend(page.iter().map(|message| message.seq));
        }
        assert_eq!(
            replayed,
            (after + 1..=total).collect::<Vec<_>>(),
            "resuming after {after} replays each message once"
        );
    }
    if two_hubs {
        other_hub.close().await.expect("closes");
    }
}

/// Many messages at once: on SQLite they are committed in batches (group commit), mixing
/// open, resolved and closed conversations, new threads, resends and two copies of one new
/// message; each must get exactly the outcome it would get alone.
async fn a_burst_of_messages_each_gets_its_own_outcome(db: TestDatabase) {
    let f = fixture(&db).await;
    let (open, _) = f
        .stored(&inbound("open", "a", Some("open-1"), "first"))
        .await;
    let (resolved, _) = f
        .stored(&inbound("resolved", "b", Some("res-1"), "first"))
        .await;
    let (closed, _) = f
        .stored(&inbound("closed", "c", Some("clo-1"), "first"))
        .await;
    for (id, status) in [
        (&resolved, ConversationStatus::Resolved),
        (&closed, ConversationStatus::Closed),
    ] {
        f.store
            .set_status(&f.org_id, id, status, "system")
            .await
            .expect("sets the status");
    }
    let mut burst = Vec::new();
    for i in 0..10 {
        burst.push(inbound(
            "open",
            "a",
            Some(&format!("open-{}", i + 2)),
            "Thanks, that is great",
        ));
    }
    burst.push(inbound("open", "a", Some("open-1"), "first")); // a resend
    burst.push(inbound(
        "resolved",
        "b",
        Some("res-2"),
        "This is awful, still broken",
    ));
    burst.push(inbound("closed", "c", Some("clo-2"), "again"));
    for i in 0..5 {
        burst.push(inbound(
            &format!("new-{i}"),
            &format!("n{i}"),
            Some(&format!("new-{i}")),
            "hi",
        ));
    }
    burst.push(inbound("twice", "t", Some("twice"), "hello"));
    burst.push(inbound("twice", "t", Some("twice"), "hello"));
    // One new sender on two new threads; a new thread with two messages.
    burst.push(inbound("multi-1", "m", Some("multi-1"), "one"));
    burst.push(inbound("multi-2", "m", Some("multi-2"), "two"));
    burst.push(inbound("pair", "p", Some("pair-1"), "first of two"));
    burst.push(inbound("pair", "p", Some("pair-2"), "second of two"));
    let tasks: Vec<_> = burst
        .into_iter()
        .map(|message| {
            let (store, org, inbox) = (f.store.clone(), f.org_id.clone(), f.inbox_id.clone());
            tokio::spawn(async move {
                let outcome = ingest_chat(&store, &org, &inbox, &message).await;
                (message, outcome.expect("ingests"))
            })
        })
        .collect();
    let mut twice_stored = 0;
    let mut multi_contacts = HashSet::new();
    let mut pair = Vec::new();
    for task in tasks {
        let (sent, outcome) = task.await.expect("joins");
        let key = sent.channel_message_id.clone().expect("an id");
        match outcome {
            IngestOutcome::Duplicate { message } => {
                assert!(key == "open-1" || key == "twice", "{key} is no resend");
                assert_eq!(message.channel_message_id.as_deref(), Some(key.as_str()));
            }
            IngestOutcome::Stored {
                conversation,
                message,
                opened,
                reopened,
            } => {
                assert_eq!(message.channel_message_id.as_deref(), Some(key.as_str()));
                assert_eq!(message.conversation_id, conversation.id);
                assert_eq!(message.text, sent.text);
                assert!(conversation.last_seq >= message.seq);
                match sent.thread_key.as_str() {
                    "open" => {
                        assert_eq!(conversation.id, open);
                        assert!(!opened && !reopened);
                    }
                    "resolved" => {
                        assert_eq!(conversation.id, resolved);
                        assert!(reopened, "a resolved conversation reopens");
                        assert_eq!(conversation.status, ConversationStatus::Bot);
                        assert_eq!(message.seq, 2);
                    }
                    "closed" => {
                        assert_ne!(conversation.id, closed, "a closed one is not reopened");
                        assert!(opened);
                        assert_eq!(message.seq, 1);
                    }
                    "twice" => {
                        twice_stored += 1;
                        assert!(opened);
                    }
                    "multi-1" | "multi-2" => {
                        assert!(opened);
                        assert_eq!(message.seq, 1);
                        multi_contacts.insert(conversation.contact_id.clone());
                    }
                    "pair" => pair.push((conversation.id.clone(), message.seq, opened)),
                    _ => {
                        assert!(opened, "a new thread opens a conversation");
                        assert_eq!(message.seq, 1);
                    }
                }
                assert!(message.sentiment.is_some());
            }
        }
    }
    assert_eq!(twice_stored, 1, "two copies of one message store one");
    assert_eq!(multi_contacts.len(), 1, "one sender is one contact");
    pair.sort_by_key(|(_, seq, _)| *seq);
    assert_eq!(pair.len(), 2);
    assert_eq!(pair[0].0, pair[1].0, "one thread, one conversation");
    assert_eq!((pair[0].1, pair[1].1), (1, 2));
    assert!(pair[0].2 && !pair[1].2, "the first message opens it");
    let messages = f
        .store
        .messages(&f.org_id, &open, 0, 100, true)
        .await
        .expect("reads");
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>(), "numbered without gaps");
    let conversation = f
        .store
        .conversation(&f.org_id, &open)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(conversation.last_seq, 11);
    assert_eq!(
        conversation.last_message_preview.as_deref(),
        Some("Thanks, that is great")
    );
    assert!(
        conversation.sentiment.is_some_and(|level| level > 50),
        "ten happy messages lift the level: {:?}",
        conversation.sentiment
    );
    let reopened = f
        .store
        .conversation(&f.org_id, &resolved)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(reopened.status, ConversationStatus::Bot);
    assert_eq!(reopened.resolved_at, None);
    assert_eq!(reopened.last_seq, 2);
    let page = f
        .store
        .list_conversations(&f.org_id, &ConversationFilter::default(), None, 100)
        .await
        .expect("lists");
    // open, resolved, closed, the closed thread's new one, five new threads, "twice", the
    // two of one sender, "pair".
    assert_eq!(page.conversations.len(), 13);
    let multi: Vec<_> = page
        .conversations
        .iter()
        .filter(|c| c.thread_key.starts_with("multi-"))
        .collect();
    assert_eq!(multi.len(), 2);
    assert!(
        multi
            .iter()
            .all(|c| c.last_seq == 1 && c.sentiment.is_some())
    );
    assert!(multi.iter().all(|c| c.last_message_preview.as_deref()
        == Some(if c.thread_key == "multi-1" {
            "one"
        } else {
            "two"
        })));
}

/// The bot's answers finishing together: on SQLite they commit in batches, mixing web chat
/// (no delivery job) and email (a job), two answers to one conversation, a handover and an
/// answer to a conversation that does not exist; each must be stored as it would be alone.
async fn answers_that_finish_together_each_commit_once(db: TestDatabase) {
    let f = fixture(&db).await;
    let mail = f
        .store
        .create_inbox(&f.org_id, "Mail", ChannelKind::Email, serde_json::json!({}))
        .await
        .expect("inbox");
    let mut chats = Vec::new();
    for i in 0..6 {
        let message = inbound(&format!("chat-{i}"), &format!("v{i}"), None, "Where is it?");
        chats.push(f.stored(&message).await.0);
    }
    let email = match f
        .store
        .ingest(
            &f.org_id,
            &mail.id,
            ChannelKind::Email,
            &inbound("mail", "m", Some("m-1"), "Hi"),
            score("Hi"),
        )
        .await
        .expect("ingests")
    {
        IngestOutcome::Stored { conversation, .. } => conversation.id,
        IngestOutcome::Duplicate { .. } => panic!("a first message is no duplicate"),
    };
    let answer = |text: &str| NewMessage {
        role: MessageRole::Ai,
        confidence: Some(0.9),
        ..NewMessage::agent(None, text, false)
    };
    let handover = || NewMessage {
        role: MessageRole::System,
        ..NewMessage::agent(None, "A person will take over.", false)
    };
    // Sends a burst of the bot's messages at once; each conversation's id, the message's id
    // and what storing it gave.
    let send = async |burst: Vec<(String, NewMessage, AiOutcome)>| {
        let tasks: Vec<_> = burst
            .into_iter()
            .map(|(conversation_id, new, outcome)| {
                let (store, org) = (f.store.clone(), f.org_id.clone());
                tokio::spawn(async move {
                    let id = switchboard_model::new_id();
                    let appended = store
                        .append_bot_message(&org, &conversation_id, &id, new, outcome)
                        .await;
                    (conversation_id, id, appended)
                })
            })
            .collect();
        let mut sent = Vec::new();
        for task in tasks {
            sent.push(task.await.expect("joins"));
        }
        sent
    };
    let mut turns = vec![
        (
            chats[0].clone(),
            answer("first answer"),
            AiOutcome::Answered,
        ),
        (
            chats[0].clone(),
            answer("second answer"),
            AiOutcome::Answered,
        ),
        (chats[5].clone(), handover(), AiOutcome::Declined),
        (email.clone(), answer("by email"), AiOutcome::Answered),
    ];
    for chat in &chats[1..5] {
        turns.push((chat.clone(), answer("an answer"), AiOutcome::Answered));
    }
    // A batch of good answers; then one with an answer that fails, which must not take the
    // other down with it.
    let failing = vec![
        (
            "no-such-conversation".to_owned(),
            answer("lost"),
            AiOutcome::Answered,
        ),
        (
            chats[1].clone(),
            answer("another answer"),
            AiOutcome::Answered,
        ),
    ];
    // The conversations' openings counted, so that only what the answers mark is left.
    while f.store.refresh_analytics().await.expect("refreshes") > 0 {}
    for burst in [turns, failing] {
        for (conversation_id, id, appended) in send(burst).await {
            if conversation_id == "no-such-conversation" {
                assert!(appended.is_err(), "an answer to no conversation is refused");
                continue;
            }
            let (conversation, message) = appended.expect("stores the answer");
            assert_eq!(message.id, id, "the answer keeps the id its deltas used");
            assert_eq!(message.conversation_id, conversation_id);
            assert_eq!(conversation.id, conversation_id);
            assert!(conversation.last_seq >= message.seq && message.seq >= 2);
            let expected = match (message.role, conversation.channel) {
                (MessageRole::System, _) => DeliveryStatus::Internal,
                (_, ChannelKind::Webchat) => DeliveryStatus::Sent,
                _ => DeliveryStatus::Pending,
            };
            assert_eq!(message.delivery_status, expected, "{}", message.text);
        }
    }
    for (conversation_id, answers, declines) in [
        (&chats[0], 2_u32, 0_u32),
        (&chats[1], 2, 0),
        (&chats[4], 1, 0),
        (&chats[5], 0, 1),
        (&email, 1, 0),
    ] {
        let messages = f
            .store
            .messages(&f.org_id, conversation_id, 0, 100, true)
            .await
            .expect("reads");
        let seqs: Vec<i64> = messages.iter().map(|message| message.seq).collect();
        let expected: Vec<i64> = (1..=1 + i64::from(answers + declines)).collect();
        assert_eq!(seqs, expected, "no gap and no repeat in {conversation_id}");
        let conversation = f
            .store
            .conversation(&f.org_id, conversation_id)
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(conversation.last_seq, 1 + i64::from(answers + declines));
        assert_eq!(conversation.first_response_at.is_some(), answers > 0);
        let last_said = messages
            .iter()
            .rev()
            .find(|message| message.role != MessageRole::System)
            .expect("a message");
        assert_eq!(
            conversation.last_message_preview.as_deref(),
            Some(last_said.text.as_str()),
            "the list shows what a person or the AI last said"
        );
        let routing = f
            .store
            .routing_state(&f.org_id, conversation_id)
            .await
            .expect("reads");
        assert_eq!(routing.ai_answers, answers);
        assert_eq!(routing.ai_declines, declines);
        assert_eq!(routing.ai_failures, declines);
        // Each answer of a batch is one reporting event, in the order of the messages (on
        // PostgreSQL a statement trigger writes a batch's events together).
        let answered: Vec<String> = f
            .store
            .reporting_events(&f.org_id, conversation_id)
            .await
            .expect("reads the log")
            .into_iter()
            .filter(|event| event.kind == "ai_answered")
            .map(|event| event.data["message_id"].as_str().unwrap_or("").to_owned())
            .collect();
        let ai: Vec<String> = messages
            .iter()
            .filter(|message| message.role == MessageRole::Ai)
            .map(|message| message.id.clone())
            .collect();
        assert_eq!(answered, ai, "the log of {conversation_id}");
    }
    // Every event marked its conversation to be counted again: the six answered ones.
    assert_eq!(f.store.refresh_analytics().await.expect("refreshes"), 6);
    // The counts go on from the rows an earlier batch wrote: an answer ends a run of declines,
    // a decline starts one.
    let later = vec![
        (chats[5].clone(), answer("at last"), AiOutcome::Answered),
        (chats[4].clone(), handover(), AiOutcome::Declined),
    ];
    for (_, _, appended) in send(later).await {
        appended.expect("stores the message");
    }
    for (conversation_id, failures) in [(&chats[5], 0), (&chats[4], 1)] {
        let routing = f
            .store
            .routing_state(&f.org_id, conversation_id)
            .await
            .expect("reads");
        assert_eq!(
            (routing.ai_answers, routing.ai_declines, routing.ai_failures),
            (1, 1, failures),
            "{conversation_id}"
        );
    }
}

async fn a_bot_turn_reads_what_it_needs_while_the_bot_holds_the_conversation(db: TestDatabase) {
    let f = fixture(&db).await;
    f.store
        .update_inbox(
            &f.org_id,
            &f.inbox_id,
            None,
            Some(serde_json::json!({"ai_min_confidence": 0.7})),
            |_, _| Ok(()),
        )
        .await
        .expect("updates");
    let (conversation_id, _) = f.stored(&inbound("t", "ada", Some("m1"), "first")).await;
    f.reply(&conversation_id).await;
    f.store
        .set_status(&f.org_id, &conversation_id, ConversationStatus::Bot, "test")
        .await
        .expect("back to the bot");
    f.stored(&inbound("t", "ada", Some("m2"), "second")).await;
    f.stored(&inbound("t", "ada", Some("m3"), "third")).await;
    let turn = |limit| {
        f.store
            .bot_turn(&f.org_id, &conversation_id, &f.inbox_id, limit)
    };
    let read = turn(3).await.expect("reads");
    let texts: Vec<&str> = read.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["On it!", "second", "third"],
        "the latest, oldest first"
    );
    assert_eq!(read.inbox_config["ai_min_confidence"], 0.7);
    assert_eq!(read.kb_revision, 0, "no article yet");
    f.store
        .create_article(
            &f.org_id,
            switchboard_store::NewArticle {
                title: "Returns".into(),
                body: "Within 30 days.".into(),
                category: None,
                tags: Vec::new(),
                status: switchboard_model::ArticleStatus::Published,
            },
            None,
        )
        .await
        .expect("article");
    let revision = f.store.kb_revision(&f.org_id).await.expect("revision");
    assert!(revision > 0);
    assert_eq!(turn(10).await.expect("reads").kb_revision, revision);
    assert_eq!(turn(10).await.expect("reads").history.len(), 4);
    // Another organization reads nothing of it.
    let other = f.store.create_org("other", "Other").await.expect("org");
    assert_eq!(
        f.store
            .bot_turn(&other.id, &conversation_id, &f.inbox_id, 10)
            .await
            .expect("reads"),
        switchboard_store::BotTurn::default()
    );

    // A person holds it: nothing for the bot.
    f.store
        .set_status(
            &f.org_id,
            &conversation_id,
            ConversationStatus::Escalated,
            "test",
        )
        .await
        .expect("escalates");
    assert_eq!(
        turn(10).await.expect("reads"),
        switchboard_store::BotTurn::default()
    );
}

async fn one_contact_per_identity_and_one_conversation_per_thread(db: TestDatabase) {
    let f = fixture(&db).await;
    let (first, _) = f
        .stored(&inbound("thread-a", "ada", Some("1"), "one"))
        .await;
    let (same, seq) = f
        .stored(&inbound("thread-a", "ada", Some("2"), "two"))
        .await;
    let (other, _) = f
        .stored(&inbound("thread-b", "ada", Some("3"), "three"))
        .await;
    assert_eq!(first, same);
    assert_eq!(seq, 2);
    assert_ne!(first, other);
    let a = f
        .store
        .conversation(&f.org_id, &first)
        .await
        .expect("reads")
        .expect("exists");
    let b = f
        .store
        .conversation(&f.org_id, &other)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(a.contact_id, b.contact_id, "one person, one contact");
    assert_eq!(a.last_message_preview.as_deref(), Some("two"));
    // What web chat reads when a visitor (re)connects: the thread's conversation, its `seq`
    // high-water mark and status; within the thread's organization only.
    let thread_a = f
        .store
        .thread_conversation_id(&f.org_id, &f.inbox_id, "thread-a")
        .await
        .expect("reads")
        .expect("the thread's conversation");
    let chat = f
        .store
        .chat_conversation(&f.org_id, &thread_a)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        (chat.id.as_str(), chat.last_seq, chat.status),
        (first.as_str(), 2, a.status)
    );
    assert_eq!(
        f.store
            .chat_conversation(&f.org_id, &other)
            .await
            .expect("reads")
            .map(|c| c.last_seq),
        Some(1)
    );
    let stranger = f.store.create_org("other", "Other").await.expect("org");
    for found in [
        f.store
            .thread_conversation_id(&stranger.id, &f.inbox_id, "thread-a")
            .await,
        f.store
            .thread_conversation_id(&f.org_id, &f.inbox_id, "thread-z")
            .await,
    ] {
        assert_eq!(found.expect("reads"), None);
    }
    assert_eq!(
        f.store
            .chat_conversation(&stranger.id, &first)
            .await
            .expect("reads"),
        None
    );
    // The hub's own status lines do not hide what the customer last said.
    let system = NewMessage {
        role: switchboard_model::MessageRole::System,
        ..NewMessage::agent(None, "A person will be with you shortly.", false)
    };
    let (after_system, _) = f
        .store
        .append_message(&f.org_id, &first, system)
        .await
        .expect("appends");
    assert_eq!(after_system.last_message_preview.as_deref(), Some("two"));
    let contact = f
        .store
        .contact(&f.org_id, &a.contact_id)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(contact.name.as_deref(), Some("Ada"));
    assert_eq!(contact.identities.len(), 1);
    assert_eq!(contact.identities[0].external_id, "ada");
}

async fn closed_conversations_are_not_reopened_but_resolved_ones_are(db: TestDatabase) {
    let f = fixture(&db).await;
    let (first, _) = f.stored(&inbound("t", "s", Some("1"), "one")).await;
    f.store
        .set_status(&f.org_id, &first, ConversationStatus::Resolved, "system")
        .await
        .expect("resolves");
    let (again, seq) = f.stored(&inbound("t", "s", Some("2"), "two")).await;
    assert_eq!(again, first);
    assert_eq!(seq, 2);
    let reopened = f
        .store
        .conversation(&f.org_id, &first)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(reopened.status, ConversationStatus::Bot);
    assert_eq!(reopened.resolved_at, None);

    f.store
        .set_status(&f.org_id, &first, ConversationStatus::Closed, "system")
        .await
        .expect("closes");
    let (fresh, seq) = f.stored(&inbound("t", "s", Some("3"), "three")).await;
    assert_ne!(fresh, first);
    assert_eq!(seq, 1);
    let audit = f
        .store
        .list_audit(&f.org_id, None, 10)
        .await
        .expect("audit");
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|event| event.action == "conversation.status")
    );
}

async fn answers_find_their_conversation_by_reply_keys(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    let answer = |thread: &str, id: &str, keys: &[&str]| InboundMessage {
        reply_to_keys: keys.iter().map(|key| key.to_string()).collect(),
        ..inbound(thread, "s", Some(id), id)
    };
    let (first, _) = f.stored(&inbound("a1", "s", Some("a1"), "question")).await;
    f.reply(&first).await;
    let jobs = f
        .store
        .claim_jobs(&[ChannelKind::Email], 10, Duration::from_secs(60))
        .await
        .expect("claims");
    f.store
        .complete_job(&jobs[0], Some("ours-1"))
        .await
        .expect("completes");

    // Our sent message's channel id, a customer message's id, or a thread key all lead back.
    let (by_ours, _) = f.stored(&answer("b1", "b1", &["unknown", "ours-1"])).await;
    assert_eq!(by_ours, first);
    let (by_theirs, _) = f.stored(&answer("c1", "c1", &["a1"])).await;
    assert_eq!(by_theirs, first);
    let (none_known, _) = f.stored(&answer("d1", "d1", &["unknown"])).await;
    assert_ne!(none_known, first);

    // A machine's answer is kept without reopening; a person's reopens.
    f.store
        .set_status(&f.org_id, &first, ConversationStatus::Resolved, "system")
        .await
        .expect("resolves");
    let automated = InboundMessage {
        automated: true,
        text_full: Some("full".into()),
        ..answer("e1", "e1", &["ours-1"])
    };
    let IngestOutcome::Stored {
        conversation,
        message,
        ..
    } = f.ingest(&automated).await
    else {
        panic!("stored")
    };
    assert_eq!(conversation.id, first);
    assert_eq!(conversation.status, ConversationStatus::Resolved);
    assert!(message.automated);
    assert_eq!(message.text_full.as_deref(), Some("full"));
    let (reopened, _) = f.stored(&answer("f1", "f1", &["ours-1"])).await;
    assert_eq!(reopened, first);
    let conversation = f
        .store
        .conversation(&f.org_id, &first)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(conversation.status, ConversationStatus::Bot);

    // A closed conversation takes no answers: they open a new one.
    f.store
        .set_status(&f.org_id, &first, ConversationStatus::Closed, "system")
        .await
        .expect("closes");
    let (fresh, seq) = f.stored(&answer("g1", "g1", &["ours-1", "a1"])).await;
    assert_ne!(fresh, first);
    assert_eq!(seq, 1);
}

async fn organizations_never_see_each_other(db: TestDatabase) {
    let f = fixture(&db).await;
    let (conversation_id, _) = f.stored(&inbound("t", "s", Some("1"), "secret")).await;
    let other = f.store.create_org("other", "Other").await.expect("org");
    assert!(
        f.store
            .conversation(&other.id, &conversation_id)
            .await
            .expect("reads")
            .is_none()
    );
    assert!(
        f.store
            .messages(&other.id, &conversation_id, 0, 10, true)
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(
        f.store
            .inbox(&other.id, &f.inbox_id)
            .await
            .expect("reads")
            .is_none()
    );
    let page = f
        .store
        .list_conversations(&other.id, &ConversationFilter::default(), None, 10)
        .await
        .expect("lists");
    assert!(page.conversations.is_empty());
    let err = f
        .store
        .append_message(
            &other.id,
            &conversation_id,
            NewMessage::agent(Some("x"), "hi", false),
        )
        .await;
    assert!(matches!(err, Err(switchboard_store::StoreError::NotFound)));
}

async fn outbox_retries_then_completes(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    let (conversation_id, _) = f.stored(&inbound("t", "visitor", Some("1"), "hi")).await;
    let message_id = f.reply(&conversation_id).await;
    let channels = [ChannelKind::Email];
    assert!(
        f.store
            .claim_jobs(&[ChannelKind::Webchat], 10, Duration::from_secs(30))
            .await
            .expect("claims")
            .is_empty()
    );
    let jobs = f
        .store
        .claim_jobs(&channels, 10, Duration::from_secs(30))
        .await
        .expect("claims");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.message.message_id, message_id);
    assert_eq!(job.message.recipient.external_id, "visitor");
    assert_eq!(job.message.in_reply_to.as_deref(), Some("1"));
    assert_eq!(job.message.attempt, 1);
    assert!(
        f.store
            .claim_jobs(&channels, 10, Duration::from_secs(30))
            .await
            .expect("claims")
            .is_empty(),
        "leased"
    );

    f.store
        .retry_job(job, "503 from platform", f.store.clock().now())
        .await
        .expect("reschedules");
    let jobs = f
        .store
        .claim_jobs(&channels, 10, Duration::from_secs(30))
        .await
        .expect("claims");
    assert_eq!(jobs[0].message.attempt, 2);
    f.store
        .complete_job(&jobs[0], Some("platform-42"))
        .await
        .expect("completes");
    assert_eq!(f.store.unfinished_jobs().await.expect("counts"), 0);
    let messages = f
        .store
        .messages(&f.org_id, &conversation_id, 1, 10, true)
        .await
        .expect("reads");
    assert_eq!(messages[0].delivery_status, DeliveryStatus::Sent);
    assert_eq!(
        messages[0].channel_message_id.as_deref(),
        Some("platform-42")
    );
    let conversation = f
        .store
        .conversation(&f.org_id, &conversation_id)
        .await
        .expect("reads")
        .expect("exists");
    assert!(conversation.first_response_at.is_some());
}

async fn expired_leases_are_claimed_again(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    // Leases run by the store's clock, which the test moves.
    let clock = Clock::manual(Clock::system().now());
    let f = Fixture {
        store: f.store.with_clock(clock.clone()),
        ..f
    };
    let (conversation_id, _) = f.stored(&inbound("t", "v", Some("1"), "hi")).await;
    f.reply(&conversation_id).await;
    // Another worker's claim, with a lease of 30 s.
    let claim = || async {
        f.store
            .claim_jobs(&[ChannelKind::Email], 10, Duration::from_secs(30))
            .await
            .expect("claims")
    };
    let first = claim().await;
    assert_eq!(first.len(), 1);
    assert!(!first[0].lapsed, "a first claim");
    assert!(claim().await.is_empty(), "leased");
    clock.advance(chrono::Duration::seconds(31));
    // The first worker "crashed": its lease ran out, so another worker takes the job, told
    // that the message may have gone out.
    let second = claim().await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].job_id, first[0].job_id);
    assert_eq!(second[0].message.attempt, 2);
    assert!(second[0].lapsed);
    // The first worker comes back and reports a failure: the job is the second's now, so
    // nothing changes; the second's success counts.
    f.store
        .fail_job(&first[0], "timed out")
        .await
        .expect("reports");
    f.store
        .retry_job(&first[0], "timed out", clock.now())
        .await
        .expect("reports");
    assert!(claim().await.is_empty(), "still the second worker's");
    f.store
        .complete_job(&second[0], Some("sent-1"))
        .await
        .expect("completes");
    assert_eq!(f.store.unfinished_jobs().await.expect("counts"), 0);
    let conversation = f
        .store
        .messages(&f.org_id, &conversation_id, 0, 10, false)
        .await
        .expect("reads");
    let reply = conversation.last().expect("the reply");
    assert_eq!(
        reply.delivery_status,
        switchboard_model::DeliveryStatus::Sent
    );
}

/// Two hubs' delivery workers on one database claim from the same outbox at once: each job goes
/// to one of them (`FOR UPDATE SKIP LOCKED`). SQLite is one node's database: there, two workers
/// of one hub race.
async fn two_hubs_racing_for_delivery_jobs_take_each_once(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    let mut expected = std::collections::HashSet::new();
    for n in 0..24 {
        let thread = format!("t{n}");
        let (conversation_id, _) = f.stored(&inbound(&thread, "v", Some(&thread), "hi")).await;
        expected.insert(f.reply(&conversation_id).await);
    }
    let other = if db.backend == Backend::Postgres {
        store(&db).await
    } else {
        f.store.clone()
    };
    let worker = |store: Store| {
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let jobs = store
                    .claim_jobs(&[ChannelKind::Email], 3, Duration::from_secs(60))
                    .await
                    .expect("claims");
                if jobs.is_empty() {
                    return taken;
                }
                taken.extend(jobs.into_iter().map(|job| job.message.message_id));
                tokio::task::yield_now().await;
            }
        })
    };
    let (a, b) = (worker(f.store.clone()), worker(other));
    let (a, b) = (a.await.expect("a runs"), b.await.expect("b runs"));
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!(
        claimed,
        all.len(),
        "no job claimed twice: {} and {}",
        a.len(),
        b.len()
    );
    assert_eq!(
        all.into_iter().collect::<std::collections::HashSet<_>>(),
        expected
    );
}

async fn failed_jobs_mark_the_message_failed(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    let (conversation_id, _) = f.stored(&inbound("t", "v", Some("1"), "hi")).await;
    let private = f
        .store
        .append_message(
            &f.org_id,
            &conversation_id,
            NewMessage::agent(Some("a"), "note to self", true),
        )
        .await
        .expect("notes")
        .1;
    assert_eq!(private.delivery_status, DeliveryStatus::Internal);
    f.reply(&conversation_id).await;
    let jobs = f
        .store
        .claim_jobs(&[ChannelKind::Email], 10, Duration::from_secs(30))
        .await
        .expect("claims");
    assert_eq!(jobs.len(), 1, "notes are never delivered");
    f.store
        .fail_job(&jobs[0], "400 invalid recipient")
        .await
        .expect("fails");
    let messages = f
        .store
        .messages(&f.org_id, &conversation_id, 2, 10, true)
        .await
        .expect("reads");
    assert_eq!(messages[0].delivery_status, DeliveryStatus::Failed);
    assert_eq!(
        messages[0].delivery_error.as_deref(),
        Some("400 invalid recipient")
    );
    assert_eq!(f.store.unfinished_jobs().await.expect("counts"), 0);
}

async fn delivery_statuses_only_move_forward(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Email).await;
    let (conversation_id, _) = f.stored(&inbound("t", "v", Some("1"), "hi")).await;
    f.reply(&conversation_id).await;
    let jobs = f
        .store
        .claim_jobs(&[ChannelKind::Email], 10, Duration::from_secs(30))
        .await
        .expect("claims");
    f.store
        .complete_job(&jobs[0], Some("wamid.1"))
        .await
        .expect("completes");
    let update = |status| DeliveryUpdate {
        channel_message_id: "wamid.1".into(),
        status,
        error: None,
    };
    let read = f
        .store
        .apply_delivery_update(&f.inbox_id, &update(DeliveryStatus::Read))
        .await
        .expect("applies");
    assert_eq!(read.map(|m| m.delivery_status), Some(DeliveryStatus::Read));
    let late = f
        .store
        .apply_delivery_update(&f.inbox_id, &update(DeliveryStatus::Delivered))
        .await
        .expect("applies");
    assert!(
        late.is_none(),
        "a late `delivered` does not overwrite `read`"
    );
    let unknown = DeliveryUpdate {
        channel_message_id: "nope".into(),
        status: DeliveryStatus::Read,
        error: None,
    };
    assert!(
        f.store
            .apply_delivery_update(&f.inbox_id, &unknown)
            .await
            .expect("applies")
            .is_none()
    );
}

async fn tokens_and_api_keys_identify_principals(db: TestDatabase) {
    let f = fixture(&db).await;
    let user = f
        .store
        .create_user(
            &f.org_id,
            "Agent@Acme.test",
            "Agent",
            Role::SupportAgent,
            "correct horse",
        )
        .await
        .expect("user");
    assert_eq!(user.email, "agent@acme.test");
    assert!(
        f.store
            .create_user(
                &f.org_id,
                "agent@acme.test",
                "Again",
                Role::Admin,
                "correct horse"
            )
            .await
            .is_err()
    );
    assert!(
        f.store
            .verify_login("agent@acme.test", "wrong password")
            .await
            .expect("checks")
            .is_none()
    );
    assert!(
        f.store
            .verify_login("nobody@acme.test", "correct horse")
            .await
            .expect("checks")
            .is_none()
    );
    let logged_in = f
        .store
        .verify_login("AGENT@acme.test", "correct horse")
        .await
        .expect("checks")
        .expect("matches");
    let token = f
        .store
        .create_session(&logged_in, chrono::Duration::hours(1))
        .await
        .expect("session");
    let principal = f
        .store
        .principal(&token)
        .await
        .expect("looks up")
        .expect("known");
    assert_eq!(principal.org_id, f.org_id);
    assert!(principal.can(Permission::ConversationsReply));
    assert!(!principal.can(Permission::UsersManage));

    let key = f
        .store
        .create_api_key(&f.org_id, "ci", &[Permission::ConversationsRead], None)
        .await
        .expect("key");
    let principal = f
        .store
        .principal(&key.secret)
        .await
        .expect("looks up")
        .expect("known");
    assert!(principal.can(Permission::ConversationsRead));
    assert!(!principal.can(Permission::ConversationsReply));
    f.store
        .revoke_api_key(&f.org_id, &key.key.id)
        .await
        .expect("revokes");
    assert!(
        f.store
            .principal(&key.secret)
            .await
            .expect("looks up")
            .is_none()
    );
    assert!(
        f.store
            .principal("sbs_forged")
            .await
            .expect("looks up")
            .is_none()
    );

    f.store
        .update_user(&f.org_id, &user.id, None, Some(false))
        .await
        .expect("deactivates");
    assert!(
        f.store.principal(&token).await.expect("looks up").is_none(),
        "sessions end with the account"
    );
}

async fn conversations_page_with_a_cursor(db: TestDatabase) {
    let f = fixture(&db).await;
    for i in 0..7 {
        f.stored(&inbound(&format!("t{i}"), &format!("s{i}"), None, "hi"))
            .await;
    }
    let filter = ConversationFilter {
        statuses: vec![ConversationStatus::Bot],
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = f
            .store
            .list_conversations(&f.org_id, &filter, cursor.as_deref(), 3)
            .await
            .expect("lists");
        seen.extend(page.conversations.iter().map(|c| c.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7, "no conversation twice across pages");
    let escalated = ConversationFilter {
        statuses: vec![ConversationStatus::Escalated],
        ..Default::default()
    };
    assert!(
        f.store
            .list_conversations(&f.org_id, &escalated, None, 10)
            .await
            .expect("lists")
            .conversations
            .is_empty()
    );
}

async fn data_survives_reconnecting(db: TestDatabase) {
    let f = fixture(&db).await;
    let (conversation_id, _) = f.stored(&inbound("t", "s", Some("1"), "remember me")).await;
    f.store.clone().close().await.expect("closes");
    let reopened = store(&db).await;
    let messages = reopened
        .messages(&f.org_id, &conversation_id, 0, 10, false)
        .await
        .expect("reads");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text, "remember me");
}

/// The bundled SQLite is built with `SQLITE_ENABLE_QPSG` (`.cargo/config.toml`): without it,
/// each statement with a bound `LIMIT` is compiled again every time it runs.
async fn sqlite_keeps_its_query_plans(db: TestDatabase) {
    let store = store(&db).await;
    let stable = store.sqlite_plans_are_stable().await.expect("reads");
    match store.backend() {
        sea_orm::DbBackend::Sqlite => assert_eq!(stable, Some(true)),
        _ => assert_eq!(stable, None),
    }
}

/// With Redis, who is alive is the set of users with a live heartbeat (`Liveness::Heartbeats`)
/// rather than the time of their last `online`: presence, the organizations worth an assignment
/// pass and the assignment itself all read it.
async fn with_heartbeats_only_agents_whose_heartbeat_lives_are_online(db: TestDatabase) {
    use switchboard_model::PresenceStatus;
    use switchboard_routing::assignment::Liveness;
    let f = fixture(&db).await;
    let mut agents = Vec::new();
    for email in ["ann@acme.test", "bob@acme.test"] {
        let user = f
            .store
            .create_user(
                &f.org_id,
                email,
                "Agent",
                Role::SupportAgent,
                "a long password 1",
            )
            .await
            .expect("an agent");
        f.store
            .set_presence(&f.org_id, &user.id, PresenceStatus::Online)
            .await
            .expect("online");
        agents.push(user.id);
    }
    let (ann, bob) = (&agents[0], &agents[1]);
    let message = inbound("t", "ada", Some("m1"), "I need a person");
    let IngestOutcome::Stored { conversation, .. } =
        ingest_chat(&f.store, &f.org_id, &f.inbox_id, &message)
            .await
            .expect("ingests")
    else {
        panic!("stored");
    };
    f.store
        .set_status(
            &f.org_id,
            &conversation.id,
            ConversationStatus::Escalated,
            "test",
        )
        .await
        .expect("escalates");

    // Nobody's heartbeat lives: nobody is online, however recently they said so.
    let none = Liveness::Heartbeats(HashSet::new());
    let presence = f
        .store
        .list_presence(&f.org_id, &none)
        .await
        .expect("lists");
    assert_eq!(presence.len(), 2);
    assert!(presence.iter().all(|agent| !agent.online));
    assert!(
        f.store
            .orgs_to_assign(&none)
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(
        f.store
            .auto_assign(&f.org_id, &conversation.id, &none)
            .await
            .expect("assigns")
            .is_none()
    );

    // Bob's lives: he alone is online and takes the conversation.
    let bobs = Liveness::Heartbeats(HashSet::from([bob.clone()]));
    let presence = f
        .store
        .list_presence(&f.org_id, &bobs)
        .await
        .expect("lists");
    let online: Vec<&str> = presence
        .iter()
        .filter(|agent| agent.online)
        .map(|agent| agent.user_id.as_str())
        .collect();
    assert_eq!(online, [bob.as_str()]);
    assert_eq!(
        f.store.orgs_to_assign(&bobs).await.expect("reads"),
        std::slice::from_ref(&f.org_id)
    );
    let assigned = f
        .store
        .auto_assign(&f.org_id, &conversation.id, &bobs)
        .await
        .expect("assigns")
        .expect("to someone");
    assert_eq!(assigned.assignee_id.as_deref(), Some(bob.as_str()));
    // Saying "away" still wins over a live heartbeat.
    f.store
        .set_presence(&f.org_id, ann, PresenceStatus::Away)
        .await
        .expect("away");
    let both = Liveness::Heartbeats(HashSet::from([ann.clone(), bob.clone()]));
    let presence = f
        .store
        .list_presence(&f.org_id, &both)
        .await
        .expect("lists");
    assert!(
        presence
            .iter()
            .any(|agent| agent.user_id == *ann && !agent.online)
    );
}

/// `inbox_for_channel` keeps what it read for a few seconds (every webhook names its inbox):
/// a change through the same store is seen at once, a change through another node's store
/// within the cache's few seconds, never as a mix of the two.
async fn an_inbox_read_for_its_channel_is_read_again_once_changed(db: TestDatabase) {
    let f = fixture_on(&db, ChannelKind::Telegram).await;
    let config = |token: &str| serde_json::json!({ "bot_token": "1:x", "secret_token": token });
    let read = |store: Store| {
        let inbox_id = f.inbox_id.clone();
        async move {
            store
                .inbox_for_channel(&inbox_id)
                .await
                .expect("reads")
                .expect("exists")
                .full_config["secret_token"]
                .clone()
        }
    };
    let update = |store: Store, token: &'static str| {
        let (org_id, inbox_id) = (f.org_id.clone(), f.inbox_id.clone());
        async move {
            store
                .update_inbox(&org_id, &inbox_id, None, Some(config(token)), |_, _| Ok(()))
                .await
                .expect("updates");
        }
    };
    update(f.store.clone(), "first").await;
    assert_eq!(read(f.store.clone()).await, "first");
    update(f.store.clone(), "second").await;
    assert_eq!(
        read(f.store.clone()).await,
        "second",
        "forgotten when changed here"
    );
    let other_node = store(&db).await;
    assert_eq!(read(other_node.clone()).await, "second");
    update(other_node, "third").await;
    let seen = read(f.store.clone()).await;
    assert!(seen == "second" || seen == "third", "{seen}");
    assert!(
        f.store
            .inbox_for_channel("no-such-inbox")
            .await
            .expect("reads")
            .is_none()
    );
}

/// A conversation is marked to be counted again by the reports when a reporting event is
/// written for it or it is deleted, and only then: a customer's message in an open
/// conversation (most of the ingest path's writes) marks nothing.
async fn the_reports_count_again_only_what_wrote_an_event(db: TestDatabase) {
    let f = fixture(&db).await;
    let store = &f.store;
    let settled = || async {
        store.catch_up_analytics(100).await.expect("counts");
        assert_eq!(store.analytics_marked().await.expect("marks"), 0);
    };
    settled().await;
    let (id, _) = f.stored(&inbound("t", "ada", Some("m1"), "first")).await;
    assert_eq!(store.analytics_marked().await.expect("marks"), 1, "opened");
    settled().await;
    f.stored(&inbound("t", "ada", Some("m2"), "second")).await;
    f.stored(&inbound("t", "ada", Some("m3"), "third")).await;
    assert_eq!(
        store.analytics_marked().await.expect("marks"),
        0,
        "customer messages write no event"
    );
    f.reply(&id).await;
    assert_eq!(store.analytics_marked().await.expect("marks"), 1, "replied");
    assert_eq!(store.refresh_analytics().await.expect("counts"), 1);
    f.store
        .set_status(&f.org_id, &id, ConversationStatus::Resolved, "test")
        .await
        .expect("resolves");
    assert_eq!(
        store.analytics_marked().await.expect("marks"),
        1,
        "resolved"
    );
    settled().await;
    // Erased: its events go with it, and the mark left makes the reports take it out.
    let contact_id = f
        .store
        .conversation(&f.org_id, &id)
        .await
        .expect("reads")
        .expect("a conversation")
        .contact_id;
    f.store
        .erase_contact(&f.org_id, &contact_id, &|_| Vec::new())
        .await
        .expect("erases");
    assert_eq!(store.analytics_marked().await.expect("marks"), 1, "deleted");
    assert_eq!(store.refresh_analytics().await.expect("counts"), 1);
    assert_eq!(store.analytics_marked().await.expect("marks"), 0);
}

/// A report counts what is still marked before it reads (`catch_up_analytics`); while the
/// periodic refresh of the same process is under way it waits for it, then counts the rest,
/// rather than finding the refresh's lock taken and reading stale roll-ups.
async fn a_report_catching_up_waits_for_the_refresh_under_way(db: TestDatabase) {
    let f = fixture(&db).await;
    let store = &f.store;
    // More conversations than one refresh counts (250).
    for i in 0..300 {
        let thread = format!("t{i}");
        let id = format!("m{i}");
        f.stored(&inbound(&thread, &thread, Some(&id), "hello"))
            .await;
    }
    assert_eq!(store.analytics_marked().await.expect("marks"), 300);
    let refreshing = tokio::spawn({
        let store = store.clone();
        async move { store.refresh_analytics().await }
    });
    if db.backend == Backend::Postgres {
        // The catch-up starts once the refresh holds PostgreSQL's lock of the counting.
        use sea_orm::{ConnectionTrait, Statement};
        let watcher = sea_orm::Database::connect(&db.url).await.expect("connects");
        let held = Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted",
        );
        while watcher
            .query_one_raw(held.clone())
            .await
            .expect("reads")
            .is_none()
            && !refreshing.is_finished()
        {
            tokio::task::yield_now().await;
        }
    }
    store.catch_up_analytics(64).await.expect("catches up");
    refreshing.await.expect("joins").expect("refreshes");
    assert_eq!(
        store.analytics_marked().await.expect("marks"),
        0,
        "the catch-up counted what the refresh left"
    );
}

/// PostgreSQL's full-text index over messages merges its pending list once it passes 256 kB
/// (`m20261212_000100_gin_pending_lists`), not 4 MB: the merge runs in the writer's insert,
/// while the writer holds its batch's acknowledgements. What was merged is found by a search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_search_indexes_merge_new_entries_in_small_steps() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let f = fixture(&db).await;
    // 600 messages of 60 words never seen before: about 36,000 pending entries, over 1 MB.
    for i in 0..600 {
        let text = (0..60)
            .map(|j| format!("w{i}x{j}"))
            .collect::<Vec<_>>()
            .join(" ");
        let thread = format!("t{}", i % 20);
        f.stored(&inbound(&thread, &thread, Some(&format!("m{i}")), &text))
            .await;
    }
    let watcher = sea_orm::Database::connect(&db.url).await.expect("connects");
    let pending = watcher
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT gin_clean_pending_list('idx_messages_search'::regclass) AS pages",
        ))
        .await
        .expect("cleans")
        .expect("a row")
        .try_get::<i64>("", "pages")
        .expect("pages");
    // 8 kB pages: 32 is the limit; the insert that passes it merges after adding its own.
    assert!(
        pending <= 40,
        "{pending} pages were pending, more than 256 kB"
    );
    let scope = switchboard_store::SearchScope {
        conversations: true,
        contacts: false,
        articles: false,
    };
    for word in ["w0x0", "w300x30", "w599x59"] {
        let found = f
            .store
            .search(&f.org_id, word, scope, 10)
            .await
            .expect("searches");
        assert_eq!(found.conversations.len(), 1, "{word}: {found:?}");
    }
}
