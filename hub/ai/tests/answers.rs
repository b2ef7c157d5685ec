//! The offline responder on the demo knowledge base and the evaluation questions: how often it
//! cites the right article, how often it answers wrongly, how often it declines what the
//! knowledge base does not cover. The thresholds below are the measured figures with a margin
//! (BENCHMARKS.md records the figures).

mod support;

use support::{FixtureSource, fixture_dir, offline_responder, offline_responder_over};
use switchboard_ai::{
    eval::{Case, Summary, Verdict, parse_cases},
    index::Knowledge,
    offline::{Features, MAX_SENTENCES},
    text,
};
use switchboard_model::{NoDeltas, Question, Responder, Response};

const MIN_CONFIDENCE: f64 = 0.5;

fn question(org: &str, text: &str) -> Question {
    Question {
        org_id: org.into(),
        inbox_id: "inbox".into(),
        conversation_id: "conversation".into(),
        text: text.into(),
        history: Vec::new(),
        min_confidence: MIN_CONFIDENCE,
        knowledge_stamp: None,
        received_at: None,
    }
}

async fn evaluate(file: &str) -> Summary {
    evaluate_over(
        FixtureSource::demo(),
        &fixture_dir().join("eval").join(file),
    )
    .await
}

/// A knowledge base of `tests/fixtures/` (its `kb/` folder and `questions.jsonl`), written for
/// issue 24 and never tuned on.
fn other_kb(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

async fn evaluate_over(source: FixtureSource, questions: &std::path::Path) -> Summary {
    let (responder, knowledge) = offline_responder_over(None, source).await;
    let text = std::fs::read_to_string(questions).expect("reads");
    let cases = parse_cases(&text).expect("parses");
    let mut summary = Summary::default();
    let index = knowledge.index("demo").await.expect("index");
    println!("house name: {:?}", index.house());
    for case in &cases {
        let response = responder
            .respond(&question("demo", &case.question), &NoDeltas)
            .await
            .map_err(|err| err.to_string());
        let verdict = Verdict::of(case, &response);
        let retrieval = knowledge
            .search(&index, &case.question, 5)
            .await
            .expect("searches");
        let features = Features::of(&retrieval).unwrap_or_default();
        let top = retrieval
            .hits
            .first()
            .map(|h| h.passage.title.clone())
            .unwrap_or_default();
        let unknown: Vec<_> = retrieval
            .terms
            .iter()
            .filter(|t| t.doc_freq == 0)
            .map(|t| t.term.clone())
            .collect();
        let near: Vec<_> = retrieval
            .terms
            .iter()
            .filter(|t| t.closeness > 0.0)
            .map(|t| format!("{}~{}({:.2})", t.term, t.synonyms.join("/"), t.closeness))
            .collect();
        println!(
            "{:<11} conf={:.2} cov={:.2} unk={:.2} mar={:.2} str={:.2} tm={:.2} cos={:.2} cosmar={:.2} top={top:?} unknown={unknown:?} near={near:?} q={:?} expected={:?}",
            verdict.as_str(),
            features.confidence(),
            features.coverage,
            features.unknown,
            features.margin,
            features.strength,
            features.title_match,
            features.dense.unwrap_or_default().cosine,
            features.dense.unwrap_or_default().margin,
            case.question,
            case.expected_article
        );
        if let Ok(dir) = std::env::var("SWITCHBOARD_ANSWERS_DUMP") {
            dump(&dir, questions, case, &features, &retrieval);
        }
        summary.add(case, verdict);
    }
    println!("{summary:?}");
    summary
}

/// Appends a question's retrieval as a JSON line to `dir/<set>.jsonl`, to fit the confidence
/// on (`SWITCHBOARD_ANSWERS_DUMP=dir`; BENCHMARKS.md, "AI answers on knowledge it was not
/// tuned on").
fn dump(
    dir: &str,
    questions: &std::path::Path,
    case: &switchboard_ai::eval::Case,
    features: &Features,
    retrieval: &switchboard_ai::index::Retrieval,
) {
    use std::io::Write;
    let set = questions
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let set = format!(
        "{set}-{}",
        questions.file_stem().unwrap_or_default().to_string_lossy()
    );
    let terms: Vec<_> = retrieval
        .terms
        .iter()
        .map(|t| {
            serde_json::json!({
                "term": t.term, "idf": t.idf, "doc_freq": t.doc_freq, "held": t.held,
                "everyday": t.everyday, "variants": t.variants.len(),
                "synonyms": t.synonyms.len(), "closeness": t.closeness,
            })
        })
        .collect();
    let hits: Vec<_> = retrieval
        .hits
        .iter()
        .map(|h| {
            serde_json::json!({
                "title": h.passage.title, "article": h.passage.article_id,
                "heading": h.passage.heading, "score": h.score, "cosine": h.cosine,
                "sentence": h.sentence, "matched": h.matched, "title_match": h.title_match,
            })
        })
        .collect();
    let line = serde_json::json!({
        "question": case.question,
        "expected": case.expected_article,
        "confidence": features.confidence(),
        "coverage": features.coverage,
        "unknown": features.unknown,
        "margin": features.margin,
        "dense_margin": retrieval.dense_margin,
        "terms": terms,
        "hits": hits,
    });
    std::fs::create_dir_all(dir).expect("dump folder");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(dir).join(format!("{set}.jsonl")))
        .expect("dump file");
    writeln!(file, "{line}").expect("writes");
}

