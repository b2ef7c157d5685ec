//! The knowledge base: articles with a version per content change, the organization's
//! knowledge revision (bumped by every change, in the change's transaction), and the questions
//! the knowledge base did not answer.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, OnConflict},
};
use switchboard_model::{
    ArticleStatus, KbArticle, KbArticleSummary, KbArticleVersion, KnowledgeGap, new_id,
};

use crate::{Result, Store, StoreError, convert, entities::*};

/// Titles longer than this are refused.
const MAX_TITLE: usize = 300;
/// Wordings kept per gap.
const GAP_EXAMPLES: usize = 5;
/// Two questions whose terms overlap at least this much (Jaccard) are one gap.
const GAP_SIMILARITY: f64 = 0.5;

#[derive(Clone, Debug)]
pub struct NewArticle {
    pub title: String,
    pub body: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub status: ArticleStatus,
}

/// Fields to change; `None` leaves a field as it is (`category: Some(None)` clears it).
#[derive(Clone, Debug, Default)]
pub struct ArticleChange {
    pub title: Option<String>,
    pub body: Option<String>,
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub status: Option<ArticleStatus>,
}

#[derive(Clone, Debug, Default)]
pub struct ArticleFilter {
    /// Part of the title or body, any case.
    pub q: Option<String>,
    pub status: Option<ArticleStatus>,
    pub category: Option<String>,
}

/// An article after an update, and what the update changed.
#[derive(Clone, Debug)]
pub struct UpdatedArticle {
    pub article: KbArticle,
    /// The title, body, category or tags changed: a new version was written.
    pub new_version: bool,
    /// The status before, when it changed.
    pub previous_status: Option<ArticleStatus>,
}

fn clean_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(StoreError::Invalid("`title` must not be empty".into()));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(StoreError::Invalid(format!(
            "`title` must be at most {MAX_TITLE} characters"
        )));
    }
    Ok(title.to_owned())
}

fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_owned();
        if !tag.is_empty() && !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    clean
}

fn clean_category(category: Option<String>) -> Option<String> {
    category
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
}

