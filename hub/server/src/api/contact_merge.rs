//! `POST /contacts/{id}/merge`: one person known as two contacts becomes one; and
//! `GET /contacts/{id}/duplicates`: the contacts that are likely the same person.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_model::{BusEvent, Contact, Permission};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiJson, ApiPath, ApiResult},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The contact that stays; the one in the path is merged into it and deleted.
    pub into: String,
}

/// Merges this contact into `into`: its identities, conversations and ratings move to `into`,
/// its name, email and phone fill the ones `into` lacks, and it is deleted. Messages that
/// arrive later on its identities reach `into`. Both contacts must be of the caller's
/// organization (404 otherwise); merging a contact into itself is a 422. Audited as
/// `contact.merged`.
#[utoipa::path(post, path = "/contacts/{id}/merge", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")), request_body = MergeRequest,
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<MergeRequest>,
) -> ApiResult<ApiJson<Contact>> {
    let principal = auth.require(Permission::ContactsWrite)?;
    let merged = state
        .store
        .merge_contacts(auth.org_id(), &id, &request.into, &principal.actor())
        .await?;
    // Open views of the moved conversations show the survivor from now on.
    for (conversation_id, inbox_id, status) in merged.moved_conversations {
        state.bus.publish(BusEvent::ConversationChanged {
            org_id: auth.org_id().to_owned(),
            inbox_id,
            conversation_id,
            status,
        });
    }
    Ok(ApiJson(merged.contact))
}

#[derive(Serialize, ToSchema)]
pub struct Duplicates {
    pub contacts: Vec<Contact>,
}

/// The contacts that are likely the same person as this one (the same email, letter case
/// aside, or the same phone), at most 20: the candidates to merge.
#[utoipa::path(get, path = "/contacts/{id}/duplicates", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 200, body = Duplicates), (status = 404, body = crate::error::ErrorBody)))]
pub async fn duplicates(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Duplicates>> {
    auth.require(Permission::ContactsRead)?;
    let contacts = state.store.duplicate_contacts(auth.org_id(), &id).await?;
    Ok(ApiJson(Duplicates { contacts }))
}