#[tokio::test]
async fn the_demo_questions_are_answered_from_the_right_article() {
    let summary = evaluate("answers.jsonl").await;
    assert_eq!(summary.answerable, 40);
    assert_eq!(summary.unanswerable, 7);
    // Measured: 36/40 correct, 3 wrong, 1 declined; 7/7 refused (before the company's name
    // was taken out of questions: 6/7, student discounts answered; before the passages'
    // sentences were encoded: 35/40, 4 wrong; before the sentence encoder: 35/40, 4 wrong, 1
    // declined, 7/7; before issue 24's third round: 35/40, 3 wrong).
    assert_bars(&summary, 0.85, 5, 6.0 / 7.0);
}

#[tokio::test]
async fn the_held_out_questions_are_answered_from_the_right_article() {
    let summary = evaluate("answers-holdout.jsonl").await;
    // Measured: 29/31 correct, 0 wrong, 2 declined; 6/7 refused (before the sentence encoder:
    // 27/31, 2 wrong; before issue 24's third round: 26/31; before the thesaurus: 27/31).
    assert_bars(&summary, 0.9, 2, 6.0 / 7.0);
}

/// The bars a knowledge base's figures keep: the right article for at least `correct` of the
/// answerable questions, at most `wrong` wrong answers, at least `refused` of the rest declined.
fn assert_bars(summary: &Summary, correct: f64, wrong: usize, refused: f64) {
    assert!(summary.correct_rate() >= correct, "{summary:?}");
    assert!(summary.wrong + summary.overreached <= wrong, "{summary:?}");
    assert!(summary.refusal_rate() >= refused, "{summary:?}");
}

async fn evaluate_other(name: &str) -> Summary {
    let dir = other_kb(name);
    let summary = evaluate_over(
        FixtureSource::from_dir(&dir.join("kb")),
        &dir.join("questions.jsonl"),
    )
    .await;
    assert_eq!(summary.answerable, 32);
    assert_eq!(summary.unanswerable, 12);
    summary
}

/// Generalization: knowledge bases of other products, written for issue 24 (BENCHMARKS.md, "AI
/// answers on knowledge it was not tuned on"). An invoicing app's: written before any change,
/// then used as a tuning set (its misses were read, and the confidence's weights were searched
/// on it too).
#[tokio::test]
async fn an_invoicing_apps_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("tallybook").await;
    // Measured: 28/32 correct, 2 wrong, 2 declined; 12/12 refused (before the passages'
    // sentences were encoded: 27/32; before the sentence encoder: 25/32, 4 wrong, 11/12; before
    // the word vectors: 24/32; before the thesaurus: 9/32).
    assert_bars(&summary, 0.8, 4, 11.0 / 12.0);
}

