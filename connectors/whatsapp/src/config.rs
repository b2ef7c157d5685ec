//! The WhatsApp inbox's settings, read from its config.

use switchboard_model::{ChannelKind, ConfigError, Secret};

pub const DEFAULT_API_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version every call names.
pub const GRAPH_API_VERSION: &str = "v21.0";

#[derive(Clone, Debug)]
pub struct WhatsappConfig {
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub access_token: Secret,
    pub phone_number_id: String,
    /// The Graph API, without a trailing slash or version.
    pub api_base_url: String,
}

impl WhatsappConfig {
    pub fn parse(config: &serde_json::Value) -> Result<WhatsappConfig, ConfigError> {
        let field = |name| ConfigError::required_str(ChannelKind::Whatsapp, config, name);
        Ok(WhatsappConfig {
            app_secret: Secret::new(field("app_secret")?),
            verify_token: Secret::new(field("verify_token")?),
            access_token: Secret::new(field("access_token")?),
            phone_number_id: field("phone_number_id")?.trim().to_owned(),
            api_base_url: ConfigError::base_url(
                ChannelKind::Whatsapp,
                config,
                "api_base_url",
                DEFAULT_API_BASE_URL,
            )?,
        })
    }

    /// `{api_base_url}/{version}/{path}`.
    pub fn graph_url(&self, path: &str) -> String {
        format!("{}/{GRAPH_API_VERSION}/{path}", self.api_base_url)
    }
}
