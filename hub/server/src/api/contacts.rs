//! Contacts: the people who write in, with their identities on each channel.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_model::{Contact, Permission};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Matches part of a name, email or phone number.
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub next_cursor: Option<String>,
}

/// Fields to change; `null` clears a field, a missing field is left as it is.
#[derive(Deserialize, ToSchema)]
pub struct ContactUpdate {
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// Lists contacts, newest first.
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ListParams),
    responses((status = 200, body = ContactList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<ApiJson<ContactList>> {
    auth.require(Permission::ContactsRead)?;
    let limit = super::page_limit(params.limit);
    let page = state
        .store
        .list_contacts(
            auth.org_id(),
            params.q.as_deref(),
            params.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(ApiJson(ContactList {
        contacts: page.contacts,
        next_cursor: page.next_cursor,
    }))
}

/// One contact with its channel identities.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Contact>> {
    auth.require(Permission::ContactsRead)?;
    let contact = state
        .store
        .contact(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(contact))
}

/// Changes a contact's name, email or phone.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")), request_body = ContactUpdate,
    responses((status = 200, body = Contact)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<ContactUpdate>,
) -> ApiResult<ApiJson<Contact>> {
    auth.require(Permission::ContactsWrite)?;
    let contact = state
        .store
        .update_contact(auth.org_id(), &id, update.name, update.email, update.phone)
        .await?;
    auth.audit(&state, "contact.updated", &id, serde_json::json!({}))
        .await?;
    Ok(ApiJson(contact))
}
