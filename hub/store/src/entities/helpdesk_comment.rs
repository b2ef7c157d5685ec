//! The `helpdesk_comments` table: a remote comment and the hub message it is.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "helpdesk_comments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub inbox_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub remote_comment_id: String,
    pub conversation_id: String,
    pub message_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
