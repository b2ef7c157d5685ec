//! The running hub a load generator talks to (`webchat`, `webhook`, `soak`): its base URL,
//! which must be `http://` because the generators stay on loopback, the same base for
//! WebSockets, the HTTP client, the admin's sign-in with the flags every one of them takes, and
//! the API's GETs.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::time::sleep;

/// The admin's credentials: the same flags in every generator that signs in.
#[derive(clap::Args)]
pub struct Admin {
    #[arg(long, env = "SWITCHBOARD_ADMIN_EMAIL")]
    admin_email: Option<String>,
    #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

pub struct Target {
    /// `http://host:port`, without a trailing `/`.
    pub base: String,
    /// The same address as `ws://host:port`.
    pub ws_base: String,
    pub client: reqwest::Client,
}

impl Target {
    /// The hub at `url`, reached with `client`; nothing is sent yet.
    pub fn new(url: &str, client: reqwest::Client) -> anyhow::Result<Target> {
        let base = url.trim_end_matches('/').to_owned();
        let Some(ws_base) = base
            .strip_prefix("http://")
            .map(|rest| format!("ws://{rest}"))
        else {
            bail!("--url must be an http:// URL (the load generators stay on loopback)");
        };
        Ok(Target {
            base,
            ws_base,
            client,
        })
    }

    /// The hub at `url`, already running, with the admin signed in: the target and the
    /// admin's session token.
    pub async fn connect(
        url: &str,
        admin: &Admin,
        client: reqwest::Client,
    ) -> anyhow::Result<(Target, String)> {
        let target = Target::new(url, client)?;
        let token = target.sign_in(admin).await?;
        Ok((target, token))
    }

    /// Signs the admin in; returns the session token.
    pub async fn sign_in(&self, admin: &Admin) -> anyhow::Result<String> {
        let (Some(email), Some(password)) = (&admin.admin_email, &admin.admin_password) else {
            bail!(
                "pass --admin-email and --admin-password (or set SWITCHBOARD_ADMIN_EMAIL/_PASSWORD)"
            );
        };
        let login: Value = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .context("could not reach the hub")?
            .error_for_status()
            .context("the admin sign-in failed")?
            .json()
            .await?;
        login["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token in the sign-in answer")
    }

    /// The first web-chat inbox the admin sees (the demo's on a fresh hub).
    pub async fn webchat_inbox(&self, token: &str) -> anyhow::Result<String> {
        let url = format!("{}/api/v1/inboxes", self.base);
        let inboxes = api_get(&self.client, &url, token).await?;
        inboxes
            .as_array()
            .into_iter()
            .flatten()
            .find(|inbox| inbox["channel"] == "webchat")
            .and_then(|inbox| inbox["id"].as_str())
            .map(str::to_owned)
            .context("the admin's organization has no web-chat inbox")
    }
}

/// A GET of the API, waiting out a 429.
pub async fn api_get(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    loop {
        let answer = client.get(url).bearer_auth(token).send().await?;
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = answer
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            sleep(Duration::from_secs(wait)).await;
            continue;
        }
        return Ok(answer.error_for_status()?.json().await?);
    }
}
