//! Full-text search within an organization: conversations (their messages and subject),
//! contacts (name, email, phone, identities) and knowledge articles, ranked, with highlighted
//! snippets.
//!
//! The database keeps the index (migration `m20261205_000300_search`): on SQLite FTS5 tables
//! with external content, kept by triggers; on PostgreSQL GIN indexes on
//! `to_tsvector('simple', …)`, which the queries below repeat word for word. Every query term
//! matches as a prefix, so `order 55` finds "order 5521" while it is being typed. Contacts are
//! few beside messages and are matched by substring (`LIKE`), which also finds part of an email
//! address or a phone number.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};
use switchboard_migration::searched_identity;
use switchboard_model::contact_display_name;

use crate::{
    Result, Store,
    entities::{contact, contact_identity, conversation},
};

/// At most this many words of a query are searched for.
const MAX_TERMS: usize = 8;

/// Messages are ranked among the newest this many that match in the organization: a word
/// that half the history contains would otherwise rank hundreds of thousands of messages on
/// every keystroke (1.8 s at p95 on SQLite, 4.8 s on PostgreSQL at 1,000,000 messages; see
/// BENCHMARKS.md). A rarer word's matches are all ranked. A page of results asks for at most
/// 500 candidate messages anyway.
const RECENT_MATCHES: i64 = 500;

/// Characters of text around the first match in a snippet.
const SNIPPET_BEFORE: usize = 60;
const SNIPPET_LENGTH: usize = 200;

/// What to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchScope {
    pub conversations: bool,
    pub contacts: bool,
    pub articles: bool,
}

/// One thing found.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The conversation's, contact's or article's id.
    pub id: String,
    /// Plain text: who the conversation is with (and its subject), the contact's name, the
    /// article's title.
    pub title: String,
    /// HTML: the text around the first match, escaped, with `<mark>` around what matched.
    pub snippet: String,
    /// For a contact: their latest conversation, to open.
    pub conversation_id: Option<String>,
}

/// What a search found, best first in each list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchResults {
    pub conversations: Vec<SearchHit>,
    pub contacts: Vec<SearchHit>,
    pub articles: Vec<SearchHit>,
}

/// The words of a query, lowercased: runs of letters and digits, as both databases' tokenizers
/// cut text. Anything else (quotes, operators) is a separator, so no input is query syntax.
pub fn search_terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(64).collect::<String>().to_lowercase())
        .take(MAX_TERMS)
        .collect()
}

