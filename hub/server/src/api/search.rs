//! `GET /search`: one box to find conversations, contacts and knowledge articles, each kind
//! only for callers who may read it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_model::Permission;
use switchboard_store::{SearchHit, SearchScope};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Auth,
    error::{ApiError, ApiJson, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words to find; each matches as the start of a word (`order 55` finds "order 5521").
    pub q: String,
    /// `conversations`, `contacts` or `articles`; all three when absent.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// At most this many hits of each kind (1–50, default 10).
    pub limit: Option<u64>,
}

/// One thing found.
#[derive(Serialize, ToSchema)]
pub struct Hit {
    /// The conversation's, contact's or article's id.
    pub id: String,
    /// Plain text: who a conversation is with (and its subject), a contact's name, an
    /// article's title.
    pub title: String,
    /// HTML: the text around the first match, escaped, with `<mark>` around what matched.
    pub snippet: String,
    /// For a contact: their latest conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// What was found, best first in each list. A kind the caller may not read (or did not ask
/// for) is an empty list.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// Conversations whose messages (private notes included) or subject match.
    pub conversations: Vec<Hit>,
    /// Contacts whose name, email, phone or a channel identity contains the query.
    pub contacts: Vec<Hit>,
    /// Knowledge-base articles whose title or body match.
    pub articles: Vec<Hit>,
}

fn hits(found: Vec<SearchHit>) -> Vec<Hit> {
    found
        .into_iter()
        .map(|hit| Hit {
            id: hit.id,
            title: hit.title,
            snippet: hit.snippet,
            conversation_id: hit.conversation_id,
        })
        .collect()
}

/// Searches the organization's conversations (`conversations:read`), contacts
/// (`contacts:read`) and knowledge articles (`knowledge:read`), ranked, with highlighted
/// snippets.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 422, body = crate::error::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<ApiJson<SearchResults>> {
    if params.q.len() > 500 {
        return Err(ApiError::Unprocessable(
            "`q` is longer than 500 bytes".into(),
        ));
    }
    let wanted = |kind: &str| params.kind.as_deref().is_none_or(|asked| asked == kind);
    if let Some(kind) = params.kind.as_deref()
        && !["conversations", "contacts", "articles"].contains(&kind)
    {
        return Err(ApiError::Unprocessable(format!(
            "`type`: `{kind}` is not conversations, contacts or articles"
        )));
    }
    let may = |permission| auth.principal.can(permission);
    let scope = SearchScope {
        conversations: wanted("conversations") && may(Permission::ConversationsRead),
        contacts: wanted("contacts") && may(Permission::ContactsRead),
        articles: wanted("articles") && may(Permission::KnowledgeRead),
    };
    let limit = params.limit.unwrap_or(10).clamp(1, 50);
    let found = state
        .store
        .search(auth.org_id(), &params.q, scope, limit)
        .await?;
    Ok(ApiJson(SearchResults {
        conversations: hits(found.conversations),
        contacts: hits(found.contacts),
        articles: hits(found.articles),
    }))
}
