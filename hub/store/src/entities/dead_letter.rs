//! The `dead_letters` table: a channel's payload acknowledged but not stored, and why.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub channel: String,
    pub reason: String,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub event_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub body_bytes: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
