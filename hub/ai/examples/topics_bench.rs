//! Trains the topic classifier on a `text,label` CSV and scores it on test CSVs: training
//! time, held-out figures, accuracy, macro-F1, in-scope accuracy and out-of-scope recall.
//! What `switchboard topics train` + `eval topics` do, without a database, for BENCHMARKS.md.
//!
//! `cargo run --release -p switchboard-ai --example topics_bench -- TRAIN.csv TEST.csv...`

use std::time::Instant;

use switchboard_ai::{labelled, topics};

fn read(path: &str) -> Result<Vec<labelled::Row>, Box<dyn std::error::Error>> {
    Ok(
        labelled::read(std::io::BufReader::new(std::fs::File::open(path)?))
            .map_err(|err| format!("{path}: {err}"))?,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((train_path, test_paths)) = args.split_first() else {
        return Err("usage: topics_bench TRAIN.csv TEST.csv...".into());
    };
    let examples: Vec<topics::Example> = read(train_path)?.into_iter().map(Into::into).collect();
    let started = Instant::now();
    let mut config = topics::TrainConfig::default();
    if let Some(epochs) = std::env::var("TOPICS_EPOCHS")
        .ok()
        .and_then(|e| e.parse().ok())
    {
        config.epochs = epochs;
    }
    let model = topics::train(&examples, &config)?;
    let seconds = started.elapsed().as_secs_f64();
    let report = model.report();
    println!(
        "train: {} rows, {} topics, {} features, {:.2} s; held-out {} rows: accuracy {:.3} (raw {:.3}), unknown recall {:?}, threshold {:.2}; stored {} KiB",
        report.rows,
        report.topics,
        report.features,
        seconds,
        report.heldout_rows,
        report.heldout_accuracy,
        report.heldout_accuracy_raw,
        report.heldout_unknown_recall,
        model.unknown_threshold(),
        model.to_bytes().len() / 1024
    );
    let mut all: Vec<(String, String)> = Vec::new();
    for path in test_paths {
        let rows = read(path)?;
        let started = Instant::now();
        let pairs: Vec<(String, String)> = rows
            .into_iter()
            .map(|row| (model.predict(&row.text).label, row.label))
            .collect();
        let per = started.elapsed().as_secs_f64() / pairs.len().max(1) as f64;
        let result = topics::evaluate(pairs.iter().map(|(p, t)| (p.as_str(), t.as_str())));
        println!(
            "{path}: {} rows, accuracy {:.3}, macro-F1 {:.3}, in-scope accuracy {:.3}, unknown recall {:?}, {:.0} µs/prediction",
            result.rows,
            result.accuracy,
            result.macro_f1,
            result.in_scope_accuracy,
            result.unknown_recall,
            per * 1e6
        );
        all.extend(pairs);
    }
    if test_paths.len() > 1 {
        let result = topics::evaluate(all.iter().map(|(p, t)| (p.as_str(), t.as_str())));
        println!(
            "all tests: {} rows, accuracy {:.3}, macro-F1 {:.3}, in-scope accuracy {:.3}, unknown recall {:?}",
            result.rows,
            result.accuracy,
            result.macro_f1,
            result.in_scope_accuracy,
            result.unknown_recall
        );
    }
    Ok(())
}
