//! Organizations, users, inboxes and the audit log.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};
use switchboard_model::{self as model, ChannelKind, Role, new_id};

use crate::{
    DEFAULT_REOPEN_WINDOW_SECS, Result, Store, StoreError, conflict_as, convert, entities::*,
    sealing::SecretKeys,
};

/// An inbox with its secrets, for the parts of the hub that talk to its channel.
#[derive(Clone, Debug)]
pub struct InboxWithSecrets {
    pub inbox: model::Inbox,
    /// The public config merged with the secrets: what the channel's connector is built from.
    pub full_config: Value,
}

/// The inboxes [`Store::inbox_for_channel`] read lately, for a few seconds: every webhook
/// request and outbound delivery names its inbox, and on PostgreSQL a read per request was a
/// third of the statements of a webhook flood. An inbox changed through this store is
/// forgotten at once; one changed through another node's store is seen within [`Self::TTL`].
/// An inbox that is not found is not kept (one created on another node is found at once).
#[derive(Default)]
pub(crate) struct InboxCache {
    entries: std::sync::Mutex<HashMap<String, (Instant, InboxWithSecrets)>>,
}

impl InboxCache {
    /// How long a read inbox is used without reading it again.
    const TTL: Duration = Duration::from_secs(5);
    /// Inboxes kept at most; past it the cache starts afresh (inbox ids come from URLs).
    const MAX: usize = 10_000;

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, InboxWithSecrets)>> {
        self.entries.lock().unwrap_or_else(|err| err.into_inner())
    }

    fn get(&self, inbox_id: &str) -> Option<InboxWithSecrets> {
        let entries = self.entries();
        let (read_at, inbox) = entries.get(inbox_id)?;
        (read_at.elapsed() < Self::TTL).then(|| inbox.clone())
    }

    fn keep(&self, inbox: &InboxWithSecrets) {
        let mut entries = self.entries();
        if entries.len() >= Self::MAX {
            entries.clear();
        }
        entries.insert(inbox.inbox.id.clone(), (Instant::now(), inbox.clone()));
    }

    fn forget(&self, inbox_id: &str) {
        self.entries().remove(inbox_id);
    }
}

/// Splits a channel config into its public part and its secrets.
fn split_secrets(channel: ChannelKind, config: Value) -> Result<(Value, Map<String, Value>)> {
    let Value::Object(mut public) = config else {
        return Err(StoreError::Invalid("`config` must be a JSON object".into()));
    };
    let mut secrets = Map::new();
    for field in channel.secret_fields() {
        if let Some(value) = public.remove(*field) {
            secrets.insert((*field).to_owned(), value);
        }
    }
    Ok((Value::Object(public), secrets))
}

/// Each secret sealed for storage under the hub's key (`sealing.rs`).
fn sealed(keys: &SecretKeys, secrets: Map<String, Value>) -> Map<String, Value> {
    secrets
        .into_iter()
        .map(|(field, value)| match value {
            Value::String(plain) => {
                let stored = keys.seal(&field, &plain);
                (field, Value::String(stored))
            }
            other => (field, other),
        })
        .collect()
}

/// Each stored secret opened.
fn opened(keys: &SecretKeys, secrets: &Value) -> Result<Value> {
    let Value::Object(secrets) = secrets else {
        return Ok(Value::Object(Map::new()));
    };
    let mut plain = Map::new();
    for (field, value) in secrets {
        let value = match value {
            Value::String(stored) => Value::String(
                keys.open(field, stored)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            ),
            other => other.clone(),
        };
        plain.insert(field.clone(), value);
    }
    Ok(Value::Object(plain))
}

fn with_secrets(keys: &SecretKeys, row: inbox::Model) -> Result<InboxWithSecrets> {
    let full_config = with_secrets_of(&row.config, &opened(keys, &row.secrets)?);
    Ok(InboxWithSecrets {
        inbox: convert::inbox(row)?,
        full_config,
    })
}

/// A public config with its secrets: what the channel's connector is built from.
fn with_secrets_of(public: &Value, secrets: &Value) -> Value {
    let mut full = public.as_object().cloned().unwrap_or_default();
    if let Value::Object(secrets) = secrets {
        full.extend(secrets.clone());
    }
    Value::Object(full)
}

