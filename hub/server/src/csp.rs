//! The security headers of the web pages the hub serves (`web.rs`): a strict
//! `Content-Security-Policy` on every HTML page, `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer` on everything under the web routes.
//!
//! The inbox loads only the hub's own scripts and styles (ES modules, no inline script) and
//! talks only to the hub (`fetch`, the event stream, the widget's WebSocket), so the policy
//! allows `'self'` and the hub's own `ws:`/`wss:` origin. Inline `style` attributes stay allowed
//! (`style-src-attr`): the UI sets a few, and they cannot run code. Nothing may frame the pages.
//! The demo page has inline CSS and one inline script, which is allowed by its hash, computed
//! from the page as served.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use base64::Engine;
use sha2::{Digest, Sha256};

/// What every page allows besides scripts, styles and connections.
const COMMON: &str = "default-src 'self'; img-src 'self' data: blob:; font-src 'self'; \
                      object-src 'none'; base-uri 'none'; form-action 'self'; \
                      frame-ancestors 'none'";

/// `'self'` plus the hub's own WebSocket origins, from the `Host` the browser used (when it
/// is a plain host name or address with a port).
fn connect_src(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
    match host {
        Some(host) => format!("connect-src 'self' ws://{host} wss://{host}"),
        None => "connect-src 'self'".to_owned(),
    }
}

/// The policy of the inbox and every other page without inline code.
pub fn page_policy(headers: &HeaderMap) -> String {
    format!(
        "{COMMON}; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; {}",
        connect_src(headers)
    )
}

/// The policy of a page with inline `<style>` and the inline scripts of `html`, each allowed
/// by its SHA-256.
pub fn inline_page_policy(headers: &HeaderMap, html: &str) -> String {
    let hashes: String = inline_scripts(html)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "{COMMON}; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; {}",
        connect_src(headers)
    )
}

/// The bodies of the `<script>` elements without `src`, exactly as the browser hashes them.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attributes, after) = rest.split_once('>')?;
        if attributes.contains("src=") {
            return None;
        }
        after.split_once("</script>").map(|(body, _)| body)
    })
}

/// Adds the headers to a web route's response; an HTML page that set no policy of its own
/// gets [`page_policy`].
pub async fn headers(request: Request, next: Next) -> Response {
    let policy = page_policy(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html
        && !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(policy) = HeaderValue::from_str(&policy)
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = "<p><script>\n  a();\n</script><script src=\"/widget.js\" async></script>";
        let scripts: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(scripts, vec!["\n  a();\n"]);
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("hub.example:8080"));
        let policy = inline_page_policy(&headers, html);
        assert_eq!(policy.matches("'sha256-").count(), 1, "{policy}");
        assert!(policy.contains("connect-src 'self' ws://hub.example:8080 wss://hub.example:8080"));
        headers.insert(
            header::HOST,
            HeaderValue::from_static("evil'; script-src *"),
        );
        assert!(page_policy(&headers).ends_with("connect-src 'self'"));
    }
}
