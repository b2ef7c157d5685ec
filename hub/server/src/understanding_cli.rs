//! `switchboard topics train`, `eval topics` and `eval sentiment`: train an organization's topic
//! classifier from a labelled file and measure it, and measure the sentiment scorer the hub uses.

use std::fmt::Write as _;
use std::path::Path;

use chrono::Utc;
use futures::StreamExt;
use switchboard_ai::{
    labelled,
    sentiment::{self, SentimentLabel},
    sentiment_llm::{self, LlmSentiment, ScoreSource},
    topics::{self, TopicModel, TrainConfig},
};
use switchboard_store::{Store, StoredTopicModel};

use crate::commands::UsageError;

fn read_labelled(path: &Path) -> anyhow::Result<Vec<labelled::Row>> {
    let file = std::fs::File::open(path)
        .map_err(|err| UsageError(format!("cannot read {}: {err}", path.display())))?;
    labelled::read(std::io::BufReader::new(file))
        .map_err(|err| UsageError(format!("{}: {err}", path.display())).into())
}

/// `switchboard topics train FILE.csv --org SLUG`.
pub async fn train(store: &Store, org_id: &str, org_slug: &str, path: &Path) -> anyhow::Result<()> {
    let rows = read_labelled(path)?;
    let examples: Vec<topics::Example> = rows.into_iter().map(Into::into).collect();
    let model =
        tokio::task::spawn_blocking(move || topics::train(&examples, &TrainConfig::default()))
            .await?
            .map_err(|err| UsageError(format!("{}: {err}", path.display())))?;
    let bytes = model.to_bytes();
    let report = model.report().clone();
    store
        .save_topic_model(StoredTopicModel {
            org_id: org_id.to_owned(),
            model: bytes.clone(),
            labels: model.topics().into_iter().map(str::to_owned).collect(),
            unknown_threshold: f64::from(model.unknown_threshold()),
            metrics: serde_json::to_value(&report)?,
            trained_at: Utc::now(),
        })
        .await?;
    store
        .audit(
            org_id,
            "cli",
            "topics.trained",
            None,
            serde_json::json!({ "rows": report.rows, "topics": report.topics }),
        )
        .await?;
    println!("trained the topic model of `{org_slug}`");
    println!(
        "classes:   {} ({})",
        report.topics,
        model.topics().join(", ")
    );
    println!("rows:      {}", report.rows);
    println!(
        "held-out:  {} rows, accuracy {:.1}% (in-scope without threshold {:.1}%){}",
        report.heldout_rows,
        100.0 * report.heldout_accuracy,
        100.0 * report.heldout_accuracy_raw,
        report
            .heldout_unknown_recall
            .map(|recall| format!(", out-of-scope caught {:.1}%", 100.0 * recall))
            .unwrap_or_default()
    );
    println!(
        "unknown:   below probability {:.2}",
        report.unknown_threshold
    );
    println!(
        "model:     {} features, {} KiB",
        report.features,
        bytes.len().div_ceil(1024)
    );
    println!("time:      {:.2} s", report.train_seconds);
    Ok(())
}

/// `switchboard eval topics FILE.csv --org SLUG [--json]`.
pub async fn eval_topics(
    store: &Store,
    org_id: &str,
    org_slug: &str,
    path: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let rows = read_labelled(path)?;
    let stored = store.topic_model(org_id).await?.ok_or_else(|| {
        UsageError(format!(
            "organization `{org_slug}` has no topic model: run `switchboard topics train` first"
        ))
    })?;
    let (predictions, rows) = tokio::task::spawn_blocking(move || {
        let model = TopicModel::from_bytes(&stored.model)?;
        let predictions: Vec<topics::Prediction> =
            rows.iter().map(|row| model.predict(&row.text)).collect();
        Ok::<_, topics::TopicError>((predictions, rows))
    })
    .await??;
    if json {
        print_json_lines(rows.iter().zip(&predictions).map(|(row, prediction)| {
            serde_json::json!({
                "text": row.text,
                "predicted": prediction.label,
                "score": round3(f64::from(prediction.probability)),
            })
        }));
        return Ok(());
    }
    let mut report = String::new();
    let result = topics::evaluate(
        predictions
            .iter()
            .zip(&rows)
            .map(|(p, row)| (p.label.as_str(), row.label.as_str())),
    );
    writeln!(report, "rows:              {}", result.rows)?;
    writeln!(report, "accuracy:          {:.1}%", 100.0 * result.accuracy)?;
    writeln!(report, "macro-F1:          {:.3}", result.macro_f1)?;
    writeln!(
        report,
        "in-scope accuracy: {:.1}%",
        100.0 * result.in_scope_accuracy
    )?;
    if let Some(recall) = result.unknown_recall {
        writeln!(
            report,
            "out-of-scope recall (predicted unknown): {:.1}%",
            100.0 * recall
        )?;
    }
    emit(&report);
    Ok(())
}

