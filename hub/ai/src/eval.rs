//! Measuring a responder on a question set: the `{"question", "expected_article"}` lines of
//! `switchboard eval answers`, what counts as right, and the totals.

use serde::{Deserialize, Serialize};
use switchboard_model::{Question, Response, Source};

/// One line of an evaluation file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Case {
    pub question: String,
    /// The title of the article that answers it; `null`: the knowledge base must not answer.
    pub expected_article: Option<String>,
}

impl Case {
    /// The case as a responder is asked it: the first message of no conversation in particular,
    /// judged at `min_confidence`.
    pub fn question(&self, org_id: &str, min_confidence: f64) -> Question {
        Question {
            org_id: org_id.to_owned(),
            inbox_id: String::new(),
            conversation_id: String::new(),
            text: self.question.clone(),
            history: Vec::new(),
            min_confidence,
            knowledge_stamp: None,
            received_at: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CaseError {
    pub line: usize,
    pub reason: String,
}

/// Parses JSON lines; blank lines are skipped.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, CaseError> {
    let mut cases = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|err| CaseError {
            line: number + 1,
            reason: err.to_string(),
        })?;
        if case.question.trim().is_empty() {
            return Err(CaseError {
                line: number + 1,
                reason: "`question` is empty".into(),
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// How one question went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Answered, citing the expected article.
    Correct,
    /// Answered without citing the expected article.
    Wrong,
    /// Declined although the knowledge base answers it.
    Missed,
    /// Declined, as it should.
    Refused,
    /// Answered although the knowledge base does not cover it.
    Overreached,
    /// The responder failed.
    Error,
}

impl Verdict {
    pub fn of(case: &Case, response: &Result<Response, String>) -> Verdict {
        match (response, &case.expected_article) {
            (Err(_), _) => Verdict::Error,
            (Ok(Response::Answered(answer)), Some(expected)) => {
                if cites(&answer.sources, expected) {
                    Verdict::Correct
                } else {
                    Verdict::Wrong
                }
            }
            (Ok(Response::Answered(_)), None) => Verdict::Overreached,
            (Ok(Response::Declined { .. }), Some(_)) => Verdict::Missed,
            (Ok(Response::Declined { .. }), None) => Verdict::Refused,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Wrong => "wrong",
            Verdict::Missed => "missed",
            Verdict::Refused => "refused",
            Verdict::Overreached => "overreached",
            Verdict::Error => "error",
        }
    }
}

fn cites(sources: &[Source], title: &str) -> bool {
    let wanted = title.trim().to_lowercase();
    sources
        .iter()
        .any(|source| source.title.trim().to_lowercase() == wanted)
}

/// Totals over a question set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub answerable: usize,
    pub correct: usize,
    pub wrong: usize,
    pub missed: usize,
    pub unanswerable: usize,
    pub refused: usize,
    pub overreached: usize,
    pub errors: usize,
}

impl Summary {
    pub fn add(&mut self, case: &Case, verdict: Verdict) {
        if case.expected_article.is_some() {
            self.answerable += 1;
        } else {
            self.unanswerable += 1;
        }
        match verdict {
            Verdict::Correct => self.correct += 1,
            Verdict::Wrong => self.wrong += 1,
            Verdict::Missed => self.missed += 1,
            Verdict::Refused => self.refused += 1,
            Verdict::Overreached => self.overreached += 1,
            Verdict::Error => self.errors += 1,
        }
    }

    /// Answerable questions answered citing the right article.
    pub fn correct_rate(&self) -> f64 {
        ratio(self.correct, self.answerable)
    }

    /// Answered questions (answerable or not) that were wrong or should not have been answered.
    pub fn wrong_rate(&self) -> f64 {
        ratio(
            self.wrong + self.overreached,
            self.correct + self.wrong + self.overreached,
        )
    }

    /// Unanswerable questions declined.
    pub fn refusal_rate(&self) -> f64 {
        ratio(self.refused, self.unanswerable)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
