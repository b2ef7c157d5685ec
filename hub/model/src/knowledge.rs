//! The knowledge base's records: articles with their versions, and the questions it could not
//! answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// Only published articles are used to answer customers.
    pub enum ArticleStatus {
        Draft => "draft",
        Published => "published",
        Archived => "archived",
    }
}

/// An article with its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KbArticle {
    pub id: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub status: ArticleStatus,
    /// 1 on creation; each change of the title, body, category or tags adds one.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An article in a list, without its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KbArticleSummary {
    pub id: String,
    pub title: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub status: ArticleStatus,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// The content of an article as one version had it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KbArticleVersion {
    pub version: i64,
    pub title: String,
    pub body: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// The user who wrote it; `None` for imports and the system.
    pub author_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A question the knowledge base did not answer, with the others worded like it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeGap {
    /// A representative wording (the first one asked).
    pub question: String,
    pub count: i64,
    pub last_asked_at: DateTime<Utc>,
    /// Up to five different wordings.
    pub examples: Vec<String>,
}
