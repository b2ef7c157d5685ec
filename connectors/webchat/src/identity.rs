//! Identity verification: the host page vouches for a signed-in user by passing `user_id` with
//! `user_hash = hex(HMAC-SHA256(key = identity_secret, message = user_id))`, computed on its
//! server, so that a visitor cannot claim someone else's id (and their history).

use switchboard_connector_kit::signature::{hmac_sha256, hmac_sha256_matches};

/// The longest `user_id` the hub accepts.
pub const MAX_USER_ID_CHARS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("this inbox does not verify identities: it has no `identity_secret`")]
    NotConfigured,
    #[error("`user_id` must be 1 to {MAX_USER_ID_CHARS} characters without control characters")]
    BadUserId,
    #[error(
        "`user_hash` does not match `user_id`: it must be the hex HMAC-SHA256 of the user id under the inbox's identity secret"
    )]
    Mismatch,
}

/// The `user_hash` a host page passes for `user_id` (lowercase hex).
pub fn user_hash(secret: &str, user_id: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[user_id.as_bytes()]))
}

/// Checks `user_hash` for `user_id` in constant time. `secret` is the inbox's `identity_secret`.
pub fn verify_user_hash(
    secret: Option<&str>,
    user_id: &str,
    user_hash: &str,
) -> Result<(), IdentityError> {
    let secret = secret.ok_or(IdentityError::NotConfigured)?;
    if user_id.is_empty()
        || user_id.chars().count() > MAX_USER_ID_CHARS
        || user_id.chars().any(char::is_control)
    {
        return Err(IdentityError::BadUserId);
    }
    let given = hex::decode(user_hash.trim()).map_err(|_| IdentityError::Mismatch)?;
    if hmac_sha256_matches(secret.as_bytes(), &[user_id.as_bytes()], &given) {
        Ok(())
    } else {
        Err(IdentityError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently: python3 -c "import hmac,hashlib;
    /// print(hmac.new(b'parcelo-identity-secret-2026', b'user-42', hashlib.sha256).hexdigest())"
    const SECRET: &str = "parcelo-identity-secret-2026";
    const VECTOR: &str = "ee7b968837525aac105d2bb40af588fb7b103f39e556d2297161c8c354162116";

    #[test]
    fn the_hash_matches_an_independent_computation() {
        assert_eq!(user_hash(SECRET, "user-42"), VECTOR);
        assert_eq!(verify_user_hash(Some(SECRET), "user-42", VECTOR), Ok(()));
        assert_eq!(
            verify_user_hash(Some(SECRET), "user-42", &VECTOR.to_uppercase()),
            Ok(())
        );
    }

    #[test]
    fn forgeries_are_refused() {
        let cases = [
            (Some(SECRET), "user-43", VECTOR, IdentityError::Mismatch),
            (
                Some("another secret!!"),
                "user-42",
                VECTOR,
                IdentityError::Mismatch,
            ),
            (
                Some(SECRET),
                "user-42",
                &VECTOR[..62],
                IdentityError::Mismatch,
            ),
            (Some(SECRET), "user-42", "not hex", IdentityError::Mismatch),
            (Some(SECRET), "user-42", "", IdentityError::Mismatch),
            (Some(SECRET), "", VECTOR, IdentityError::BadUserId),
            (None, "user-42", VECTOR, IdentityError::NotConfigured),
        ];
        for (secret, user_id, hash, expected) in cases {
            assert_eq!(
                verify_user_hash(secret, user_id, hash),
                Err(expected),
                "{user_id} {hash}"
            );
        }
        let long = "u".repeat(MAX_USER_ID_CHARS + 1);
        let hash = user_hash(SECRET, &long);
        assert_eq!(
            verify_user_hash(Some(SECRET), &long, &hash),
            Err(IdentityError::BadUserId)
        );
    }
}
