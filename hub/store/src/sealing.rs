//! Secrets at rest: the channels' secrets of each inbox (bot tokens, signing secrets, SMTP
//! passwords) and the outbound webhooks' signing secrets are stored sealed with AES-256-GCM
//! under the hub's key, so that a copy of the database (a backup, a stolen file) does not give
//! them away. A sealed value reads `sealed:v1:<key id>:<base64 of nonce, ciphertext and tag>`;
//! the key id (the first 8 hex digits of the key's SHA-256) says which key opens it, so that
//! a new key can take over while values sealed under the old one are still read (`previous`),
//! and [`crate::Store::reseal_secrets`] seals everything again under the new one. A value
//! stored before sealing existed (plain text) is read as it is and sealed at the next reseal.
//! What a value belongs to (its field name) is authenticated with it: a sealed bot token cannot
//! be moved into another field.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
/// Bytes of a key.
pub const KEY_LEN: usize = 32;

/// Why a secret cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("a secret key must be {KEY_LEN} bytes in base64 (`openssl rand -base64 32`)")]
    BadKey,
    #[error("a secret was sealed with key {0}, which this hub does not have")]
    UnknownKey(String),
    #[error("a sealed secret does not open: it was altered, or sealed for another field")]
    Altered,
    #[error("the operating system gave no random bytes")]
    NoRandomness,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn from_base64(text: &str) -> Result<Key, SealingError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim()))
            .map_err(|_| SealingError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SealingError::BadKey);
        }
        let id = hex::encode(&Sha256::digest(&bytes)[..4]);
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealingError::BadKey)?;
        Ok(Key {
            id,
            key: LessSafeKey::new(key),
        })
    }
}

/// The hub's keys: the one that seals, and older ones that still open.
pub struct SecretKeys {
    current: Option<Key>,
    previous: Vec<Key>,
    random: SystemRandom,
}

impl SecretKeys {
    /// No key: secrets are stored as given (and sealed ones cannot be read).
    pub fn none() -> SecretKeys {
        SecretKeys {
            current: None,
            previous: Vec::new(),
            random: SystemRandom::new(),
        }
    }

    /// `current` seals and opens; each of `previous` (base64 too) only opens.
    pub fn new(current: &str, previous: &[&str]) -> Result<SecretKeys, SealingError> {
        Ok(SecretKeys {
            current: Some(Key::from_base64(current)?),
            previous: previous
                .iter()
                .filter(|key| !key.trim().is_empty())
                .map(|key| Key::from_base64(key))
                .collect::<Result<_, _>>()?,
            random: SystemRandom::new(),
        })
    }

    /// A new random key, in base64: what a first start writes to its key file.
    pub fn generate() -> Result<String, SealingError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealingError::NoRandomness)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// The id of the key that seals, if any.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|key| key.id.as_str())
    }

    /// `plain` sealed for `field` under the current key; `plain` itself without a key.
    pub fn seal(&self, field: &str, plain: &str) -> String {
        let Some(key) = &self.current else {
            return plain.to_owned();
        };
        let mut nonce = [0u8; NONCE_LEN];
        if self.random.fill(&mut nonce).is_err() {
            // Never seal two values under one nonce: keep the value unsealed instead (the next
            // reseal seals it) rather than fail the write.
            tracing::error!("no random nonce to seal a secret with; stored unsealed");
            return plain.to_owned();
        }
        let mut in_out = plain.as_bytes().to_vec();
        if key
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(field.as_bytes()),
                &mut in_out,
            )
            .is_err()
        {
            tracing::error!("a secret could not be sealed; stored unsealed");
            return plain.to_owned();
        }
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        format!("{PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The plain value of `stored` (sealed for `field`, or stored before sealing).
    pub fn open(&self, field: &str, stored: &str) -> Result<String, SealingError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once(':').ok_or(SealingError::Altered)?;
        let key = self
            .current
            .iter()
            .chain(&self.previous)
            .find(|key| key.id == id)
            .ok_or_else(|| SealingError::UnknownKey(id.to_owned()))?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealingError::Altered)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealingError::Altered);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SealingError::Altered)?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(field.as_bytes()), &mut in_out)
            .map_err(|_| SealingError::Altered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealingError::Altered)
    }

    /// Whether `stored` is sealed under the current key (or no key seals, and it is plain).
    pub fn is_current(&self, stored: &str) -> bool {
        match (&self.current, stored.strip_prefix(PREFIX)) {
            (Some(key), Some(rest)) => rest.split_once(':').is_some_and(|(id, _)| id == key.id),
            (Some(_), None) => false,
            (None, sealed) => sealed.is_none(),
        }
    }
}

