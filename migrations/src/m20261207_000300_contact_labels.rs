//! Labels on contacts (a VIP, a reseller): which contact carries which of the organization's
//! labels, beside `conversation_labels`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The key answers "the labels of these contacts"; the (organization, label) index
        // answers "the contacts with this label" and a label's deletion.
        manager
            .create_table(
                Table::create()
                    .table("contact_labels")
                    .if_not_exists()
                    .col(string("contact_id"))
                    .col(string("label_id"))
                    .col(string("org_id"))
                    .primary_key(Index::create().col("contact_id").col("label_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_labels_org_label")
                    .table("contact_labels")
                    .col("org_id")
                    .col("label_id")
                    .col("contact_id")
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("contact_labels").if_exists().take())
            .await
    }
}
