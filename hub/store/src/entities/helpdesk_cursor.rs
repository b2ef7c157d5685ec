//! The `helpdesk_cursors` table: where a helpdesk inbox's poller resumes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "helpdesk_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub inbox_id: String,
    pub cursor: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
