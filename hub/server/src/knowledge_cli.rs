//! `switchboard kb import` and `switchboard eval answers`.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde_json::json;
use switchboard_ai::{
    eval::{Summary, Verdict, parse_cases},
    responder::candidate,
};
use switchboard_model::{NoDeltas, Response, Source};
use switchboard_store::Store;

use crate::{
    ai::{self, ImportReport},
    commands::UsageError,
    config::Settings,
};

/// Every `.md` file under `path` (or `path` itself), in name order.
fn markdown_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if !path.is_dir() {
        return Err(UsageError(format!("{} does not exist", path.display())).into());
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
        {
            let entry = entry?.path();
            if entry.is_dir() {
                folders.push(entry);
            } else if entry.extension().is_some_and(|ext| ext == "md") {
                files.push(entry);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub async fn import(store: &Store, org_id: &str, path: &Path) -> anyhow::Result<ImportReport> {
    let files = markdown_files(path)?;
    if files.is_empty() {
        return Err(UsageError(format!("no .md files in {}", path.display())).into());
    }
    // Draws on a terminal only; piped output stays clean.
    let progress = indicatif::ProgressBar::new(files.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut report = ImportReport::default();
    for file in &files {
        progress.set_message(file.display().to_string());
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if let Err(err) = ai::import_markdown(store, org_id, &text, &mut report).await {
            progress.abandon();
            return Err(UsageError(format!("{}: {err}", file.display())).into());
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(report)
}

pub async fn eval_answers(
    settings: &Settings,
    store: &Store,
    org_id: &str,
    file: &Path,
    as_json: bool,
    min_confidence: f64,
) -> anyhow::Result<()> {
    match run_eval(settings, store, org_id, file, as_json, min_confidence).await {
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            // The reader went away (`| head`): nothing left to say.
            Ok(())
        }
        other => other,
    }
}

async fn run_eval(
    settings: &Settings,
    store: &Store,
    org_id: &str,
    file: &Path,
    as_json: bool,
    min_confidence: f64,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| UsageError(format!("cannot read {}: {err}", file.display())))?;
    let cases =
        parse_cases(&text).map_err(|err| UsageError(format!("{}: {err}", file.display())))?;
    // In memory: the evaluation may run beside a hub that owns the index files.
    let knowledge = ai::knowledge(settings, store, false)?;
    // Every question ranked the same way: by the encoder too, once it has encoded every passage.
    knowledge
        .encoded(org_id)
        .await
        .context("cannot index the knowledge base")?;
    // No customer waits on an evaluation: the model has its whole timeout to start.
    let unhurried = Settings {
        llm_first_piece_ms: settings.llm_timeout_secs.max(1) * 1_000,
        ..settings.clone()
    };
    let responder = ai::responder(ai::llm_client(&unhurried)?, store, knowledge.clone(), false);
    let mut summary = Summary::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !as_json {
        writeln!(
            out,
            "{:<11} {:>5}  {:<60}  sources",
            "verdict", "conf", "question"
        )?;
    }
    for case in &cases {
        let question = case.question(org_id, min_confidence);
        let response = responder
            .respond(&question, &NoDeltas)
            .await
            .map_err(|err| err.to_string());
        let verdict = Verdict::of(case, &response);
        summary.add(case, verdict);
        // Beside a decline, the article retrieval ranked first: a reader tells a bad retrieval
        // (the wrong article) from a timid confidence (the right one, scored low).
        let candidate = match &response {
            Ok(Response::Declined { .. }) => candidate(&knowledge, org_id, &case.question)
                .await
                .map_err(|err| anyhow::anyhow!("failed to rank the candidates: {err}"))?,
            _ => None,
        };
        let (answered, answer, sources, confidence): (
            bool,
            Option<String>,
            Vec<Source>,
            Option<f64>,
        ) = match &response {
            Ok(Response::Answered(answer)) => (
                true,
                Some(answer.text.clone()),
                answer.sources.clone(),
                answer.confidence,
            ),
            Ok(Response::Declined { confidence, .. }) => (false, None, Vec::new(), *confidence),
            Err(_) => (false, None, Vec::new(), None),
        };
        if as_json {
            let line = json!({
                "question": case.question,
                "answered": answered,
                "answer": answer,
                "sources": sources,
                "confidence": confidence,
                "candidate": candidate.as_ref().map(|c| json!({
                    "article_id": c.source.article_id,
                    "title": c.source.title,
                    "score": c.score,
                    "confidence": c.confidence,
                })),
            });
            writeln!(out, "{line}")?;
        } else {
            let titles: Vec<&str> = sources.iter().map(|s| s.title.as_str()).collect();
            let question: String = case.question.chars().take(60).collect();
            let confidence = confidence.map_or("-".to_owned(), |c| format!("{c:.2}"));
            let detail = match (&response, &candidate) {
                (Err(err), _) => format!("error: {err}"),
                (_, Some(top)) => format!("(top: {})", top.source.title),
                _ => titles.join("; "),
            };
            writeln!(
                out,
                "{:<11} {confidence:>5}  {question:<60}  {detail}",
                verdict.as_str()
            )?;
        }
    }
    if !as_json {
        writeln!(out)?;
        writeln!(
            out,
            "answerable: {}  correct: {} ({:.1}%)  wrong: {}  declined: {}",
            summary.answerable,
            summary.correct,
            summary.correct_rate() * 100.0,
            summary.wrong,
            summary.missed
        )?;
        writeln!(
            out,
            "unanswerable: {}  refused: {} ({:.1}%)  answered anyway: {}",
            summary.unanswerable,
            summary.refused,
            summary.refusal_rate() * 100.0,
            summary.overreached
        )?;
        writeln!(
            out,
            "wrong among answered: {:.1}%  errors: {}  threshold: {min_confidence:.2}",
            summary.wrong_rate() * 100.0,
            summary.errors
        )?;
    }
    Ok(())
}
