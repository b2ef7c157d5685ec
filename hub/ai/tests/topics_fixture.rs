//! The topic classifier on our own labelled fixture (10 topics × 30 rows and 30 out-of-scope
//! rows to train; a separate test file it never sees): accuracy, macro-F1 and how many
//! out-of-scope questions come out unknown, plus the stored form.

use switchboard_ai::{
    labelled,
    topics::{self, TopicModel, TrainConfig},
};

fn read(name: &str) -> Vec<topics::Example> {
    let path = format!(
        "{}/../../fixtures/topics/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    labelled::read(std::fs::File::open(path).expect("fixture exists"))
        .expect("fixture parses")
        .into_iter()
        .map(topics::Example::from)
        .collect()
}

#[test]
fn a_model_trained_on_the_fixture_classifies_its_test_file() {
    let model = topics::train(&read("train.csv"), &TrainConfig::default()).expect("trains");
    assert_eq!(model.topics().len(), 10);
    let report = model.report();
    assert_eq!(report.rows, 330);
    assert!(report.heldout_unknown_recall.is_some());
    let test = read("test.csv");
    let predictions: Vec<_> = test.iter().map(|row| model.predict(&row.text)).collect();
    if std::env::var_os("SHOW_MISSES").is_some() {
        for (row, p) in test.iter().zip(&predictions) {
            if p.label != row.label && !(p.is_unknown() && topics::is_unknown_label(&row.label)) {
                eprintln!(
                    "{} as {} ({:.2}): {}",
                    row.label, p.label, p.probability, row.text
                );
            }
        }
    }
    let result = topics::evaluate(
        predictions
            .iter()
            .zip(&test)
            .map(|(p, row)| (p.label.as_str(), row.label.as_str())),
    );
    eprintln!("{result:?} threshold {}", model.unknown_threshold());
    assert!(result.in_scope_accuracy >= 0.80, "{result:?}");
    assert!(
        result.unknown_recall.expect("has oos rows") >= 0.6,
        "{result:?}"
    );
    assert!(result.macro_f1 >= 0.78, "{result:?}");
    for p in &predictions {
        assert!((0.0..=1.0).contains(&p.probability));
    }
}

#[test]
fn the_stored_model_predicts_like_the_trained_one() {
    let model = topics::train(&read("train.csv"), &TrainConfig::default()).expect("trains");
    let bytes = model.to_bytes();
    let back = TopicModel::from_bytes(&bytes).expect("reads back");
    let test = read("test.csv");
    for row in &test {
        assert_eq!(
            model.predict(&row.text).label,
            back.predict(&row.text).label,
            "{}",
            row.text
        );
    }
    assert_eq!(back.report().rows, model.report().rows);
    eprintln!("stored model: {} bytes", bytes.len());
}
