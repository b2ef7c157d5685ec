//! Who is calling: the `Auth` extractor turns `Authorization: Bearer …` into a principal (a
//! signed-in user or an API key), counts the request against its organization's API limit
//! (`limits.rs`: 429 with `Retry-After` beyond it) and checks permissions.

use axum::{extract::FromRequestParts, http::request::Parts};
use switchboard_model::Permission;
use switchboard_store::Principal;

use crate::{error::ApiError, state::AppState};

/// The authenticated caller. Extract it first in a handler, so that a request without
/// credentials is answered 401 before its body is looked at.
pub struct Auth {
    pub principal: Principal,
    /// The bearer token itself, to end a session.
    pub token: String,
}

impl Auth {
    /// Fails with 403 unless the caller has `permission`.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        if self.principal.can(permission) {
            Ok(&self.principal)
        } else {
            Err(ApiError::Forbidden(permission.as_str()))
        }
    }

    pub fn org_id(&self) -> &str {
        &self.principal.org_id
    }

    /// Records in the audit log that this caller did `action` to `subject_id`.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        subject_id: &str,
        data: serde_json::Value,
    ) -> Result<(), ApiError> {
        let actor = self.principal.actor();
        state
            .store
            .audit(self.org_id(), &actor, action, Some(subject_id), data)
            .await?;
        Ok(())
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let principal = state
            .store
            .principal(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        // Counted once the caller is known, so that another organization's requests (or a
        // stranger's without a token) never use up this one's.
        if let Some(retry_after) = state
            .api_limit
            .check(&principal.org_id, state.clock.now())
            .await
        {
            return Err(ApiError::TooManyRequests { retry_after });
        }
        Ok(Auth {
            principal,
            token: token.to_owned(),
        })
    }
}
