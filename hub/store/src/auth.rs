//! Passwords, sessions and API keys, and who a bearer token belongs to.
//!
//! Only hashes are stored: argon2 for passwords, SHA-256 for session tokens and API keys (both
//! are 256 random bits, so a fast hash is enough and lookups stay one indexed read).

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::Engine;
use chrono::Duration;
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};
use switchboard_model::{self as model, Clock, Permission, Role, new_id};

use crate::{Result, Store, StoreError, conflict_as, convert, entities::*};

const SESSION_PREFIX: &str = "sbs_";
const API_KEY_PREFIX: &str = "sbk_";

/// Who is making a request, and what they may do.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub org_id: String,
    pub kind: PrincipalKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PrincipalKind {
    User {
        user_id: String,
        role: Role,
    },
    ApiKey {
        key_id: String,
        scopes: Vec<Permission>,
        /// The user the key acts for: who created it, or who created the key that did. The
        /// key works only while they are active with a role that has all its scopes. `None`:
        /// a key made by the operator (`switchboard apikey create`), which lives until revoked.
        created_by: Option<String>,
    },
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        match &self.kind {
            PrincipalKind::User { role, .. } => role.can(permission),
            PrincipalKind::ApiKey { scopes, .. } => scopes.contains(&permission),
        }
    }

    /// How the audit log names this principal.
    pub fn actor(&self) -> String {
        match &self.kind {
            PrincipalKind::User { user_id, .. } => format!("user:{user_id}"),
            PrincipalKind::ApiKey { key_id, .. } => format!("apikey:{key_id}"),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::User { user_id, .. } => Some(user_id),
            PrincipalKind::ApiKey { .. } => None,
        }
    }

    /// The user answerable for what this principal does: the user, or the user a key acts
    /// for. A key this principal creates acts for the same user.
    pub fn answerable_user(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::User { user_id, .. } => Some(user_id),
            PrincipalKind::ApiKey { created_by, .. } => created_by.as_deref(),
        }
    }
}

/// How often an API key's `last_used_at` is written at most: often enough to tell a key in use
/// from a forgotten one, rarely enough that a busy script costs no write per request.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// A freshly created API key: `secret` is shown once and never again.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub key: model::ApiKey,
    pub secret: String,
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id off the async runtime (it takes tens of milliseconds).
pub(crate) async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| StoreError::Invalid(format!("cannot hash password: {err}")))
    })
    .await
    .map_err(|err| StoreError::Invalid(format!("password hashing stopped: {err}")))?
}

