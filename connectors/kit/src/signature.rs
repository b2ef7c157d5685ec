//! HMAC-SHA256 over a request's parts, its check in constant time, the common
//! `sha256=<hex>` header form of it (WhatsApp's `X-Hub-Signature-256`, email's
//! `X-Switchboard-Signature`), and the constant-time comparison of a shared secret sent as it
//! is (Telegram's secret token, Freshdesk's webhook token, Meta's verify token).

use hmac::{KeyInit, Mac};
use http::HeaderMap;
use subtle::ConstantTimeEq;
use switchboard_model::VerifyError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// HMAC-SHA256 with `key` of `parts` one after the other.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Whether `given` is the HMAC-SHA256 with `key` of `parts`, compared in constant time.
pub fn hmac_sha256_matches(key: &[u8], parts: &[&[u8]], given: &[u8]) -> bool {
    mac(key, parts).verify_slice(given).is_ok()
}

/// Whether a secret sent as it is equals ours, compared in constant time.
pub fn secret_matches(given: &[u8], expected: &[u8]) -> bool {
    bool::from(given.ct_eq(expected))
}

/// The header value `sha256=<hex HMAC-SHA256 of body>` a sender signs `body` with.
pub fn sign_sha256_hex(key: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(key, &[body])))
}

/// Checks the `sha256=<hex>` signature of `body` in the header `name` (lowercase), over the
/// exact bytes and in constant time. `shown` is the header's name as errors show it.
pub fn verify_sha256_hex(
    headers: &HeaderMap,
    name: &str,
    shown: &'static str,
    key: &[u8],
    body: &[u8],
) -> Result<(), VerifyError> {
    let given = headers
        .get(name)
        .ok_or(VerifyError::Missing(shown))?
        .to_str()
        .ok()
        .and_then(|value| value.trim().strip_prefix("sha256="))
        .and_then(|digest| hex::decode(digest.trim()).ok())
        .ok_or(VerifyError::BadSignature)?;
    if hmac_sha256_matches(key, &[body], &given) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Checks a secret sent as it is in the header `name` (lowercase), in constant time.
pub fn verify_secret_header(
    headers: &HeaderMap,
    name: &str,
    shown: &'static str,
    secret: &[u8],
) -> Result<(), VerifyError> {
    let given = headers.get(name).ok_or(VerifyError::Missing(shown))?;
    if secret_matches(given.as_bytes(), secret) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-signature", value.parse().expect("a header value"));
        headers
    }

    fn check(headers: &HeaderMap, key: &[u8], body: &[u8]) -> Result<(), VerifyError> {
        verify_sha256_hex(headers, "x-signature", "X-Signature", key, body)
    }

    #[test]
    fn sha256_hex_signatures() {
        // RFC 4231, test case 2.
        let (key, body) = (b"Jefe", b"what do ya want for nothing?");
        let known = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(sign_sha256_hex(key, body), known);
        check(&headers(known), key, body).expect("verifies");
        check(&headers(&format!(" {known} ")), key, body).expect("verifies, trimmed");
        let tampered = b"what do ya want for nothing!";
        assert!(matches!(
            check(&headers(known), key, tampered),
            Err(VerifyError::BadSignature)
        ));
        assert!(check(&headers(known), b"jefe", body).is_err());
        for wrong in ["sha256=zz", "md5=00", &known[..known.len() - 1], ""] {
            assert!(
                matches!(
                    check(&headers(wrong), key, body),
                    Err(VerifyError::BadSignature)
                ),
                "{wrong}"
            );
        }
        assert!(matches!(
            check(&HeaderMap::new(), key, body),
            Err(VerifyError::Missing("X-Signature"))
        ));
    }

    #[test]
    fn parts_are_signed_one_after_the_other() {
        let whole = hmac_sha256(b"k", &[b"v0:1:body"]);
        assert_eq!(hmac_sha256(b"k", &[b"v0:", b"1", b":", b"body"]), whole);
        assert!(hmac_sha256_matches(b"k", &[b"v0:1:", b"body"], &whole));
        assert!(!hmac_sha256_matches(b"k", &[b"v0:1:", b"bodY"], &whole));
        assert!(!hmac_sha256_matches(b"k", &[b"v0:1:body"], &whole[..31]));
    }

    #[test]
    fn secrets_match_exactly() {
        assert!(secret_matches(b"wh-7f3a9c", b"wh-7f3a9c"));
        for wrong in ["wh-7f3a9d", "wh-7f3a9", "wh-7f3a9cc", "", "WH-7F3A9C"] {
            assert!(!secret_matches(wrong.as_bytes(), b"wh-7f3a9c"), "{wrong}");
        }
        let mut sent = HeaderMap::new();
        sent.insert("x-token", "wh-7f3a9c".parse().expect("a value"));
        verify_secret_header(&sent, "x-token", "X-Token", b"wh-7f3a9c").expect("matches");
        assert!(matches!(
            verify_secret_header(&sent, "x-token", "X-Token", b"other"),
            Err(VerifyError::BadSignature)
        ));
        assert!(matches!(
            verify_secret_header(&HeaderMap::new(), "x-token", "X-Token", b"s"),
            Err(VerifyError::Missing("X-Token"))
        ));
    }
}