/// An email inbox's address as addresses are compared: trimmed, without case.
fn email_address(channel: ChannelKind, config: &Value) -> Option<String> {
    if channel != ChannelKind::Email {
        return None;
    }
    let address = config.get("address")?.as_str()?.trim().to_lowercase();
    (!address.is_empty()).then_some(address)
}

/// Refuses an email address that another inbox, of any organization, already has: the SMTP
/// receiver finds an inbox by the address a mail was sent to, so an address must lead to one
/// inbox in the whole hub. SQLite's write gate serializes these checks; on PostgreSQL a
/// transaction-scoped advisory lock does.
async fn claim_email_address(
    txn: &sea_orm::DatabaseTransaction,
    inbox_id: &str,
    address: &str,
) -> Result<()> {
    /// The advisory lock's key: "sb-email" in ASCII.
    const EMAIL_ADDRESSES_LOCK: i64 = 0x73_62_2d_65_6d_61_69_6c;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({EMAIL_ADDRESSES_LOCK})"
        ))
        .await?;
    }
    let taken = inbox::Entity::find()
        .filter(inbox::Column::Channel.eq(ChannelKind::Email.as_str()))
        .filter(inbox::Column::Id.ne(inbox_id))
        .all(txn)
        .await?
        .iter()
        .any(|row| email_address(ChannelKind::Email, &row.config).as_deref() == Some(address));
    if taken {
        return Err(StoreError::Conflict(format!(
            "the address {address} is already another inbox's: an email address can reach \
             only one inbox"
        )));
    }
    Ok(())
}

impl Store {
    pub async fn create_org(&self, slug: &str, name: &str) -> Result<model::Organization> {
        let valid = !slug.is_empty()
            && slug.len() <= 63
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(StoreError::Invalid(format!(
                "`{slug}` is not a valid slug: use 1-63 of a-z, 0-9 and -"
            )));
        }
        let row = organization::Model {
            id: new_id(),
            slug: slug.to_owned(),
            name: if name.trim().is_empty() {
                slug.to_owned()
            } else {
                name.trim().to_owned()
            },
            created_at: self.now(),
            time_zone: "UTC".into(),
            reopen_window_secs: DEFAULT_REOPEN_WINDOW_SECS,
        };
        let txn = self.begin_write().await?;
        organization::Entity::insert(organization::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await
            .map_err(conflict_as("an organization with this slug already exists"))?;
        crate::routing::seed_defaults(&*txn, &row.id, row.created_at).await?;
        txn.commit().await?;
        Ok(convert::organization(row))
    }

    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<model::Organization>> {
        Ok(organization::Entity::find()
            .filter(organization::Column::Slug.eq(slug))
            .one(self.db())
            .await?
            .map(convert::organization))
    }

    pub async fn org(&self, org_id: &str) -> Result<Option<model::Organization>> {
        Ok(organization::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
            .map(convert::organization))
    }

    pub async fn org_count(&self) -> Result<u64> {
        Ok(organization::Entity::find().count(self.db()).await?)
    }

