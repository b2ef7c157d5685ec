//! The channels this hub has connectors for, each with the config fields an inbox on it takes:
//! what the web UI builds the inbox form from, so that no list of channels or fields lives in
//! JavaScript.

use axum::extract::State;
use serde::Serialize;
use switchboard_model::{ChannelKind, ConfigField, FieldKind, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiResult},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct Channel {
    pub channel: ChannelKind,
    /// In the order a form shows them.
    pub fields: Vec<Field>,
}

/// One field of an inbox's `config` on this channel.
#[derive(Serialize, ToSchema)]
pub struct Field {
    /// The key in the inbox's `config`.
    pub name: &'static str,
    /// `string`, `url`, `boolean`, `integer` or `string_list` (a JSON array of strings).
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// The inbox is refused without it.
    pub required: bool,
    /// Write-only: stored apart, never returned; an inbox's `secrets_set` names those set.
    pub secret: bool,
    /// One line for the person filling the form in.
    pub help: &'static str,
    /// What the channel uses when the field is left out (a value of the field's `type`);
    /// `null`: nothing.
    pub default: Option<serde_json::Value>,
}

impl Field {
    fn new(channel: ChannelKind, field: ConfigField) -> Field {
        Field {
            // Which fields are secret is the channel's to say, in one place (the store keeps
            // exactly those apart).
            secret: channel.secret_fields().contains(&field.name),
            name: field.name,
            kind: field.kind,
            required: field.required,
            help: field.help,
            default: field.default,
        }
    }
}

/// Lists the channels this hub has connectors for, sorted by name, with the config fields of
/// each: what `POST /inboxes` takes as `config` on that channel.
#[utoipa::path(get, path = "/channels", tag = "channels",
    responses((status = 200, body = [Channel]), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Channel>>> {
    auth.require(Permission::InboxesRead)?;
    Ok(ApiJson(
        state
            .connectors
            .config_fields()
            .into_iter()
            .map(|(channel, fields)| Channel {
                channel,
                fields: fields
                    .into_iter()
                    .map(|field| Field::new(channel, field))
                    .collect(),
            })
            .collect(),
    ))
}
