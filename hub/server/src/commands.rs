//! What each CLI command does.

use anyhow::Context;
use switchboard_model::Permission;

use crate::{
    ai,
    cli::{
        AnalyticsCommand, ApikeyCommand, Cli, Command, ContactCommand, EvalCommand, KbCommand,
        OrgCommand, RetentionCommand, SecretsCommand, TopicsCommand, UserCommand,
    },
    config::Settings,
    demo, knowledge_cli,
    startup::{self, Application},
    state::ConnectorRegistry,
    understanding_cli,
};

/// A mistake in the command's arguments that only the data can reveal (an unknown
/// organization): exits 2 like the argument errors clap finds.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The connectors this build of the hub ships with.
pub fn connectors() -> ConnectorRegistry {
    ConnectorRegistry::default()
        .with(switchboard_webchat::WebchatFactory)
        .with(switchboard_email::EmailFactory)
        .with(switchboard_slack::SlackFactory)
        .with(switchboard_whatsapp::WhatsappFactory)
        .with(switchboard_telegram::TelegramFactory)
        .with(switchboard_zendesk::ZendeskFactory)
        .with(switchboard_freshdesk::FreshdeskFactory)
}

/// Runs a command on a new multi-threaded runtime. The runtime and the command's future live
/// here, in the library, rather than in `main.rs`: a `block_on` in the binary made the compiler
/// build the drop glue of every future the hub has a second time there (a minute of a release
/// build on 2 cores).
pub fn run_blocking(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|err| anyhow::anyhow!("cannot start the async runtime: {err}"))?;
    runtime.block_on(run(cli, settings))
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(_) => serve(settings).await,
        Command::Migrate => {
            startup::open_store(&settings).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Secrets(SecretsCommand::NewKey) => {
            println!("{}", switchboard_store::SecretKeys::generate()?);
            Ok(())
        }
        // Opening the store seals again what the current key did not seal.
        Command::Secrets(SecretsCommand::Rotate) => {
            let keys = startup::secret_keys(&settings)?;
            let key = keys
                .current_id()
                .map(str::to_owned)
                .ok_or_else(|| UsageError("no secret key is set: see `secret_key`".into()))?;
            startup::open_store(&settings).await?;
            println!("every stored secret is sealed under key {key}");
            Ok(())
        }
        Command::Org(OrgCommand::Add { slug, name }) => {
            let store = startup::open_store(&settings).await?;
            let org = store
                .create_org(&slug, name.as_deref().unwrap_or(&slug))
                .await
                .map_err(|err| UsageError(err.to_string()))?;
            println!("created organization `{}` ({})", org.slug, org.id);
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            role,
            org,
            name,
        }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let (password, generated) = match std::env::var("SWITCHBOARD_USER_PASSWORD") {
                Ok(password) if !password.is_empty() => (password, false),
                _ => (demo::random_secret(20), true),
            };
            crate::login::check_password(&password).map_err(UsageError)?;
            let user = store
                .create_user(
                    &org.id,
                    &email,
                    name.as_deref().unwrap_or(""),
                    role,
                    &password,
                )
                .await
                .map_err(|err| UsageError(err.to_string()))?;
            store
                .audit(
                    &org.id,
                    "cli",
                    "user.created",
                    Some(&user.id),
                    serde_json::json!({ "role": role }),
                )
                .await?;
            println!("created {} `{}` in `{}`", role, user.email, org.slug);
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::Contact(ContactCommand::Export {
            id,
            org,
            archive: Some(path),
        }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let file = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|err| UsageError(format!("cannot write {}: {err}", path.display())))?
            };
            let written = crate::gdpr::export_archive(
                &store,
                &settings.attachments_dir(),
                &org.id,
                &id,
                "cli",
                file,
            )
            .await;
            let (_, archived) = match written {
                Ok(written) => written,
                Err(err) => {
                    // No half-written archive, nor an empty one for a contact that is not there.
                    let _ = std::fs::remove_file(&path);
                    return Err(match err {
                        crate::gdpr::ArchiveError::Store(err) => contact_error(err, &id, &org.slug),
                        other => anyhow::Error::new(other),
                    });
                }
            };
            println!(
                "wrote {}: contact.json and {} files{}",
                path.display(),
                archived.files,
                if archived.missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} listed files missing from the attachments folder: see README.txt)",
                        archived.missing.len()
                    )
                }
            );
            Ok(())
        }
        Command::Contact(ContactCommand::Export {
            id,
            org,
            archive: None,
        }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let exported = crate::gdpr::export(&store, &org.id, &id, "cli")
                .await
                .map_err(|err| contact_error(err, &id, &org.slug))?;
            println!("{}", serde_json::to_string_pretty(&exported)?);
            Ok(())
        }
        Command::Contact(ContactCommand::Erase { id, org }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let erased =
                crate::gdpr::erase(&store, &settings.attachments_dir(), &org.id, &id, "cli")
                    .await
                    .map_err(|err| contact_error(err, &id, &org.slug))?;
            println!(
                "erased contact {id}: {} conversations, {} messages, {} files",
                erased.conversations,
                erased.messages,
                erased.orphaned_files.len()
            );
            Ok(())
        }
        Command::Analytics(AnalyticsCommand::Rebuild) => {
            let store = startup::open_store(&settings).await?;
            let started = std::time::Instant::now();
            let counted = store.rebuild_analytics().await?;
            println!(
                "counted {counted} conversations into the analytics roll-ups from their events in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Retention(RetentionCommand::Run { org, dry_run }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let policy = store.retention_policy(&org.id).await?;
            if dry_run {
                let due = store.retention_due(&org.id, &policy).await?;
                println!(
                    "would purge in `{}`: {} conversations ({}), {} knowledge gaps",
                    org.slug,
                    due.conversations,
                    policy.mode.as_str(),
                    due.knowledge_gaps
                );
            } else {
                let purged = crate::retention::purge(
                    &store,
                    &settings.attachments_dir(),
                    &org.id,
                    &policy,
                    "cli",
                    None,
                )
                .await?;
                println!(
                    "purged in `{}`: {} conversations ({}), {} messages, {} files, {} knowledge gaps",
                    org.slug,
                    purged.conversations,
                    policy.mode.as_str(),
                    purged.messages,
                    purged.files,
                    purged.knowledge_gaps
                );
            }
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Create { org, name, scopes }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let scopes = if scopes.is_empty() {
                Permission::ALL.to_vec()
            } else {
                scopes
            };
            let created = store.create_api_key(&org.id, &name, &scopes, None).await?;
            store
                .audit(
                    &org.id,
                    "cli",
                    "apikey.created",
                    Some(&created.key.id),
                    serde_json::json!({ "name": name }),
                )
                .await?;
            println!("{}", created.secret);
            Ok(())
        }
        Command::Topics(TopicsCommand::Train { file, org }) => {
            let store = startup::open_store(&settings).await?;
            let found = find_org(&store, &org).await?;
            understanding_cli::train(&store, &found.id, &org, &file).await
        }
        Command::Eval(EvalCommand::Topics { file, org, json }) => {
            let store = startup::open_store(&settings).await?;
            let found = find_org(&store, &org).await?;
            understanding_cli::eval_topics(&store, &found.id, &org, &file, json).await
        }
        Command::Eval(EvalCommand::Sentiment { file, json }) => {
            // The whole LLM timeout per row: an evaluation has no customer waiting.
            let llm = ai::llm_sentiment(
                &settings,
                std::time::Duration::from_secs(settings.llm_timeout_secs.max(1)),
            )?;
            understanding_cli::eval_sentiment(&file, json, llm).await
        }
        Command::Kb(KbCommand::Import { path, org }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            let report = knowledge_cli::import(&store, &org.id, &path).await?;
            store
                .audit(
                    &org.id,
                    "cli",
                    "kb.imported",
                    None,
                    serde_json::json!({ "created": report.created, "updated": report.updated }),
                )
                .await?;
            println!(
                "imported into `{}`: {} created, {} updated, {} unchanged",
                org.slug, report.created, report.updated, report.unchanged
            );
            Ok(())
        }
        Command::Eval(EvalCommand::Answers {
            file,
            org,
            json,
            min_confidence,
        }) => {
            let store = startup::open_store(&settings).await?;
            let org = find_org(&store, &org).await?;
            knowledge_cli::eval_answers(
                &settings,
                &store,
                &org.id,
                &file,
                json,
                min_confidence.unwrap_or(ai::DEFAULT_MIN_CONFIDENCE),
            )
            .await
        }
    }
}

/// An unknown contact is a usage error (exit 2); anything else fails the command.
fn contact_error(err: switchboard_store::StoreError, id: &str, slug: &str) -> anyhow::Error {
    match err {
        switchboard_store::StoreError::NotFound => {
            UsageError(format!("no contact `{id}` in `{slug}`")).into()
        }
        other => other.into(),
    }
}

async fn find_org(
    store: &switchboard_store::Store,
    slug: &str,
) -> anyhow::Result<switchboard_model::Organization> {
    store
        .org_by_slug(slug)
        .await?
        .ok_or_else(|| UsageError(format!("no organization `{slug}`")).into())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings, connectors()).await?;
    let shutdown = app.shutdown_token();
    tracing::info!(address = %app.local_addr(), "listening");
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    app.run_until_stopped()
        .await
        .context("the hub stopped with an error")
}
