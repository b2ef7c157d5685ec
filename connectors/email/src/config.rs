//! An email inbox's config: its address, the webhook secret, where replies are sent, limits.
//!
//! | field | required | meaning |
//! | --- | --- | --- |
//! | `address` | yes | The support address customers write to (`support@acme.test`). Replies come from it; plus-addressed forms (`support+token@acme.test`) reach the same inbox. |
//! | `inbound_secret` | yes | The key of `X-Switchboard-Signature` on `POST /webhooks/email/{inbox}`. Secret. |
//! | `smtp_url` | for replies | Where replies go; see [`SmtpTarget::parse`]. Secret (it may hold a password). Without it the inbox only receives. |
//! | `from_name` | no | The team's name, shown after the writer's: `"Ana from Acme Support"`. |
//! | `max_attachment_bytes` | no | Larger attachments are listed but not kept. Default 10 MiB. |
//! | `max_message_attachment_bytes` | no | Attachments kept per message, in all. Default 25 MiB. |
//! | `smtp_timeout_secs` | no | One SMTP conversation takes at most this long. Default 20. |

use std::time::Duration;

use serde_json::Value;
use switchboard_model::{ChannelKind, ConfigError, Secret};

pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
pub const DEFAULT_MAX_MESSAGE_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// One email inbox's settings, checked.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    /// Lower-cased `local@domain`.
    pub address: String,
    pub inbound_secret: Secret,
    pub smtp: Option<SmtpTarget>,
    pub from_name: Option<String>,
    pub max_attachment_bytes: usize,
    pub max_message_attachment_bytes: usize,
    pub smtp_timeout: Duration,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, port 465).
    Implicit,
    /// STARTTLS, and refuse to send if the server does not offer it.
    Required,
    /// STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
    /// Plain text: for a relay on this machine.
    None,
}

/// Where replies are sent, parsed from `smtp_url`.
#[derive(Clone, Debug)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError {
        channel: ChannelKind::Email,
        reason: reason.into(),
    }
}

impl SmtpTarget {
    /// Parses `smtp_url`:
    /// - `smtps://[user:pass@]host[:port]`: implicit TLS, port 465 by default;
    /// - `smtp://[user:pass@]host[:port]`: port 587 by default (25 on loopback); STARTTLS is
    ///   required, except on a loopback host (`localhost`, `127.0.0.0/8`, `::1`), which is
    ///   spoken to in plain text;
    /// - `?tls=required|opportunistic|none` on `smtp://` overrides that choice.
    ///
    /// User and password are percent-decoded. The host must be one the hub may call
    /// ([`switchboard_model::check_outbound_url`]).
    pub fn parse(text: &str) -> Result<SmtpTarget, ConfigError> {
        switchboard_model::check_outbound_url("smtp_url", text, switchboard_model::SMTP_SCHEMES)
            .map_err(invalid)?;
        let url = url::Url::parse(text.trim())
            .map_err(|err| invalid(format!("`smtp_url` is not a URL: {err}")))?;
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("`smtp_url` has no host")),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let asked = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let tls = match (url.scheme(), asked.as_deref()) {
            ("smtps", None | Some("implicit")) => TlsMode::Implicit,
            ("smtps", Some(other)) => {
                return Err(invalid(format!(
                    "`smtp_url`: smtps:// is always TLS, `tls={other}` contradicts it"
                )));
            }
            ("smtp", None) if loopback => TlsMode::None,
            ("smtp", None | Some("required")) => TlsMode::Required,
            ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
            ("smtp", Some("none")) => TlsMode::None,
            ("smtp", Some(other)) => {
                return Err(invalid(format!(
                    "`smtp_url`: `tls` must be required, opportunistic or none, not `{other}`"
                )));
            }
            (scheme, _) => {
                return Err(invalid(format!(
                    "`smtp_url` must start with smtp:// or smtps://, not {scheme}://"
                )));
            }
        };
        let default_port = match tls {
            TlsMode::Implicit => 465,
            _ if loopback => 25,
            _ => 587,
        };
        let decode = |text: &str| {
            url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default()
        };
        let username = Some(decode(url.username())).filter(|user| !user.is_empty());
        let password = url.password().map(|password| Secret::new(decode(password)));
        Ok(SmtpTarget {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            username,
            password,
        })
    }
}

