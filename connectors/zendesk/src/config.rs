//! The Zendesk inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

/// How often the hub polls the incremental export when no `poll_interval_secs` is given.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;
/// The shortest poll interval accepted: Zendesk allows 10 incremental exports a minute.
pub const MIN_POLL_INTERVAL_SECS: u64 = 5;

/// One Zendesk account, as an inbox of the hub.
#[derive(Clone, Debug)]
pub struct ZendeskConfig {
    /// The account's address, `https://acme.zendesk.com`, without a trailing slash.
    pub base_url: String,
    /// The agent whose API token this is: the integration's own user.
    pub email: String,
    /// Admin Center > Apps and integrations > Zendesk API.
    pub api_token: Secret,
    /// The webhook's signing secret, keyed as its raw UTF-8 bytes.
    pub webhook_secret: Secret,
    /// The hub escalates conversations of other inboxes to this account as tickets.
    pub escalation_desk: bool,
    /// How often the hub asks for tickets a lost webhook missed.
    pub poll_interval_secs: u64,
}

impl ZendeskConfig {
    pub fn parse(config: &serde_json::Value) -> Result<ZendeskConfig, ConfigError> {
        let field = |name| ConfigError::required_str(ChannelKind::Zendesk, config, name);
        // `base_url` has no default: a missing one is reported as required, not as a bad URL.
        field("base_url")?;
        Ok(ZendeskConfig {
            base_url: ConfigError::base_url(ChannelKind::Zendesk, config, "base_url", "")?,
            email: field("email")?.trim().to_owned(),
            api_token: Secret::new(field("api_token")?),
            webhook_secret: Secret::new(field("webhook_secret")?),
            escalation_desk: escalation_desk(config)?,
            poll_interval_secs: poll_interval_secs(config)?,
        })
    }
}

fn invalid(reason: &str) -> ConfigError {
    ConfigError {
        channel: ChannelKind::Zendesk,
        reason: reason.to_owned(),
    }
}

fn escalation_desk(config: &serde_json::Value) -> Result<bool, ConfigError> {
    match config.get("escalation_desk") {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(on)) => Ok(*on),
        Some(_) => Err(invalid("`escalation_desk` must be true or false")),
    }
}

fn poll_interval_secs(config: &serde_json::Value) -> Result<u64, ConfigError> {
    let secs = match config.get("poll_interval_secs") {
        None | Some(serde_json::Value::Null) => return Ok(DEFAULT_POLL_INTERVAL_SECS),
        Some(value) => value.as_u64(),
    };
    match secs {
        Some(secs) if secs >= MIN_POLL_INTERVAL_SECS => Ok(secs),
        _ => Err(invalid(
            "`poll_interval_secs` must be a whole number of seconds, at least 5",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn full() -> Value {
        json!({
            "base_url": "https://acme.zendesk.com/",
            "email": "integration@acme.test",
            "api_token": "zd-token",
            "webhook_secret": "whsec",
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut config = full();
        config[field] = value;
        config
    }

    fn reason(config: &Value) -> String {
        ZendeskConfig::parse(config).expect_err("refused").reason
    }

    #[test]
    fn a_full_config_parses_with_defaults() {
        let config = ZendeskConfig::parse(&full()).expect("parses");
        assert_eq!(config.base_url, "https://acme.zendesk.com");
        assert_eq!(config.email, "integration@acme.test");
        assert_eq!(config.api_token.expose(), "zd-token");
        assert_eq!(config.webhook_secret.expose(), "whsec");
        assert!(!config.escalation_desk);
        assert_eq!(config.poll_interval_secs, 60);
        assert!(!format!("{config:?}").contains("zd-token"));

        let config = ZendeskConfig::parse(&with("escalation_desk", json!(true))).expect("parses");
        assert!(config.escalation_desk);
        let config = ZendeskConfig::parse(&with("poll_interval_secs", json!(5))).expect("parses");
        assert_eq!(config.poll_interval_secs, 5);
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in ["base_url", "email", "api_token", "webhook_secret"] {
            let mut config = full();
            config
                .as_object_mut()
                .expect("an object")
                .remove(field)
                .expect("present");
            assert_eq!(reason(&config), format!("`{field}` is required"));
            assert_eq!(
                reason(&with(field, json!("  "))),
                format!("`{field}` is required")
            );
        }
        assert_eq!(reason(&with("email", json!(7))), "`email` must be a string");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(reason(&with("base_url", json!("acme.zendesk.com"))).contains("http"));
        assert!(reason(&with("base_url", json!("ftp://acme.zendesk.com"))).contains("http"));
        for interval in [json!(0), json!(4), json!(-5), json!("60"), json!(1.5)] {
            assert!(
                reason(&with("poll_interval_secs", interval.clone())).contains("at least 5"),
                "{interval}"
            );
        }
        assert!(reason(&with("escalation_desk", json!("yes"))).contains("escalation_desk"));
        assert!(ZendeskConfig::parse(&json!("not an object")).is_err());
    }
}
