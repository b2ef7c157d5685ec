//! The `analytics_facts` table: what the roll-ups last counted of one conversation, to take it
//! out again when the conversation changes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: String,
    pub org_id: String,
    pub day: String,
    /// The rows it counts in, as a JSON list of `[dimension, key]`.
    pub rows: String,
    /// Its `Totals` as JSON.
    pub totals: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
