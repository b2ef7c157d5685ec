//! The demo knowledge base from `fixtures/kb/demo` as an in-memory article source.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use switchboard_model::{DeliveryStatus, Message, MessageRole};

use switchboard_ai::{
    article::{ArticleDoc, parse_markdown},
    index::{ArticleSource, Knowledge, KnowledgeError},
    responder::{Engine, KnowledgeResponder},
};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Articles of one organization, `demo`, changeable by the test.
pub struct FixtureSource {
    pub articles: Mutex<Vec<ArticleDoc>>,
    /// Bumped on every change, like the database's stamp.
    pub revision: Mutex<u64>,
}

impl FixtureSource {
    pub fn empty() -> FixtureSource {
        FixtureSource {
            articles: Mutex::new(Vec::new()),
            revision: Mutex::new(0),
        }
    }

    pub fn demo() -> FixtureSource {
        FixtureSource::from_dir(&fixture_dir().join("kb/demo"))
    }

    /// The markdown articles of `dir`, each named by its file's stem.
    pub fn from_dir(dir: &std::path::Path) -> FixtureSource {
        let mut articles = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .expect("the knowledge base's folder")
            .map(|entry| entry.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let parsed = parse_markdown(&std::fs::read_to_string(&path).expect("reads"))
                .expect("front matter");
            articles.push(ArticleDoc {
                id: path
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned(),
                title: parsed.title,
                category: parsed.category,
                tags: parsed.tags,
                body: parsed.body,
                version: 1,
            });
        }
        FixtureSource {
            articles: Mutex::new(articles),
            revision: Mutex::new(1),
        }
    }

    /// Replaces or adds an article and bumps the stamp.
    pub fn put(&self, article: ArticleDoc) {
        let mut articles = self.articles.lock().expect("lock");
        articles.retain(|a| a.id != article.id);
        articles.push(article);
        *self.revision.lock().expect("lock") += 1;
    }

    pub fn remove(&self, id: &str) {
        self.articles.lock().expect("lock").retain(|a| a.id != id);
        *self.revision.lock().expect("lock") += 1;
    }
}

#[async_trait::async_trait]
impl ArticleSource for FixtureSource {
    async fn stamp(&self, org_id: &str) -> Result<String, KnowledgeError> {
        Ok(format!("{org_id}:{}", self.revision.lock().expect("lock")))
    }

    async fn published(&self, org_id: &str) -> Result<Vec<(String, i64)>, KnowledgeError> {
        if org_id != "demo" {
            return Ok(Vec::new());
        }
        Ok(self
            .articles
            .lock()
            .expect("lock")
            .iter()
            .map(|a| (a.id.clone(), a.version))
            .collect())
    }

    async fn articles(
        &self,
        org_id: &str,
        ids: &[String],
    ) -> Result<Vec<ArticleDoc>, KnowledgeError> {
        if org_id != "demo" {
            return Ok(Vec::new());
        }
        Ok(self
            .articles
            .lock()
            .expect("lock")
            .iter()
            .filter(|a| ids.contains(&a.id))
            .cloned()
            .collect())
    }
}

/// The offline responder over the demo articles, with its index in `data_dir` (or memory).
pub async fn offline_responder(
    data_dir: Option<&std::path::Path>,
) -> (KnowledgeResponder, Arc<Knowledge>) {
    offline_responder_over(data_dir, FixtureSource::demo()).await
}

/// The offline responder over `source`'s articles (organization `demo`) as the hub runs it,
/// with the built-in sentence encoder, once it has encoded every passage.
pub async fn offline_responder_over(
    data_dir: Option<&std::path::Path>,
    source: FixtureSource,
) -> (KnowledgeResponder, Arc<Knowledge>) {
    let knowledge = Arc::new(Knowledge::new(data_dir, Arc::new(source)).with_encoder());
    knowledge.encoded("demo").await.expect("encodes");
    (
        KnowledgeResponder::new(knowledge.clone(), Engine::Offline),
        knowledge,
    )
}

/// A message of conversation "c" in the demo organization, for a question's history.
pub fn message(role: MessageRole, text: &str, private: bool) -> Message {
    Message {
        id: String::new(),
        org_id: "demo".into(),
        conversation_id: "c".into(),
        seq: 0,
        role,
        private,
        text: text.into(),
        attachments: vec![],
        sources: vec![],
        confidence: None,
        model: None,
        tokens: None,
        author_id: None,
        mentions: Vec::new(),
        channel_message_id: None,
        delivery_status: DeliveryStatus::Received,
        delivery_error: None,
        created_at: chrono::Utc::now(),
        sentiment: None,
        text_full: None,
        automated: false,
    }
}
