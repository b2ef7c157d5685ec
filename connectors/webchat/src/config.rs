//! The config of a web-chat inbox: which sites may open the chat, the key that verifies
//! signed-in visitors, and its limits: per visitor, per client address and for the whole inbox.

use serde::Deserialize;
use switchboard_model::{ChannelKind, ConfigError};

pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 30;
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 10;
/// A page load or two a second from one address: new tokens cannot reset a visitor's limit,
/// while an office or a mobile carrier's shared address is not held up.
pub const DEFAULT_ADDRESS_CONNECTIONS_PER_MINUTE: u32 = 60;
/// Ten visitors at their own limit (30) from one address.
pub const DEFAULT_ADDRESS_MESSAGES_PER_MINUTE: u32 = 300;
/// 10,000 a second: an abuse ceiling, far above what a busy site's visitors send, for a few
/// nodes together.
pub const DEFAULT_INBOX_MESSAGES_PER_MINUTE: u32 = 600_000;
/// Shorter keys make `user_hash` guessable by brute force.
const MIN_IDENTITY_SECRET_CHARS: usize = 16;

/// A validated web-chat inbox config.
#[derive(Clone, Debug, PartialEq)]
pub struct WebchatConfig {
    pub allowed_origins: Vec<OriginPattern>,
    /// The HMAC key of `user_hash`; `None` turns identity verification off.
    pub identity_secret: Option<String>,
    /// Frames a visitor may send a minute, all their connections together (`typing` aside).
    pub rate_limit_per_minute: u32,
    /// Frames a visitor may send at once.
    pub rate_limit_burst: u32,
    /// New connections one client address may open a minute (a minute's worth at once).
    pub address_connections_per_minute: u32,
    /// Frames one client address may send a minute, all its visitors together (`typing`
    /// aside; a minute's worth at once).
    pub address_messages_per_minute: u32,
    /// Frames the whole inbox takes a minute, every visitor together (`typing` aside; a
    /// minute's worth at once).
    pub inbox_messages_per_minute: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    allowed_origins: Option<Vec<String>>,
    identity_secret: Option<String>,
    rate_limit_per_minute: Option<u32>,
    rate_limit_burst: Option<u32>,
    address_connections_per_minute: Option<u32>,
    address_messages_per_minute: Option<u32>,
    inbox_messages_per_minute: Option<u32>,
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError {
        channel: ChannelKind::Webchat,
        reason: reason.into(),
    }
}

/// A limit's value, `default` when absent; from 1 to `max`.
fn within(field: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, ConfigError> {
    let value = value.unwrap_or(default);
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(format!("`{field}` must be from 1 to {max}")))
    }
}

impl WebchatConfig {
    /// Reads and validates an inbox's config (public fields and secrets merged).
    pub fn from_json(config: &serde_json::Value) -> Result<WebchatConfig, ConfigError> {
        let raw: RawConfig =
            serde_json::from_value(config.clone()).map_err(|err| invalid(err.to_string()))?;
        let allowed_origins = raw
            .allowed_origins
            .ok_or_else(|| {
                invalid("`allowed_origins` is required: the sites that may open the chat")
            })?
            .iter()
            .map(|origin| OriginPattern::parse(origin))
            .collect::<Result<Vec<_>, _>>()?;
        let identity_secret = match raw.identity_secret {
            Some(secret) if secret.chars().count() < MIN_IDENTITY_SECRET_CHARS => {
                return Err(invalid(format!(
                    "`identity_secret` must be at least {MIN_IDENTITY_SECRET_CHARS} characters"
                )));
            }
            secret => secret,
        };
        Ok(WebchatConfig {
            allowed_origins,
            identity_secret,
            rate_limit_per_minute: within(
                "rate_limit_per_minute",
                raw.rate_limit_per_minute,
                DEFAULT_RATE_LIMIT_PER_MINUTE,
                6_000,
            )?,
            rate_limit_burst: within(
                "rate_limit_burst",
                raw.rate_limit_burst,
                DEFAULT_RATE_LIMIT_BURST,
                1_000,
            )?,
            address_connections_per_minute: within(
                "address_connections_per_minute",
                raw.address_connections_per_minute,
                DEFAULT_ADDRESS_CONNECTIONS_PER_MINUTE,
                100_000,
            )?,
            address_messages_per_minute: within(
                "address_messages_per_minute",
                raw.address_messages_per_minute,
                DEFAULT_ADDRESS_MESSAGES_PER_MINUTE,
                1_000_000,
            )?,
            inbox_messages_per_minute: within(
                "inbox_messages_per_minute",
                raw.inbox_messages_per_minute,
                DEFAULT_INBOX_MESSAGES_PER_MINUTE,
                10_000_000,
            )?,
        })
    }