/// A file-storage service's: written after the thesaurus and before the rest, and held out from
/// all tuning (its per-question lines were not read while tuning).
#[tokio::test]
async fn a_file_storage_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("driftbox").await;
    // Measured: 27/32 correct, 1 wrong, 4 declined; 11/12 refused (before the company's name
    // was taken out of questions: 26/32, 2 wrong, 9/12, the company's stock price and hosting a website
    // answered from the pricing and uploading articles; before the passages' sentences were
    // encoded: 24/32; before the sentence encoder: 22/32, 3 wrong, 12/12; before the word
    // vectors: 20/32; before the thesaurus: 8/32). The one answered is a near miss: student
    // pricing, from the pricing article.
    assert_bars(&summary, 0.78, 4, 10.0 / 12.0);
}

/// A food-delivery service's: written for issue 24's third round after the fitness app's, and
/// used for tuning (its misses were read).
#[tokio::test]
async fn a_food_delivery_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("forkly").await;
    // Measured: 14/32 correct, 1 wrong, 17 declined; 12/12 refused (before the sentence
    // encoder: 12/32, 2 wrong; before the word vectors: 10/32; when written: 9/32). Its
    // customers' words ("driver", "pizza", "beer") are not the articles' ("courier", "dish",
    // "alcohol"); retrieval by the whole question's meaning ranks the right article first for
    // 19 of the 32 (lexical: 17), and most of those are declined as unsure.
    assert_bars(&summary, 0.4, 2, 11.0 / 12.0);
}

/// A fitness app's: written for issue 24's third round before any change of that round, and
/// held out from its tuning (only its summary was read); its misses were read in the fourth
/// round's study of the confidence, which changed nothing.
#[tokio::test]
async fn a_fitness_apps_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("stridewell").await;
    // Measured: 22/32 correct, 1 wrong, 9 declined; 11/12 refused (before the passages'
    // sentences were encoded: 21/32; before the sentence encoder: 15/32, 3 wrong, 12/12; before
    // the word vectors: 9/32; when written: 7/32).
    assert_bars(&summary, 0.65, 3, 10.0 / 12.0);
}

/// An energy supplier's: written before the static word vectors, and held out from their
/// tuning (only its summary was read, at the end); its misses were read like the fitness
/// app's.
#[tokio::test]
async fn an_energy_suppliers_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("brightwatt").await;
    // Measured: 10/32 correct, 1 wrong, 21 declined; 11/12 refused (before the passages'
    // sentences were encoded: 11/32, though the right article now ranks first for 26 of the 32
    // against 19: the confidence declines them; before the sentence encoder: 5/32, 1 wrong;
    // before the word vectors: 4/32; 11/12).
    assert_bars(&summary, 0.3, 2, 10.0 / 12.0);
}

/// A courier's: written blind for issue 24's fourth round (by someone who had not read the
/// responder or the other question sets), measured before any change of that round, and held
/// out from its tuning (only its summary was read).
#[tokio::test]
async fn a_couriers_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("parcelhop").await;
    // Measured: 19/32 correct, 2 wrong, 11 declined; 12/12 refused (the right article ranks
    // first for 28 of the 32). Before the company's name was taken out of questions: 20/32:
    // "how do I get rid of my parcelhop account" had its sentence cosine from the name.
    assert_bars(&summary, 0.59, 3, 11.0 / 12.0);
}

/// A pet-supplies shop's: written and held out like the courier's.
#[tokio::test]
async fn a_pet_shops_knowledge_base_is_answered_from_the_right_article() {
    let summary = evaluate_other("pawsome").await;
    // Measured: 21/32 correct, 1 wrong, 10 declined; 12/12 refused (the right article ranks
    // first for 26 of the 32).
    assert_bars(&summary, 0.6, 2, 11.0 / 12.0);
}