impl EmailConfig {
    pub fn from_json(config: &Value) -> Result<EmailConfig, ConfigError> {
        let text = |name: &str| {
            config[name]
                .as_str()
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let address = text("address")
            .ok_or_else(|| invalid("`address` is required"))?
            .to_lowercase();
        match address.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
            _ => return Err(invalid("`address` must look like support@example.com")),
        }
        let inbound_secret =
            text("inbound_secret").ok_or_else(|| invalid("`inbound_secret` is required"))?;
        let smtp = text("smtp_url").map(SmtpTarget::parse).transpose()?;
        let size = |name: &str, default: usize| match &config[name] {
            Value::Null => Ok(default),
            value => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid(format!("`{name}` must be a number of bytes"))),
        };
        let smtp_timeout = match config["smtp_timeout_secs"].as_u64() {
            Some(secs) if secs > 0 => Duration::from_secs(secs),
            _ => DEFAULT_SMTP_TIMEOUT,
        };
        Ok(EmailConfig {
            address,
            inbound_secret: Secret::new(inbound_secret),
            smtp,
            from_name: text("from_name").map(str::to_owned),
            max_attachment_bytes: size("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES)?,
            max_message_attachment_bytes: size(
                "max_message_attachment_bytes",
                DEFAULT_MAX_MESSAGE_ATTACHMENT_BYTES,
            )?,
            smtp_timeout,
        })
    }

    /// The part of the address before `@`.
    pub fn local_part(&self) -> &str {
        self.address.split_once('@').map_or("", |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.address
            .split_once('@')
            .map_or("", |(_, domain)| domain)
    }

    /// Whether `recipient` reaches this inbox: its address, or a plus-addressed form of it.
    /// Returns the `+tag` when there is one.
    pub fn accepts(&self, recipient: &str) -> Option<Option<String>> {
        let recipient = recipient.trim().trim_matches(['<', '>']).to_lowercase();
        let (local, domain) = recipient.rsplit_once('@')?;
        if domain != self.domain() {
            return None;
        }
        match local.split_once('+') {
            Some((base, tag)) if base == self.local_part() => Some(Some(tag.to_owned())),
            None if local == self.local_part() => Some(None),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let plain = SmtpTarget::parse("smtp://127.0.0.1:2525").expect("parses");
        assert_eq!((plain.port, plain.tls), (2525, TlsMode::None));
        let relay = SmtpTarget::parse("smtp://mail.example.com").expect("parses");
        assert_eq!((relay.port, relay.tls), (587, TlsMode::Required));
        let tls = SmtpTarget::parse("smtps://ann%40x.com:p%2Bss@mail.example.com").expect("parses");
        assert_eq!((tls.port, tls.tls), (465, TlsMode::Implicit));
        assert_eq!(tls.username.as_deref(), Some("ann@x.com"));
        assert_eq!(tls.password.as_ref().map(Secret::expose), Some("p+ss"));
        let opportunistic =
            SmtpTarget::parse("smtp://relay.lan:25?tls=opportunistic").expect("parses");
        assert_eq!(opportunistic.tls, TlsMode::Opportunistic);
        let forced = SmtpTarget::parse("smtp://localhost?tls=required").expect("parses");
        assert_eq!((forced.port, forced.tls), (25, TlsMode::Required));
        assert!(SmtpTarget::parse("http://x").is_err());
        assert!(SmtpTarget::parse("smtp://x?tls=maybe").is_err());
        assert!(SmtpTarget::parse("smtps://x?tls=none").is_err());
        assert!(SmtpTarget::parse("not a url").is_err());
    }

    #[test]
    fn plus_addresses_reach_the_inbox() {
        let config = EmailConfig::from_json(&serde_json::json!({
            "address": "Support@Acme.test", "inbound_secret": "s"
        }))
        .expect("valid");
        assert_eq!(config.accepts("support@acme.test"), Some(None));
        assert_eq!(
            config.accepts("<SUPPORT+abc@acme.test>"),
            Some(Some("abc".into()))
        );
        assert_eq!(config.accepts("sales@acme.test"), None);
        assert_eq!(config.accepts("support@other.test"), None);
        assert!(EmailConfig::from_json(&serde_json::json!({"address": "x"})).is_err());
    }
}
