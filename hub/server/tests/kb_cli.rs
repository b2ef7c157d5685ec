//! `switchboard kb import` and `switchboard eval answers` as an operator runs them.

use std::process::{Command, Output};

use serde_json::Value;

fn switchboard(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_LLM_BASE_URL")
        .env_remove("SWITCHBOARD_EMBEDDINGS_MODEL")
        .output()
        .expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn kb_import_publishes_updates_instead_of_duplicating_and_refuses_bad_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kb = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(kb.path().join("nested")).expect("mkdir");
    std::fs::write(
        kb.path().join("a.md"),
        "---\ntitle: Opening hours\ncategory: Support\ntags: [hours]\n---\n## Weekdays\n9 to 5.\n",
    )
    .expect("writes");
    std::fs::write(
        kb.path().join("nested/b.md"),
        "---\ntitle: \"Returns: how\"\n---\n## Returning\nSend it back.\n",
    )
    .expect("writes");
    std::fs::write(kb.path().join("notes.txt"), "not markdown").expect("writes");
    assert!(
        switchboard(dir.path(), &["org", "add", "acme"])
            .status
            .success()
    );

    let path = kb.path().to_str().expect("utf-8");
    let first = switchboard(dir.path(), &["kb", "import", path, "--org", "acme"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("2 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&first)
    );

    std::fs::write(
        kb.path().join("a.md"),
        "---\ntitle: Opening hours\n---\n## Weekdays\n8 to 6.\n",
    )
    .expect("writes");
    let again = switchboard(dir.path(), &["kb", "import", path, "--org", "acme"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("0 created, 1 updated, 1 unchanged"),
        "{}",
        stdout(&again)
    );

    std::fs::write(
        kb.path().join("bad.md"),
        "---\ncategory: x\n---\nno title\n",
    )
    .expect("writes");
    let bad = switchboard(dir.path(), &["kb", "import", path, "--org", "acme"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("bad.md"), "{}", stderr(&bad));
    assert_eq!(stderr(&bad).lines().count(), 1);

    let unknown = switchboard(dir.path(), &["kb", "import", path, "--org", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn eval_answers_prints_a_table_with_totals_or_one_json_object_per_question() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        switchboard(dir.path(), &["org", "add", "acme"])
            .status
            .success()
    );
    let kb = fixtures().join("kb/demo");
    let import = switchboard(
        dir.path(),
        &["kb", "import", kb.to_str().expect("utf-8"), "--org", "acme"],
    );
    assert!(import.status.success(), "{}", stderr(&import));
    let questions = fixtures().join("eval/answers.jsonl");
    let questions = questions.to_str().expect("utf-8");

    let table = switchboard(dir.path(), &["eval", "answers", questions, "--org", "acme"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("answerable: 40"), "{text}");
    assert!(text.contains("unanswerable: 7"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("refused") && l.contains("Japan")),
        "{text}"
    );

    let json = switchboard(
        dir.path(),
        &["eval", "answers", questions, "--org", "acme", "--json"],
    );
    assert!(json.status.success(), "{}", stderr(&json));
    let lines: Vec<Value> = stdout(&json)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 47);
    let mut keys: Vec<_> = lines[0]
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "answer",
            "answered",
            "candidate",
            "confidence",
            "question",
            "sources"
        ]
    );
    let answered = lines.iter().filter(|l| l["answered"] == true).count();
    assert!(answered >= 30, "{answered}");
    let first_answered = lines.iter().find(|l| l["answered"] == true).expect("one");
    assert!(first_answered["sources"][0]["article_id"].is_string());
    assert!(first_answered["sources"][0]["title"].is_string());
    assert_eq!(
        first_answered["candidate"],
        Value::Null,
        "only beside a decline"
    );
    let japan = lines
        .iter()
        .find(|l| l["question"] == "Do you ship to Japan?")
        .expect("asked");
    assert_eq!(japan["answered"], false);
    assert_eq!(japan["answer"], Value::Null);
    // A decline names the article retrieval ranked first and how sure the responder was of it.
    let top = &japan["candidate"];
    assert_eq!(top["title"], "Shipping times, costs and regions", "{japan}");
    assert!(top["article_id"].is_string() && top["score"].as_f64() > Some(0.0));
    assert!(
        top["confidence"].as_f64().is_some_and(|c| c < 0.5),
        "{japan}"
    );

    let broken = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(broken.path(), "{\"question\": \"x\"}\nnot json\n").expect("writes");
    let bad = switchboard(
        dir.path(),
        &[
            "eval",
            "answers",
            broken.path().to_str().expect("utf-8"),
            "--org",
            "acme",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("line 2"), "{}", stderr(&bad));
}
