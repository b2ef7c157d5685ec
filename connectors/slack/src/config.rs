//! The Slack inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";

#[derive(Clone, Debug)]
pub struct SlackConfig {
    pub signing_secret: Secret,
    pub bot_token: Secret,
    /// Slack's Web API, without a trailing slash.
    pub api_base_url: String,
    /// The channel (`C…` public, `G…` private) where escalated conversations of the
    /// organization are mirrored and agents answer in threads: this inbox is then the
    /// organization's agent desk. Messages in it never become customer conversations.
    pub agent_channel: Option<String>,
}

impl SlackConfig {
    pub fn parse(config: &serde_json::Value) -> Result<SlackConfig, ConfigError> {
        let field = |name| ConfigError::required_str(ChannelKind::Slack, config, name);
        Ok(SlackConfig {
            signing_secret: Secret::new(field("signing_secret")?),
            bot_token: Secret::new(field("bot_token")?),
            api_base_url: ConfigError::base_url(
                ChannelKind::Slack,
                config,
                "api_base_url",
                DEFAULT_API_BASE_URL,
            )?,
            agent_channel: agent_channel(config)?,
        })
    }
}

/// A channel id as Slack gives them: `C` or `G` and upper-case letters and digits. A channel
/// name (`#support`) is refused, because events name channels by id only.
fn agent_channel(config: &serde_json::Value) -> Result<Option<String>, ConfigError> {
    let invalid = |reason: &str| ConfigError {
        channel: ChannelKind::Slack,
        reason: format!("`agent_channel` {reason}"),
    };
    let id = match config.get("agent_channel") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(id)) if id.trim().is_empty() => return Ok(None),
        Some(serde_json::Value::String(id)) => id.trim(),
        Some(_) => return Err(invalid("must be a string")),
    };
    let well_formed = (2..=32).contains(&id.len())
        && id.starts_with(['C', 'G'])
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !well_formed {
        return Err(invalid(
            "must be a Slack channel id such as C0123ABCD (the channel's details show it), not a name",
        ));
    }
    Ok(Some(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(agent_channel: serde_json::Value) -> Result<Option<String>, ConfigError> {
        SlackConfig::parse(&json!({
            "signing_secret": "s", "bot_token": "xoxb-1", "agent_channel": agent_channel
        }))
        .map(|config| config.agent_channel)
    }

    #[test]
    fn the_agent_channel_is_an_optional_channel_id() {
        assert_eq!(parse(json!(null)).expect("valid"), None);
        assert_eq!(parse(json!("")).expect("valid"), None);
        assert_eq!(
            parse(json!(" C0AGENTS ")).expect("valid").as_deref(),
            Some("C0AGENTS")
        );
        assert_eq!(
            parse(json!("G01PRIVATE")).expect("valid").as_deref(),
            Some("G01PRIVATE")
        );
        for wrong in [
            json!("#agents"),
            json!("c0agents"),
            json!("D0DIRECT"),
            json!(5),
        ] {
            let err = parse(wrong.clone()).expect_err("refused");
            assert!(err.reason.contains("agent_channel"), "{wrong}: {err}");
        }
    }
}
