//! The `threads` table: which conversation a channel thread currently feeds.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "threads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub inbox_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub thread_key: String,
    pub org_id: String,
    pub conversation_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
