//! The `analytics_events` table: the append-only log of reporting events, written by triggers
//! (`docs/analytics.md`, "The reporting events", lists the kinds).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    pub conversation_id: String,
    pub kind: String,
    pub at: DateTimeUtc,
    /// The event's fields, a JSON object.
    pub data: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
