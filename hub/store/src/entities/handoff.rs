//! The `handoffs` table: the record made each time a conversation is handed to a person.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "handoffs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub summary: Json,
    pub topic: Option<String>,
    pub sentiment: Option<i32>,
    pub priority: String,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// `rule`, `low_confidence`, `human_request`, `sentiment` or `ai_failure`.
    pub reason_kind: String,
    #[sea_orm(column_type = "Text")]
    pub suggested_reply: String,
    /// `extractive` or `llm`.
    pub summary_source: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
