//! Canned responses: saved replies of an organization, unique by shortcut.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use switchboard_model::{self as model, new_id};

use crate::{Result, Store, StoreError, conflict_as, entities::canned_response};

const SHORTCUT_TAKEN: &str = "a canned response with this shortcut already exists";

fn record(row: canned_response::Model) -> model::CannedResponse {
    model::CannedResponse {
        id: row.id,
        org_id: row.org_id,
        shortcut: row.shortcut,
        title: row.title,
        text: row.text,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Checks the fields a canned response must have, and trims them.
fn checked(shortcut: &str, title: &str, text: &str) -> Result<(String, String, String)> {
    let shortcut = shortcut.trim().trim_start_matches('/').to_lowercase();
    if shortcut.is_empty()
        || shortcut.len() > 64
        || !shortcut
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        return Err(StoreError::Invalid(
            "`shortcut` must be 1–64 letters, digits, `-` or `_`".into(),
        ));
    }
    let text = text.trim();
    if text.is_empty() || text.len() > 16 * 1024 {
        return Err(StoreError::Invalid(
            "`text` must be between 1 byte and 16 KiB".into(),
        ));
    }
    let title = match title.trim() {
        "" => shortcut.clone(),
        title => title.chars().take(200).collect(),
    };
    Ok((shortcut, title, text.to_owned()))
}

impl Store {
    pub async fn list_canned_responses(&self, org_id: &str) -> Result<Vec<model::CannedResponse>> {
        Ok(canned_response::Entity::find()
            .filter(canned_response::Column::OrgId.eq(org_id))
            .order_by_asc(canned_response::Column::Shortcut)
            .all(self.db())
            .await?
            .into_iter()
            .map(record)
            .collect())
    }

    pub async fn create_canned_response(
        &self,
        org_id: &str,
        shortcut: &str,
        title: &str,
        text: &str,
    ) -> Result<model::CannedResponse> {
        let (shortcut, title, text) = checked(shortcut, title, text)?;
        let now = self.now();
        let row = canned_response::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            shortcut,
            title,
            text,
            created_at: now,
            updated_at: now,
        };
        let txn = self.begin_write().await?;
        canned_response::Entity::insert(canned_response::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await
            .map_err(conflict_as(SHORTCUT_TAKEN))?;
        txn.commit().await?;
        Ok(record(row))
    }

    /// Replaces the fields that are given.
    pub async fn update_canned_response(
        &self,
        org_id: &str,
        id: &str,
        shortcut: Option<&str>,
        title: Option<&str>,
        text: Option<&str>,
    ) -> Result<model::CannedResponse> {
        let txn = self.begin_write().await?;
        let row = canned_response::Entity::find_by_id(id)
            .filter(canned_response::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (shortcut, title, text) = checked(
            shortcut.unwrap_or(&row.shortcut),
            title.unwrap_or(&row.title),
            text.unwrap_or(&row.text),
        )?;
        let mut active: canned_response::ActiveModel = row.into();
        active.shortcut = Set(shortcut);
        active.title = Set(title);
        active.text = Set(text);
        active.updated_at = Set(self.now());
        let row = canned_response::Entity::update(active)
            .exec(&*txn)
            .await
            .map_err(conflict_as(SHORTCUT_TAKEN))?;
        txn.commit().await?;
        Ok(record(row))
    }

    pub async fn delete_canned_response(&self, org_id: &str, id: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        let deleted = canned_response::Entity::delete_many()
            .filter(canned_response::Column::Id.eq(id))
            .filter(canned_response::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
