//! Visitors and their tokens. A token is the visitor's bearer secret: 256 random bits, URL-safe.
//! The hub stores only a hash of it (in the thread key and the contact's identity), so that a
//! read of the database does not let anyone continue someone else's conversation.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use switchboard_model::VISITOR_PREFIX;

/// The opaque token a `session` frame hands out.
#[derive(Clone, PartialEq, Eq)]
pub struct VisitorToken(String);

impl std::fmt::Debug for VisitorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorToken(…)")
    }
}

const TOKEN_BYTES: usize = 32;

impl VisitorToken {
    /// A new token from the operating system's CSPRNG (through `rand`'s thread generator).
    pub fn generate() -> VisitorToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        VisitorToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token a client sent back; `None` when it is not one this hub could have made.
    pub fn parse(text: &str) -> Option<VisitorToken> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        (bytes.len() == TOKEN_BYTES).then(|| VisitorToken(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stable, non-secret id of the visitor: the token's SHA-256, hex.
    fn hashed(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Who is on the other end of a connection, as the store knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visitor {
    /// Known only by their token.
    Anonymous { token_hash: String },
    /// Signed in on the host site, verified by `user_hash`.
    Verified { user_id: String },
}

impl Visitor {
    pub fn anonymous(token: &VisitorToken) -> Visitor {
        Visitor::Anonymous {
            token_hash: token.hashed(),
        }
    }

    /// The contact's web-chat identity: the host's user id for a verified visitor, so that the
    /// same person is the same contact on every device.
    pub fn external_id(&self) -> String {
        match self {
            Visitor::Anonymous { token_hash } => format!("{VISITOR_PREFIX}{token_hash}"),
            Visitor::Verified { user_id } => user_id.clone(),
        }
    }

    /// What ties the visitor's messages into one conversation on the inbox.
    pub fn thread_key(&self) -> String {
        match self {
            Visitor::Anonymous { token_hash } => format!("v:{token_hash}"),
            Visitor::Verified { user_id } => format!("u:{user_id}"),
        }
    }

    /// The stored message's channel id: the same `client_id` from the same visitor is the same
    /// message, which makes a resend idempotent.
    pub fn channel_message_id(&self, client_id: &str) -> String {
        format!("{}:{client_id}", self.thread_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_round_trip() {
        let first = VisitorToken::generate();
        let second = VisitorToken::generate();
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 43);
        assert_eq!(VisitorToken::parse(first.as_str()), Some(first.clone()));
        assert_eq!(VisitorToken::parse("short"), None);
        assert_eq!(VisitorToken::parse(&"!".repeat(43)), None);
        assert_eq!(VisitorToken::parse(""), None);
    }

    #[test]
    fn visitors_are_known_by_a_hash_of_their_token() {
        // python3 -c "import hashlib; print(hashlib.sha256(b'token-abc').hexdigest())"
        let token = VisitorToken("token-abc".into());
        let visitor = Visitor::anonymous(&token);
        let hash = "096157b339cf419dbc0c8def49fc2be924dc130fbacdfa7b879bee0a3078cec4";
        assert_eq!(visitor.thread_key(), format!("v:{hash}"));
        assert_eq!(visitor.external_id(), format!("visitor:{hash}"));
        assert_eq!(visitor.channel_message_id("c1"), format!("v:{hash}:c1"));
        let verified = Visitor::Verified {
            user_id: "user-42".into(),
        };
        assert_eq!(verified.external_id(), "user-42");
        assert_eq!(verified.thread_key(), "u:user-42");
        assert!(!format!("{token:?}").contains("abc"));
    }
}
