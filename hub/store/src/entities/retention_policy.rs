//! The `retention_policies` table: how long an organization keeps resolved conversations and
//! knowledge gaps (null: forever), and whether expired conversations are deleted or anonymized.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    pub resolved_conversations_days: Option<i32>,
    pub knowledge_gaps_days: Option<i32>,
    pub mode: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
