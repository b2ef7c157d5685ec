//! Labels: the organization's list (everyone who reads conversations), its management
//! (`settings:manage`: admins and managers), and the labels a conversation or contact carries.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_model::{Contact, Conversation, Label, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    bus::publish_change,
    error::{ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct CreateLabel {
    /// 1–50 letters, digits, `-` or `_`, stored lowercase; unique in the organization.
    pub name: String,
    /// `#rrggbb`; a default colour when absent.
    #[serde(default)]
    pub color: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateLabel {
    pub name: Option<String>,
    pub color: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SetLabels {
    /// Label names; the conversation carries exactly these afterwards.
    pub labels: Vec<String>,
}

/// Lists the organization's labels by name.
#[utoipa::path(get, path = "/labels", tag = "labels", responses((status = 200, body = [Label])))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Label>>> {
    auth.require(Permission::ConversationsRead)?;
    Ok(ApiJson(state.store.list_labels(auth.org_id()).await?))
}

/// Adds a label.
#[utoipa::path(post, path = "/labels", tag = "labels", request_body = CreateLabel,
    responses((status = 201, body = Label), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateLabel>,
) -> ApiResult<(StatusCode, ApiJson<Label>)> {
    auth.require(Permission::SettingsManage)?;
    let label = state
        .store
        .create_label(auth.org_id(), &request.name, request.color.as_deref())
        .await?;
    auth.audit(
        &state,
        "label.created",
        &label.id,
        serde_json::json!({ "name": label.name }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(label)))
}

/// Renames or recolours a label; the conversations that carry it keep it.
#[utoipa::path(patch, path = "/labels/{id}", tag = "labels",
    params(("id" = String, Path, description = "The label's id")), request_body = UpdateLabel,
    responses((status = 200, body = Label), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateLabel>,
) -> ApiResult<ApiJson<Label>> {
    auth.require(Permission::SettingsManage)?;
    let label = state
        .store
        .update_label(
            auth.org_id(),
            &id,
            request.name.as_deref(),
            request.color.as_deref(),
        )
        .await?;
    auth.audit(
        &state,
        "label.updated",
        &id,
        serde_json::json!({ "name": label.name, "color": label.color }),
    )
    .await?;
    Ok(ApiJson(label))
}

/// Deletes a label and takes it off every conversation and contact.
#[utoipa::path(delete, path = "/labels/{id}", tag = "labels",
    params(("id" = String, Path, description = "The label's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::SettingsManage)?;
    let carried = state.store.delete_label(auth.org_id(), &id).await?;
    auth.audit(&state, "label.deleted", &id, serde_json::json!({}))
        .await?;
    for conversation_id in carried {
        if let Some(conversation) = state
            .store
            .conversation(auth.org_id(), &conversation_id)
            .await?
        {
            publish_change(state.bus.as_ref(), &conversation);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the conversation's labels to exactly the names given (`[]` removes them all). A name
/// the organization has no label for yet is created with a default colour, so no separate
/// `POST /labels` is needed first.
#[utoipa::path(put, path = "/conversations/{id}/labels", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    request_body = SetLabels,
    responses((status = 200, body = Conversation), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_for_conversation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SetLabels>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .set_conversation_labels(auth.org_id(), &id, &request.labels, &principal.actor())
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}

/// Sets the contact's labels to exactly the names given (`[]` removes them all), as
/// `PUT /conversations/{id}/labels` does for a conversation (`contacts:write`).
#[utoipa::path(put, path = "/contacts/{id}/labels", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    request_body = SetLabels,
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_for_contact(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SetLabels>,
) -> ApiResult<ApiJson<Contact>> {
    let principal = auth.require(Permission::ContactsWrite)?;
    let contact = state
        .store
        .set_contact_labels(auth.org_id(), &id, &request.labels, &principal.actor())
        .await?;
    Ok(ApiJson(contact))
}
