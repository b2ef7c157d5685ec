//! The built-in sentence encoder in retrieval: a question that shares no word with the article
//! that answers it, passages encoded in the background and again when an article changes, and
//! the vectors kept in the data dir.

mod support;

use std::{path::PathBuf, sync::Arc};

use support::FixtureSource;
use switchboard_ai::{
    article::ArticleDoc,
    index::Knowledge,
    responder::{Engine, KnowledgeResponder},
};
use switchboard_model::{NoDeltas, Question, Responder, Response};

fn energy_supplier() -> FixtureSource {
    FixtureSource::from_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/brightwatt/kb"),
    )
}

fn question(text: &str) -> Question {
    Question {
        org_id: "demo".into(),
        inbox_id: "inbox".into(),
        conversation_id: "conversation".into(),
        text: text.into(),
        history: Vec::new(),
        min_confidence: 0.5,
        knowledge_stamp: None,
        received_at: None,
    }
}

fn sources(response: &Response) -> Vec<String> {
    match response {
        Response::Answered(answer) => answer.sources.iter().map(|s| s.title.clone()).collect(),
        _ => Vec::new(),
    }
}

/// "Taken from my bank automatically" is a Direct Debit to anyone who has paid a bill, not to
/// BM25: the words alone do not answer, the meaning does.
#[tokio::test]
async fn a_question_in_other_words_than_the_articles_is_answered_by_its_meaning() {
    let text = "How do I get the money taken from my bank automatically each month?";
    let words = KnowledgeResponder::new(
        Arc::new(Knowledge::new(None, Arc::new(energy_supplier()))),
        Engine::Offline,
    );
    let by_words = words
        .respond(&question(text), &NoDeltas)
        .await
        .expect("responds");
    assert!(
        !sources(&by_words).contains(&"Paying by Direct Debit".to_owned()),
        "{by_words:?}"
    );
    let (meaning, _) = support::offline_responder_over(None, energy_supplier()).await;
    let by_meaning = meaning
        .respond(&question(text), &NoDeltas)
        .await
        .expect("responds");
    assert_eq!(
        sources(&by_meaning),
        ["Paying by Direct Debit"],
        "{by_meaning:?}"
    );
}

fn article(id: &str, title: &str, sections: &[(&str, &str)], version: i64) -> ArticleDoc {
    ArticleDoc {
        id: id.into(),
        title: title.into(),
        category: None,
        tags: Vec::new(),
        body: sections
            .iter()
            .map(|(heading, text)| format!("## {heading}\n\n{text}\n\n"))
            .collect(),
        version,
    }
}

#[tokio::test]
async fn passages_are_encoded_in_the_background_again_when_an_article_changes_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Arc::new(FixtureSource::empty());
    source.put(article(
        "refunds",
        "Refunds",
        &[(
            "How long a refund takes",
            "A refund reaches your card in 5 to 10 days.",
        )],
        1,
    ));
    source.put(article(
        "delivery",
        "Delivery",
        &[("Delivery times", "Parcels arrive within two working days.")],
        1,
    ));
    let knowledge = Knowledge::new(Some(dir.path()), source.clone()).with_encoder();
    let index = knowledge.encoded("demo").await.expect("encodes");
    let asked = "When will I get my money back?";
    let retrieval = knowledge.search(&index, asked, 5).await.expect("searches");
    assert!(!retrieval.provisional && retrieval.dense_margin.is_some());
    assert_eq!(retrieval.hits[0].passage.article_id, "refunds");
    assert!(retrieval.hits[0].cosine > 0.3, "{:?}", retrieval.hits[0]);
    assert!(dir.path().join("kb/demo/encoded.json").exists());

    // A new version, long enough that its encoding takes a while: meanwhile the index ranks by
    // words alone, and says so in the stamp answers are cached by.
    let filler: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("Courier note {i}"),
                format!("Couriers leave parcel number {i} with a neighbour if nobody answers."),
            )
        })
        .collect();
    let mut sections: Vec<(&str, &str)> = vec![(
        "Cash back",
        "We return your money to the card you paid with, in 5 to 10 days.",
    )];
    sections.extend(filler.iter().map(|(h, t)| (h.as_str(), t.as_str())));
    source.put(article("delivery", "Delivery", &sections, 2));
    let index = knowledge.index("demo").await.expect("indexes");
    let retrieval = knowledge.search(&index, asked, 5).await.expect("searches");
    assert!(!retrieval.provisional && retrieval.dense_margin.is_none());
    assert_eq!(knowledge.ranking(&index), index.stamp());
    let index = knowledge.encoded("demo").await.expect("encodes");
    let retrieval = knowledge.search(&index, asked, 5).await.expect("searches");
    assert!(!retrieval.provisional && retrieval.dense_margin.is_some());
    assert_eq!(
        knowledge.ranking(&index),
        format!("{}+meaning", index.stamp())
    );
    let cash_back = retrieval
        .hits
        .iter()
        .find(|hit| hit.passage.heading == "Cash back")
        .expect("the new passage is found");
    assert!(cash_back.cosine > 0.3, "{cash_back:?}");

    // The vectors are kept beside the index, by article and version, for the next start.
    let kept: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("kb/demo/encoded.json")).expect("reads"),
    )
    .expect("parses");
    assert_eq!(kept["delivery"][0], 2);
    assert_eq!(kept["delivery"][1].as_array().map(Vec::len), Some(41));
    assert_eq!(kept["refunds"][0], 1);
    let again = Knowledge::new(Some(dir.path()), source.clone()).with_encoder();
    let index = again.encoded("demo").await.expect("opens");
    let retrieval = again.search(&index, asked, 5).await.expect("searches");
    assert!(!retrieval.provisional && retrieval.dense_margin.is_some());
}
