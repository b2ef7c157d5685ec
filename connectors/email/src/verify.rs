//! `X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the raw body with inbound_secret>`.

use switchboard_connector_kit::signature::{sign_sha256_hex, verify_sha256_hex};
use switchboard_model::VerifyError;

pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

/// Checks the signature over the exact bytes, in constant time.
pub fn verify(headers: &http::HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), VerifyError> {
    verify_sha256_hex(
        headers,
        SIGNATURE_HEADER,
        "X-Switchboard-Signature",
        secret,
        body,
    )
}

/// The header value for `body`: what a mail relay posting to the webhook sends.
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    sign_sha256_hex(secret, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, value.parse().expect("a header value"));
        headers
    }

    #[test]
    fn signatures() {
        let body = b"From: a@b.c\r\n\r\nhi";
        // Computed independently: printf 'From: a@b.c\r\n\r\nhi' | openssl dgst -sha256 -hmac key
        let known = "sha256=6006e860ab1e7e87dc9968ab09ceaa29d683095d7a53afb11f3b6ced70b10817";
        let signed = sign(body, b"key");
        assert_eq!(signed, known);
        assert!(verify(&headers(&signed), body, b"key").is_ok());
        assert!(matches!(
            verify(&headers(&signed), b"From: a@b.c\r\n\r\nHi", b"key"),
            Err(VerifyError::BadSignature)
        ));
        assert!(verify(&headers(&signed), body, b"other").is_err());
        assert!(verify(&headers("sha256=zz"), body, b"key").is_err());
        assert!(verify(&headers("md5=00"), body, b"key").is_err());
        assert!(matches!(
            verify(&http::HeaderMap::new(), body, b"key"),
            Err(VerifyError::Missing(_))
        ));
    }
}