    pub async fn list_users(&self, org_id: &str) -> Result<Vec<model::User>> {
        user::Entity::find()
            .filter(user::Column::OrgId.eq(org_id))
            .order_by_asc(user::Column::Email)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::user)
            .collect()
    }

    pub async fn user(&self, org_id: &str, user_id: &str) -> Result<Option<model::User>> {
        user::Entity::find_by_id(user_id)
            .filter(user::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(convert::user)
            .transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<model::User>> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.db())
            .await?
            .map(convert::user)
            .transpose()
    }

    /// Changes a user's role or deactivates them; a deactivated user's sessions stop working.
    pub async fn update_user(
        &self,
        org_id: &str,
        user_id: &str,
        role: Option<Role>,
        active: Option<bool>,
    ) -> Result<model::User> {
        let txn = self.begin_write().await?;
        let row = user::Entity::find_by_id(user_id)
            .filter(user::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let was_admin = row.active && row.role == Role::Admin.as_str();
        let mut active_model: user::ActiveModel = row.into();
        if let Some(role) = role {
            active_model.role = Set(role.as_str().to_owned());
        }
        if let Some(active) = active {
            active_model.active = Set(active);
        }
        let row = user::Entity::update(active_model).exec(&*txn).await?;
        // An organization never loses its last active admin: nobody could manage it again.
        let admins = if was_admin {
            user::Entity::find()
                .filter(user::Column::OrgId.eq(org_id))
                .filter(user::Column::Role.eq(Role::Admin.as_str()))
                .filter(user::Column::Active.eq(true))
                .count(&*txn)
                .await?
        } else {
            1
        };
        if admins == 0 {
            txn.rollback().await?;
            return Err(StoreError::Conflict(
                "this is the organization's last active admin: make another user admin first"
                    .into(),
            ));
        }
        if active == Some(false) {
            session::Entity::delete_many()
                .filter(session::Column::UserId.eq(user_id))
                .exec(&*txn)
                .await?;
        }
        txn.commit().await?;
        convert::user(row)
    }

    /// Creates an inbox; the channel's secret fields are moved out of `config` and kept apart.
    /// An email inbox's address must be no other inbox's.
    pub async fn create_inbox(
        &self,
        org_id: &str,
        name: &str,
        channel: ChannelKind,
        config: Value,
    ) -> Result<model::Inbox> {
        let (config, secrets) = split_secrets(channel, config)?;
        let now = self.now();
        let row = inbox::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: if name.trim().is_empty() {
                channel.as_str().to_owned()
            } else {
                name.trim().to_owned()
            },
            channel: channel.as_str().to_owned(),
            config,
            secrets: Value::Object(sealed(&self.keys, secrets)),
            created_at: now,
            updated_at: now,
        };
        let txn = self.begin_write().await?;
        if let Some(address) = email_address(channel, &row.config) {
            claim_email_address(&txn, &row.id, &address).await?;
        }
        inbox::Entity::insert(inbox::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        convert::inbox(row)
    }

    /// Replaces an inbox's name and public config; secrets given in `config` replace stored
    /// ones, secrets left out are kept. `check` sees the config the inbox would have, secrets
    /// included, and refuses it with a reason; an email inbox's address must be no other
    /// inbox's.
    pub async fn update_inbox(
        &self,
        org_id: &str,
        inbox_id: &str,
        name: Option<&str>,
        config: Option<Value>,
        check: impl FnOnce(ChannelKind, &Value) -> std::result::Result<(), String>,
    ) -> Result<model::Inbox> {
        let txn = self.begin_write().await?;
        let row = inbox::Entity::find_by_id(inbox_id)
            .filter(inbox::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let channel: ChannelKind = convert::parse(&row.channel)?;
        let mut secrets = row.secrets.as_object().cloned().unwrap_or_default();
        let stored = row.secrets.clone();
        let mut active: inbox::ActiveModel = row.into();
        if let Some(name) = name {
            active.name = Set(name.trim().to_owned());
        }
        if let Some(config) = config {
            let (public, new_secrets) = split_secrets(channel, config)?;
            let mut plain = match opened(&self.keys, &stored)? {
                Value::Object(plain) => plain,
                _ => Map::new(),
            };
            plain.extend(new_secrets.clone());
            check(channel, &with_secrets_of(&public, &Value::Object(plain)))
                .map_err(StoreError::Invalid)?;
            secrets.extend(sealed(&self.keys, new_secrets));
            let secrets = Value::Object(secrets);
            if let Some(address) = email_address(channel, &public) {
                claim_email_address(&txn, inbox_id, &address).await?;
            }
            active.config = Set(public);
            active.secrets = Set(secrets);
        }
        active.updated_at = Set(self.now());
        let row = inbox::Entity::update(active).exec(&*txn).await?;
        txn.commit().await?;
        self.inboxes.forget(inbox_id);
        convert::inbox(row)
    }

    pub async fn list_inboxes(&self, org_id: &str) -> Result<Vec<model::Inbox>> {
        inbox::Entity::find()
            .filter(inbox::Column::OrgId.eq(org_id))
            .order_by_asc(inbox::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::inbox)
            .collect()
    }

    pub async fn inbox(&self, org_id: &str, inbox_id: &str) -> Result<Option<model::Inbox>> {
        inbox::Entity::find_by_id(inbox_id)
            .filter(inbox::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(convert::inbox)
            .transpose()
    }

    /// Looks an inbox up by id alone, secrets included: for channel webhooks, which name the
    /// inbox in their URL and prove who they are with its secret.
    pub async fn inbox_for_channel(&self, inbox_id: &str) -> Result<Option<InboxWithSecrets>> {
        if let Some(inbox) = self.inboxes.get(inbox_id) {
            return Ok(Some(inbox));
        }
        let Some(row) = inbox::Entity::find_by_id(inbox_id).one(self.db()).await? else {
            return Ok(None);
        };
        let inbox = with_secrets(&self.keys, row)?;
        self.inboxes.keep(&inbox);
        Ok(Some(inbox))
    }

    /// An organization's inboxes on `channel`, oldest first, secrets included: for the parts
    /// of the hub that pick one of them to talk through (the Slack agent desk).
    pub async fn org_inboxes_for_channel(
        &self,
        org_id: &str,
        channel: ChannelKind,
    ) -> Result<Vec<InboxWithSecrets>> {
        inbox::Entity::find()
            .filter(inbox::Column::OrgId.eq(org_id))
            .filter(inbox::Column::Channel.eq(channel.as_str()))
            .order_by_asc(inbox::Column::CreatedAt)
            .order_by_asc(inbox::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| with_secrets(&self.keys, row))
            .collect()
    }

    /// Every inbox on `channel` across organizations, secrets included: for a receiver that
    /// finds the inbox by what arrived (an email's recipient address), not by a URL.
    pub async fn inboxes_for_channel(&self, channel: ChannelKind) -> Result<Vec<InboxWithSecrets>> {
        inbox::Entity::find()
            .filter(inbox::Column::Channel.eq(channel.as_str()))
            .order_by_asc(inbox::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| with_secrets(&self.keys, row))
            .collect()
    }

    pub async fn create_team(&self, org_id: &str, name: &str) -> Result<model::Team> {
        let row = team::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.trim().to_owned(),
            created_at: self.now(),
        };
        if row.name.is_empty() {
            return Err(StoreError::Invalid("a team needs a name".into()));
        }
        let txn = self.begin_write().await?;
        team::Entity::insert(team::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await
            .map_err(conflict_as("a team with this name already exists"))?;
        txn.commit().await?;
        Ok(convert::team(row))
    }

    pub async fn list_teams(&self, org_id: &str) -> Result<Vec<model::Team>> {
        Ok(team::Entity::find()
            .filter(team::Column::OrgId.eq(org_id))
            .order_by_asc(team::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::team)
            .collect())
    }

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        org_id: &str,
        actor: &str,
        action: &str,
        subject_id: Option<&str>,
        data: Value,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        audit_at(&*txn, self.now(), org_id, actor, action, subject_id, data).await?;
        txn.commit().await
    }

    /// The audit log, newest first; `before` is the id of the last entry of the previous page.
    pub async fn list_audit(
        &self,
        org_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<model::AuditEvent>> {
        let mut query = audit_log::Entity::find().filter(audit_log::Column::OrgId.eq(org_id));
        if let Some(before) = before {
            query = query.filter(audit_log::Column::Id.lt(before));
        }
        Ok(query
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::audit_event)
            .collect())
    }
}

/// Appends to the audit log inside a transaction that does the audited change, dated `now`
/// (the store's clock, `Store::now`).
pub(crate) async fn audit_at(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    org_id: &str,
    actor: &str,
    action: &str,
    subject_id: Option<&str>,
    data: Value,
) -> Result<()> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        subject_id: Set(subject_id.map(str::to_owned)),
        data: Set(data),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_split_from_config() {
        let config = serde_json::json!({"bot_token": "xoxb", "signing_secret": "s", "api_base_url": "http://x"});
        let (public, secrets) = split_secrets(ChannelKind::Slack, config).expect("splits");
        assert_eq!(public, serde_json::json!({"api_base_url": "http://x"}));
        assert_eq!(secrets.len(), 2);
        assert!(split_secrets(ChannelKind::Slack, serde_json::json!([1])).is_err());
    }
}
