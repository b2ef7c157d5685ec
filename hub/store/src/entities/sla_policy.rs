//! The `sla_policies` table: first-response and resolution targets per priority and team.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub priority: String,
    pub team_id: Option<String>,
    pub first_response_seconds: i64,
    pub resolution_seconds: i64,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub business_hours: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
