//! The `escalation_rules` table: each organization's ordered escalation rules.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "escalation_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub match_mode: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub triggers: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub actions: Json,
    pub continue_after: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
