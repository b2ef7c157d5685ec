//! The `messages` table: every message of every conversation, numbered by `seq`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    pub inbox_id: String,
    pub seq: i64,
    pub role: String,
    pub private: bool,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub text_full: Option<String>,
    pub automated: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub attachments: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub sources: Json,
    pub confidence: Option<f64>,
    pub model: Option<String>,
    pub tokens: Option<i64>,
    pub author_id: Option<String>,
    /// The user ids a private note mentions (a JSON array); null when it mentions nobody.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub mentions: Option<Json>,
    pub channel_message_id: Option<String>,
    pub delivery_status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub delivery_error: Option<String>,
    pub sentiment: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
