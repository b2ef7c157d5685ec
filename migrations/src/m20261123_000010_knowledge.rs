//! The knowledge base: articles, their version history, and the questions it did not answer.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

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
                .table("kb_articles")
                .col(string("id").primary_key())
                .col(string("org_id"))
                .col(string("title"))
                .col(text("body"))
                .col(string_null("category"))
                .col(json_binary("tags"))
                .col(string("status"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
            Table::create()
                .table("kb_article_versions")
                .col(string("id").primary_key())
                .col(string("org_id"))
                .col(string("article_id"))
                .col(big_integer("version"))
                .col(string("title"))
                .col(text("body"))
                .col(string_null("category"))
                .col(json_binary("tags"))
                .col(string_null("author_id"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
            // One row per organization: bumped with every article change, so that search
            // indexes and answer caches on every node know when they are stale.
            Table::create()
                .table("kb_revisions")
                .col(string("org_id").primary_key())
                .col(big_integer("revision"))
                .take(),
            Table::create()
                .table("knowledge_gaps")
                .col(string("id").primary_key())
                .col(string("org_id"))
                .col(text("question"))
                // The question's terms, space-separated and sorted: what similar wordings share.
                .col(text("terms"))
                .col(big_integer("count"))
                .col(json_binary("examples"))
                .col(timestamp_with_time_zone("last_asked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        ];
        for mut table in tables {
            manager.create_table(table.if_not_exists().take()).await?;
        }
        for index in [
            index(
                "kb_articles",
                "idx_kb_articles_org_title",
                &["org_id", "title"],
                false,
            ),
            index(
                "kb_articles",
                "idx_kb_articles_org_status",
                &["org_id", "status"],
                false,
            ),
            index(
                "kb_article_versions",
                "idx_kb_versions_article",
                &["article_id", "version"],
                true,
            ),
            index(
                "knowledge_gaps",
                "idx_knowledge_gaps_org_count",
                &["org_id", "count"],
                false,
            ),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "knowledge_gaps",
            "kb_revisions",
            "kb_article_versions",
            "kb_articles",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