#[tokio::test]
async fn an_empty_knowledge_base_declines_everything() {
    let knowledge = std::sync::Arc::new(Knowledge::new(
        None,
        std::sync::Arc::new(FixtureSource::empty()),
    ));
    let responder = switchboard_ai::responder::KnowledgeResponder::new(
        knowledge,
        switchboard_ai::responder::Engine::Offline,
    );
    let response = responder
        .respond(&question("demo", "How do I reset my password?"), &NoDeltas)
        .await
        .expect("responds");
    assert!(matches!(
        response,
        switchboard_model::Response::Declined { .. }
    ));
}

/// The answer's quoted sentences and its source line.
fn quoted(response: &Response) -> Option<(Vec<String>, &str)> {
    let Response::Answered(answer) = response else {
        return None;
    };
    let (body, source) = answer.text.rsplit_once("\n\nSource: ")?;
    Some((text::sentences(body), source))
}

#[tokio::test]
async fn an_answer_quotes_the_sentence_that_answers_not_the_passage() {
    let (responder, _) = offline_responder(None).await;
    let response = responder
        .respond(&question("demo", "How long does a refund take?"), &NoDeltas)
        .await
        .expect("responds");
    let (sentences, source) = quoted(&response).expect("answered, with a source line");
    println!("{sentences:#?}");
    assert_eq!(source, "Refund policy");
    assert!(
        sentences
            .iter()
            .any(|s| s.contains("a refund takes 5 to 10 business days")),
        "{sentences:?}"
    );
    assert!(sentences.len() <= 2, "{sentences:?}");
}

#[tokio::test]
async fn every_answer_is_at_most_three_sentences_with_its_source() {
    let (responder, _) = offline_responder(None).await;
    let mut answered = 0;
    for file in ["answers.jsonl", "answers-holdout.jsonl"] {
        let text = std::fs::read_to_string(fixture_dir().join("eval").join(file)).expect("reads");
        for case in parse_cases(&text).expect("parses") {
            let response = responder
                .respond(&question("demo", &case.question), &NoDeltas)
                .await
                .expect("responds");
            if !matches!(response, Response::Answered(_)) {
                continue;
            }
            let (sentences, source) = quoted(&response).expect("a source line");
            assert!(
                (1..=MAX_SENTENCES).contains(&sentences.len()) && !source.is_empty(),
                "{:?}: {sentences:?}",
                case.question
            );
            answered += 1;
        }
    }
    assert!(answered >= 60, "only {answered} answered");
}

#[tokio::test]
async fn a_misspelled_question_is_answered_from_the_article_it_means() {
    let (responder, knowledge) = offline_responder(None).await;
    let index = knowledge.index("demo").await.expect("index");
    let retrieval = knowledge
        .search(&index, "How do I turn on two-factor authentification?", 5)
        .await
        .expect("searches");
    let misspelled = retrieval
        .terms
        .iter()
        .find(|t| t.term.starts_with("authentif"))
        .expect("the term");
    assert!(
        misspelled.doc_freq > 0 && !misspelled.variants.is_empty(),
        "{misspelled:?}"
    );
    let response = responder
        .respond(
            &question("demo", "How do I turn on two-factor authentification?"),
            &NoDeltas,
        )
        .await
        .expect("responds");
    let (_, source) = quoted(&response).expect("answered");
    assert_eq!(source, "Two-factor authentication (2FA)");
}

