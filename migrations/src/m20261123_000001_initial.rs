//! The first schema: tenants, people, inboxes, contacts, conversations, messages, the outbox and
//! the audit log. Every table but `threads` carries `org_id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id() -> ColumnDef {
    string("id").primary_key().take()
}

fn created_at() -> ColumnDef {
    timestamp_with_time_zone("created_at")
}

fn index(table: &str, name: &str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table.to_owned()).if_not_exists();
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("organizations")
                .col(id())
                .col(string_uniq("slug"))
                .col(string("name"))
                .col(created_at())
                .take(),
            Table::create()
                .table("users")
                .col(id())
                .col(string("org_id"))
                .col(string_uniq("email"))
                .col(string("name"))
                .col(string("role"))
                .col(string("password_hash"))
                .col(boolean("active"))
                .col(created_at())
                .take(),
            Table::create()
                .table("sessions")
                .col(string("token_hash").primary_key())
                .col(string("org_id"))
                .col(string("user_id"))
                .col(created_at())
                .col(timestamp_with_time_zone("expires_at"))
                .take(),
            Table::create()
                .table("api_keys")
                .col(id())
                .col(string("org_id"))
                .col(string("name"))
                .col(string("prefix"))
                .col(string_uniq("key_hash"))
                .col(json_binary("scopes"))
                .col(string_null("created_by"))
                .col(created_at())
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .take(),
            Table::create()
                .table("teams")
                .col(id())
                .col(string("org_id"))
                .col(string("name"))
                .col(created_at())
                .take(),
            Table::create()
                .table("inboxes")
                .col(id())
                .col(string("org_id"))
                .col(string("name"))
                .col(string("channel"))
                .col(json_binary("config"))
                .col(json_binary("secrets"))
                .col(created_at())
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
            Table::create()
                .table("contacts")
                .col(id())
                .col(string("org_id"))
                .col(string_null("name"))
                .col(string_null("email"))
                .col(string_null("phone"))
                .col(created_at())
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
            Table::create()
                .table("contact_identities")
                .col(id())
                .col(string("org_id"))
                .col(string("contact_id"))
                .col(string("channel"))
                .col(string("external_id"))
                .col(created_at())
                .take(),
            Table::create()
                .table("conversations")
                .col(id())
                .col(string("org_id"))
                .col(string("inbox_id"))
                .col(string("channel"))
                .col(string("contact_id"))
                .col(string("status"))
                .col(string("priority"))
                .col(string_null("assignee_id"))
                .col(string_null("team_id"))
                .col(string_null("topic"))
                .col(integer_null("sentiment"))
                .col(string_null("subject"))
                .col(string("thread_key"))
                .col(big_integer("last_seq"))
                .col(text_null("last_message_preview"))
                .col(timestamp_with_time_zone_null("last_message_at"))
                .col(string_null("last_inbound_channel_message_id"))
                .col(timestamp_with_time_zone_null("first_response_at"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .col(created_at())
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
            // The conversation a channel thread currently feeds. Its primary key is what makes
            // two concurrent first messages on one thread open one conversation, not two.
            Table::create()
                .table("threads")
                .col(string("inbox_id"))
                .col(string("thread_key"))
                .col(string("org_id"))
                .col(string("conversation_id"))
                .primary_key(Index::create().col("inbox_id").col("thread_key"))
                .take(),
            Table::create()
                .table("messages")
                .col(id())
                .col(string("org_id"))
                .col(string("conversation_id"))
                .col(string("inbox_id"))
                .col(big_integer("seq"))
                .col(string("role"))
                .col(boolean("private"))
                .col(text("text"))
                .col(json_binary("attachments"))
                .col(json_binary("sources"))
                .col(double_null("confidence"))
                .col(string_null("model"))
                .col(big_integer_null("tokens"))
                .col(string_null("author_id"))
                .col(string_null("channel_message_id"))
                .col(string("delivery_status"))
                .col(text_null("delivery_error"))
                .col(created_at())
                .take(),
            // The outbox: one row per message to deliver, written in the message's transaction.
            Table::create()
                .table("delivery_jobs")
                .col(id())
                .col(string("org_id"))
                .col(string_uniq("message_id"))
                .col(string("inbox_id"))
                .col(string("channel"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(text_null("last_error"))
                .col(created_at())
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
            Table::create()
                .table("audit_log")
                .col(id())
                .col(string("org_id"))
                .col(string("actor"))
                .col(string("action"))
                .col(string_null("subject_id"))
                .col(json_binary("data"))
                .col(created_at())
                .take(),
        ];
        for mut table in tables {
            manager.create_table(table.if_not_exists().take()).await?;
        }

        let indexes = [
            index("users", "idx_users_org", &["org_id"], false),
            index("sessions", "idx_sessions_user", &["user_id"], false),
            index("api_keys", "idx_api_keys_org", &["org_id"], false),
            index("teams", "idx_teams_org_name", &["org_id", "name"], true),
            index("inboxes", "idx_inboxes_org", &["org_id"], false),
            index(
                "contacts",
                "idx_contacts_org_email",
                &["org_id", "email"],
                false,
            ),
            index(
                "contact_identities",
                "idx_identities_channel_external",
                &["org_id", "channel", "external_id"],
                true,
            ),
            index(
                "contact_identities",
                "idx_identities_contact",
                &["contact_id"],
                false,
            ),
            index(
                "conversations",
                "idx_conversations_org_updated",
                &["org_id", "updated_at"],
                false,
            ),
            index(
                "conversations",
                "idx_conversations_org_status",
                &["org_id", "status", "updated_at"],
                false,
            ),
            index(
                "conversations",
                "idx_conversations_contact",
                &["contact_id"],
                false,
            ),
            index(
                "messages",
                "idx_messages_conversation_seq",
                &["conversation_id", "seq"],
                true,
            ),
            // NULLs are distinct in unique indexes on both databases: messages without a channel
            // id (agent replies, notes) never collide.
            index(
                "messages",
                "idx_messages_inbox_channel_id",
                &["inbox_id", "channel_message_id"],
                true,
            ),
            index(
                "delivery_jobs",
                "idx_delivery_jobs_due",
                &["status", "next_attempt_at"],
                false,
            ),
            index(
                "audit_log",
                "idx_audit_log_org_created",
                &["org_id", "created_at"],
                false,
            ),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_log",
            "delivery_jobs",
            "messages",
            "threads",
            "conversations",
            "contact_identities",
            "contacts",
            "inboxes",
            "teams",
            "api_keys",
            "sessions",
            "users",
            "organizations",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
