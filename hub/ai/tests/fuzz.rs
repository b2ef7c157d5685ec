//! The AI crate's parsers of outside input under fuzzing (the test kit's `fuzz`): knowledge-base
//! articles with their front matter (`kb import`) and the passages cut from them, the
//! `text,label` CSV files of `topics train` and `eval`, the JSON lines of `eval answers`, and
//! what reads a customer's words before a model does (redaction, sentiment, search terms).

use std::path::PathBuf;

use switchboard_ai::{
    article::{ArticleDoc, ParsedMarkdown, parse_markdown, passages},
    eval::parse_cases,
    labelled, pii, sentiment, text,
};
use switchboard_testkit::fuzz;

fn fixture(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn demo_articles() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kb/demo");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the demo knowledge base")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("an article"))
        .collect()
}

/// What an import keeps of a parsed file, with the body's line ends made `\n`.
fn kept(parsed: ParsedMarkdown) -> ParsedMarkdown {
    ParsedMarkdown {
        body: parsed.body.replace("\r\n", "\n"),
        ..parsed
    }
}

/// A file parses to the same article whether its lines end in `\n` or `\r\n`, and what
/// parses has a title and distinct, non-empty tags.
fn front_matter_holds(text: &str) -> Result<(), String> {
    let unix = text.replace('\r', "");
    let windows = unix.replace('\n', "\r\n");
    let parsed = parse_markdown(&unix);
    let parsed_windows = parse_markdown(&windows).map(kept);
    if parsed != parsed_windows {
        return Err(format!("`\\n`: {parsed:?}\n`\\r\\n`: {parsed_windows:?}"));
    }
    if let Ok(parsed) = parse_markdown(text) {
        let mut tags = parsed.tags.clone();
        tags.sort();
        tags.dedup();
        if parsed.title.trim().is_empty()
            || tags.len() != parsed.tags.len()
            || tags.iter().any(String::is_empty)
        {
            return Err(format!("{parsed:?}"));
        }
    }
    Ok(())
}

#[test]
fn fuzz_front_matter_parses_the_same_whatever_the_line_ends() {
    let articles = demo_articles();
    let mut seeds: Vec<&str> = articles.iter().map(String::as_str).collect();
    seeds.push("---\ntitle: \"Billing: plans\"\ncategory: Billing\ntags: [a, \"b c\", a]\n---\n\n## One\nText\n");
    seeds.push("\u{feff}---\ntitle: T\ntags:\n  - x\n  - y\n---\nBody");
    fuzz::check_text(&seeds, front_matter_holds);
}

/// Passages are cut from any body: none is empty, and their ordinals count from 0.
#[test]
fn fuzz_articles_are_cut_into_passages() {
    let articles = demo_articles();
    let seeds: Vec<&str> = articles.iter().map(String::as_str).collect();
    fuzz::check_text(&seeds, |body| {
        let article = ArticleDoc {
            id: "a".into(),
            title: "T".into(),
            category: None,
            tags: Vec::new(),
            body: body.to_owned(),
            version: 1,
        };
        let cut = passages(&article);
        for (at, passage) in cut.iter().enumerate() {
            if passage.text.is_empty() || passage.ordinal != at {
                return Err(format!("passage {at}: {passage:?}"));
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_labelled_csv_files_are_read_or_refused() {
    let train = fixture("topics/train.csv");
    let sentiment = fixture("eval/sentiment-holdout.csv");
    fuzz::check_bytes(
        &[
            train.as_bytes(),
            sentiment.as_bytes(),
            b"text,label\n\"a \"\"quoted\"\"\nline\",x\n",
        ],
        |bytes| match labelled::read(bytes) {
            Ok(rows) if rows.is_empty() || rows.iter().any(|row| row.label.trim().is_empty()) => {
                Err(format!("rows without labels: {rows:?}"))
            }
            _ => Ok(()),
        },
    );
}

#[test]
fn fuzz_eval_answer_cases_are_read_or_refused() {
    let answers = fixture("eval/answers.jsonl");
    fuzz::check_text(&[&answers], |text| match parse_cases(text) {
        Ok(cases) if cases.iter().any(|case| case.question.trim().is_empty()) => {
            Err(format!("a case without a question: {cases:?}"))
        }
        _ => Ok(()),
    });
}

/// A customer's words through everything that reads them before a model or the index does.
#[test]
fn fuzz_customer_text_is_read_without_panicking() {
    let analyzer = std::cell::RefCell::new(text::analyzer());
    fuzz::check_text(
        &[
            "I was charged twice!!! Card 4111 1111 1111 1111, call me on +44 20 7946 0958 or ann@example.com",
            "Still not working... thanks a lot :( Where is my parcel? ¿Dónde está mi paquete?",
        ],
        |customer| {
            // The scorers take time in proportion to the text (about 15 µs a byte in a debug
            // build); a longer text reaches no other path, so the default run stays short.
            let customer: String = customer.chars().take(1000).collect();
            let customer = customer.as_str();
            let _ = pii::redact(customer);
            let _ = pii::without_pii(customer);
            let _ = sentiment::message_score(customer);
            let _ = text::sentences(customer);
            let _ = text::distinct_terms(&mut analyzer.borrow_mut(), customer);
            Ok(())
        },
    );
}
