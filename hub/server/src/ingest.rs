//! The inbound pipeline every channel uses: verify → normalize → persist → publish.
//! A request is acknowledged only after everything it carried is committed.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use switchboard_model::{BusEvent, ChannelKind, Inbound, InboundEvent, InboundMessage, RawInbound};
use switchboard_store::IngestOutcome;

use crate::{
    error::{ApiError, ApiResult},
    state::{AppState, ConnectorUnavailable},
};

/// Stores one normalized customer message and, when it is new, tells the bus.
pub async fn ingest_message(
    state: &AppState,
    org_id: &str,
    inbox_id: &str,
    channel: ChannelKind,
    message: &InboundMessage,
) -> Result<IngestOutcome, switchboard_store::StoreError> {
    let outcome = state
        .store
        .ingest(org_id, inbox_id, channel, message)
        .await?;
    match &outcome {
        IngestOutcome::Stored {
            message,
            opened,
            conversation,
        } => {
            metrics::counter!("switchboard_messages_ingested_total", "channel" => channel.as_str())
                .increment(1);
            if *opened {
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
            // The message is stored and acknowledged whatever routing makes of it.
            if let Err(err) =
                crate::routing::route_customer_message(state, conversation, message).await
            {
                tracing::error!(error = %err, conversation_id = %conversation.id, "routing failed");
            }
        }
        IngestOutcome::Duplicate { .. } => {
            metrics::counter!("switchboard_messages_duplicate_total", "channel" => channel.as_str())
                .increment(1);
        }
    }
    Ok(outcome)
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
    let channel = ChannelKind::parse(&channel).map_err(|_| ApiError::NotFound)?;
    let inbox = state
        .store
        .inbox_for_channel(&inbox_id)
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
    let events = match connector.normalize(&request) {
        Ok(Inbound::Handshake { response_body }) => return Ok(response_body.into_response()),
        Ok(Inbound::Events(events)) => events,
        Err(err) => return Err(ApiError::BadRequest(err.0)),
    };
    let org_id = &inbox.inbox.org_id;
    for event in events {
        match event {
            InboundEvent::Message(message) => {
                ingest_message(&state, org_id, &inbox_id, channel, &message).await?;
            }
            InboundEvent::Delivery(update) => {
                if let Some(message) = state
                    .store
                    .apply_delivery_update(&inbox_id, &update)
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
    Ok(StatusCode::OK.into_response())
}
