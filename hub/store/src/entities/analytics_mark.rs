//! The `analytics_marks` table: a row for each reporting event written (and each conversation
//! deleted) since the roll-ups last counted its conversation, inserted by triggers, never
//! updated, deleted by the refresh that counted it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_marks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub conversation_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
