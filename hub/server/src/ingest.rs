//! The inbound pipeline every channel uses: verify → normalize → persist → publish.
//! A request is acknowledged only after everything it carried is committed.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

use switchboard_model::{
    BusEvent, ChannelKind, Connector, Conversation, HandshakeError, Inbound, InboundEvent,
    InboundMessage, Inbox, Message, RawInbound,
};
use switchboard_store::{InboxWithSecrets, IngestOutcome, StoreError};

use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, ConnectorUnavailable},
};

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
    let IngestOutcome::Stored {
        message,
        conversation,
        ..
    } = outcome
    else {
        return;
    };
    if conversation.topic.is_none() {
        crate::understanding::classify_conversation(
            &state.topic_models,
            &state.store,
            &conversation.org_id,
            &conversation.id,
            &message.text,
        )
        .await;
    }
    // An out-of-office or a bounce is kept for the record; it neither routes nor gets an answer.
    if message.automated {
        return;
    }
    // With an LLM configured, its sentiment score is asked for beside the answer, not before
    // it: routing and the bot go on with the offline score, and when the model's arrives
    // (its wait is bounded) and differs, the rules run again on it.
    let rescoring = state.llm.is_some().then(|| {
        let state = state.clone();
        let conversation = conversation.clone();
        let message = message.clone();
        tokio::spawn(async move {
            crate::understanding::rescore_with_llm(&state, &conversation, &message).await
        })
    });
    route_and_answer(state, conversation, message).await;
    if let Some(rescoring) = rescoring
        && let Ok(Some(rescored)) = rescoring.await
        && rescored.sentiment != conversation.sentiment
    {
        route(state, &rescored, message).await;
    }
}

/// Routing first (a conversation it hands to a person is not answered by the bot), then the
/// bot's turn.
async fn route_and_answer(state: &AppState, conversation: &Conversation, message: &Message) {
    let escalated = route(state, conversation, message).await;
    if !escalated && state.settings.bot_enabled {
        crate::bot::after_customer_message(state, conversation, message.seq).await;
    }
}

/// Runs the rules on `message`; whether they escalated the conversation.
async fn route(state: &AppState, conversation: &Conversation, message: &Message) -> bool {
    match crate::routing::route_customer_message(state, conversation, message).await {
        Ok(decision) => decision.escalate,
        Err(err) => {
            tracing::error!(error = %err, conversation_id = %conversation.id, "routing failed");
            false
        }
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

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Store(err) => err.into(),
            IngestError::Files(err) => ApiError::Internal(anyhow::Error::new(err)),
        }
    }
}

/// Keeps everything a verified, normalized request carried: each message (its files first,
/// in the data dir) and each delivery report. Returns once all of it is committed.
pub async fn ingest_events(
    state: &AppState,
    inbox: &Inbox,
    events: Vec<InboundEvent>,
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
        }
    }
    Ok(())
}

/// The inbox a webhook URL names, on the channel it names, and its connector.
async fn inbox_connector(
    state: &AppState,
    channel: &str,
    inbox_id: &str,
) -> ApiResult<(ChannelKind, InboxWithSecrets, Arc<dyn Connector>)> {
    let channel = ChannelKind::parse(channel).map_err(|_| ApiError::NotFound)?;
    let inbox = state
        .store
        .inbox_for_channel(inbox_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if inbox.inbox.channel != channel {
        return Err(ApiError::NotFound);
    }
    let connector = state
        .connectors
        .connector_for(&inbox)
        .map_err(|err| match err {
            ConnectorUnavailable::NotEnabled(_) => ApiError::NotFound,
            ConnectorUnavailable::BadConfig(reason) => ApiError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "inbox_misconfigured",
                message: reason,
            },
        })?;
    Ok((channel, inbox, connector))
}

/// `GET /webhooks/{channel}/{inbox_id}`: the platform checks the URL is ours before it
/// subscribes it (Meta's `hub.challenge`). Answers the challenge as text, 403 to a wrong
/// token, 404 on channels without such a check. Stores nothing.
#[tracing::instrument(skip(state, headers), fields(channel = %channel))]
pub async fn handshake(
    State(state): State<AppState>,
    Path((channel, inbox_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (_, _, connector) = inbox_connector(&state, &channel, &inbox_id).await?;
    let request = RawInbound {
        headers: &headers,
        query: query.as_deref(),
        body: &[],
    };
    match connector.handshake(&request) {
        Ok(challenge) => Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            challenge,
        )
            .into_response()),
        Err(HandshakeError::Unsupported) => Err(ApiError::NotFound),
        Err(HandshakeError::Refused(reason)) => {
            tracing::warn!(%reason, inbox_id, "webhook subscription check refused");
            Err(ApiError::Status {
                status: StatusCode::FORBIDDEN,
                code: "verification_failed",
                message: reason,
            })
        }
    }
}

/// `POST /webhooks/{channel}/{inbox_id}`: a channel delivers events.
#[tracing::instrument(skip(state, headers, body), fields(channel = %channel))]
pub async fn webhook(
    State(state): State<AppState>,
    Path((channel, inbox_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (channel, inbox, connector) = inbox_connector(&state, &channel, &inbox_id).await?;
    let request = RawInbound {
        headers: &headers,
        query: query.as_deref(),
        body: &body,
    };
    if let Err(err) = connector.verify(&request) {
        metrics::counter!("switchboard_webhooks_rejected_total", "channel" => channel.as_str())
            .increment(1);
        tracing::warn!(%err, inbox_id, "webhook failed verification");
        return Err(ApiError::Status {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_signature",
            message: err.to_string(),
        });
    }
    // A helpdesk's webhook names a ticket, which the hub reads through the helpdesk's API.
    if let Some(helpdesk) = connector.helpdesk() {
        crate::helpdesk::take_webhook(&state, &inbox, helpdesk, &request).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let events = match connector.normalize(&request) {
        Ok(Inbound::Handshake { response_body }) => return Ok(response_body.into_response()),
        Ok(Inbound::Events(events)) => events,
        Ok(Inbound::Ignored { reason }) => {
            metrics::counter!("switchboard_webhooks_ignored_total", "channel" => channel.as_str())
                .increment(1);
            tracing::warn!(%reason, inbox_id, "acknowledged a webhook and kept nothing of it");
            return Ok(StatusCode::OK.into_response());
        }
        Err(err) => return Err(ApiError::BadRequest(err.0)),
    };
    // The agent desk's own channel is agents talking, not customers.
    let events = crate::slack_desk::take_desk_events(&state, &inbox, events).await?;
    ingest_events(&state, &inbox.inbox, events).await?;
    Ok(StatusCode::OK.into_response())
}
