//! The command line: `switchboard serve | migrate | org add | user add | apikey create |
//! contact export|erase | retention run | kb import | eval answers`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use switchboard_model::{Permission, Role};

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: the omnichannel customer-support hub"
)]
pub struct Cli {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; every command takes these.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// A TOML config file [env: SWITCHBOARD_CONFIG]
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Holds the SQLite database and search indexes [default: ./data] [env: SWITCHBOARD_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… for PostgreSQL [default: SQLite in the data dir] [env: SWITCHBOARD_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the hub
    Serve(ServeArgs),
    /// Bring the database schema up to date
    Migrate,
    /// Manage organizations
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// A contact's data under the GDPR: export or erase it
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Purge what the organization's retention policy no longer keeps
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The key that seals secrets at rest
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The analytics roll-ups
    #[command(subcommand)]
    Analytics(AnalyticsCommand),
    /// Train the organization's topic classifier
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Manage the knowledge base
    #[command(subcommand)]
    Kb(KbCommand),
    /// Measure the AI on a labelled file or your own questions
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored secret under the current key (`secret_key`), opening what older keys
    /// sealed (`previous_secret_keys`) or what was stored unsealed
    Rotate,
    /// Print a new random key (base64) for `secret_key`
    NewKey,
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Import a folder of markdown articles (front matter with `title`, optionally `category`
    /// and `tags`) as published articles; an article with the same title is updated
    Import {
        /// A folder (searched recursively for .md files) or one .md file
        path: PathBuf,
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Train from a CSV of `text,label` rows (header line, RFC 4180 quoting) and make it the
    /// organization's classifier. Labels `oos`, `out_of_scope` or `unknown` mark questions that
    /// belong to no topic.
    Train {
        file: PathBuf,
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Accuracy and macro-F1 of the organization's topic classifier on a `text,label` CSV;
    /// labels `oos`, `out_of_scope` and `unknown` count as the unknown class
    Topics {
        file: PathBuf,
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// One JSON object per row: {"text", "predicted", "score"}
        #[arg(long)]
        json: bool,
    },
    /// Accuracy, confusion matrix and negative-vs-rest accuracy of the sentiment scorer on a
    /// `text,label` CSV (labels negative, neutral, positive)
    Sentiment {
        file: PathBuf,
        /// One JSON object per row: {"text", "predicted", "score"}
        #[arg(long)]
        json: bool,
    },
    /// Run the organization's AI responder on each line of FILE
    /// ({"question": "...", "expected_article": "<title>" | null}) and print a table and totals
    Answers {
        file: PathBuf,
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// One JSON object per question instead of the table
        #[arg(long)]
        json: bool,
        /// The confidence an answer needs [default: 0.5, an inbox's default]
        #[arg(long, value_name = "0..1", value_parser = parse_confidence)]
        min_confidence: Option<f64>,
    },
}

fn parse_confidence(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080] [env: SWITCHBOARD_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Redis for cross-node fan-out [env: SWITCHBOARD_REDIS_URL]
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Skip the demo data on first start (the admin is still created)
    #[arg(long)]
    pub no_demo: bool,
    /// Receive email over SMTP on this address (off by default) [env: SWITCHBOARD_SMTP_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub smtp_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization
    Add {
        /// Lowercase letters, digits and dashes
        slug: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a generated password unless SWITCHBOARD_USER_PASSWORD is set
    Add {
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Print everything held about a contact as JSON, or write it with the contact's files to
    /// a ZIP archive (--archive)
    Export {
        id: String,
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// Write a ZIP archive to FILE (readable by its owner only) instead of printing the
        /// JSON: contact.json, attachments/<sha256>/<name> for each file, README.txt
        #[arg(long, value_name = "FILE")]
        archive: Option<std::path::PathBuf>,
    },
    /// Erase a contact: identities, conversations, messages and their files, CSAT, handoffs
    Erase {
        id: String,
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Throw the daily roll-ups away and count every conversation again from its reporting
    /// events (the hub counts each event as it happens; this is for after an upgrade, or to check
    /// them); prints how many conversations it counted
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Purge now, by the organization's policy (`PUT /api/v1/retention`), what the
    /// retention job would purge; prints the counts
    Run {
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// Only count what would be purged; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key and print it (it is shown only once)
    Create {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// A permission the key carries (repeatable) [default: every permission]
        #[arg(long = "scope", value_parser = parse_permission)]
        scopes: Vec<Permission>,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse().map_err(|_| {
        let roles: Vec<_> = Role::ALL.iter().map(|role| role.as_str()).collect();
        format!("expected one of {}", roles.join(", "))
    })
}

fn parse_permission(text: &str) -> Result<Permission, String> {
    text.parse().map_err(|_| {
        let all: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

impl Cli {
    /// The flags that override the config file and the environment.
    pub fn overrides(&self) -> Overrides {
        let mut values = Vec::new();
        if let Some(dir) = &self.data.data_dir {
            values.push(("data_dir", dir.display().to_string()));
        }
        if let Some(url) = &self.data.database_url {
            values.push(("database_url", url.clone()));
        }
        if let Command::Serve(serve) = &self.command {
            if let Some(listen) = serve.listen {
                values.push(("listen", listen.to_string()));
            }
            if let Some(url) = &serve.redis_url {
                values.push(("redis_url", url.clone()));
            }
            if serve.no_demo {
                values.push(("no_demo", "true".into()));
            }
            if let Some(address) = serve.smtp_listen {
                values.push(("smtp_listen", address.to_string()));
            }
        }
        Overrides {
            config_file: self.data.config.clone(),
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "switchboard",
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--data-dir",
            "/tmp/x",
            "--no-demo",
            "--smtp-listen",
            "127.0.0.1:2525",
        ])
        .expect("parses");
        let overrides = cli.overrides();
        assert!(
            overrides
                .values
                .contains(&("listen", "127.0.0.1:9000".into()))
        );
        assert!(overrides.values.contains(&("data_dir", "/tmp/x".into())));
        assert!(overrides.values.contains(&("no_demo", "true".into())));
        assert!(
            overrides
                .values
                .contains(&("smtp_listen", "127.0.0.1:2525".into()))
        );
    }

    #[test]
    fn unknown_roles_are_refused() {
        let err = Cli::try_parse_from([
            "switchboard",
            "user",
            "add",
            "a@b.c",
            "--role",
            "king",
            "--org",
            "x",
        ])
        .expect_err("refused");
        assert_eq!(err.exit_code(), 2);
    }
}
