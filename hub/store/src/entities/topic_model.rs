//! The `topic_models` table: each organization's trained topic classifier.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "topic_models")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    #[sea_orm(column_type = "Blob")]
    pub model: Vec<u8>,
    #[sea_orm(column_type = "JsonBinary")]
    pub labels: Json,
    pub unknown_threshold: f64,
    #[sea_orm(column_type = "JsonBinary")]
    pub metrics: Json,
    pub trained_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
