//! The `helpdesk_tickets` table: the helpdesk ticket of a conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "helpdesk_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub conversation_id: String,
    pub remote_ticket_id: Option<String>,
    pub role: String,
    pub synced_seq: i64,
    pub remote_status: String,
    pub remote_priority: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
