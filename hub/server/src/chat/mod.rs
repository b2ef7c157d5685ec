//! `GET /chat/ws`: the web-chat WebSocket (protocol v1, `docs/specs/webchat.md`). The request
//! is checked before the upgrade (inbox, Origin allow-list); each accepted connection is then
//! held by one task (`connection.rs`) fed by the fan-out (`hub.rs`). `GET /chat/files/…` serves
//! the files agents sent to visitors, by the signed links the frames carry.

mod connection;
mod hub;
mod limits;

pub use hub::{ChatHub, route_events};

use axum::{
    extract::{
        State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use switchboard_webchat::{IdentityError, Visitor, VisitorToken, verify_user_hash};

use crate::{
    client_address::ClientAddress,
    error::{ApiError, ApiQuery},
    state::AppState,
};

/// The largest WebSocket message a client may send; a larger one closes the connection.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Each connection's read buffer starts this small (axum's default of 128 KiB alone would cost
/// more than the whole connection should) and grows only for a large frame. With it an idle
/// connection costs the hub about 13 KB (debug build, measured with 2,000 connections).
const READ_BUFFER: usize = 1024;
/// A frame the hub sends may not be larger (a long AI answer); the buffer is only this large
/// while such a frame is being written.
const WRITE_BUFFER_MAX: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct ChatParams {
    pub inbox: Option<String>,
    pub visitor: Option<String>,
    pub user_id: Option<String>,
    pub user_hash: Option<String>,
}

/// `GET /chat/files/{org_id}/{hash}/{signature}/{filename}`: a file an agent sent a visitor,
/// by the capability link of its `message` frame; no login. The same download as the
/// agents' (`Content-Disposition: attachment`, never rendered); 404 for a link the hub did
/// not sign or a file that is gone.
pub async fn file(
    State(state): State<AppState>,
    crate::error::ApiPath((org_id, hash, signature, filename)): crate::error::ApiPath<(
        String,
        String,
        String,
        String,
    )>,
) -> Result<Response, ApiError> {
    if !state
        .file_links
        .check_visitor_link(&org_id, &hash, &filename, &signature)
    {
        return Err(ApiError::NotFound);
    }
    let mut response =
        crate::attachments::download(&state.settings.attachments_dir(), &org_id, &hash, &filename)
            .await?;
    // The widget runs on the customer's site and links here from there.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    Ok(response)
}

fn invalid_request(message: &str) -> ApiError {
    ApiError::Status {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
        message: message.to_owned(),
    }
}

/// `GET /chat/ws?inbox=<id>[&visitor=<token>][&user_id=<id>&user_hash=<hex>]`.
#[tracing::instrument(skip_all, fields(channel = "webchat"))]
pub async fn chat_ws(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiQuery(params): ApiQuery<ChatParams>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let inbox_id = params
        .inbox
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid_request("`inbox` is required: /chat/ws?inbox=<inbox id>"))?;
    if params.user_hash.is_some() && params.user_id.is_none() {
        return Err(invalid_request("`user_hash` needs `user_id`"));
    }
    let inbox = state
        .chat
        .inbox(&state.store, inbox_id)
        .await
        .map_err(|err| match err {
            hub::InboxUnavailable::NotFound => ApiError::NotFound,
            hub::InboxUnavailable::Misconfigured(reason) => ApiError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "inbox_misconfigured",
                message: reason,
            },
            hub::InboxUnavailable::Store(err) => err.into(),
        })?;
    // Browsers always send Origin on a WebSocket; other clients may not, and could forge it.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| inbox.config.allows_origin(origin));
        if !allowed {
            metrics::counter!("switchboard_webchat_refused_total", "reason" => "origin")
                .increment(1);
            return Err(ApiError::Status {
                status: StatusCode::FORBIDDEN,
                code: "origin_not_allowed",
                message: "this site is not on the inbox's allowed origins".into(),
            });
        }
    }
    let upgrade = upgrade.map_err(|rejection| ApiError::Status {
        status: rejection.status(),
        code: "websocket_required",
        message: rejection.body_text(),
    })?;
    // New connections count against the address whatever token they carry: a fresh token
    // does not start a fresh allowance.
    if let Some(retry_after) = state
        .chat
        .limits
        .connection(&inbox, address, state.clock.now())
        .await
    {
        metrics::counter!("switchboard_webchat_refused_total", "reason" => "address_connections")
            .increment(1);
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let token = params
        .visitor
        .as_deref()
        .and_then(VisitorToken::parse)
        .unwrap_or_else(VisitorToken::generate);
    let identity = match (&params.user_id, &params.user_hash) {
        (Some(user_id), hash) => verify_user_hash(
            inbox.config.identity_secret.as_deref(),
            user_id,
            hash.as_deref().unwrap_or_default(),
        )
        .map(|()| Visitor::Verified {
            user_id: user_id.clone(),
        }),
        (None, _) => Ok(Visitor::anonymous(&token)),
    };
    if let Err(IdentityError::Mismatch) = identity {
        metrics::counter!("switchboard_webchat_refused_total", "reason" => "identity").increment(1);
    }
    let hub = state.chat.clone();
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WRITE_BUFFER_MAX)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            hub.connections.track_future(connection::run(
                state, inbox, address, token, identity, socket,
            ))
        })
        .into_response())
}
