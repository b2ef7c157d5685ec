//! A contact's data under the GDPR: `GET /contacts/{id}/export` (JSON, or a ZIP archive with
//! the files) and `DELETE /contacts/{id}` (permission `contacts:erase`).

use std::io::Seek;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use switchboard_model::Permission;
use utoipa::IntoParams;

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    gdpr::ArchiveError,
    state::AppState,
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (the default) or `zip`: the JSON and the contact's files in one archive. Without
    /// it, `Accept: application/zip` asks for the archive.
    pub format: Option<String>,
}

/// Everything held about a contact: the contact and its identities, its customer value, each
/// conversation with its messages (attachments listed), CSAT answers, handoffs and routing
/// state, and the audit entries about them. As JSON, or with `format=zip` (or
/// `Accept: application/zip`) a ZIP archive: `contact.json` (the same JSON), each file the
/// hub keeps of the messages at `attachments/<sha256>/<name>`, and a `README.txt`.
#[utoipa::path(get, path = "/contacts/{id}/export", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id"), ExportParams),
    responses(
        (status = 200, description = "The export as JSON, or as a ZIP archive",
            content((Object = "application/json"), (Vec<u8> = "application/zip"))),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "A `format` other than `json` or `zip`",
            body = crate::error::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<ExportParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let principal = auth.require(Permission::ContactsErase)?;
    let archive =
        super::other_format(params.format.as_deref(), &headers, "zip", "application/zip")?;
    if !archive {
        let exported =
            crate::gdpr::export(&state.store, auth.org_id(), &id, &principal.actor()).await?;
        return Ok(ApiJson(exported).into_response());
    }
    // Written to an unnamed temporary file, then streamed: a contact's files may be larger
    // than the hub should hold in memory.
    let file = tempfile::tempfile().map_err(|err| ApiError::Internal(err.into()))?;
    let (mut file, _) = crate::gdpr::export_archive(
        &state.store,
        &state.settings.attachments_dir(),
        auth.org_id(),
        &id,
        &principal.actor(),
        file,
    )
    .await
    .map_err(|err| match err {
        ArchiveError::Store(err) => ApiError::from(err),
        other => ApiError::Internal(other.into()),
    })?;
    let length = file
        .rewind()
        .and_then(|()| file.metadata())
        .map_err(|err| ApiError::Internal(err.into()))?
        .len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The id named a contact, so it is one of the store's ids: letters, digits and `-`.
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"contact-{name}.zip\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// Erases a contact: its identities, conversations, messages and their files, CSAT answers,
/// handoffs, routing state, queued webhooks and the knowledge-gap questions in its words. The
/// audit log keeps that it was done, by whom and when, without what they wrote.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "The contact's id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let principal = auth.require(Permission::ContactsErase)?;
    crate::gdpr::erase(
        &state.store,
        &state.settings.attachments_dir(),
        auth.org_id(),
        &id,
        &principal.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
