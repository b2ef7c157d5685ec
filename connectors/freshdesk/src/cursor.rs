//! Where the poll for changed tickets resumes. Freshdesk lists tickets `updated_since` a time,
//! oldest update first, 100 a page; the cursor is the newest `updated_at` seen, and each poll
//! asks from 2 minutes before it, since an update can become visible a little after its
//! timestamp (the hub skips what it already has).
//!
//! A burst of more than a page of updates within those 2 minutes (a bulk update) would give
//! the same full first page again and again; then the cursor stays put and names the next
//! page: `2024-05-01T10:00:00Z#page=2`.

use chrono::{DateTime, Utc};
use switchboard_model::DeliveryError;

use crate::convert::{format_timestamp, timestamp};

/// How far before the cursor each poll starts.
pub const OVERLAP: chrono::Duration = chrono::Duration::minutes(2);
const PAGE_MARK: &str = "#page=";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    at: DateTime<Utc>,
    page: u32,
}

impl Cursor {
    /// Where the hub's stored cursor, or (without one) `start`, says to read.
    pub fn resume(cursor: Option<&str>, start: DateTime<Utc>) -> Result<Cursor, DeliveryError> {
        let Some(text) = cursor else {
            // So that the first poll reads from `start` itself.
            return Ok(Cursor {
                at: start + OVERLAP,
                page: 1,
            });
        };
        let (at, page) = match text.split_once(PAGE_MARK) {
            Some((at, page)) => (at, page.parse::<u32>().ok().filter(|page| *page > 1)),
            None => (text, Some(1)),
        };
        match (timestamp(Some(at)), page) {
            (Some(at), Some(page)) => Ok(Cursor { at, page }),
            _ => Err(DeliveryError::Permanent {
                reason: format!("not a Freshdesk poll cursor: {:?}", truncate(text)),
            }),
        }
    }

    /// `updated_since` for this poll.
    pub fn since(&self) -> DateTime<Utc> {
        self.at - OVERLAP
    }

    pub fn page(&self) -> u32 {
        self.page
    }

    /// Where the next poll reads, after this one's page held tickets updated at `updated` and
    /// was `full`. Never earlier than this cursor.
    pub fn after(&self, updated: &[DateTime<Utc>], full: bool) -> Cursor {
        let Some(newest) = updated.iter().max().copied() else {
            return *self;
        };
        if full && newest <= self.at {
            // The whole page is within the overlap: starting again after it would read it again.
            return Cursor {
                at: self.at,
                page: self.page.saturating_add(1),
            };
        }
        Cursor {
            at: newest.max(self.at),
            page: 1,
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_timestamp(self.at))?;
        if self.page > 1 {
            write!(f, "{PAGE_MARK}{}", self.page)?;
        }
        Ok(())
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        timestamp(Some(text)).expect("a timestamp")
    }

    #[test]
    fn starts_at_start_and_resumes_two_minutes_early() {
        let first = Cursor::resume(None, at("2024-05-01T10:00:00Z")).expect("a cursor");
        assert_eq!(first.since(), at("2024-05-01T10:00:00Z"));
        assert_eq!(first.page(), 1);
        let stored = Cursor::resume(Some("2024-05-01T10:00:00Z"), at("2000-01-01T00:00:00Z"))
            .expect("a cursor");
        assert_eq!(stored.since(), at("2024-05-01T09:58:00Z"));
        assert_eq!(stored.to_string(), "2024-05-01T10:00:00Z");
        let paged = Cursor::resume(
            Some("2024-05-01T10:00:00Z#page=3"),
            at("2000-01-01T00:00:00Z"),
        )
        .expect("a cursor");
        assert_eq!(
            (paged.since(), paged.page()),
            (at("2024-05-01T09:58:00Z"), 3)
        );
        assert_eq!(paged.to_string(), "2024-05-01T10:00:00Z#page=3");
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-05-01T10:00:00Z#page=x",
            "2024-05-01T10:00:00Z#page=1",
            "2024-05-01T10:00:00Z#page=0",
        ] {
            assert!(
                matches!(
                    Cursor::resume(Some(bad), Utc::now()),
                    Err(DeliveryError::Permanent { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn moves_to_the_newest_update_or_to_the_next_page() {
        let cursor = Cursor::resume(Some("2024-05-01T10:00:00Z"), Utc::now()).expect("a cursor");
        assert_eq!(cursor.after(&[], false), cursor, "nothing new: stays");
        let later = [at("2024-05-01T09:59:00Z"), at("2024-05-01T10:05:00Z")];
        assert_eq!(
            cursor.after(&later, false).to_string(),
            "2024-05-01T10:05:00Z"
        );
        assert_eq!(
            cursor.after(&later, true).to_string(),
            "2024-05-01T10:05:00Z"
        );
        // Only updates already within the overlap: never moves back.
        let seen = [at("2024-05-01T09:58:30Z"), at("2024-05-01T09:59:00Z")];
        assert_eq!(cursor.after(&seen, false), cursor);
        // A full page that ends inside the overlap: the next page, from the same time.
        let burst = cursor.after(&seen, true);
        assert_eq!(burst.to_string(), "2024-05-01T10:00:00Z#page=2");
        assert_eq!(burst.since(), cursor.since());
        assert_eq!(
            burst.after(&seen, true).to_string(),
            "2024-05-01T10:00:00Z#page=3"
        );
        assert_eq!(
            burst.after(&later, false).to_string(),
            "2024-05-01T10:05:00Z"
        );
    }
}