    /// Whether a browser on `origin` (the `Origin` header, as sent) may open the chat.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        self.allowed_origins
            .iter()
            .any(|pattern| pattern.matches(&origin))
    }
}

/// A serialized origin, `scheme://host[:port]`, normalized: lowercase, default port explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `scheme://host[:port]` (a trailing `/` tolerated) into its parts, lowercased; the port
/// is the text after the last `:` outside an IPv6 literal's brackets.
fn split_origin(text: &str) -> Option<(String, String, Option<String>)> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = text.split_once("://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = match rest.rfind(':') {
        Some(at) if !rest[at..].contains(']') => (&rest[..at], Some(rest[at + 1..].to_owned())),
        _ => (rest, None),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme.to_owned(), host.to_owned(), port))
}

impl Origin {
    fn parse(text: &str) -> Option<Origin> {
        let (scheme, host, port) = split_origin(text)?;
        if host.contains('*') {
            return None;
        }
        let port = match port {
            Some(port) => port.parse().ok()?,
            None => default_port(&scheme)?,
        };
        default_port(&scheme)?;
        Some(Origin { scheme, host, port })
    }
}

/// One entry of `allowed_origins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`: every origin.
    Any,
    Site {
        scheme: String,
        /// `*.example.com` matches every subdomain of `example.com` (not `example.com` itself).
        host: String,
        /// `None`: any port (`http://localhost:*`).
        port: Option<u16>,
    },
}

impl OriginPattern {
    pub fn parse(text: &str) -> Result<OriginPattern, ConfigError> {
        if text.trim() == "*" {
            return Ok(OriginPattern::Any);
        }
        let bad = || {
            invalid(format!(
                "`allowed_origins`: `{text}` is not an origin like https://shop.example, https://*.example.com or http://localhost:*"
            ))
        };
        let (scheme, host, port) = split_origin(text).ok_or_else(bad)?;
        let default = default_port(&scheme).ok_or_else(bad)?;
        let wildcard_ok = match host.strip_prefix("*.") {
            Some(rest) => !rest.is_empty() && !rest.contains('*'),
            None => !host.contains('*'),
        };
        if !wildcard_ok {
            return Err(bad());
        }
        let port = match port.as_deref() {
            Some("*") => None,
            Some(port) => Some(port.parse().map_err(|_| bad())?),
            None => Some(default),
        };
        Ok(OriginPattern::Site { scheme, host, port })
    }

