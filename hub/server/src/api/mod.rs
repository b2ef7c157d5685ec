//! The REST API under `/api/v1`, and its OpenAPI description generated from the handlers.

mod analytics;
mod api_keys;
pub(crate) mod attachments;
mod audit;
mod auth;
mod bulk;
mod canned;
mod channels;
mod contact_merge;
mod contacts;
pub(crate) mod conversations;
mod dead_letters;
mod events;
mod gdpr;
mod inboxes;
mod knowledge;
mod labels;
mod notifications;
mod openapi;
mod organization;
mod retention;
mod routing;
mod search;
mod snooze;
mod teams;
mod users;
mod webhooks;

use axum::{Json, Router, routing::get};
use serde::Deserialize;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The `/api/v1` routes, with `/api/v1/openapi.json` describing them.
/// The REST API: the routes that take small JSON bodies, and the upload routes, which take
/// files (up to [`attachments::UPLOAD_BODY_LIMIT`]); one OpenAPI document for both.
pub fn router() -> (Router<AppState>, Router<AppState>) {
    let routes = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(conversations::list))
        .routes(routes!(conversations::counts))
        .routes(routes!(conversations::takeover))
        .routes(routes!(conversations::handback))
        .routes(routes!(events::stream))
        .routes(routes!(canned::list, canned::create))
        .routes(routes!(canned::update, canned::delete))
        .routes(routes!(conversations::get))
        .routes(routes!(conversations::reply))
        .routes(routes!(conversations::assign))
        .routes(routes!(conversations::resolve))
        .routes(routes!(conversations::reopen))
        .routes(routes!(conversations::set_priority))
        .routes(routes!(conversations::typing))
        .routes(routes!(labels::set_for_conversation))
        .routes(routes!(labels::list, labels::create))
        .routes(routes!(labels::update, labels::delete))
        .routes(routes!(search::search))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::read))
        .routes(routes!(notifications::read_all))
        .routes(routes!(bulk::bulk))
        .routes(routes!(snooze::snooze))
        .routes(routes!(snooze::unsnooze))
        .routes(routes!(attachments::get))
        .routes(routes!(contacts::list))
        .routes(routes!(contacts::get, contacts::update))
        .routes(routes!(contact_merge::merge))
        .routes(routes!(contact_merge::duplicates))
        .routes(routes!(labels::set_for_contact))
        .routes(routes!(gdpr::erase))
        .routes(routes!(gdpr::export))
        .routes(routes!(retention::get, retention::put))
        .routes(routes!(retention::dry_run))
        .routes(routes!(inboxes::list, inboxes::create))
        .routes(routes!(inboxes::get, inboxes::update))
        .routes(routes!(inboxes::register_webhook))
        .routes(routes!(dead_letters::list))
        .routes(routes!(channels::list))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(teams::list, teams::create))
        .routes(routes!(audit::list))
        .routes(routes!(routing::list_rules, routing::create_rule))
        .routes(routes!(routing::update_rule, routing::delete_rule))
        .routes(routes!(routing::reorder_rules))
        .routes(routes!(
            routing::list_sla_policies,
            routing::create_sla_policy
        ))
        .routes(routes!(
            routing::update_sla_policy,
            routing::delete_sla_policy
        ))
        .routes(routes!(routing::get_settings, routing::put_settings))
        .routes(routes!(routing::set_presence))
        .routes(routes!(routing::list_presence))
        .routes(routes!(routing::get_capacity, routing::put_capacity))
        .routes(routes!(routing::team_members))
        .routes(routes!(
            routing::add_team_member,
            routing::remove_team_member
        ))
        .routes(routes!(
            routing::get_customer_value,
            routing::put_customer_value
        ))
        .routes(routes!(knowledge::list, knowledge::create))
        .routes(routes!(knowledge::get, knowledge::update))
        .routes(routes!(knowledge::versions))
        .routes(routes!(knowledge::gaps))
        .routes(routes!(organization::get, organization::update))
        .routes(routes!(analytics::overview))
        .routes(routes!(analytics::timeseries))
        .routes(routes!(analytics::agents))
        .routes(routes!(analytics::events))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay));
    let uploads = OpenApiRouter::new().routes(routes!(attachments::upload));
    let (uploads, uploads_openapi) = OpenApiRouter::new()
        .nest("/api/v1", uploads)
        .split_for_parts();
    let (router, mut description) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", routes)
        .split_for_parts();
    description.merge(uploads_openapi);
    openapi::document_shared_errors(&mut description);
    let description = std::sync::Arc::new(description);
    let router = router.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(description.as_ref().clone()) }),
    );
    (router, uploads)
}

pub use attachments::UPLOAD_BODY_LIMIT;

/// Whether a route that answers JSON by default is asked for its other format, `name`: by
/// `?format=<name>` (`?format=json` is the JSON), or without `format` by an `Accept` naming
/// `media_type`. Any other `format` is 422.
pub(crate) fn other_format(
    format: Option<&str>,
    headers: &axum::http::HeaderMap,
    name: &str,
    media_type: &str,
) -> Result<bool, crate::error::ApiError> {
    match format {
        Some("json") => Ok(false),
        Some(format) if format == name => Ok(true),
        Some(other) => Err(crate::error::ApiError::Unprocessable(format!(
            "`format` is `json` or `{name}`, not `{other}`"
        ))),
        None => Ok(headers
            .get(axum::http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains(media_type))),
    }
}

/// `?limit=&cursor=` on list routes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items (1–200, default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> u64 {
        page_limit(self.limit)
    }
}

/// The page size a list route uses for a requested `limit`.
pub fn page_limit(limit: Option<u64>) -> u64 {
    limit.unwrap_or(50).clamp(1, 200)
}

/// For `Option<Option<T>>` fields with `#[serde(default)]`: absent → `None`, `null` →
/// `Some(None)`, a value → `Some(Some(value))`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
