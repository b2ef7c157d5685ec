//! The channels' webhooks, `/webhooks/{channel}/{inbox_id}`: find the inbox and its connector,
//! verify, normalize, and hand what the request carried to the ingest path (`app/ingest.rs`).
//! A request is acknowledged only after everything it carried is committed.

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

use switchboard_model::{ChannelKind, Connector, HandshakeError, Inbound, RawInbound};
use switchboard_store::InboxWithSecrets;

use crate::{
    app::ingest::{IngestError, ingest_events},
    error::{ApiError, ApiResult},
    state::{AppState, ConnectorUnavailable},
};

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Store(err) => err.into(),
            IngestError::Files(err) => ApiError::Internal(anyhow::Error::new(err)),
        }
    }
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
        Err(err) => return Err(ApiError::BadRequest(err.0)),
    };
    // The agent desk's own channel is agents talking, not customers.
    let events = crate::app::slack_desk::take_desk_events(&state, &inbox, events).await?;
    ingest_events(&state, &inbox.inbox, events, &body).await?;
    Ok(StatusCode::OK.into_response())
}
