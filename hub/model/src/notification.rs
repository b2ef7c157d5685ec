//! Notifications for agents (someone mentioned them in a note, a conversation was assigned to
//! them) and the `@mention` syntax of private notes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// Why an agent is notified.
    pub enum NotificationKind {
        /// Someone wrote `@name` for them in a private note.
        Mention => "mention",
        /// A conversation was assigned to them by someone else, or by routing.
        Assigned => "assigned",
    }
}

/// One notification of one agent, with what the inbox shows of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: String,
    pub org_id: String,
    /// The agent notified.
    pub user_id: String,
    pub kind: NotificationKind,
    pub conversation_id: String,
    /// The note that mentions them (`mention` only).
    pub message_id: Option<String>,
    /// The user who mentioned or assigned them; null when routing assigned the conversation
    /// (or an API key did).
    pub actor_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Null until they read it.
    pub read_at: Option<DateTime<Utc>>,
    /// For display: the actor's name (or email), null for the system.
    pub actor_name: Option<String>,
    /// For display: the conversation's contact, as the hub names them.
    pub contact_name: Option<String>,
    /// For display: the conversation's subject, when it has one.
    pub conversation_subject: Option<String>,
    /// For display: the start of the note (`mention` only).
    pub preview: Option<String>,
}

/// A user who may be mentioned, as the parser sees them.
#[derive(Clone, Copy, Debug)]
pub struct MentionCandidate<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
}

impl MentionCandidate<'_> {
    /// What may follow `@` to name this user: the display name, the email's local part and the
    /// whole email.
    fn handles(&self) -> impl Iterator<Item = &str> {
        let local = self.email.split('@').next().unwrap_or_default();
        [self.name.trim(), local, self.email]
            .into_iter()
            .filter(|handle| !handle.is_empty())
    }
}

/// The users a text mentions, each once, in the order they first appear.
///
/// A mention is `@` at the start of the text or after a character that is not a letter or digit
/// (so `bob@example.com` mentions nobody), followed by a user's display name, email local part
/// or email, compared without case and ending at the end of the text or before a character that
/// cannot continue a name (a space, a comma; a dot only when no letter or digit follows it).
/// The longest handle wins (`@Ann Lee` over `@Ann`); one that names two users names neither.
pub fn mentioned_users<'a>(text: &str, candidates: &[MentionCandidate<'a>]) -> Vec<&'a str> {
    let mut found: Vec<&'a str> = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && previous.is_none_or(|before| !before.is_alphanumeric());
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let mut best: Option<(usize, Option<&'a str>)> = None;
        for candidate in candidates {
            for handle in candidate.handles() {
                let Some(length) = handle_length(rest, handle) else {
                    continue;
                };
                best = match best {
                    Some((longest, _)) if longest > length => best,
                    Some((longest, Some(id))) if longest == length && id != candidate.id => {
                        Some((length, None))
                    }
                    Some((longest, None)) if longest == length => best,
                    _ => Some((length, Some(candidate.id))),
                };
            }
        }
        if let Some((_, Some(id))) = best
            && !found.contains(&id)
        {
            found.push(id);
        }
    }
    found
}

/// The bytes of `rest` that `handle` takes when `rest` starts with it (without case) and the
/// handle ends there.
fn handle_length(rest: &str, handle: &str) -> Option<usize> {
    let mut text = rest.char_indices();
    let mut end = 0;
    for expected in handle.chars() {
        let (at, c) = text.next()?;
        if !c.to_lowercase().eq(expected.to_lowercase()) {
            return None;
        }
        end = at + c.len_utf8();
    }
    let mut after = rest[end..].chars();
    let ends = match after.next() {
        None => true,
        Some('.') => !after.next().is_some_and(char::is_alphanumeric),
        Some(c) => !(c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '@')),
    };
    ends.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEOPLE: [MentionCandidate<'static>; 4] = [
        MentionCandidate {
            id: "ann",
            name: "Ann",
            email: "ann@acme.test",
        },
        MentionCandidate {
            id: "ann-lee",
            name: "Ann Lee",
            email: "alee@acme.test",
        },
        MentionCandidate {
            id: "bob",
            name: "",
            email: "bob.smith@acme.test",
        },
        MentionCandidate {
            id: "bob-2",
            name: "Bobby",
            email: "bob.smith@other.test",
        },
    ];

    fn check(text: &str, expected: &[&str]) {
        assert_eq!(mentioned_users(text, &PEOPLE), expected, "{text:?}");
    }

    #[test]
    fn names_local_parts_and_emails_are_mentions() {
        check("@Ann please look", &["ann"]);
        check("cc @ann lee, and @alee.", &["ann-lee"]);
        check("@ANN LEE: done", &["ann-lee"]);
        check("(@Bobby) and @ann", &["bob-2", "ann"]);
        check("@bob.smith@acme.test can you?", &["bob"]);
        check("@Ann @ann @Ann", &["ann"]);
    }

    /// Other nodes get the event through Redis as JSON: it comes back whole.
    #[test]
    fn the_bus_event_travels_as_json() {
        let event = crate::BusEvent::NotificationCreated {
            org_id: "org".into(),
            user_id: "bea".into(),
            notification: Box::new(Notification {
                id: "n".into(),
                org_id: "org".into(),
                user_id: "bea".into(),
                kind: NotificationKind::Assigned,
                conversation_id: "c".into(),
                message_id: None,
                actor_id: Some("ann".into()),
                created_at: Utc::now(),
                read_at: None,
                actor_name: Some("Ann".into()),
                contact_name: Some("Visitor 1a2b".into()),
                conversation_subject: None,
                preview: None,
            }),
        };
        let json = serde_json::to_value(&event).expect("encodes");
        assert_eq!(json["type"], "notification_created");
        assert_eq!(json["notification"]["kind"], "assigned");
        let back: crate::BusEvent = serde_json::from_value(json).expect("decodes");
        assert_eq!(back, event);
        assert_eq!(back.conversation_id(), "c");
    }

    #[test]
    fn what_is_not_a_mention() {
        // Inside an email address, a longer word, an ambiguous handle, nobody known.
        check("write to ann@acme.test", &[]);
        check("@Annabel and @anne", &[]);
        check("@bob.smith is two people", &[]);
        check("@carol, @ and @@", &[]);
        check("@ann_b", &[]);
    }
}
