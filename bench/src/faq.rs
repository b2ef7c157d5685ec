//! `faq`: the offline responder on a knowledge base nobody here wrote against (issue 24).
//!
//! The public COVID FAQ bank becomes a knowledge base, one article per entry (title = the
//! question, body = the answer). Each `similar=1` pair of its question-similarity set is an
//! answerable question whose expected article is `question_1`'s. The pairs are split in two
//! halves by a hash of `question_1` (all paraphrases of one entry fall in the same half): one to
//! tune on, one held out. Abstention is measured twice: on questions from another domain
//! (CLINC150's out-of-scope rows, when given), and on near misses — each paraphrase asked of the
//! knowledge base without its own article (noisy: the bank holds near-duplicate entries from
//! several health agencies, so another article sometimes does answer).
//!
//! The responder is the hub's: the same index, the same offline engine, the same default
//! threshold. The demo knowledge base's question sets are asked too, and the out-of-scope
//! questions of each half are also asked of the demo knowledge base.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use switchboard_ai::{
    article::ArticleDoc,
    eval::{Case, Summary, Verdict},
    index::Knowledge,
    responder::{DEFAULT_MIN_CONFIDENCE, Engine, KnowledgeResponder, candidate},
};
use switchboard_model::{NoDeltas, Responder};

use crate::retrieval::Articles;

#[derive(clap::Args)]
pub struct Options {
    /// The folder holding `faq_covidbert.csv` and `eval_question_similarity_en.csv`
    #[arg(long)]
    path: PathBuf,
    /// A `text,label` file whose `oos` rows are out of scope (CLINC150's `val.csv`)
    #[arg(long)]
    oos: Option<PathBuf>,
    /// Print every question that was not answered as it should have been
    #[arg(long)]
    verbose: bool,
    /// Write each question's confidence features and whether retrieval ranked the expected
    /// article first (`set,label,…` CSV), to fit the confidence on
    #[arg(long)]
    features: Option<PathBuf>,
    /// Group the entries into one article per source and category, each entry a section under
    /// its question as heading: the shape of a help centre rather than of an FAQ
    #[arg(long)]
    sections: bool,
    /// The threshold; the hub's default unless given
    #[arg(long, default_value_t = DEFAULT_MIN_CONFIDENCE)]
    min_confidence: f64,
}

/// The two halves of the answerable questions.
const HALVES: [&str; 2] = ["tune", "held out"];

fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// FNV-1a: a split that does not move between runs, machines or Rust versions.
fn half_of(text: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in normalized(text).bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % 2) as usize
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<csv::StringRecord>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let rows = reader.records().collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One article per FAQ entry; entries whose question repeats an earlier one are dropped.
fn faq_articles(path: &Path) -> anyhow::Result<Vec<ArticleDoc>> {
    let mut seen = std::collections::HashSet::new();
    let mut articles = Vec::new();
    for row in read_rows(&path.join("faq_covidbert.csv"))? {
        let (Some(question), Some(answer)) = (row.get(0), row.get(1)) else {
            continue;
        };
        if question.trim().is_empty() || !seen.insert(normalized(question)) {
            continue;
        }
        let group = match (row.get(5).map(str::trim), row.get(6).map(str::trim)) {
            (Some(source), Some(category)) if !category.is_empty() => {
                format!("{source}: {category}")
            }
            (Some(source), _) => source.to_owned(),
            _ => String::new(),
        };
        articles.push(ArticleDoc {
            id: String::new(),
            title: question.trim().to_owned(),
            category: Some(group),
            tags: Vec::new(),
            body: answer.trim().to_owned(),
            version: 1,
        });
    }
    Ok(articles)
}

/// One article per group of entries (their `category`), each entry a section headed by its
/// question; and, by entry title, the article that now holds it.
fn sectioned(entries: &[ArticleDoc]) -> (Vec<ArticleDoc>, BTreeMap<String, String>) {
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    let mut holder = BTreeMap::new();
    for entry in entries {
        let group = entry.category.clone().unwrap_or_default();
        let body = groups.entry(group.clone()).or_default();
        body.push_str(&format!("## {}\n\n{}\n\n", entry.title, entry.body));
        holder.insert(entry.title.clone(), group);
    }
    let articles = groups
        .into_iter()
        .map(|(title, body)| ArticleDoc {
            id: String::new(),
            title,
            category: None,
            tags: Vec::new(),
            body,
            version: 1,
        })
        .collect();
    (articles, holder)
}

