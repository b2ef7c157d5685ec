//! Knowledge-base articles as the AI sees them: markdown with a front-matter block, cut into
//! passages at headings so that retrieval can point at the part of an article that answers.

use serde::{Deserialize, Serialize};

/// A published article, as indexed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArticleDoc {
    pub id: String,
    pub title: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// Markdown, without front matter.
    pub body: String,
    /// Increases with every change of the content; the index re-reads an article when it moves.
    pub version: i64,
}

/// A markdown file's front matter and body.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedMarkdown {
    pub title: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub body: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FrontMatterError {
    #[error("the file does not start with a `---` front-matter block")]
    Missing,
    #[error("the front-matter block is not closed by a `---` line")]
    Unclosed,
    #[error("the front matter has no `title`")]
    NoTitle,
    #[error("line {0} of the front matter is not `key: value`")]
    BadLine(usize),
}

/// Parses `---\ntitle: …\ncategory: …\ntags: [a, b]\n---\nbody`. Only this flat subset of YAML is
/// accepted (scalars, optionally quoted, and flow or block lists for `tags`); other keys are
/// ignored.
pub fn parse_markdown(text: &str) -> Result<ParsedMarkdown, FrontMatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Lines with their ends, so that `consumed` counts a `\r\n` as two bytes (`str::lines`
    // hides the `\r`, which once left the tail of the block in a Windows file's body).
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(FrontMatterError::Missing);
    }
    let mut title = None;
    let mut category = None;
    let mut tags = Vec::new();
    let mut in_tags_block = false;
    let mut closed = false;
    let mut consumed = first.len();
    for (number, line) in lines.enumerate() {
        consumed += line.len();
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim();
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if in_tags_block {
            if let Some(item) = trimmed.strip_prefix("- ") {
                push_tag(&mut tags, item);
                continue;
            }
            in_tags_block = false;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(FrontMatterError::BadLine(number + 2));
        };
        let value = value.trim();
        match key.trim() {
            "title" => title = Some(unquote(value)).filter(|t| !t.is_empty()),
            "category" => category = Some(unquote(value)).filter(|c| !c.is_empty()),
            "tags" => {
                if value.is_empty() {
                    in_tags_block = true;
                } else {
                    let inner = value
                        .strip_prefix('[')
                        .and_then(|v| v.strip_suffix(']'))
                        .unwrap_or(value);
                    for item in inner.split(',') {
                        push_tag(&mut tags, item);
                    }
                }
            }
            _ => {}
        }
    }
    if !closed {
        return Err(FrontMatterError::Unclosed);
    }
    let body = text
        .get(consumed.min(text.len())..)
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(ParsedMarkdown {
        title: title.ok_or(FrontMatterError::NoTitle)?,
        category,
        tags,
        body,
    })
}

fn push_tag(tags: &mut Vec<String>, item: &str) {
    let tag = unquote(item.trim());
    if !tag.is_empty() && !tags.contains(&tag) {
        tags.push(tag);
    }
}

fn unquote(value: &str) -> String {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner.replace("\\\"", "\"").trim().to_owned();
        }
    }
    value.to_owned()
}

/// One self-contained part of an article: the text under one heading.
#[derive(Clone, Debug, PartialEq)]
pub struct Passage {
    pub article_id: String,
    pub title: String,
    /// The heading this passage sits under; empty for text before the first heading.
    pub heading: String,
    pub text: String,
    /// Its position in the article.
    pub ordinal: usize,
}

/// Passages longer than this many characters are split at paragraph breaks, so that one passage
/// stays about one answer long.
const MAX_PASSAGE_CHARS: usize = 1_800;

/// Cuts an article at its headings (any level). Text under a heading belongs to the nearest
/// heading above it; empty sections are dropped; very long sections are split at paragraphs.
pub fn passages(article: &ArticleDoc) -> Vec<Passage> {
    let mut sections: Vec<(String, String)> = vec![(String::new(), String::new())];
    let mut in_code = false;
    for line in article.body.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let heading = (!in_code)
            .then(|| line.trim_start())
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#'))
            .filter(|rest| rest.starts_with(' '));
        match heading {
            Some(rest) => sections.push((rest.trim().to_owned(), String::new())),
            None => {
                if let Some((_, text)) = sections.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    let mut passages = Vec::new();
    for (heading, text) in sections {
        for piece in split_long(text.trim()) {
            if piece.is_empty() {
                continue;
            }
            passages.push(Passage {
                article_id: article.id.clone(),
                title: article.title.clone(),
                heading: heading.clone(),
                text: piece,
                ordinal: passages.len(),
            });
        }
    }
    passages
}

fn split_long(text: &str) -> Vec<String> {
    if text.len() <= MAX_PASSAGE_CHARS {
        return vec![text.to_owned()];
    }
    let mut pieces = vec![String::new()];
    for paragraph in text.split("\n\n") {
        let Some(current) = pieces.last_mut() else {
            break;
        };
        if !current.is_empty() && current.len() + paragraph.len() > MAX_PASSAGE_CHARS {
            pieces.push(paragraph.trim().to_owned());
        } else {
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(paragraph.trim());
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_with_quotes_and_flow_tags() {
        let parsed = parse_markdown(
            "---\ntitle: \"Billing: plans\"\ncategory: Billing\ntags: [a, \"b c\", a]\n---\n\n## One\nText\n",
        )
        .expect("parses");
        assert_eq!(parsed.title, "Billing: plans");
        assert_eq!(parsed.category.as_deref(), Some("Billing"));
        assert_eq!(parsed.tags, vec!["a", "b c"]);
        assert_eq!(parsed.body, "## One\nText");
    }

    #[test]
    fn block_tags_and_errors() {
        let parsed =
            parse_markdown("---\ntitle: T\ntags:\n  - x\n  - y\n---\nBody").expect("parses");
        assert_eq!(parsed.tags, vec!["x", "y"]);
        assert_eq!(
            parse_markdown("no front matter"),
            Err(FrontMatterError::Missing)
        );
        assert_eq!(
            parse_markdown("---\ntitle: T\n"),
            Err(FrontMatterError::Unclosed)
        );
        assert_eq!(
            parse_markdown("---\ncategory: C\n---\n"),
            Err(FrontMatterError::NoTitle)
        );
        assert_eq!(
            parse_markdown("---\ntitle: T\nnonsense\n---\n"),
            Err(FrontMatterError::BadLine(3))
        );
    }

    /// Found by `tests/fuzz.rs`: the body of a file with `\r\n` line ends began with the
    /// tail of the closing `---`.
    #[test]
    fn windows_line_ends_leave_no_front_matter_in_the_body() {
        let parsed =
            parse_markdown("---\r\ntitle: T\r\ncategory: C\r\n---\r\nBody\r\n").expect("parses");
        assert_eq!(parsed.body, "Body");
        assert_eq!(parsed.category.as_deref(), Some("C"));
    }

    #[test]
    fn articles_are_cut_at_headings() {
        let article = ArticleDoc {
            id: "a".into(),
            title: "T".into(),
            category: None,
            tags: vec![],
            body: "Intro.\n\n## First\nOne.\n\n### Second\nTwo.\n```\n# not a heading\n```\n## Empty\n"
                .into(),
            version: 1,
        };
        let cut = passages(&article);
        let headings: Vec<_> = cut.iter().map(|p| p.heading.as_str()).collect();
        assert_eq!(headings, vec!["", "First", "Second"]);
        assert!(cut[2].text.contains("# not a heading"));
    }
}
