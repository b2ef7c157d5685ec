//! `retrieval`: how long the knowledge index takes to build and to answer at a given size.
//! The demo articles are repeated with distinct titles and a few distinct words each, up to the
//! requested count; the evaluation questions are then asked against the index on disk.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anyhow::Context;
use switchboard_ai::{
    article::{ArticleDoc, parse_markdown},
    eval::parse_cases,
    index::{ArticleSource, Knowledge, KnowledgeError},
    offline::compose,
};

/// Articles held in memory, their ids their positions.
pub(crate) struct Articles(pub(crate) Vec<ArticleDoc>);

#[async_trait::async_trait]
impl ArticleSource for Articles {
    async fn stamp(&self, _org_id: &str) -> Result<String, KnowledgeError> {
        Ok(self.0.len().to_string())
    }

    async fn published(&self, _org_id: &str) -> Result<Vec<(String, i64)>, KnowledgeError> {
        Ok(self.0.iter().map(|a| (a.id.clone(), a.version)).collect())
    }

    async fn articles(
        &self,
        _org_id: &str,
        ids: &[String],
    ) -> Result<Vec<ArticleDoc>, KnowledgeError> {
        // Ids are positions, so a batch is a slice lookup.
        Ok(ids
            .iter()
            .filter_map(|id| id.parse::<usize>().ok())
            .filter_map(|i| self.0.get(i).cloned())
            .collect())
    }
}

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

pub(crate) fn demo_articles() -> anyhow::Result<Vec<ArticleDoc>> {
    let mut paths: Vec<_> = std::fs::read_dir(fixtures().join("kb/demo"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let parsed = parse_markdown(&std::fs::read_to_string(path)?)?;
            Ok(ArticleDoc {
                id: String::new(),
                title: parsed.title,
                category: parsed.category,
                tags: parsed.tags,
                body: parsed.body,
                version: 1,
            })
        })
        .collect()
}

/// `count` articles: the demo ones, then copies with a number in the title and a few words of
/// their own in every section, so that the vocabulary grows with the corpus.
fn corpus(count: usize) -> anyhow::Result<Vec<ArticleDoc>> {
    let demo = demo_articles()?;
    anyhow::ensure!(!demo.is_empty(), "no demo articles");
    Ok((0..count)
        .map(|i| {
            let mut article = demo[i % demo.len()].clone();
            article.id = i.to_string();
            if i >= demo.len() {
                article.title = format!("{} ({i})", article.title);
                let own = format!(
                    " Reference code kx{i} applies to model pz{} units.",
                    i % 997
                );
                article.body = article.body.replace("\n\n## ", &format!("{own}\n\n## "));
            }
            article
        })
        .collect())
}

/// With `encoder`, the knowledge base's passages are encoded by the built-in sentence encoder
/// first (timed apart), and every question is encoded and ranked with it, as the hub does.
pub async fn run(
    counts: &[usize],
    rounds: usize,
    dir: Option<&Path>,
    encoder: bool,
) -> anyhow::Result<()> {
    let questions = parse_cases(&std::fs::read_to_string(
        fixtures().join("eval/answers.jsonl"),
    )?)?;
    println!("| articles | passages | build s | encode s | index MB | p50 ms | p95 ms | p99 ms |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &count in counts {
        let temp = tempfile::tempdir()?;
        let root = dir
            .unwrap_or(temp.path())
            .join(format!("retrieval-{count}"));
        let mut knowledge = Knowledge::new(Some(&root), Arc::new(Articles(corpus(count)?)));
        if encoder {
            knowledge = knowledge.with_encoder();
        }
        let started = Instant::now();
        let index = knowledge.index("bench").await.context("builds the index")?;
        let build = started.elapsed();
        let started = Instant::now();
        knowledge.encoded("bench").await?;
        let encode = encoder.then(|| format!("{:.1}", started.elapsed().as_secs_f64()));
        let mut latencies = Vec::new();
        let mut passages = 0;
        for _ in 0..rounds.max(1) {
            for case in &questions {
                let started = Instant::now();
                let retrieval = knowledge.search(&index, &case.question, 5).await?;
                let _ = compose(&retrieval);
                latencies.push(started.elapsed());
                passages = retrieval.passages;
            }
        }
        latencies.sort();
        let size: u64 = std::fs::read_dir(root.join("kb").join("bench"))?
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .map(|meta| meta.len())
            .sum();
        println!(
            "| {count} | {passages} | {:.1} | {} | {:.1} | {:.2} | {:.2} | {:.2} |",
            build.as_secs_f64(),
            encode.as_deref().unwrap_or("-"),
            size as f64 / 1e6,
            crate::percentile_ms(&latencies, 0.50),
            crate::percentile_ms(&latencies, 0.95),
            crate::percentile_ms(&latencies, 0.99),
        );
    }
    Ok(())
}
