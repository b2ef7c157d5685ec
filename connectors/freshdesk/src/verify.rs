//! Freshdesk's automation webhooks are not signed: the admin adds a custom header
//! `X-Switchboard-Token: <webhook_secret>` to the rule, and it is compared in constant time.
//! The request carries no signed time, so there is no replay window; a replayed webhook only
//! names a ticket, which the hub then reads through the API.

use http::HeaderMap;
use switchboard_connector_kit::signature::verify_secret_header;
use switchboard_model::{Secret, VerifyError};

/// The header the automation rule sends the secret in.
pub const TOKEN_HEADER: &str = "x-switchboard-token";

pub fn verify(webhook_secret: &Secret, headers: &HeaderMap) -> Result<(), VerifyError> {
    verify_secret_header(
        headers,
        TOKEN_HEADER,
        "X-Switchboard-Token",
        webhook_secret.expose().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(token: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            headers.insert(TOKEN_HEADER, HeaderValue::from_static(token));
        }
        headers
    }

    #[test]
    fn the_right_token_verifies_and_others_do_not() {
        let secret = Secret::new("wh-7f3a9c");
        assert!(verify(&secret, &headers(Some("wh-7f3a9c"))).is_ok());
        assert!(matches!(
            verify(&secret, &headers(None)),
            Err(VerifyError::Missing("X-Switchboard-Token"))
        ));
        for wrong in ["wh-7f3a9d", "wh-7f3a9", "wh-7f3a9cc", "", "WH-7F3A9C"] {
            let mut headers = HeaderMap::new();
            headers.insert(TOKEN_HEADER, HeaderValue::from_str(wrong).expect("a value"));
            assert!(
                matches!(verify(&secret, &headers), Err(VerifyError::BadSignature)),
                "{wrong:?} must not verify"
            );
        }
    }
}