impl crate::Store {
    /// Seals again every stored secret that the current key did not seal (stored before
    /// sealing, or under a previous key): after a new key takes over, or at start. Returns how
    /// many values changed. A value no key opens fails the whole call, changing nothing of
    /// that row.
    pub async fn reseal_secrets(&self) -> crate::Result<usize> {
        use sea_orm::{ActiveValue::Set, EntityTrait};

        use crate::{StoreError, entities::*};
        let keys = &self.keys;
        let corrupt = |err: SealingError| StoreError::Corrupt(err.to_string());
        let mut changed = 0;
        for row in inbox::Entity::find().all(self.db()).await? {
            let serde_json::Value::Object(secrets) = &row.secrets else {
                continue;
            };
            let mut resealed = secrets.clone();
            let mut touched = 0;
            for (field, value) in resealed.iter_mut() {
                if let serde_json::Value::String(stored) = value
                    && !keys.is_current(stored)
                {
                    let plain = keys.open(field, stored).map_err(corrupt)?;
                    *stored = keys.seal(field, &plain);
                    touched += 1;
                }
            }
            if touched > 0 {
                let txn = self.begin_write().await?;
                inbox::Entity::update(inbox::ActiveModel {
                    id: Set(row.id.clone()),
                    secrets: Set(serde_json::Value::Object(resealed)),
                    ..Default::default()
                })
                .exec(&*txn)
                .await?;
                txn.commit().await?;
                changed += touched;
            }
        }
        for row in webhook_subscription::Entity::find().all(self.db()).await? {
            if keys.is_current(&row.secret) {
                continue;
            }
            let field = crate::webhooks::SECRET_FIELD;
            let plain = keys.open(field, &row.secret).map_err(corrupt)?;
            let txn = self.begin_write().await?;
            webhook_subscription::Entity::update(webhook_subscription::ActiveModel {
                id: Set(row.id.clone()),
                secret: Set(keys.seal(field, &plain)),
                ..Default::default()
            })
            .exec(&*txn)
            .await?;
            txn.commit().await?;
            changed += 1;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_field_only() {
        let key = SecretKeys::generate().expect("a key");
        let keys = SecretKeys::new(&key, &[]).expect("a key");
        let sealed = keys.seal("bot_token", "123:abc");
        assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
        assert!(!sealed.contains("123:abc"));
        assert_ne!(
            sealed,
            keys.seal("bot_token", "123:abc"),
            "a fresh nonce each time"
        );
        assert_eq!(keys.open("bot_token", &sealed).expect("opens"), "123:abc");
        assert!(matches!(
            keys.open("signing_secret", &sealed),
            Err(SealingError::Altered)
        ));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.open("bot_token", &altered).is_err());
        let other = SecretKeys::new(&SecretKeys::generate().expect("a key"), &[]).expect("a key");
        assert!(matches!(
            other.open("bot_token", &sealed),
            Err(SealingError::UnknownKey(_))
        ));
        assert!(keys.is_current(&sealed) && !other.is_current(&sealed));
    }

    #[test]
    fn an_old_key_still_opens_and_plain_values_pass() {
        let old = SecretKeys::generate().expect("a key");
        let sealed = SecretKeys::new(&old, &[]).expect("a key").seal("f", "v");
        let rotated =
            SecretKeys::new(&SecretKeys::generate().expect("a key"), &[&old]).expect("keys");
        assert_eq!(rotated.open("f", &sealed).expect("opens"), "v");
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open("f", "plain").expect("plain"), "plain");
        assert!(!rotated.is_current("plain"));
        assert_eq!(SecretKeys::none().seal("f", "v"), "v");
        assert!(SecretKeys::none().is_current("v"));
    }

    #[test]
    fn keys_of_the_wrong_size_are_refused() {
        assert!(matches!(
            SecretKeys::new("c2hvcnQ=", &[]),
            Err(SealingError::BadKey)
        ));
        assert!(SecretKeys::new("not base64 at all!", &[]).is_err());
    }
}
