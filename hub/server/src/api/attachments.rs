//! Files on conversations: what customers sent, for the agents of their organization, and the
//! files agents upload to attach to a reply.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use serde::{Deserialize, Serialize};
use switchboard_model::Permission;
use utoipa::{IntoParams, ToSchema};

use crate::{
    attachments::{self, Upload, UploadError},
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

/// The most an upload's body may be: the largest file any channel takes (a WhatsApp
/// document, 100 MB), and some. Each conversation's own limit is its channel's
/// (`ChannelKind::max_attachment_bytes`).
pub const UPLOAD_BODY_LIMIT: usize = 101_000_000;

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
    attachments::download(
        &state.settings.attachments_dir(),
        auth.org_id(),
        &hash,
        &filename,
    )
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name as the customer will see it; made safe (letters, digits, `.`, `-`,
    /// `_`, spaces; at most 100 characters).
    pub filename: String,
}

/// A file's bytes, as the request's body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);

/// An uploaded file, ready to attach to a reply.
#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    /// Name it in the reply's `attachments`. Valid for this conversation only.
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Where agents download it.
    pub url: String,
}

/// Uploads one file to attach to a reply in this conversation: the request's body is the
/// file, its `Content-Type` the file's (default `application/octet-stream`), and `filename`
/// its name. The file may be as large as the conversation's channel takes: WhatsApp 5 MB for
/// a JPEG or PNG image, 16 MB for audio and video, 100 MB for other documents; Telegram
/// 50 MB; email 18 MB (a message's files together, so that the encoded message stays under
/// the providers' 25 MB); Slack and web chat 25 MB, the hub's own. Zendesk and Freshdesk
/// conversations take no files from the hub (422). Needs `conversations:reply`.
#[utoipa::path(post, path = "/conversations/{id}/attachments", tag = "conversations",
    params(("id" = String, Path, description = "The conversation"), UploadParams),
    request_body(content = FileBytes, content_type = "application/octet-stream",
        description = "The file's bytes"),
    responses((status = 201, body = Uploaded),
              (status = 404, body = crate::error::ErrorBody),
              (status = 413, description = "Larger than any channel takes", body = crate::error::ErrorBody),
              (status = 422, description = "Empty, over the channel's limit, or a channel without files",
                body = crate::error::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, ApiJson<Uploaded>)> {
    auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .conversation(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let content_type = content_type(&headers)?;
    let filename = attachments::safe_filename(&params.filename);
    let channel = conversation.channel;
    let limit = channel.max_attachment_bytes(&content_type).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "{channel} conversations take no files from the hub"
        ))
    })?;
    let kept = attachments::keep_upload(
        &state.settings.attachments_dir(),
        auth.org_id(),
        &filename,
        body,
        limit,
        UPLOAD_BODY_LIMIT as u64,
    )
    .await;
    let (hash, size) = kept.map_err(|err| match err {
        UploadError::Empty => ApiError::Unprocessable("the file is empty".into()),
        UploadError::TooLarge { limit } => ApiError::Unprocessable(format!(
            "the file is larger than {channel} takes for `{content_type}`: at most {limit} bytes"
        )),
        UploadError::Body(err) => ApiError::BadRequest(format!("the upload broke off: {err}")),
        UploadError::Io(err) => {
            ApiError::Internal(anyhow::Error::new(err).context("failed to keep an uploaded file"))
        }
    })?;
    let upload = Upload {
        conversation_id: conversation.id,
        hash,
        filename,
        content_type,
        size,
    };
    let attachment = upload.attachment();
    Ok((
        StatusCode::CREATED,
        ApiJson(Uploaded {
            id: state.file_links.upload_id(auth.org_id(), &upload),
            filename: attachment.filename,
            content_type: attachment.content_type,
            size,
            url: attachment.url.unwrap_or_default(),
        }),
    ))
}

/// The upload's MIME type, without parameters: `type/subtype` of token characters.
fn content_type(headers: &HeaderMap) -> ApiResult<String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok("application/octet-stream".into());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((kind, subtype)) if token(kind) && token(subtype) => Ok(essence),
        _ => Err(ApiError::BadRequest(
            "`Content-Type` is not a MIME type".into(),
        )),
    }
}

/// Resolves the upload ids of a reply into the attachments it keeps: each made by an upload
/// to this conversation in this organization, its file still there, and (on a channel that
/// limits a message's files together) all within the channel's total.
pub(crate) async fn attachments_for_reply(
    state: &AppState,
    org_id: &str,
    conversation_id: &str,
    upload_ids: &[String],
) -> ApiResult<Vec<switchboard_model::Attachment>> {
    if upload_ids.is_empty() {
        return Ok(Vec::new());
    }
    if upload_ids.len() > 10 {
        return Err(ApiError::Unprocessable(
            "a reply takes at most 10 attachments".into(),
        ));
    }
    let conversation = state
        .store
        .conversation(org_id, conversation_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let root = state.settings.attachments_dir();
    let mut kept = Vec::with_capacity(upload_ids.len());
    for (index, id) in upload_ids.iter().enumerate() {
        let unknown = || {
            ApiError::Unprocessable(format!(
                "`attachments[{index}]` is not a file uploaded to this conversation"
            ))
        };
        let upload = state
            .file_links
            .open_upload(org_id, id)
            .filter(|upload| upload.conversation_id == conversation.id)
            .ok_or_else(unknown)?;
        let path = attachments::path(&root, org_id, &upload.hash, &upload.filename);
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(unknown());
        }
        kept.push(upload.attachment());
    }
    let total: u64 = kept.iter().map(|attachment| attachment.size).sum();
    if let Some(limit) = conversation.channel.max_attachments_total()
        && total > limit
    {
        return Err(ApiError::Unprocessable(format!(
            "the files add up to {total} bytes: {} takes at most {limit} bytes per message",
            conversation.channel
        )));
    }
    Ok(kept)
}