    fn matches(&self, origin: &Origin) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Site { scheme, host, port } => {
                let host_matches = match host.strip_prefix("*.") {
                    Some(domain) => origin
                        .host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => *host == origin.host,
                };
                *scheme == origin.scheme
                    && host_matches
                    && port.is_none_or(|port| port == origin.port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(origins: &[&str]) -> WebchatConfig {
        WebchatConfig::from_json(&json!({ "allowed_origins": origins })).expect("valid")
    }

    #[test]
    fn origins_match_exactly_with_default_ports_and_case_folded() {
        let config = config(&["https://Shop.example", "http://127.0.0.1:8080"]);
        for allowed in [
            "https://shop.example",
            "https://SHOP.example:443",
            "https://shop.example/",
            "http://127.0.0.1:8080",
        ] {
            assert!(config.allows_origin(allowed), "{allowed}");
        }
        for refused in [
            "http://shop.example",
            "https://shop.example:8443",
            "https://evil.shop.example",
            "https://shop.example.evil.test",
            "http://127.0.0.1:8081",
            "http://127.0.0.1",
            "null",
            "",
            "https://shop.example/path",
        ] {
            assert!(!config.allows_origin(refused), "{refused}");
        }
    }

    #[test]
    fn wildcards_match_subdomains_and_ports_only() {
        let config = config(&["https://*.example.com", "http://localhost:*"]);
        assert!(config.allows_origin("https://www.example.com"));
        assert!(config.allows_origin("https://a.b.example.com"));
        assert!(!config.allows_origin("https://example.com"));
        assert!(!config.allows_origin("https://badexample.com"));
        assert!(!config.allows_origin("http://www.example.com"));
        assert!(config.allows_origin("http://localhost:3000"));
        assert!(config.allows_origin("http://localhost"));
        assert!(!config.allows_origin("https://localhost:3000"));
        assert!(!config.allows_origin("http://localhost.evil.test:3000"));
        assert!(config_any().allows_origin("https://anything.test"));
    }

    fn config_any() -> WebchatConfig {
        config(&["*"])
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            (json!({}), "allowed_origins"),
            (
                json!({ "allowed_origins": ["shop.example"] }),
                "allowed_origins",
            ),
            (
                json!({ "allowed_origins": ["ftp://shop.example"] }),
                "allowed_origins",
            ),
            (
                json!({ "allowed_origins": ["https://shop.*.example"] }),
                "allowed_origins",
            ),
            (
                json!({ "allowed_origins": ["https://shop.example/path"] }),
                "allowed_origins",
            ),
            (
                json!({ "allowed_origins": ["https://shop.example:http"] }),
                "allowed_origins",
            ),
            (
                json!({ "allowed_origins": "https://shop.example" }),
                "invalid type",
            ),
            (
                json!({ "allowed_origins": [], "identity_secret": "short" }),
                "identity_secret",
            ),
            (
                json!({ "allowed_origins": [], "rate_limit_per_minute": 0 }),
                "rate_limit_per_minute",
            ),
            (
                json!({ "allowed_origins": [], "rate_limit_burst": 5000 }),
                "rate_limit_burst",
            ),
            (
                json!({ "allowed_origins": [], "address_connections_per_minute": 0 }),
                "address_connections_per_minute",
            ),
            (
                json!({ "allowed_origins": [], "address_messages_per_minute": 1_000_001 }),
                "address_messages_per_minute",
            ),
            (
                json!({ "allowed_origins": [], "inbox_messages_per_minute": 10_000_001 }),
                "inbox_messages_per_minute",
            ),
            (
                json!({ "allowed_origins": [], "allowed_origin": [] }),
                "unknown field",
            ),
        ];
        for (config, field) in cases {
            let err = WebchatConfig::from_json(&config).expect_err("invalid");
            assert!(err.to_string().contains(field), "{config}: {err}");
        }
    }

    #[test]
    fn defaults_apply() {
        let config = WebchatConfig::from_json(
            &json!({ "allowed_origins": [], "identity_secret": "0123456789abcdef" }),
        )
        .expect("valid");
        assert_eq!(config.rate_limit_per_minute, DEFAULT_RATE_LIMIT_PER_MINUTE);
        assert_eq!(config.rate_limit_burst, DEFAULT_RATE_LIMIT_BURST);
        assert_eq!(
            config.address_connections_per_minute,
            DEFAULT_ADDRESS_CONNECTIONS_PER_MINUTE
        );
        assert_eq!(
            config.address_messages_per_minute,
            DEFAULT_ADDRESS_MESSAGES_PER_MINUTE
        );
        assert_eq!(
            config.inbox_messages_per_minute,
            DEFAULT_INBOX_MESSAGES_PER_MINUTE
        );
        assert_eq!(config.identity_secret.as_deref(), Some("0123456789abcdef"));
        assert!(!config.allows_origin("https://shop.example"));
    }
}
