//! The `conversations` table: conversations and their running state (`last_seq` hands out message numbers).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub inbox_id: String,
    pub channel: String,
    pub contact_id: String,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub topic: Option<String>,
    pub sentiment: Option<i32>,
    pub subject: Option<String>,
    pub thread_key: String,
    pub last_seq: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_message_preview: Option<String>,
    pub last_message_at: Option<DateTimeUtc>,
    pub last_inbound_channel_message_id: Option<String>,
    pub first_response_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
