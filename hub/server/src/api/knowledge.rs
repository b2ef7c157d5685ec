//! The knowledge base: articles (with a version per content change) and the questions the AI
//! could not answer. Reading needs `knowledge:read`, writing `knowledge:write`.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{
    ArticleStatus, KbArticle, KbArticleSummary, KbArticleVersion, KnowledgeGap, Permission,
};
use switchboard_store::{ArticleChange, ArticleFilter, NewArticle, PrincipalKind};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

/// Gaps listed at most.
const GAPS: u64 = 200;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Part of the title or body, any case.
    pub q: Option<String>,
    pub status: Option<ArticleStatus>,
    pub category: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleList {
    pub articles: Vec<KbArticleSummary>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArticle {
    pub title: String,
    /// Markdown; `##` headings cut it into the passages the AI answers from.
    pub body: String,
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default `draft`.
    pub status: Option<ArticleStatus>,
}

/// Fields to change; a missing field is left as it is, `"category": null` clears the category.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArticle {
    pub title: Option<String>,
    pub body: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub status: Option<ArticleStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<KbArticleVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct GapList {
    pub gaps: Vec<KnowledgeGap>,
}

/// The user behind a request, for version authorship; `None` for API keys.
fn author(auth: &Auth) -> Option<String> {
    match &auth.principal.kind {
        PrincipalKind::User { user_id, .. } => Some(user_id.clone()),
        _ => None,
    }
}

/// Lists articles by title, without their bodies.
#[utoipa::path(get, path = "/kb/articles", tag = "knowledge", params(ListParams),
    responses((status = 200, body = ArticleList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<ApiJson<ArticleList>> {
    auth.require(Permission::KnowledgeRead)?;
    let filter = ArticleFilter {
        q: params.q,
        status: params.status,
        category: params.category,
    };
    let articles = state.store.list_articles(auth.org_id(), &filter).await?;
    Ok(ApiJson(ArticleList { articles }))
}

/// Creates an article (version 1).
#[utoipa::path(post, path = "/kb/articles", tag = "knowledge", request_body = CreateArticle,
    responses((status = 201, body = KbArticle), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(request): ApiJson<CreateArticle>,
) -> ApiResult<(StatusCode, ApiJson<KbArticle>)> {
    auth.require(Permission::KnowledgeWrite)?;
    let article = state
        .store
        .create_article(
            auth.org_id(),
            NewArticle {
                title: request.title,
                body: request.body,
                category: request.category,
                tags: request.tags,
                status: request.status.unwrap_or(ArticleStatus::Draft),
            },
            author(&auth).as_deref(),
        )
        .await?;
    auth.audit(
        &state,
        "kb_article.created",
        &article.id,
        serde_json::json!({ "title": article.title, "status": article.status }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(article)))
}

/// One article with its body.
#[utoipa::path(get, path = "/kb/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "The article's id")),
    responses((status = 200, body = KbArticle), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<KbArticle>> {
    auth.require(Permission::KnowledgeRead)?;
    let article = state
        .store
        .article(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(article))
}

/// Changes an article. A change of title, body, category or tags makes a new version; a
/// status change is recorded in the audit log.
#[utoipa::path(put, path = "/kb/articles/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "The article's id")), request_body = UpdateArticle,
    responses((status = 200, body = KbArticle), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateArticle>,
) -> ApiResult<ApiJson<KbArticle>> {
    auth.require(Permission::KnowledgeWrite)?;
    let updated = state
        .store
        .update_article(
            auth.org_id(),
            &id,
            ArticleChange {
                title: request.title,
                body: request.body,
                category: request.category,
                tags: request.tags,
                status: request.status,
            },
            author(&auth).as_deref(),
        )
        .await?;
    let article = updated.article;
    if updated.new_version {
        auth.audit(
            &state,
            "kb_article.edited",
            &article.id,
            serde_json::json!({ "version": article.version }),
        )
        .await?;
    }
    if let Some(previous) = updated.previous_status {
        auth.audit(
            &state,
            "kb_article.status_changed",
            &article.id,
            serde_json::json!({ "from": previous, "to": article.status }),
        )
        .await?;
    }
    Ok(ApiJson(article))
}

/// Every version of an article, newest first.
#[utoipa::path(get, path = "/kb/articles/{id}/versions", tag = "knowledge",
    params(("id" = String, Path, description = "The article's id")),
    responses((status = 200, body = VersionList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<VersionList>> {
    auth.require(Permission::KnowledgeRead)?;
    let versions = state.store.article_versions(auth.org_id(), &id).await?;
    Ok(ApiJson(VersionList { versions }))
}

/// Questions the AI did not answer, grouped by similar wording, most asked first.
#[utoipa::path(get, path = "/kb/gaps", tag = "knowledge",
    responses((status = 200, body = GapList)))]
pub async fn gaps(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<GapList>> {
    auth.require(Permission::KnowledgeRead)?;
    let gaps = state.store.list_gaps(auth.org_id(), GAPS).await?;
    Ok(ApiJson(GapList { gaps }))
}