/// The answerable questions of each half, by expected article title.
fn paraphrases(path: &Path, titles: &[String]) -> anyhow::Result<[Vec<Case>; 2]> {
    let by_normal: BTreeMap<String, &String> = titles.iter().map(|t| (normalized(t), t)).collect();
    let mut halves: [Vec<Case>; 2] = Default::default();
    let mut unmatched = 0;
    for row in read_rows(&path.join("eval_question_similarity_en.csv"))? {
        let (Some(original), Some(paraphrase), Some("1")) = (row.get(0), row.get(1), row.get(2))
        else {
            continue;
        };
        let Some(title) = by_normal.get(&normalized(original)) else {
            unmatched += 1;
            continue;
        };
        halves[half_of(original)].push(Case {
            question: paraphrase.trim().to_owned(),
            expected_article: Some((*title).clone()),
        });
    }
    if unmatched > 0 {
        eprintln!("{unmatched} pairs name a question that is not in the FAQ; skipped");
    }
    Ok(halves)
}

/// Out-of-scope questions, split in halves by the same hash.
fn out_of_scope(path: &Path) -> anyhow::Result<[Vec<Case>; 2]> {
    let mut halves: [Vec<Case>; 2] = Default::default();
    for row in read_rows(path)? {
        if let (Some(text), Some("oos")) = (row.get(0), row.get(1)) {
            halves[half_of(text)].push(Case {
                question: text.to_owned(),
                expected_article: None,
            });
        }
    }
    Ok(halves)
}

fn responder(articles: Vec<ArticleDoc>) -> KnowledgeResponder {
    let articles = articles
        .into_iter()
        .enumerate()
        .map(|(i, article)| ArticleDoc {
            id: i.to_string(),
            ..article
        })
        .collect();
    let knowledge = Knowledge::new(None, Arc::new(Articles(articles))).with_encoder();
    KnowledgeResponder::new(Arc::new(knowledge), Engine::Offline)
}

/// How a set of questions went, and among the declined answerable ones, how many had the
/// expected article as their top candidate (a timid confidence rather than a bad retrieval).
#[derive(Default)]
struct Tally {
    summary: Summary,
    declined_top_right: usize,
    /// Answerable questions whose top candidate is the expected article.
    top_right: usize,
}

/// Where the feature rows go, and the name of the set being asked.
struct Sink {
    rows: Option<std::io::BufWriter<std::fs::File>>,
    set: String,
}

