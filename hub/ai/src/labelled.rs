//! Labelled `text,label` CSV files (RFC 4180, with a header line), as the CLI's `topics train`
//! and `eval` commands read them.

use crate::topics::Example;

/// One row of a labelled file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Where the row starts in the file (1 is the header), for error messages.
    pub line: u64,
    pub text: String,
    pub label: String,
}

impl From<Row> for Example {
    fn from(row: Row) -> Example {
        Example {
            text: row.text,
            label: row.label,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabelledError {
    #[error("cannot read {0}")]
    Io(String),
    #[error("the header must name the columns `text` and `label`, found `{0}`")]
    Header(String),
    #[error("line {line}: {reason}")]
    Row { line: u64, reason: String },
    #[error("the file has no rows")]
    Empty,
}

/// Reads every row of a `text,label` CSV. Columns are found by name (other columns are
/// ignored); a row with a missing field or an empty label is an error naming its line.
pub fn read(input: impl std::io::Read) -> Result<Vec<Row>, LabelledError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|err| LabelledError::Io(err.to_string()))?
        .clone();
    let position = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(name)
        })
    };
    let (Some(text_at), Some(label_at)) = (position("text"), position("label")) else {
        return Err(LabelledError::Header(
            headers.iter().collect::<Vec<_>>().join(","),
        ));
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map_or(0, |p| p.line());
            let reason = match err.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("expected {expected_len} fields, found {len}"),
                csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
                _ => err.to_string(),
            };
            LabelledError::Row { line, reason }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let (Some(text), Some(label)) = (record.get(text_at), record.get(label_at)) else {
            return Err(LabelledError::Row {
                line,
                reason: "missing a field".into(),
            });
        };
        if label.trim().is_empty() {
            return Err(LabelledError::Row {
                line,
                reason: "the label is empty".into(),
            });
        }
        rows.push(Row {
            line,
            text: text.to_owned(),
            label: label.trim().to_owned(),
        });
    }
    if rows.is_empty() {
        return Err(LabelledError::Empty);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_extra_columns_are_read() {
        let rows = read(
            "id,text,label\n1,\"hello, \"\"world\"\"\nagain\",greeting\n2,bye,farewell\n"
                .as_bytes(),
        )
        .expect("reads");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text, "hello, \"world\"\nagain");
        assert_eq!(rows[1].label, "farewell");
        assert_eq!((rows[0].line, rows[1].line), (2, 4));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = read("words,tags\na,b\n".as_bytes()).expect_err("no text column");
        assert!(matches!(err, LabelledError::Header(_)), "{err}");
        let err = read("text,label\na,b\nc\n".as_bytes()).expect_err("short row");
        assert_eq!(err.to_string(), "line 3: expected 2 fields, found 1");
        let err = read("text,label\na, \n".as_bytes()).expect_err("empty label");
        assert_eq!(err.to_string(), "line 2: the label is empty");
        assert!(matches!(
            read("text,label\n".as_bytes()),
            Err(LabelledError::Empty)
        ));
        assert!(read(&b"text,label\n\xff\xfe,x\n"[..]).is_err());
    }
}
