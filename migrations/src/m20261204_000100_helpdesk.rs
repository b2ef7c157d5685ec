//! Helpdesk sync (Zendesk, Freshdesk): which ticket is which conversation, which remote comment
//! became (or came from) which message, where each inbox's poller stands, and the leases that
//! make a job run on one node of a cluster.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("helpdesk_tickets")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    // The helpdesk inbox the ticket lives in.
                    .col(string("inbox_id"))
                    .col(string("conversation_id"))
                    // Null until the helpdesk answered the create.
                    .col(string_null("remote_ticket_id"))
                    // `desk`: a conversation of another channel escalated here; `channel`: a
                    // ticket opened in the helpdesk, the conversation is on the helpdesk inbox.
                    .col(string("role"))
                    // Customer messages up to this seq are on the ticket.
                    .col(big_integer("synced_seq"))
                    // The ticket's status as last read or written.
                    .col(string("remote_status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_helpdesk_tickets_remote",
                &["inbox_id", "remote_ticket_id"][..],
            ),
            (
                "idx_helpdesk_tickets_conversation",
                &["inbox_id", "conversation_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table("helpdesk_tickets")
                .unique()
                .if_not_exists();
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("helpdesk_comments")
                    .if_not_exists()
                    .col(string("inbox_id"))
                    .col(string("remote_comment_id"))
                    .col(string("conversation_id"))
                    // The hub message the comment became or came from; null for the hub's own
                    // notes (the transcript) and for comments taken as nothing.
                    .col(string_null("message_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("inbox_id").col("remote_comment_id"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("helpdesk_cursors")
                    .if_not_exists()
                    .col(string("inbox_id").primary_key())
                    .col(string("cursor"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("leases")
                    .if_not_exists()
                    .col(string("name").primary_key())
                    .col(string("holder"))
                    .col(timestamp_with_time_zone("expires_at"))
                    // Grows by one each time the lease changes hands: the fencing token.
                    .col(big_integer("token"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "leases",
            "helpdesk_cursors",
            "helpdesk_comments",
            "helpdesk_tickets",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
