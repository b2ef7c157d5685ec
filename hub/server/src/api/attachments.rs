//! Files customers sent, for the agents of their organization.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use switchboard_model::Permission;

use crate::{
    attachments,
    auth::Auth,
    error::{ApiError, ApiPath, ApiResult},
    state::AppState,
};

/// One attached file, as a download. Always `application/octet-stream` with
/// `Content-Disposition: attachment`: a sender's HTML never runs in the inbox's origin.
#[utoipa::path(get, path = "/attachments/{hash}/{filename}", tag = "conversations",
    params(("hash" = String, Path, description = "From the attachment's `url`"),
           ("filename" = String, Path, description = "From the attachment's `url`")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((hash, filename)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    auth.require(Permission::ConversationsRead)?;
    if !attachments::is_hash(&hash) || attachments::safe_filename(&filename) != filename {
        return Err(ApiError::NotFound);
    }
    let path = attachments::path(
        &state.settings.attachments_dir(),
        auth.org_id(),
        &hash,
        &filename,
    );
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::NotFound),
        Err(err) => return Err(ApiError::Internal(anyhow::Error::new(err))),
    };
    // Header values are ASCII: other characters of the name become `_` here only.
    let ascii_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii_name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
