//! The Freshdesk inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

/// How often the hub polls for changed tickets when nothing is set.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;
/// Polling faster would spend the account's API rate limit on nothing.
pub const MIN_POLL_INTERVAL_SECS: u64 = 5;

const CHANNEL: ChannelKind = ChannelKind::Freshdesk;

#[derive(Clone, Debug)]
pub struct FreshdeskConfig {
    /// The helpdesk's address (`https://acme.freshdesk.com`), without a trailing slash or
    /// `/api/v2`.
    pub base_url: String,
    /// An agent's API key (Profile settings → Your API Key); the hub acts as that agent.
    pub api_key: Secret,
    /// Sent by the helpdesk's automation rule in `X-Switchboard-Token`.
    pub webhook_secret: Secret,
    /// This helpdesk is where conversations escalated on other channels become tickets.
    pub escalation_desk: bool,
    /// Seconds between polls for tickets a lost webhook missed.
    pub poll_interval_secs: u64,
}

impl FreshdeskConfig {
    pub fn parse(config: &serde_json::Value) -> Result<FreshdeskConfig, ConfigError> {
        let field = |name| ConfigError::required_str(CHANNEL, config, name);
        // Required, so no default: `base_url` only checks the scheme and trims the slash.
        field("base_url")?;
        let base_url = ConfigError::base_url(CHANNEL, config, "base_url", "")?;
        check_base_url(&base_url)?;
        Ok(FreshdeskConfig {
            base_url,
            api_key: Secret::new(field("api_key")?),
            webhook_secret: Secret::new(field("webhook_secret")?),
            escalation_desk: optional_bool(config, "escalation_desk")?.unwrap_or(false),
            poll_interval_secs: poll_interval(config)?,
        })
    }
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError {
        channel: CHANNEL,
        reason: reason.into(),
    }
}

/// A host and nothing after it: a pasted `…/api/v2` would otherwise double in every call.
fn check_base_url(base_url: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(base_url)
        .map_err(|err| invalid(format!("`base_url` is not a URL: {err}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("`base_url` has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("`base_url` must not have a query or fragment"));
    }
    if parsed.path().trim_end_matches('/').ends_with("/api/v2") {
        return Err(invalid(
            "`base_url` is the helpdesk's address (https://acme.freshdesk.com), without /api/v2",
        ));
    }
    Ok(())
}

fn optional_bool(config: &serde_json::Value, field: &str) -> Result<Option<bool>, ConfigError> {
    match config.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(invalid(format!("`{field}` must be true or false"))),
    }
}

fn poll_interval(config: &serde_json::Value) -> Result<u64, ConfigError> {
    let seconds = match config.get("poll_interval_secs") {
        None | Some(serde_json::Value::Null) => return Ok(DEFAULT_POLL_INTERVAL_SECS),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| invalid("`poll_interval_secs` must be a whole number of seconds"))?,
    };
    if seconds < MIN_POLL_INTERVAL_SECS {
        return Err(invalid(format!(
            "`poll_interval_secs` must be at least {MIN_POLL_INTERVAL_SECS}"
        )));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn valid() -> Value {
        json!({ "base_url": "https://acme.freshdesk.com/", "api_key": "k3y", "webhook_secret": "s3cret" })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut config = valid();
        config[field] = value;
        config
    }

    fn reason(config: &Value) -> String {
        FreshdeskConfig::parse(config)
            .err()
            .map(|err| {
                assert_eq!(err.channel, ChannelKind::Freshdesk);
                err.reason
            })
            .unwrap_or_else(|| panic!("{config} must be refused"))
    }

    #[test]
    fn defaults_and_a_trimmed_base_url() {
        let config = FreshdeskConfig::parse(&valid()).expect("valid");
        assert_eq!(config.base_url, "https://acme.freshdesk.com");
        assert_eq!(config.api_key.expose(), "k3y");
        assert_eq!(config.webhook_secret.expose(), "s3cret");
        assert!(!config.escalation_desk);
        assert_eq!(config.poll_interval_secs, 60);
        assert!(
            !format!("{config:?}").contains("k3y"),
            "secrets never print"
        );

        let config = FreshdeskConfig::parse(&with("escalation_desk", json!(true))).expect("valid");
        assert!(config.escalation_desk);
        let config = FreshdeskConfig::parse(&with("poll_interval_secs", json!(5)))
            .expect("the minimum is allowed");
        assert_eq!(config.poll_interval_secs, 5);
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let cases = [
            (json!({}), "base_url"),
            (json!("not an object"), "base_url"),
            (with("base_url", json!("")), "base_url"),
            (with("base_url", json!(42)), "base_url"),
            (with("base_url", json!("acme.freshdesk.com")), "http"),
            (with("base_url", json!("ftp://acme.freshdesk.com")), "http"),
            (with("base_url", json!("https://")), "base_url"),
            (
                with("base_url", json!("https://acme.freshdesk.com/api/v2")),
                "/api/v2",
            ),
            (
                with("base_url", json!("https://acme.freshdesk.com?x=1")),
                "query",
            ),
            (with("api_key", json!(" ")), "api_key"),
            (with("api_key", Value::Null), "api_key"),
            (with("webhook_secret", json!(null)), "webhook_secret"),
            (with("webhook_secret", json!(["s"])), "webhook_secret"),
            (with("escalation_desk", json!("yes")), "escalation_desk"),
            (with("poll_interval_secs", json!(4)), "at least 5"),
            (with("poll_interval_secs", json!(-60)), "whole number"),
            (with("poll_interval_secs", json!(1.5)), "whole number"),
            (with("poll_interval_secs", json!("60")), "whole number"),
        ];
        for (config, expected) in cases {
            let reason = reason(&config);
            assert!(reason.contains(expected), "{config}: {reason}");
        }
    }
}