/// Rows scored by the LLM at once in `eval sentiment`.
const EVAL_CONCURRENCY: usize = 4;

/// `switchboard eval sentiment FILE.csv [--json]`, with the scorer the hub uses: the LLM when
/// one is configured (`llm`; a row it fails on gets the offline score), the offline one
/// otherwise.
pub async fn eval_sentiment(
    path: &Path,
    json: bool,
    llm: Option<LlmSentiment>,
) -> anyhow::Result<()> {
    let rows = read_labelled(path)?;
    let mut truths = Vec::with_capacity(rows.len());
    for row in &rows {
        let truth = SentimentLabel::parse(&row.label).ok_or_else(|| {
            UsageError(format!(
                "{}: line {}: the label `{}` is not negative, neutral or positive",
                path.display(),
                row.line,
                row.label
            ))
        })?;
        truths.push(truth);
    }
    let scored: Vec<sentiment_llm::Scored> = match &llm {
        None => rows
            .iter()
            .map(|row| sentiment_llm::offline(&row.text))
            .collect(),
        Some(scorer) => {
            futures::stream::iter(&rows)
                .map(|row| scorer.score_or_offline(&row.text, None))
                .buffered(EVAL_CONCURRENCY)
                .collect()
                .await
        }
    };
    if json {
        print_json_lines(rows.iter().zip(&scored).map(|(row, scored)| {
            serde_json::json!({
                "text": row.text,
                "predicted": scored.label.as_str(),
                "score": scored.score,
            })
        }));
        return Ok(());
    }
    let mut report = String::new();
    let n = rows.len() as f64;
    let mut confusion = [[0usize; 3]; 3];
    let index = |label: SentimentLabel| {
        SentimentLabel::ALL
            .iter()
            .position(|l| *l == label)
            .unwrap_or(0)
    };
    for (truth, scored) in truths.iter().zip(&scored) {
        confusion[index(*truth)][index(scored.label)] += 1;
    }
    let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
    let negative_vs_rest = truths
        .iter()
        .zip(&scored)
        .filter(|(truth, scored)| {
            (**truth == SentimentLabel::Negative) == (scored.label == SentimentLabel::Negative)
        })
        .count();
    writeln!(report, "rows:             {}", rows.len())?;
    writeln!(
        report,
        "accuracy:         {:.1}%",
        100.0 * correct as f64 / n
    )?;
    writeln!(
        report,
        "negative-vs-rest: {:.1}%",
        100.0 * negative_vs_rest as f64 / n
    )?;
    writeln!(
        report,
        "thresholds:       negative below {}, positive above {} (scores 0-100)",
        sentiment::NEGATIVE_BELOW,
        sentiment::POSITIVE_ABOVE
    )?;
    match &llm {
        None => writeln!(report, "scorer:           offline")?,
        Some(_) => {
            let fell_back = scored
                .iter()
                .filter(|scored| scored.source == ScoreSource::Offline)
                .count();
            writeln!(
                report,
                "scorer:           llm ({fell_back} of {} rows fell back to offline)",
                rows.len()
            )?;
        }
    }
    writeln!(report)?;
    writeln!(
        report,
        "{:<18}{:>10}{:>10}{:>10}",
        "truth \\ predicted", "negative", "neutral", "positive"
    )?;
    for truth in SentimentLabel::ALL {
        let row = confusion[index(truth)];
        writeln!(
            report,
            "{:<18}{:>10}{:>10}{:>10}",
            truth.as_str(),
            row[0],
            row[1],
            row[2]
        )?;
    }
    emit(&report);
    Ok(())
}

/// Prints a report; a reader that went away (`| head`) is not an error.
fn emit(report: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(report.as_bytes());
}

/// One JSON object a line; stops quietly when the reader goes away (`| head`).
fn print_json_lines(lines: impl Iterator<Item = serde_json::Value>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
