//! The Slack inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";

#[derive(Clone, Debug)]
pub struct SlackConfig {
    pub signing_secret: Secret,
    pub bot_token: Secret,
    /// Slack's Web API, without a trailing slash.
    pub api_base_url: String,
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
        })
    }
}
