//! The `notifications` table: an agent's mentions and assignments, unread until `read_at`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// The recipient.
    pub user_id: String,
    /// `mention` or `assigned`.
    pub kind: String,
    pub conversation_id: String,
    pub message_id: Option<String>,
    /// The user who caused it; null for routing (or an API key).
    pub actor_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
