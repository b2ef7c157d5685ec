//! `topics`: the hub's topic classifier on a public `text,label` set (BANKING77, CLINC150…).
//! It trains what `switchboard topics train` trains, on the training file, and scores it on a
//! test file, or, without one, on a deterministic share of each label's training rows held out
//! before training: accuracy, in-scope accuracy and out-of-scope recall (labels such as `oos`),
//! training time, microseconds per prediction and the model's size.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use switchboard_ai::{
    labelled,
    topics::{self, Example, TopicModel, TrainConfig},
};

#[derive(clap::Args)]
pub struct Options {
    /// `text,label` CSV to train on
    #[arg(long)]
    train: PathBuf,
    /// `text,label` CSV to score on; without it, a share of --train is held out
    #[arg(long)]
    test: Option<PathBuf>,
    /// Share of each label's rows of --train held out for scoring when there is no --test
    #[arg(long, default_value_t = 0.2)]
    holdout_share: f64,
    /// The SVMs' cost of a margin violation, instead of the hub's default
    #[arg(long)]
    cost: Option<f32>,
    /// Also print in-scope accuracy and out-of-scope recall at every threshold from 0 to 1
    #[arg(long)]
    curve: bool,
}

fn read(path: &Path) -> anyhow::Result<Vec<Example>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path:?}"))?;
    let rows = labelled::read(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {path:?}"))?;
    Ok(rows.into_iter().map(Example::from).collect())
}

/// FNV-1a: the held-out rows must be the same on every machine and Rust version.
fn stable_hash(text: &str, position: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().chain(position.to_le_bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Splits rows into (train, held out): per label, the `share` of its rows with the smallest
/// hashes, so that every label is represented on both sides and file order does not matter.
fn split(rows: Vec<Example>, share: f64) -> (Vec<Example>, Vec<Example>) {
    let mut by_label: BTreeMap<String, Vec<(u64, Example)>> = BTreeMap::new();
    for (position, row) in rows.into_iter().enumerate() {
        let key = stable_hash(&row.text, position);
        by_label
            .entry(row.label.clone())
            .or_default()
            .push((key, row));
    }
    let (mut train, mut heldout) = (Vec::new(), Vec::new());
    for (_, mut rows) in by_label {
        rows.sort_by_key(|(key, _)| *key);
        let take = (rows.len() as f64 * share).round() as usize;
        for (i, (_, row)) in rows.into_iter().enumerate() {
            if i < take {
                heldout.push(row);
            } else {
                train.push(row);
            }
        }
    }
    (train, heldout)
}

pub fn run(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..1.0).contains(&options.holdout_share),
        "--holdout-share must be in [0, 1)"
    );
    let training = read(&options.train)?;
    let (training, test) = match &options.test {
        Some(path) => (training, read(path)?),
        None => split(training, options.holdout_share),
    };
    anyhow::ensure!(!test.is_empty(), "nothing to score: no test rows");

    let started = Instant::now();
    let mut config = TrainConfig::default();
    if let Some(cost) = options.cost {
        config.cost = cost;
    }
    let model = topics::train(&training, &config)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let report = model.report();

    // Predictions come from the model as the hub holds it: loaded from its stored form.
    let bytes = model.to_bytes();
    let loaded = TopicModel::from_bytes(&bytes)?;

    let started = Instant::now();
    let predictions: Vec<topics::Prediction> =
        test.iter().map(|row| loaded.predict(&row.text)).collect();
    let per_prediction_us = started.elapsed().as_secs_f64() * 1e6 / test.len() as f64;
    let result = topics::evaluate(
        predictions
            .iter()
            .zip(&test)
            .map(|(p, row)| (p.label.as_str(), row.label.as_str())),
    );
    let raw = topics::evaluate(
        predictions
            .iter()
            .zip(&test)
            .map(|(p, row)| (p.best.as_str(), row.label.as_str())),
    );
    if std::env::var_os("TOPICS_CURVE").is_some() {
        for step in 0..=40 {
            let t = step as f32 / 40.0;
            let r = topics::evaluate(predictions.iter().zip(&test).map(|(p, row)| {
                (
                    if p.probability < t {
                        "unknown"
                    } else {
                        p.best.as_str()
                    },
                    row.label.as_str(),
                )
            }));
            eprintln!(
                "t {t:.3} in {:.4} oos {:?}",
                r.in_scope_accuracy, r.unknown_recall
            );
        }
    }

    let scored_on = match &options.test {
        Some(path) => path.display().to_string(),
        None => format!(
            "{:.0}% of each label held out",
            options.holdout_share * 100.0
        ),
    };
    println!(
        "trained on {} rows ({} topics, {} features) in {train_seconds:.2} s",
        training.len(),
        report.topics,
        report.features
    );
    println!(
        "scored on {} rows ({scored_on}): accuracy {:.2}%, in-scope accuracy {:.2}%, out-of-scope recall {}, macro-F1 {:.3}",
        result.rows,
        result.accuracy * 100.0,
        result.in_scope_accuracy * 100.0,
        result
            .unknown_recall
            .map_or_else(|| "n/a".to_owned(), |r| format!("{:.2}%", r * 100.0)),
        result.macro_f1
    );
    println!(
        "best topic, no threshold: in-scope accuracy {:.2}%, out-of-scope recall {}",
        raw.in_scope_accuracy * 100.0,
        raw.unknown_recall
            .map_or_else(|| "n/a".to_owned(), |r| format!("{:.2}%", r * 100.0)),
    );
    println!(
        "{per_prediction_us:.1} µs per prediction; model stored {} KiB, {} KiB in memory; unknown threshold {:.3}",
        bytes.len() / 1024,
        loaded.memory_bytes() / 1024,
        loaded.unknown_threshold()
    );
    if options.curve {
        println!("| threshold | in-scope accuracy | out-of-scope recall |\n| --- | --- | --- |");
        for step in 0..=40 {
            let threshold = step as f32 / 40.0;
            let at = topics::evaluate(predictions.iter().zip(&test).map(|(p, row)| {
                let refused = p.probability < threshold || p.best == topics::UNKNOWN;
                let label = if refused {
                    topics::UNKNOWN
                } else {
                    p.best.as_str()
                };
                (label, row.label.as_str())
            }));
            println!(
                "| {threshold:.3} | {:.2}% | {} |",
                at.in_scope_accuracy * 100.0,
                at.unknown_recall
                    .map_or_else(|| "n/a".to_owned(), |r| format!("{:.2}%", r * 100.0))
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, label: &str) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                text: format!("{label} text {i}"),
                label: label.to_owned(),
            })
            .collect()
    }

    #[test]
    fn the_split_is_stratified_and_deterministic() {
        let mut all = rows(10, "a");
        all.extend(rows(5, "b"));
        let (train, heldout) = split(all.clone(), 0.2);
        assert_eq!((train.len(), heldout.len()), (12, 3));
        assert_eq!(heldout.iter().filter(|r| r.label == "a").count(), 2);
        assert_eq!(heldout.iter().filter(|r| r.label == "b").count(), 1);
        assert_eq!(split(all, 0.2).1, heldout);
    }
}