/// The FTS5 query: every term, each as a prefix (`"order"* "55"*`).
fn sqlite_match(terms: &[String]) -> String {
    terms
        .iter()
        .map(|term| format!("\"{term}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `to_tsquery` text: every term, each as a prefix (`order:* & 55:*`).
fn postgres_tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|term| format!("{term}:*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Byte ranges of the words of `text` that start with one of `terms`.
fn word_prefix_matches(text: &str, terms: &[String]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = None;
    for (index, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(index),
            (false, Some(from)) => {
                let word = text[from..index].to_lowercase();
                if terms.iter().any(|term| word.starts_with(term.as_str())) {
                    ranges.push((from, index));
                }
                start = None;
            }
            _ => {}
        }
    }
    ranges
}

/// Byte ranges where `needle` (lowercase) occurs in `text`, ignoring case.
fn substring_matches(text: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    // Lowercasing may change lengths; compare char by char from each char boundary.
    let needle: Vec<char> = needle.chars().collect();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut ranges = Vec::new();
    let mut index = 0;
    while index + needle.len() <= chars.len() {
        let found = needle.iter().enumerate().all(|(offset, wanted)| {
            chars[index + offset]
                .1
                .to_lowercase()
                .eq(wanted.to_lowercase())
        });
        if found {
            let end = chars
                .get(index + needle.len())
                .map_or(text.len(), |(at, _)| *at);
            ranges.push((chars[index].0, end));
            index += needle.len();
        } else {
            index += 1;
        }
    }
    ranges
}

/// A snippet of `text` around its first match (`matches` finds them), HTML-escaped, with
/// `<mark>` around each match. Whitespace is collapsed; a cut end shows `…`.
fn snippet(text: &str, matches: impl Fn(&str) -> Vec<(usize, usize)>) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let ranges = matches(&text);
    let first = ranges.first().map_or(0, |(start, _)| *start);
    let chars_before = text[..first].chars().count();
    let start_char = chars_before.saturating_sub(SNIPPET_BEFORE);
    let start = text
        .char_indices()
        .nth(start_char)
        .map_or(text.len(), |(at, _)| at);
    let end = text[start..]
        .char_indices()
        .nth(SNIPPET_LENGTH)
        .map_or(text.len(), |(at, _)| start + at);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for (from, to) in ranges {
        if to <= start || from >= end {
            continue;
        }
        let (from, to) = (from.max(start), to.min(end));
        escape_html(&text[at..from], &mut out);
        out.push_str("<mark>");
        escape_html(&text[from..to], &mut out);
        out.push_str("</mark>");
        at = to;
    }
    escape_html(&text[at..end], &mut out);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// A snippet marking the words that start with one of `terms`.
pub fn highlight(text: &str, terms: &[String]) -> String {
    snippet(text, |text| word_prefix_matches(text, terms))
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// One row of a full-text query: what matched, its text and its score (higher is better).
struct TextHit {
    id: String,
    title: String,
    text: String,
    score: f64,
}

impl Store {
    /// Searches the organization for `query` in what `scope` asks for, at most `limit` hits of
    /// each kind. A query without letters or digits finds nothing.
    pub async fn search(
        &self,
        org_id: &str,
        query: &str,
        scope: SearchScope,
        limit: u64,
    ) -> Result<SearchResults> {
        let terms = search_terms(query);
        let mut results = SearchResults::default();
        if terms.is_empty() {
            return Ok(results);
        }
        if scope.conversations {
            results.conversations = self.search_conversations(org_id, &terms, limit).await?;
        }
        if scope.contacts {
            results.contacts = self.search_contacts(org_id, query, &terms, limit).await?;
        }
        if scope.articles {
            results.articles = self
                .full_text(org_id, Indexed::Articles, &terms, limit)
                .await?
                .into_iter()
                .map(|hit| SearchHit {
                    snippet: highlight(&hit.text, &terms),
                    id: hit.id,
                    title: hit.title,
                    conversation_id: None,
                })
                .collect();
        }
        Ok(results)
    }

    /// Runs one full-text query on the backend's index, best first.
    async fn full_text(
        &self,
        org_id: &str,
        indexed: Indexed,
        terms: &[String],
        limit: u64,
    ) -> Result<Vec<TextHit>> {
        let backend = self.backend();
        let (sql, query) = match backend {
            DbBackend::Sqlite => (indexed.sqlite(), sqlite_match(terms)),
            _ => (indexed.postgres(), postgres_tsquery(terms)),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut values = vec![
            Value::from(query),
            Value::from(org_id.to_owned()),
            Value::from(limit),
        ];
        if matches!(indexed, Indexed::Messages) {
            values.push(Value::from(RECENT_MATCHES));
        }
        let statement = Statement::from_sql_and_values(backend, sql, values);
        let rows = self.db().query_all_raw(statement).await?;
        rows.iter()
            .map(|row| {
                Ok(TextHit {
                    id: row.try_get("", "hit_id")?,
                    title: row
                        .try_get::<Option<String>>("", "hit_title")?
                        .unwrap_or_default(),
                    text: row
                        .try_get::<Option<String>>("", "hit_text")?
                        .unwrap_or_default(),
                    score: row.try_get("", "hit_score")?,
                })
            })
            .collect()
    }

    async fn search_conversations(
        &self,
        org_id: &str,
        terms: &[String],
        limit: u64,
    ) -> Result<Vec<SearchHit>> {
        // A conversation may match in many messages: read enough to fill the page with
        // distinct conversations in most cases, keep each one's best message.
        let candidates = Ord::min(limit * 10, 500);
        let messages = self
            .full_text(org_id, Indexed::Messages, terms, candidates)
            .await?;
        let subjects = self
            .full_text(org_id, Indexed::Subjects, terms, limit)
            .await?;
        let mut best: HashMap<String, (f64, String)> = HashMap::new();
        // A subject that matches says more than one message among many: it counts double.
        let weighted = messages
            .into_iter()
            .map(|hit| (hit.id, hit.score, hit.text))
            .chain(
                subjects
                    .into_iter()
                    .map(|hit| (hit.id, hit.score * 2.0, hit.text)),
            );
        for (id, score, text) in weighted {
            let entry = best.entry(id).or_insert((f64::MIN, String::new()));
            if score > entry.0 {
                *entry = (score, text);
            }
        }
        let mut ranked: Vec<(String, f64, String)> = best
            .into_iter()
            .map(|(id, (score, text))| (id, score, text))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let ids: Vec<&str> = ranked.iter().map(|(id, _, _)| id.as_str()).collect();
        let rows: HashMap<String, conversation::Model> = conversation::Entity::find()
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        let contact_ids: Vec<&str> = rows.values().map(|row| row.contact_id.as_str()).collect();
        let names = self.contact_names(org_id, &contact_ids).await?;
        Ok(ranked
            .into_iter()
            .filter_map(|(id, _, text)| {
                let row = rows.get(&id)?;
                let who = names
                    .get(&row.contact_id)
                    .cloned()
                    .unwrap_or_else(|| "Customer".to_owned());
                let title = match row.subject.as_deref().filter(|s| !s.trim().is_empty()) {
                    Some(subject) => format!("{who} · {subject}"),
                    None => who,
                };
                Some(SearchHit {
                    snippet: highlight(&text, terms),
                    id,
                    title,
                    conversation_id: None,
                })
            })
            .collect())
    }

    /// The display names of contacts, by id (one query for the contacts, one for identities).
    pub(crate) async fn contact_names(
        &self,
        org_id: &str,
        contact_ids: &[&str],
    ) -> Result<HashMap<String, String>> {
        if contact_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let contacts = contact::Entity::find()
            .filter(contact::Column::OrgId.eq(org_id))
            .filter(contact::Column::Id.is_in(contact_ids.iter().copied()))
            .all(self.db())
            .await?;
        let identities = self.identities_of(org_id, contact_ids).await?;
        Ok(contacts
            .into_iter()
            .map(|row| {
                let ids: Vec<&str> = identities
                    .get(&row.id)
                    .map(|ids| ids.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let name = contact_display_name(
                    row.name.as_deref(),
                    row.email.as_deref(),
                    row.phone.as_deref(),
                    &ids,
                );
                (row.id, name)
            })
            .collect())
    }

    async fn identities_of(
        &self,
        org_id: &str,
        contact_ids: &[&str],
    ) -> Result<HashMap<String, Vec<String>>> {
        let mut identities: HashMap<String, Vec<String>> = HashMap::new();
        let rows: Vec<(String, String)> = contact_identity::Entity::find()
            .select_only()
            .column(contact_identity::Column::ContactId)
            .column(contact_identity::Column::ExternalId)
            .filter(contact_identity::Column::OrgId.eq(org_id))
            .filter(contact_identity::Column::ContactId.is_in(contact_ids.iter().copied()))
            .order_by_asc(contact_identity::Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        for (contact_id, external_id) in rows {
            identities.entry(contact_id).or_default().push(external_id);
        }
        Ok(identities)
    }

    async fn search_contacts(
        &self,
        org_id: &str,
        query: &str,
        terms: &[String],
        limit: u64,
    ) -> Result<Vec<SearchHit>> {
        let needle = query.trim().to_lowercase();
        let candidates = Ord::min(limit * 5, 500);
        let rows = self.matching_contacts(org_id, &needle, candidates).await?;
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let identities = self.identities_of(org_id, &ids).await?;
        let latest = self.latest_conversations(org_id, &ids).await?;
        let mut hits: Vec<(u8, SearchHit)> = rows
            .iter()
            .map(|row| {
                let own: Vec<&str> = identities
                    .get(&row.id)
                    .map(|ids| ids.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let fields: Vec<&str> = [
                    row.name.as_deref(),
                    row.email.as_deref(),
                    row.phone.as_deref(),
                ]
                .into_iter()
                .flatten()
                .chain(own.iter().copied())
                .collect();
                // Exactly the query beats a field starting with it, which beats a part of one.
                let rank = fields
                    .iter()
                    .map(|field| {
                        let field = field.to_lowercase();
                        if field == needle {
                            3
                        } else if field.starts_with(&needle) {
                            2
                        } else if field.contains(&needle) {
                            1
                        } else {
                            0
                        }
                    })
                    .max()
                    .unwrap_or(0);
                let matching = fields
                    .iter()
                    .find(|field| field.to_lowercase().contains(&needle))
                    .copied()
                    .unwrap_or_default();
                let hit = SearchHit {
                    id: row.id.clone(),
                    title: contact_display_name(
                        row.name.as_deref(),
                        row.email.as_deref(),
                        row.phone.as_deref(),
                        &own,
                    ),
                    snippet: if matching.is_empty() {
                        highlight(&fields.join(" · "), terms)
                    } else {
                        snippet(matching, |text| substring_matches(text, &needle))
                    },
                    conversation_id: latest.get(&row.id).cloned(),
                };
                (rank, hit)
            })
            .collect();
        // Stable: equal ranks keep the most recently updated first.
        hits.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
        hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(hits.into_iter().map(|(_, hit)| hit).collect())
    }

    /// The contacts whose name, email, phone or a channel identity contains `needle`
    /// (lowercase), most recently updated first. On SQLite through the trigram indexes
    /// (`m20261207_000400_contact_search`) when the needle has the three characters a trigram
    /// needs, otherwise by reading the organization's contacts; on PostgreSQL by `LIKE`s that
    /// its `pg_trgm` indexes serve, one per column so that each can use its own.
    async fn matching_contacts(
        &self,
        org_id: &str,
        needle: &str,
        limit: u64,
    ) -> Result<Vec<contact::Model>> {
        let backend = self.backend();
        let pattern = format!("%{}%", escape_like(needle));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // An anonymous visitor's identity is not searched (`searched_identity`): SQLite's
        // trigram table leaves it out, and PostgreSQL's partial index serves only a query
        // that states its predicate.
        let searched = searched_identity("");
        let sql = match backend {
            DbBackend::Sqlite if needle.chars().count() >= 3 => {
                "SELECT c.id AS id FROM contacts c WHERE c.org_id = ?2 AND c.rowid IN ( \
                 SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?1 \
                 UNION SELECT c2.rowid FROM contact_identities_fts f \
                 JOIN contact_identities i ON i.rowid = f.rowid \
                 JOIN contacts c2 ON c2.id = i.contact_id \
                 WHERE contact_identities_fts MATCH ?1) \
                 ORDER BY c.updated_at DESC LIMIT ?3"
                    .to_owned()
            }
            DbBackend::Sqlite => format!(
                "SELECT c.id AS id FROM contacts c WHERE c.org_id = ?2 AND ( \
                 lower(c.name) LIKE ?1 ESCAPE '\\' OR lower(c.email) LIKE ?1 ESCAPE '\\' \
                 OR lower(c.phone) LIKE ?1 ESCAPE '\\' OR c.id IN ( \
                 SELECT contact_id FROM contact_identities \
                 WHERE org_id = ?2 AND lower(external_id) LIKE ?1 ESCAPE '\\' \
                 AND {searched})) \
                 ORDER BY c.updated_at DESC LIMIT ?3"
            ),
            _ => format!(
                "SELECT c.id AS id FROM contacts c WHERE c.org_id = $2 AND c.id IN ( \
                 SELECT id FROM contacts WHERE lower(name) LIKE $1 ESCAPE '\\' \
                 UNION SELECT id FROM contacts WHERE lower(email) LIKE $1 ESCAPE '\\' \
                 UNION SELECT id FROM contacts WHERE lower(phone) LIKE $1 ESCAPE '\\' \
                 UNION SELECT contact_id FROM contact_identities \
                 WHERE lower(external_id) LIKE $1 ESCAPE '\\' AND {searched}) \
                 ORDER BY c.updated_at DESC LIMIT $3"
            ),
        };
        let matched = match backend {
            // A phrase of the needle: its trigrams in a row, so any part of a field.
            DbBackend::Sqlite if needle.chars().count() >= 3 => {
                format!("\"{}\"", needle.replace('"', "\"\""))
            }
            _ => pattern,
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [
                Value::from(matched),
                Value::from(org_id.to_owned()),
                Value::from(limit),
            ],
        );
        let ids: Vec<String> = self
            .db()
            .query_all_raw(statement)
            .await?
            .iter()
            .map(|row| row.try_get("", "id"))
            .collect::<std::result::Result<_, _>>()?;
        let mut rows: HashMap<String, contact::Model> = contact::Entity::find()
            .filter(contact::Column::OrgId.eq(org_id))
            .filter(contact::Column::Id.is_in(ids.iter().map(String::as_str)))
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        Ok(ids.iter().filter_map(|id| rows.remove(id)).collect())
    }

    /// Each contact's most recently updated conversation.
    async fn latest_conversations(
        &self,
        org_id: &str,
        contact_ids: &[&str],
    ) -> Result<HashMap<String, String>> {
        let mut latest = HashMap::new();
        if contact_ids.is_empty() {
            return Ok(latest);
        }
        let rows: Vec<(String, String)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::ContactId)
            .column(conversation::Column::Id)
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::ContactId.is_in(contact_ids.iter().copied()))
            .order_by_asc(conversation::Column::UpdatedAt)
            .into_tuple()
            .all(self.db())
            .await?;
        // Oldest first: the last one written for a contact is its latest.
        for (contact_id, conversation_id) in rows {
            latest.insert(contact_id, conversation_id);
        }
        Ok(latest)
    }
}

/// What a full-text query reads.
#[derive(Clone, Copy)]
enum Indexed {
    Messages,
    Subjects,
    Articles,
}

impl Indexed {
    /// Binds `?1`: the FTS5 query, `?2`: the organization, `?3`: the limit, and for messages
    /// `?4`: [`RECENT_MATCHES`]. `bm25` is lower for better matches: negated, so that higher is
    /// better as on PostgreSQL.
    fn sqlite(self) -> &'static str {
        match self {
            // The newest matches of the organization, walked in `rowid` order (the order messages
            // were written), ranked among themselves.
            Indexed::Messages => {
                "SELECT hit_id, NULL AS hit_title, hit_text, hit_score FROM ( \
                 SELECT m.conversation_id AS hit_id, m.text AS hit_text, m.created_at AS created_at, \
                 -bm25(messages_fts) AS hit_score \
                 FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid \
                 WHERE messages_fts MATCH ?1 AND m.org_id = ?2 \
                 ORDER BY messages_fts.rowid DESC LIMIT ?4) \
                 ORDER BY hit_score DESC, created_at DESC LIMIT ?3"
            }
            Indexed::Subjects => {
                "SELECT c.id AS hit_id, NULL AS hit_title, c.subject AS hit_text, \
                 -bm25(conversations_fts) AS hit_score \
                 FROM conversations_fts JOIN conversations c ON c.rowid = conversations_fts.rowid \
                 WHERE conversations_fts MATCH ?1 AND c.org_id = ?2 \
                 ORDER BY hit_score DESC, c.updated_at DESC LIMIT ?3"
            }
            // A match in the title weighs five times one in the body.
            Indexed::Articles => {
                "SELECT a.id AS hit_id, a.title AS hit_title, a.body AS hit_text, \
                 -bm25(kb_articles_fts, 5.0, 1.0) AS hit_score \
                 FROM kb_articles_fts JOIN kb_articles a ON a.rowid = kb_articles_fts.rowid \
                 WHERE kb_articles_fts MATCH ?1 AND a.org_id = ?2 \
                 ORDER BY hit_score DESC, a.updated_at DESC LIMIT ?3"
            }
        }
    }

    /// Binds `$1`: the tsquery, `$2`: the organization, `$3`: the limit, and for messages
    /// `$4`: [`RECENT_MATCHES`]. The `to_tsvector`
    /// expressions (and the subjects' `IS NOT NULL`) are exactly those of the migrations' GIN
    /// indexes (`m20261205_000300_search`, `m20261206_000100_postgres_write_path`).
    fn postgres(self) -> &'static str {
        match self {
            // The newest matches by id (ids are UUIDv7, so in time order): walking the primary
            // key backwards finds a common word's newest matches without reading all of them.
            Indexed::Messages => {
                "SELECT w.hit_id, NULL::text AS hit_title, w.hit_text, \
                 ts_rank(to_tsvector('simple', w.hit_text), to_tsquery('simple', $1))::float8 AS hit_score \
                 FROM (SELECT m.conversation_id AS hit_id, m.text AS hit_text, m.created_at \
                 FROM messages m \
                 WHERE to_tsvector('simple', m.text) @@ to_tsquery('simple', $1) AND m.org_id = $2 \
                 ORDER BY m.id DESC LIMIT $4) w \
                 ORDER BY hit_score DESC, w.created_at DESC LIMIT $3"
            }
            Indexed::Subjects => {
                "SELECT c.id AS hit_id, NULL::text AS hit_title, c.subject AS hit_text, \
                 ts_rank(to_tsvector('simple', c.subject), to_tsquery('simple', $1))::float8 AS hit_score \
                 FROM conversations c \
                 WHERE c.subject IS NOT NULL AND to_tsvector('simple', c.subject) @@ to_tsquery('simple', $1) \
                 AND c.org_id = $2 \
                 ORDER BY hit_score DESC, c.updated_at DESC LIMIT $3"
            }
            Indexed::Articles => {
                "SELECT a.id AS hit_id, a.title AS hit_title, a.body AS hit_text, \
                 ts_rank(to_tsvector('simple', a.title || ' ' || a.body), to_tsquery('simple', $1))::float8 AS hit_score \
                 FROM kb_articles a \
                 WHERE to_tsvector('simple', a.title || ' ' || a.body) @@ to_tsquery('simple', $1) \
                 AND a.org_id = $2 \
                 ORDER BY hit_score DESC, a.updated_at DESC LIMIT $3"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's condition names the web chat's anonymous identities as the model writes
    /// them (the migrations know no model).
    #[test]
    fn anonymous_visitors_are_the_identities_left_unsearched() {
        let condition = searched_identity("");
        let channel = switchboard_model::ChannelKind::Webchat.as_str();
        assert!(condition.contains(&format!("channel = '{channel}'")));
        let prefix = switchboard_model::VISITOR_PREFIX;
        assert!(
            condition.contains(&format!(
                "substr(external_id, 1, {}) = '{prefix}'",
                prefix.len()
            )),
            "{condition}"
        );
    }

    #[test]
    fn queries_are_words_never_syntax() {
        assert_eq!(search_terms("Order 55"), ["order", "55"]);
        assert_eq!(search_terms("\"a\" OR b*; DROP"), ["a", "or", "b", "drop"]);
        assert!(search_terms(" -*- ").is_empty());
        assert_eq!(
            sqlite_match(&search_terms("order 55")),
            "\"order\"* \"55\"*"
        );
        assert_eq!(
            postgres_tsquery(&search_terms("order 55")),
            "order:* & 55:*"
        );
    }

    #[test]
    fn snippets_escape_and_mark_prefixes() {
        let terms = search_terms("order 55");
        assert_eq!(
            highlight("My <b>order</b> 5521 & more", &terms),
            "My &lt;b&gt;<mark>order</mark>&lt;/b&gt; <mark>5521</mark> &amp; more"
        );
        let long = format!("{} needle {}", "word ".repeat(100), "tail ".repeat(100));
        let cut = highlight(&long, &search_terms("needle"));
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert!(cut.contains("<mark>needle</mark>"));
        assert_eq!(
            snippet("Ada@Example.test", |text| substring_matches(
                text, "example"
            )),
            "Ada@<mark>Example</mark>.test"
        );
    }
}