async fn verify_password(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Now, for sessions' lifetimes: the wall clock, not the store's [`Clock`]. The one exception
/// to the store's clock, on purpose: a test that moves the hub's clock by weeks (retention,
/// snoozes) keeps its sessions; in production the store's clock is this one.
fn session_clock() -> chrono::DateTime<chrono::Utc> {
    Clock::system().now()
}

impl Store {
    /// Checks an email and password; returns the user when both match an active account.
    /// Takes the same time whether or not the email exists.
    pub async fn verify_login(&self, email: &str, password: &str) -> Result<Option<model::User>> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.db())
            .await?;
        // A fixed hash to verify against when there is no such user, so timing tells nothing.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5fYJmA1/0xw4oGuvHnTxqU9WYKp0Ng1J2Ec3jn2iA3M";
        let stored = row
            .as_ref()
            .map_or(DUMMY.to_owned(), |row| row.password_hash.clone());
        let matches = verify_password(password.to_owned(), stored).await;
        match row {
            Some(row) if matches && row.active => Ok(Some(convert::user(row)?)),
            _ => Ok(None),
        }
    }

    /// Opens a session for a user and returns its bearer token.
    pub async fn create_session(&self, user: &model::User, lifetime: Duration) -> Result<String> {
        let token = random_token(SESSION_PREFIX);
        let now = session_clock();
        let txn = self.begin_write().await?;
        session::Entity::insert(session::ActiveModel {
            token_hash: Set(token_hash(&token)),
            org_id: Set(user.org_id.clone()),
            user_id: Set(user.id.clone()),
            created_at: Set(now),
            expires_at: Set(now + lifetime),
        })
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        Ok(token)
    }

    pub async fn delete_session(&self, token: &str) -> Result<()> {
        let txn = self.begin_write().await?;
        session::Entity::delete_by_id(token_hash(token))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }

    /// Who a bearer token (a session token or an API key) belongs to, if anyone.
    pub async fn principal(&self, token: &str) -> Result<Option<Principal>> {
        let now = session_clock();
        if token.starts_with(SESSION_PREFIX) {
            let Some(session) = session::Entity::find_by_id(token_hash(token))
                .one(self.db())
                .await?
            else {
                return Ok(None);
            };
            if session.expires_at < now {
                return Ok(None);
            }
            let Some(user) = user::Entity::find_by_id(&session.user_id)
                .one(self.db())
                .await?
            else {
                return Ok(None);
            };
            if !user.active || user.org_id != session.org_id {
                return Ok(None);
            }
            let role = convert::parse(&user.role)?;
            return Ok(Some(Principal {
                org_id: user.org_id,
                kind: PrincipalKind::User {
                    user_id: user.id,
                    role,
                },
            }));
        }
        if token.starts_with(API_KEY_PREFIX) {
            let Some(key) = api_key::Entity::find()
                .filter(api_key::Column::KeyHash.eq(token_hash(token)))
                .one(self.db())
                .await?
            else {
                return Ok(None);
            };
            if key.revoked_at.is_some() {
                return Ok(None);
            }
            let scopes: Vec<Permission> = convert::from_json(&key.scopes)?;
            if let Some(creator_id) = &key.created_by {
                let creator = user::Entity::find_by_id(creator_id).one(self.db()).await?;
                let still_entitled = match creator {
                    Some(creator) if creator.active && creator.org_id == key.org_id => {
                        let role: Role = convert::parse(&creator.role)?;
                        scopes.iter().all(|scope| role.can(*scope))
                    }
                    _ => false,
                };
                if !still_entitled {
                    return Ok(None);
                }
            }
            self.note_api_key_use(&key).await;
            return Ok(Some(Principal {
                org_id: key.org_id,
                kind: PrincipalKind::ApiKey {
                    key_id: key.id,
                    scopes,
                    created_by: key.created_by,
                },
            }));
        }
        Ok(None)
    }

    /// Records that `key` was used now, unless that was recorded less than
    /// [`LAST_USED_RESOLUTION`] ago (by this node or another: the write is conditional). A
    /// failure is logged and the request goes on: the key is valid either way.
    async fn note_api_key_use(&self, key: &api_key::Model) {
        let now = self.now();
        let recently = now - LAST_USED_RESOLUTION;
        if key.last_used_at.is_some_and(|used| used > recently) {
            return;
        }
        let write = async {
            let txn = self.begin_write().await?;
            api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(api_key::Column::Id.eq(&key.id))
                .filter(
                    sea_orm::Condition::any()
                        .add(api_key::Column::LastUsedAt.is_null())
                        .add(api_key::Column::LastUsedAt.lte(recently)),
                )
                .exec(&*txn)
                .await?;
            txn.commit().await
        };
        if let Err(err) = write.await {
            tracing::warn!(error = %err, key_id = %key.id, "cannot record an API key's use");
        }
    }

    pub async fn create_api_key(
        &self,
        org_id: &str,
        name: &str,
        scopes: &[Permission],
        created_by: Option<&str>,
    ) -> Result<NewApiKey> {
        let secret = random_token(API_KEY_PREFIX);
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let row = api_key::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            prefix: secret.chars().take(API_KEY_PREFIX.len() + 6).collect(),
            key_hash: token_hash(&secret),
            scopes: convert::to_json(&scopes),
            created_by: created_by.map(str::to_owned),
            created_at: self.now(),
            last_used_at: None,
            revoked_at: None,
        };
        let txn = self.begin_write().await?;
        api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        txn.commit().await?;
        Ok(NewApiKey {
            key: convert::api_key(row)?,
            secret,
        })
    }

    pub async fn list_api_keys(&self, org_id: &str) -> Result<Vec<model::ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::OrgId.eq(org_id))
            .order_by_asc(api_key::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(convert::api_key)
            .collect()
    }

    pub async fn revoke_api_key(&self, org_id: &str, key_id: &str) -> Result<model::ApiKey> {
        let txn = self.begin_write().await?;
        let row = api_key::Entity::find_by_id(key_id)
            .filter(api_key::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: api_key::ActiveModel = row.into();
        active.revoked_at = Set(Some(self.now()));
        let row = api_key::Entity::update(active).exec(&*txn).await?;
        txn.commit().await?;
        convert::api_key(row)
    }

    /// Creates a user with a hashed password. Emails are unique across organizations.
    pub async fn create_user(
        &self,
        org_id: &str,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<model::User> {
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(StoreError::Invalid(format!(
                "`{email}` is not an email address"
            )));
        }
        if password.chars().count() < 8 {
            return Err(StoreError::Invalid(
                "a password needs at least 8 characters".into(),
            ));
        }
        let row = user::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: if name.trim().is_empty() {
                email.clone()
            } else {
                name.trim().to_owned()
            },
            email,
            role: role.as_str().to_owned(),
            password_hash: hash_password(password.to_owned()).await?,
            active: true,
            created_at: self.now(),
        };
        let txn = self.begin_write().await?;
        user::Entity::insert(user::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await
            .map_err(conflict_as("a user with this email already exists"))?;
        txn.commit().await?;
        convert::user(row)
    }

    /// Sets a user's password (the CLI uses it to reset the demo admin).
    pub async fn set_password(&self, user_id: &str, password: &str) -> Result<()> {
        let hash = hash_password(password.to_owned()).await?;
        let txn = self.begin_write().await?;
        user::Entity::update_many()
            .col_expr(
                user::Column::PasswordHash,
                sea_orm::sea_query::Expr::value(hash),
            )
            .filter(user::Column::Id.eq(user_id))
            .exec(&*txn)
            .await?;
        txn.commit().await
    }
}
