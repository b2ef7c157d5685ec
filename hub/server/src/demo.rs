//! The first start: on an empty database, create the admin and (unless `no_demo`) the demo
//! organization with its web-chat inbox, and say how to sign in.

use rand::{Rng, distr::Alphanumeric};
use switchboard_model::{ChannelKind, Role};
use switchboard_store::Store;

use crate::config::Settings;

pub const DEMO_ORG: &str = "demo";
/// The organization of the first admin when the demo is skipped.
pub const DEFAULT_ORG: &str = "main";
const DEFAULT_ADMIN_EMAIL: &str = "admin@switchboard.local";

/// What the first start created, to print once.
pub struct Seeded {
    pub org_slug: String,
    pub admin_email: String,
    /// Set when the password was generated here (not given by the operator).
    pub generated_password: Option<String>,
    pub webchat_inbox_id: Option<String>,
}

pub fn random_secret(length: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// Seeds an empty database; does nothing when any organization exists.
pub async fn seed_first_start(
    store: &Store,
    settings: &Settings,
) -> anyhow::Result<Option<Seeded>> {
    if store.org_count().await? > 0 {
        return Ok(None);
    }
    let (slug, name) = if settings.no_demo {
        (DEFAULT_ORG, "Main")
    } else {
        (DEMO_ORG, "Parcelo (demo)")
    };
    let org = store.create_org(slug, name).await?;
    let admin_email = settings
        .admin_email
        .clone()
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
    let (password, generated_password) = match &settings.admin_password {
        Some(password) if !password.is_empty() => (password.expose().to_owned(), None),
        _ => {
            let password = random_secret(20);
            (password.clone(), Some(password))
        }
    };
    store
        .create_user(&org.id, &admin_email, "Admin", Role::Admin, &password)
        .await?;
    let webchat_inbox_id = if settings.no_demo {
        None
    } else {
        // The hub's own origin (its /demo page) and local development servers on any port.
        let mut allowed_origins = vec![
            settings.public_url(),
            "http://localhost:*".to_owned(),
            "http://127.0.0.1:*".to_owned(),
        ];
        allowed_origins.sort();
        allowed_origins.dedup();
        let config = serde_json::json!({
            "allowed_origins": allowed_origins,
            "identity_secret": random_secret(32),
        });
        let inbox = store
            .create_inbox(&org.id, "Website chat", ChannelKind::Webchat, config)
            .await?;
        crate::ai::import_demo(store, &org.id).await?;
        Some(inbox.id)
    };
    store
        .audit(
            &org.id,
            "system",
            "org.seeded",
            Some(&org.id),
            serde_json::json!({ "demo": !settings.no_demo }),
        )
        .await?;
    Ok(Some(Seeded {
        org_slug: slug.to_owned(),
        admin_email,
        generated_password,
        webchat_inbox_id,
    }))
}

impl Seeded {
    pub fn print(&self, settings: &Settings) {
        let url = settings.public_url();
        println!(
            "Switchboard: first start, created organization `{}`",
            self.org_slug
        );
        println!("  REST API:        {url}/api/v1 (OpenAPI: {url}/api/v1/openapi.json)");
        if let Some(inbox_id) = &self.webchat_inbox_id {
            println!("  Web-chat inbox:  {inbox_id}");
        }
        match &self.generated_password {
            Some(password) => println!("  Admin sign-in:   {} / {password}", self.admin_email),
            None => println!(
                "  Admin sign-in:   {} (password from SWITCHBOARD_ADMIN_PASSWORD)",
                self.admin_email
            ),
        }
    }
}
