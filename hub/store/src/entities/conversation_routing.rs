//! The `conversation_routing` table: routing's running state and the SLA clock of a conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_routing")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: String,
    pub org_id: String,
    /// Consecutive AI declines and customer rejections, reset by an answer.
    pub ai_failures: i32,
    pub ai_answers: i32,
    pub ai_declines: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    pub escalated_at: Option<DateTimeUtc>,
    pub sla_policy_id: Option<String>,
    pub sla_priority: Option<String>,
    pub first_response_due_at: Option<DateTimeUtc>,
    pub first_response_at: Option<DateTimeUtc>,
    pub first_response_breached_at: Option<DateTimeUtc>,
    pub resolution_due_at: Option<DateTimeUtc>,
    pub resolution_breached_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
