//! The Telegram inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

pub const DEFAULT_API_BASE_URL: &str = "https://api.telegram.org";
/// The updates the hub asks Telegram for in `setWebhook`.
pub const ALLOWED_UPDATES: &[&str] = &["message", "edited_message"];

#[derive(Clone, Debug)]
pub struct TelegramConfig {
    pub bot_token: Secret,
    pub secret_token: Secret,
    /// The Bot API server, without a trailing slash.
    pub api_base_url: String,
}

impl TelegramConfig {
    pub fn parse(config: &serde_json::Value) -> Result<TelegramConfig, ConfigError> {
        let field = |name| ConfigError::required_str(ChannelKind::Telegram, config, name);
        let secret_token = field("secret_token")?;
        // Telegram refuses other secrets in setWebhook; better to say so when the inbox is set up.
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret_token.len() > 256 || !secret_token.chars().all(allowed) {
            return Err(ConfigError {
                channel: ChannelKind::Telegram,
                reason: "`secret_token` must be 1-256 characters of A-Z, a-z, 0-9, _ and -".into(),
            });
        }
        Ok(TelegramConfig {
            bot_token: Secret::new(field("bot_token")?),
            secret_token: Secret::new(secret_token),
            api_base_url: ConfigError::base_url(
                ChannelKind::Telegram,
                config,
                "api_base_url",
                DEFAULT_API_BASE_URL,
            )?,
        })
    }

    /// `{api_base_url}/bot{token}/{method}`: holds the token, so it is never logged.
    pub fn method_url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.api_base_url,
            self.bot_token.expose()
        )
    }
}
