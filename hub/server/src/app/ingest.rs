//! After ingest: the one path every channel's customer messages take once verified and
//! normalized (webhooks, the SMTP listener, the web chat's socket, helpdesk sync): commit, tell
//! the bus, then what a new message sets off (its topic, routing, the bot's turn).

use switchboard_model::{
    BusEvent, ChannelKind, Conversation, ConversationStatus, InboundEvent, InboundMessage, Inbox,
    Message,
};
use switchboard_store::{IngestOutcome, StoreError};

use crate::state::AppState;

/// Stores one normalized customer message and, when it is new, tells the bus, routes it and
/// queues the bot's turn when the bot holds the conversation: [`store_message`] then
/// [`after_stored`].
pub async fn ingest_message(
    state: &AppState,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    message: &InboundMessage,
) -> Result<IngestOutcome, switchboard_store::StoreError> {
    let outcome = store_message(state, org_id, inbox_id, channel, message).await?;
    after_stored(state, &outcome).await;
    Ok(outcome)
}

/// Commits one customer message and tells the bus. What it returns may be acknowledged to the
/// channel at once; [`after_stored`] must follow.
pub async fn store_message(
    state: &AppState,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    message: &InboundMessage,
) -> Result<IngestOutcome, switchboard_store::StoreError> {
    // Scored here, before the message queues: the store's writer only writes.
    let score = switchboard_ai::sentiment::message_score(&message.text);
    let outcome = state
        .store
        .ingest(org_id, inbox_id, channel, message, score)
        .await?;
    match &outcome {
        IngestOutcome::Stored {
            message,
            opened,
            reopened,
            conversation,
        } => {
            metrics::counter!("switchboard_messages_ingested_total", "channel" => channel.as_str())
                .increment(1);
            if *opened || *reopened {
                state.bus.publish(BusEvent::ConversationChanged {
                    org_id: org_id.to_owned(),
                    inbox_id: inbox_id.to_owned(),
                    conversation_id: conversation.id.clone(),
                    status: conversation.status,
                });
            }
            state.bus.publish(BusEvent::MessageCreated {
                org_id: org_id.to_owned(),
                inbox_id: inbox_id.to_owned(),
                message: Box::new(message.clone()),
            });
        }
        IngestOutcome::Duplicate { .. } => {
            metrics::counter!("switchboard_messages_duplicate_total", "channel" => channel.as_str())
                .increment(1);
        }
    }
    Ok(outcome)
}

/// What a newly stored customer message sets off: its conversation's topic, routing, and the
/// bot's turn. Failures are logged: the message is stored whatever becomes of them.
pub async fn after_stored(state: &AppState, outcome: &IngestOutcome) {
    if let IngestOutcome::Stored {
        message,
        conversation,
        ..
    } = outcome
    {
        after_customer_message(state, conversation, message).await;
    }
}

/// [`after_stored`] of one stored customer message (`lost_turns.rs` runs it again for a
/// message whose node died before it ran).
pub async fn after_customer_message(
    state: &AppState,
    conversation: &Conversation,
    message: &Message,
) {
    // Routing sees the topic found here, on the conversation's first message too.
    let mut topical = None;
    if conversation.topic.is_none()
        && let Some(topic) = crate::understanding::classify_conversation(
            &state.topic_models,
            &state.store,
            &conversation.org_id,
            &conversation.id,
            &message.text,
        )
        .await
    {
        topical = Some(Conversation {
            topic: Some(topic),
            ..Conversation::clone(conversation)
        });
    }
    let conversation = topical.as_ref().unwrap_or(conversation);
    // An out-of-office or a bounce is kept for the record; it neither routes nor gets an answer.
    if message.automated {
        return;
    }
    let routing = state.routing();
    let bot_may_answer =
        state.settings.bot_enabled && conversation.status == ConversationStatus::Bot;
    // With an LLM configured, the customer's mood is the model's reading. A bot answering with
    // the model tells it with its answer (`bot.rs`); otherwise the model is asked beside
    // routing, not before it: routing goes on with the offline score, and when the model's
    // arrives (its wait is bounded) and moves the trend, the rules run again on it.
    let rescoring = (!bot_may_answer && routing.llm.is_some()).then(|| {
        let routing = routing.clone();
        let conversation = conversation.clone();
        let message = message.clone();
        tokio::spawn(async move {
            crate::understanding::rescore_and_route(&routing, &conversation, &message).await
        })
    });
    // Routing first: a conversation it hands to a person is not answered by the bot.
    let escalated = crate::routing::route_or_log(&routing, conversation, message).await;
    if bot_may_answer && !escalated {
        state
            .bot
            .after_customer_message(conversation, message.seq)
            .await;
    } else if bot_may_answer {
        crate::understanding::rescore_and_route(&routing, conversation, message).await;
    }
    if let Some(rescoring) = rescoring {
        let _ = rescoring.await;
    }
}

/// Why what a channel sent could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot store an attachment: {0}")]
    Files(#[from] std::io::Error),
}

/// Keeps everything a verified, normalized request carried: each message (its files first,
/// in the data dir), each delivery report, and what the connector did not read as a dead
/// letter with the request's `body`. Returns once all of it is committed.
pub async fn ingest_events(
    state: &AppState,
    inbox: &Inbox,
    events: Vec<InboundEvent>,
    body: &[u8],
) -> Result<(), IngestError> {
    let org_id = &inbox.org_id;
    for event in events {
        match event {
            InboundEvent::Message(mut message) => {
                crate::attachments::keep_files(
                    &state.settings.attachments_dir(),
                    org_id,
                    &mut message,
                )
                .await?;
                ingest_message(state, org_id, &inbox.id, inbox.channel, &message).await?;
            }
            InboundEvent::Delivery(update) => {
                if let Some(message) = state
                    .store
                    .apply_delivery_update(&inbox.id, &update)
                    .await?
                {
                    state.bus.publish(BusEvent::DeliveryChanged {
                        org_id: org_id.clone(),
                        conversation_id: message.conversation_id,
                        message_id: message.id,
                        status: message.delivery_status,
                    });
                }
            }
            InboundEvent::Ignored(ignored) => {
                super::dead_letters::keep(&state.store, inbox, &ignored, body).await?;
            }
        }
    }
    Ok(())
}