fn article(row: kb_article::Model) -> Result<KbArticle> {
    Ok(KbArticle {
        status: convert::parse(&row.status)?,
        tags: convert::from_json(&row.tags)?,
        id: row.id,
        title: row.title,
        body: row.body,
        category: row.category,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn summary(row: kb_article::Model) -> Result<KbArticleSummary> {
    let full = article(row)?;
    Ok(KbArticleSummary {
        id: full.id,
        title: full.title,
        category: full.category,
        tags: full.tags,
        status: full.status,
        version: full.version,
        updated_at: full.updated_at,
    })
}

fn version_row(
    org_id: &str,
    row: &kb_article::Model,
    author_id: Option<&str>,
    now: DateTime<Utc>,
) -> kb_article_version::ActiveModel {
    kb_article_version::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        article_id: Set(row.id.clone()),
        version: Set(row.version),
        title: Set(row.title.clone()),
        body: Set(row.body.clone()),
        category: Set(row.category.clone()),
        tags: Set(row.tags.clone()),
        author_id: Set(author_id.map(str::to_owned)),
        created_at: Set(now),
    }
}

/// Bumps the organization's knowledge revision inside the change's transaction.
async fn bump_revision(db: &impl ConnectionTrait, org_id: &str) -> Result<()> {
    kb_revision::Entity::insert(kb_revision::ActiveModel {
        org_id: Set(org_id.to_owned()),
        revision: Set(0),
    })
    .on_conflict(
        OnConflict::column(kb_revision::Column::OrgId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    kb_revision::Entity::update_many()
        .col_expr(
            kb_revision::Column::Revision,
            Expr::col(kb_revision::Column::Revision).add(1),
        )
        .filter(kb_revision::Column::OrgId.eq(org_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A question's words, case and punctuation aside: what makes two examples the same wording.
fn wording(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn jaccard(a: &[&str], b: &[&str]) -> f64 {
    let shared = a.iter().filter(|term| b.contains(term)).count();
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

impl Store {
    pub async fn create_article(
        &self,
        org_id: &str,
        new: NewArticle,
        author_id: Option<&str>,
    ) -> Result<KbArticle> {
        let now = self.now();
        let row = kb_article::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            title: clean_title(&new.title)?,
            body: new.body,
            category: clean_category(new.category),
            tags: convert::to_json(&clean_tags(new.tags)),
            status: new.status.as_str().to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let txn = self.begin_write().await?;
        kb_article::Entity::insert(kb_article::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await?;
        kb_article_version::Entity::insert(version_row(org_id, &row, author_id, now))
            .exec_without_returning(&*txn)
            .await?;
        bump_revision(&*txn, org_id).await?;
        txn.commit().await?;
        article(row)
    }

    /// Applies `change`; a change of content makes a new version, a status change does not.
    pub async fn update_article(
        &self,
        org_id: &str,
        article_id: &str,
        change: ArticleChange,
        author_id: Option<&str>,
    ) -> Result<UpdatedArticle> {
        let txn = self.begin_write().await?;
        let current = kb_article::Entity::find_by_id(article_id)
            .filter(kb_article::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut next = current.clone();
        if let Some(title) = &change.title {
            next.title = clean_title(title)?;
        }
        if let Some(body) = change.body {
            next.body = body;
        }
        if let Some(category) = change.category {
            next.category = clean_category(category);
        }
        if let Some(tags) = change.tags {
            next.tags = convert::to_json(&clean_tags(tags));
        }
        let new_version = next.title != current.title
            || next.body != current.body
            || next.category != current.category
            || next.tags != current.tags;
        let previous_status = match change.status {
            Some(status) if status.as_str() != current.status => {
                next.status = status.as_str().to_owned();
                Some(convert::parse(&current.status)?)
            }
            _ => None,
        };
        if !new_version && previous_status.is_none() {
            txn.rollback().await?;
            return Ok(UpdatedArticle {
                article: article(current)?,
                new_version: false,
                previous_status: None,
            });
        }
        let now = self.now();
        next.updated_at = now;
        if new_version {
            next.version = current.version + 1;
            kb_article_version::Entity::insert(version_row(org_id, &next, author_id, now))
                .exec_without_returning(&*txn)
                .await?;
        }
        let mut active: kb_article::ActiveModel = current.into();
        active.title = Set(next.title.clone());
        active.body = Set(next.body.clone());
        active.category = Set(next.category.clone());
        active.tags = Set(next.tags.clone());
        active.status = Set(next.status.clone());
        active.version = Set(next.version);
        active.updated_at = Set(now);
        kb_article::Entity::update(active).exec(&*txn).await?;
        bump_revision(&*txn, org_id).await?;
        txn.commit().await?;
        Ok(UpdatedArticle {
            article: article(next)?,
            new_version,
            previous_status,
        })
    }

    pub async fn article(&self, org_id: &str, article_id: &str) -> Result<Option<KbArticle>> {
        kb_article::Entity::find_by_id(article_id)
            .filter(kb_article::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
            .map(article)
            .transpose()
    }

    /// The article with exactly this title (the oldest, should there be several).
    pub async fn article_by_title(&self, org_id: &str, title: &str) -> Result<Option<KbArticle>> {
        kb_article::Entity::find()
            .filter(kb_article::Column::OrgId.eq(org_id))
            .filter(kb_article::Column::Title.eq(title.trim()))
            .order_by_asc(kb_article::Column::Id)
            .one(self.db())
            .await?
            .map(article)
            .transpose()
    }

    /// Articles matching `filter`, by title.
    pub async fn list_articles(
        &self,
        org_id: &str,
        filter: &ArticleFilter,
    ) -> Result<Vec<KbArticleSummary>> {
        let mut select = kb_article::Entity::find().filter(kb_article::Column::OrgId.eq(org_id));
        if let Some(status) = filter.status {
            select = select.filter(kb_article::Column::Status.eq(status.as_str()));
        }
        if let Some(category) = filter.category.as_deref().filter(|c| !c.trim().is_empty()) {
            select = select.filter(kb_article::Column::Category.eq(category.trim()));
        }
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            select = select.filter(
                sea_orm::Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(kb_article::Column::Title)))
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    )
                    .add(
                        Expr::expr(Func::lower(Expr::col(kb_article::Column::Body)))
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    ),
            );
        }
        select
            .order_by_asc(kb_article::Column::Title)
            .all(self.db())
            .await?
            .into_iter()
            .map(summary)
            .collect()
    }

    /// Every version of an article, newest first; `NotFound` for another organization's.
    pub async fn article_versions(
        &self,
        org_id: &str,
        article_id: &str,
    ) -> Result<Vec<KbArticleVersion>> {
        if self.article(org_id, article_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        kb_article_version::Entity::find()
            .filter(kb_article_version::Column::OrgId.eq(org_id))
            .filter(kb_article_version::Column::ArticleId.eq(article_id))
            .order_by_desc(kb_article_version::Column::Version)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| {
                Ok(KbArticleVersion {
                    tags: convert::from_json(&row.tags)?,
                    version: row.version,
                    title: row.title,
                    body: row.body,
                    category: row.category,
                    author_id: row.author_id,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// Changes with every article change of the organization.
    pub async fn kb_revision(&self, org_id: &str) -> Result<i64> {
        Ok(kb_revision::Entity::find_by_id(org_id)
            .one(self.db())
            .await?
            .map_or(0, |row| row.revision))
    }

    /// The organizations that have ever had a knowledge-base article.
    pub async fn knowledge_orgs(&self) -> Result<Vec<String>> {
        Ok(kb_revision::Entity::find()
            .select_only()
            .column(kb_revision::Column::OrgId)
            .into_tuple()
            .all(self.db())
            .await?)
    }

    /// `(id, version)` of the published articles.
    pub async fn published_article_versions(&self, org_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(kb_article::Entity::find()
            .select_only()
            .column(kb_article::Column::Id)
            .column(kb_article::Column::Version)
            .filter(kb_article::Column::OrgId.eq(org_id))
            .filter(kb_article::Column::Status.eq(ArticleStatus::Published.as_str()))
            .into_tuple::<(String, i64)>()
            .all(self.db())
            .await?)
    }

    /// The published articles among `ids`.
    pub async fn published_articles(&self, org_id: &str, ids: &[String]) -> Result<Vec<KbArticle>> {
        kb_article::Entity::find()
            .filter(kb_article::Column::OrgId.eq(org_id))
            .filter(kb_article::Column::Status.eq(ArticleStatus::Published.as_str()))
            .filter(kb_article::Column::Id.is_in(ids.iter().cloned()))
            .all(self.db())
            .await?
            .into_iter()
            .map(article)
            .collect()
    }

    /// Counts an unanswered question in the gap of the most similar earlier wording (by
    /// `terms`, the question's search terms), or starts a new gap.
    pub async fn record_gap(&self, org_id: &str, question: &str, terms: &[String]) -> Result<()> {
        let question = question.trim();
        if question.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<String> = if terms.is_empty() {
            vec![question.to_lowercase()]
        } else {
            terms.to_vec()
        };
        sorted.sort();
        sorted.dedup();
        let key = sorted.join(" ");
        let mine: Vec<&str> = sorted.iter().map(String::as_str).collect();
        let now = self.now();
        let txn = self.begin_write().await?;
        let gaps = knowledge_gap::Entity::find()
            .filter(knowledge_gap::Column::OrgId.eq(org_id))
            .all(&*txn)
            .await?;
        let best = gaps
            .into_iter()
            .map(|gap| {
                let theirs: Vec<&str> = gap.terms.split(' ').collect();
                (jaccard(&mine, &theirs), gap)
            })
            .filter(|(similarity, _)| *similarity >= GAP_SIMILARITY)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, gap)) => {
                let mut examples: Vec<String> = convert::from_json(&gap.examples)?;
                let known = examples
                    .iter()
                    .any(|example| wording(example) == wording(question));
                if !known && examples.len() < GAP_EXAMPLES {
                    examples.push(question.to_owned());
                }
                let count = gap.count + 1;
                let mut active: knowledge_gap::ActiveModel = gap.into();
                active.count = Set(count);
                active.examples = Set(convert::to_json(&examples));
                active.last_asked_at = Set(now);
                knowledge_gap::Entity::update(active).exec(&*txn).await?;
            }
            None => {
                knowledge_gap::Entity::insert(knowledge_gap::ActiveModel {
                    id: Set(new_id()),
                    org_id: Set(org_id.to_owned()),
                    question: Set(question.to_owned()),
                    terms: Set(key),
                    count: Set(1),
                    examples: Set(convert::to_json(&vec![question.to_owned()])),
                    last_asked_at: Set(now),
                    created_at: Set(now),
                })
                .exec_without_returning(&*txn)
                .await?;
            }
        }
        txn.commit().await
    }

    /// The gaps, most asked first.
    pub async fn list_gaps(&self, org_id: &str, limit: u64) -> Result<Vec<KnowledgeGap>> {
        knowledge_gap::Entity::find()
            .filter(knowledge_gap::Column::OrgId.eq(org_id))
            .order_by_desc(knowledge_gap::Column::Count)
            .order_by_desc(knowledge_gap::Column::LastAskedAt)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| {
                Ok(KnowledgeGap {
                    examples: convert::from_json(&row.examples)?,
                    question: row.question,
                    count: row.count,
                    last_asked_at: row.last_asked_at,
                })
            })
            .collect()
    }
}
