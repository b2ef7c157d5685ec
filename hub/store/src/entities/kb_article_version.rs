//! The `kb_article_versions` table: every content an article has had.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_article_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub article_id: String,
    pub version: i64,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub category: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    pub author_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
