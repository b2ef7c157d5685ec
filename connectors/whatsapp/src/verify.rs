//! Meta's checks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` with the app
//! secret on every `POST` (over the bytes exactly as sent: Meta escapes non-ASCII as `\uXXXX`,
//! so re-serialized JSON would not match), and the `hub.verify_token` of the `GET` check.

use http::HeaderMap;
use switchboard_connector_kit::signature::{secret_matches, sign_sha256_hex, verify_sha256_hex};
use switchboard_model::{HandshakeError, Secret, VerifyError};

/// The `X-Hub-Signature-256` Meta sends with `body`.
pub fn sign(app_secret: &Secret, body: &[u8]) -> String {
    sign_sha256_hex(app_secret.expose().as_bytes(), body)
}

/// Checks the signature in constant time. Meta's payloads carry no signed timestamp, so there
/// is no replay window: replays are harmless because messages are stored once per `wamid`.
pub fn verify(app_secret: &Secret, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    verify_sha256_hex(
        headers,
        "x-hub-signature-256",
        "X-Hub-Signature-256",
        app_secret.expose().as_bytes(),
        body,
    )
}

/// `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → the challenge to echo.
pub fn subscription_challenge(
    verify_token: &Secret,
    query: &str,
) -> Result<String, HandshakeError> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    if mode.as_deref() != Some("subscribe") {
        return Err(HandshakeError::Refused(
            "`hub.mode` is not `subscribe`".into(),
        ));
    }
    let token = token.unwrap_or_default();
    if !secret_matches(token.as_bytes(), verify_token.expose().as_bytes()) {
        return Err(HandshakeError::Refused(
            "`hub.verify_token` does not match".into(),
        ));
    }
    challenge.ok_or_else(|| HandshakeError::Refused("`hub.challenge` is missing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-hub-signature-256", signature.parse().expect("a value"));
        headers
    }

    /// A real webhook and its signature, published with pywa's tests (the secret was reset).
    #[test]
    fn a_real_signed_webhook_verifies_and_a_changed_one_does_not() {
        let secret = Secret::new("1222e786b144d0e85b9f365372d93676");
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877","phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},"wa_id":"972544401243"}],"messages":[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","timestamp":"1730231903","text":{"body":"Hey there! I am using PyWa."},"type":"text"}]},"field":"messages"}]}]}"#;
        let signature = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441";
        verify(&secret, &headers(signature), body).expect("verifies");
        let mut changed = body.to_vec();
        changed[10] = b'X';
        assert!(matches!(
            verify(&secret, &headers(signature), &changed),
            Err(VerifyError::BadSignature)
        ));
    }

    /// Meta signs the `\uXXXX`-escaped bytes it sends; the unescaped text must not verify.
    #[test]
    fn the_escaped_bytes_are_what_is_signed() {
        let secret = Secret::new("YOUR_APP_SECRET");
        let sent = r"Let's pretend this body is equal to the message object and can handle unicode characters like \u307f\u3069\u308a\u3044\u308d and J'ai mang\u00e9 des p\u00e2tes";
        let unescaped = "Let's pretend this body is equal to the message object and can handle unicode characters like みどりいろ and J'ai mangé des pâtes";
        let signature = "sha256=0363007aabdf1ab579f35936651a460fb5fa1aaf40df98b1264446b72cc96688";
        verify(&secret, &headers(signature), sent.as_bytes()).expect("verifies");
        assert!(verify(&secret, &headers(signature), unescaped.as_bytes()).is_err());
    }

    #[test]
    fn the_subscription_check_needs_our_token() {
        let token = Secret::new("tok en");
        assert_eq!(
            subscription_challenge(
                &token,
                "hub.mode=subscribe&hub.verify_token=tok%20en&hub.challenge=1158201444"
            )
            .expect("answers"),
            "1158201444"
        );
        for query in [
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
            "hub.mode=unsubscribe&hub.verify_token=tok%20en&hub.challenge=1",
            "hub.mode=subscribe&hub.challenge=1",
            "hub.mode=subscribe&hub.verify_token=tok%20en",
            "",
        ] {
            assert!(
                matches!(
                    subscription_challenge(&token, query),
                    Err(HandshakeError::Refused(_))
                ),
                "{query}"
            );
        }
    }
}