async fn ask(
    responder: &KnowledgeResponder,
    cases: &[Case],
    options: &Options,
    tally: &mut Tally,
    sink: &mut Sink,
) -> anyhow::Result<()> {
    use std::io::Write;
    // As the hub ranks once the sentence encoder has encoded every passage.
    responder.knowledge().encoded("faq").await?;
    for case in cases {
        let question = case.question("faq", options.min_confidence);
        let response = responder
            .respond(&question, &NoDeltas)
            .await
            .map_err(|err| err.to_string());
        let verdict = Verdict::of(case, &response);
        tally.summary.add(case, verdict);
        let candidate = candidate(responder.knowledge(), "faq", &case.question).await?;
        let top = candidate.as_ref().map(|c| c.source.title.as_str());
        let top_right = case.expected_article.is_some() && top == case.expected_article.as_deref();
        tally.top_right += usize::from(top_right);
        if let (Some(rows), Some(c)) = (&mut sink.rows, &candidate) {
            let f = c.features;
            writeln!(
                rows,
                "{},{},{},{},{},{},{},{}",
                sink.set,
                u8::from(case.expected_article.is_some()),
                u8::from(top_right),
                f.coverage,
                f.unknown,
                f.margin,
                f.strength,
                f.title_match
            )?;
        }
        if matches!(verdict, Verdict::Correct | Verdict::Refused) {
            continue;
        }
        if verdict == Verdict::Missed && top == case.expected_article.as_deref() {
            tally.declined_top_right += 1;
        }
        if options.verbose {
            let confidence = candidate.as_ref().map_or(0.0, |c| c.confidence);
            println!(
                "{:<11} {confidence:.2} {:?} top={top:?} expected={:?}",
                verdict.as_str(),
                case.question,
                case.expected_article
            );
        }
    }
    Ok(())
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{part} ({:.1}%)", part as f64 * 100.0 / whole as f64)
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let mut articles = faq_articles(&options.path)?;
    anyhow::ensure!(!articles.is_empty(), "no FAQ entries");
    let titles: Vec<String> = articles.iter().map(|a| a.title.clone()).collect();
    let mut answerable = paraphrases(&options.path, &titles)?;
    if options.sections {
        let (grouped, holder) = sectioned(&articles);
        articles = grouped;
        for case in answerable.iter_mut().flatten() {
            case.expected_article = case
                .expected_article
                .as_ref()
                .and_then(|title| holder.get(title).cloned());
        }
    }
    let unrelated = match &options.oos {
        Some(path) => out_of_scope(path)?,
        None => Default::default(),
    };
    let whole = responder(articles.clone());
    println!(
        "{} articles, threshold {:.2}\n",
        articles.len(),
        options.min_confidence
    );
    let mut sink = Sink {
        rows: match &options.features {
            Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
            None => None,
        },
        set: String::new(),
    };
    println!(
        "| set | answerable | right article | wrong article | declined (top was right) | top right | out of scope declined | near misses declined |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (half, name) in HALVES.iter().enumerate() {
        let mut tally = Tally::default();
        sink.set = format!("faq-{half}");
        ask(&whole, &answerable[half], &options, &mut tally, &mut sink).await?;
        sink.set = format!("oos-{half}");
        ask(&whole, &unrelated[half], &options, &mut tally, &mut sink).await?;
        // Near misses: each entry's paraphrases asked without the entry.
        let mut near = Tally::default();
        let mut by_article: BTreeMap<&str, Vec<Case>> = BTreeMap::new();
        // (A section's paraphrases asked without the section: not measured on sections.)
        let near_misses = if options.sections {
            &[][..]
        } else {
            &answerable[half][..]
        };
        for case in near_misses {
            if let Some(title) = &case.expected_article {
                by_article.entry(title).or_default().push(Case {
                    question: case.question.clone(),
                    expected_article: None,
                });
            }
        }
        for (title, cases) in by_article {
            let without: Vec<ArticleDoc> = articles
                .iter()
                .filter(|a| a.title != title)
                .cloned()
                .collect();
            sink.set = format!("near-{half}");
            ask(&responder(without), &cases, &options, &mut near, &mut sink).await?;
        }
        let near = (!options.sections).then_some(&near);
        print_row(&format!("FAQ, {name}"), &tally, near);
    }
    // The demo knowledge base the confidence was first fitted on: it must not get worse.
    let demo = responder(crate::retrieval::demo_articles()?);
    for file in ["answers.jsonl", "answers-holdout.jsonl"] {
        let path = crate::retrieval::fixtures().join("eval").join(file);
        let cases = switchboard_ai::eval::parse_cases(&std::fs::read_to_string(path)?)?;
        let mut tally = Tally::default();
        sink.set = format!("demo-{file}");
        ask(&demo, &cases, &options, &mut tally, &mut sink).await?;
        print_row(&format!("demo, `{file}`"), &tally, None);
    }
    // The same out-of-scope questions asked of the demo knowledge base: a product's knowledge
    // base declines them too.
    for (half, name) in HALVES.iter().enumerate() {
        let mut tally = Tally::default();
        sink.set = format!("demo-oos-{half}");
        ask(&demo, &unrelated[half], &options, &mut tally, &mut sink).await?;
        print_row(&format!("demo, out of scope, {name}"), &tally, None);
    }
    Ok(())
}

fn print_row(name: &str, tally: &Tally, near: Option<&Tally>) {
    let s = &tally.summary;
    println!(
        "| {name} | {} | {} | {} | {} ({}) | {} | {} | {} |",
        s.answerable,
        percent(s.correct, s.answerable),
        percent(s.wrong, s.answerable),
        percent(s.missed, s.answerable),
        tally.declined_top_right,
        percent(tally.top_right, s.answerable),
        percent(s.refused, s.unanswerable),
        near.map_or("-".into(), |near| percent(
            near.summary.refused,
            near.summary.unanswerable
        )),
    );
}