/// A question in the customer's words ("customer", "yearly") finds the article written in the
/// authors' ("client", "annual"), with confidence, through the thesaurus; without the
/// synonyms the same question has a term the knowledge base never uses, counted as unknown.
#[tokio::test]
async fn a_question_in_other_words_finds_the_article_through_synonyms() {
    let source = FixtureSource::empty();
    for (id, title, body) in [
        (
            "billing",
            "Paying for your plan",
            "## Annual billing\n\nPaying annually costs the same as ten months.",
        ),
        (
            "clients",
            "Managing clients",
            "## Adding clients\n\nAdd a client with their name and address.",
        ),
    ] {
        source.put(switchboard_ai::article::ArticleDoc {
            id: id.into(),
            title: title.into(),
            category: None,
            tags: Vec::new(),
            body: body.into(),
            version: 1,
        });
    }
    let (responder, knowledge) = offline_responder_over(None, source).await;
    let index = knowledge.index("demo").await.expect("index");
    let retrieval = knowledge
        .search(&index, "Is yearly billing cheaper?", 5)
        .await
        .expect("searches");
    let yearly = retrieval
        .terms
        .iter()
        .find(|t| t.term.starts_with("year"))
        .expect("the term");
    assert!(
        !yearly.held && yearly.synonyms.contains(&"annual".to_owned()),
        "{yearly:?}"
    );
    let response = responder
        .respond(&question("demo", "How do I add a new customer?"), &NoDeltas)
        .await
        .expect("responds");
    let (_, source) = quoted(&response).expect("answered");
    assert_eq!(source, "Managing clients");
}

/// A message of everyday words alone matches no topic, whatever the knowledge base holds.
#[tokio::test]
async fn everyday_words_alone_are_not_answered() {
    let (responder, _) = offline_responder(None).await;
    for text in [
        "how do i get better at go",
        "I tried again yesterday, same thing",
    ] {
        let response = responder
            .respond(&question("demo", text), &NoDeltas)
            .await
            .expect("responds");
        assert!(
            matches!(response, Response::Declined { .. }),
            "{text}: {response:?}"
        );
    }
}

/// The company's own name, which a question is searched without (`house.rs`), is found in the
/// knowledge bases that repeat it through their articles, and a question that names it is
/// answered by what else it says.
#[tokio::test]
async fn the_company_name_is_found_in_the_articles_and_a_question_is_searched_without_it() {
    let mut found = Vec::new();
    for name in [
        "brightwatt",
        "driftbox",
        "forkly",
        "parcelhop",
        "pawsome",
        "stridewell",
        "tallybook",
    ] {
        let source = FixtureSource::from_dir(&other_kb(name).join("kb"));
        let knowledge = Knowledge::new(None, std::sync::Arc::new(source));
        let index = knowledge.index("demo").await.expect("index");
        found.push((name, index.house()));
    }
    // The pet shop names itself in four of its fourteen articles, mostly in their titles.
    let expected: Vec<_> = [
        "brightwatt",
        "driftbox",
        "forkly",
        "parcelhop",
        "",
        "stridewell",
    ]
    .into_iter()
    .chain(["tallybook"])
    .map(|name| (!name.is_empty()).then(|| name.to_owned()))
    .collect();
    assert_eq!(
        found
            .iter()
            .map(|(_, house)| house.clone())
            .collect::<Vec<_>>(),
        expected,
        "{found:?}"
    );
    // Before (BENCHMARKS.md, issue 24): the two questions about the company were answered
    // with confidences of 0.70 and 0.65 from articles that merely name it, and the question
    // with its name ranked the plans' article first.
    let dir = other_kb("driftbox");
    let (responder, _) =
        offline_responder_over(None, FixtureSource::from_dir(&dir.join("kb"))).await;
    for (text, expected) in [
        ("Can I host a website on Driftbox?", None),
        ("What is the stock price of Driftbox?", None),
        (
            "What's the biggest file I can put in Driftbox?",
            Some("Uploading files"),
        ),
    ] {
        let case = Case {
            question: text.into(),
            expected_article: expected.map(str::to_owned),
        };
        let response = responder
            .respond(&question("demo", text), &NoDeltas)
            .await
            .map_err(|err| err.to_string());
        let verdict = Verdict::of(&case, &response);
        let want = if expected.is_some() {
            Verdict::Correct
        } else {
            Verdict::Refused
        };
        assert_eq!(verdict, want, "{text}: {response:?}");
    }
}
