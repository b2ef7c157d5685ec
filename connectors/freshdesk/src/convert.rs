//! Freshdesk's values ↔ the model's: ticket statuses and priorities, text as the HTML bodies
//! Freshdesk takes, and a ticket with its conversations as a [`RemoteTicket`].

use chrono::{DateTime, Utc};
use switchboard_model::{
    Attachment, ContactRef, Priority, RemoteComment, RemoteTicket, TicketStatus,
};

use crate::wire;

/// The tag that carries our conversation id on a ticket we opened: Freshdesk tickets have no
/// external id field.
pub const EXTERNAL_ID_TAG_PREFIX: &str = "switchboard-";

/// Freshdesk's numeric status → ours. 2 open, 3 pending, 4 resolved, 5 closed are built in;
/// the default custom statuses 6 "Waiting on Customer" and 7 "Waiting on Third Party" are
/// Zendesk's pending and on-hold; any other custom status is taken as still being worked on.
pub fn status_from_freshdesk(status: u64) -> TicketStatus {
    match status {
        3 | 6 => TicketStatus::Pending,
        7 => TicketStatus::Hold,
        4 => TicketStatus::Solved,
        5 => TicketStatus::Closed,
        _ => TicketStatus::Open,
    }
}

/// Ours → Freshdesk's. Only built-in statuses are sent (6 and 7 may have been deleted from the
/// account), so `new` becomes open and `hold` becomes pending.
pub fn status_to_freshdesk(status: TicketStatus) -> u8 {
    match status {
        TicketStatus::New | TicketStatus::Open => 2,
        TicketStatus::Pending | TicketStatus::Hold => 3,
        TicketStatus::Solved => 4,
        TicketStatus::Closed => 5,
    }
}

/// Freshdesk's priorities: 1 low, 2 medium, 3 high, 4 urgent.
/// Freshdesk's priority number as ours; an unknown number is none.
pub fn priority_from_freshdesk(priority: u64) -> Option<Priority> {
    match priority {
        1 => Some(Priority::Low),
        2 => Some(Priority::Normal),
        3 => Some(Priority::High),
        4 => Some(Priority::Urgent),
        _ => None,
    }
}

pub fn priority_to_freshdesk(priority: Priority) -> u8 {
    match priority {
        Priority::Low => 1,
        Priority::Normal => 2,
        Priority::High => 3,
        Priority::Urgent => 4,
    }
}

/// Plain text as a Freshdesk HTML body: escaped, line breaks as `<br>`.
pub fn html_body(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            '\r' => {
                chars.next_if_eq(&'\n');
                html.push_str("<br>");
            }
            '\n' => html.push_str("<br>"),
            c => html.push(c),
        }
    }
    html
}

/// The tag we put on a ticket opened for `external_id`.
pub fn external_id_tag(external_id: &str) -> String {
    format!("{EXTERNAL_ID_TAG_PREFIX}{external_id}")
}

/// The id a ticket's description has as a comment: it is the ticket's first message, and
/// Freshdesk gives it no conversation id.
pub fn description_comment_id(ticket_id: u64) -> String {
    format!("ticket-{ticket_id}")
}

/// Freshdesk's timestamps (`2016-05-18T23:42:50Z`, older ones with an offset), in UTC.
pub fn timestamp(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// The format the hub's cursors and Freshdesk's `updated_since` use.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn remote_ticket(ticket: wire::Ticket, conversations: Vec<wire::Conversation>) -> RemoteTicket {
    let requester = requester(&ticket);
    let external_id = ticket.tags.iter().flatten().find_map(|tag| {
        tag.strip_prefix(EXTERNAL_ID_TAG_PREFIX)
            .filter(|rest| !rest.is_empty())
            .map(str::to_owned)
    });
    let description = ticket
        .description_text
        .filter(|text| !text.trim().is_empty())
        .map(|body| RemoteComment {
            id: description_comment_id(ticket.id),
            author_id: requester.external_id.clone(),
            public: true,
            body,
            created_at: timestamp(ticket.created_at.as_deref()),
            attachments: Vec::new(),
        });
    let comments = description
        .into_iter()
        .chain(conversations.into_iter().map(remote_comment))
        .collect();
    RemoteTicket {
        id: ticket.id.to_string(),
        subject: ticket.subject,
        status: ticket
            .status
            .map_or(TicketStatus::Open, status_from_freshdesk),
        priority: ticket.priority.and_then(priority_from_freshdesk),
        requester,
        external_id,
        updated_at: timestamp(ticket.updated_at.as_deref()),
        comments,
    }
}

fn requester(ticket: &wire::Ticket) -> ContactRef {
    let Some(requester) = &ticket.requester else {
        return ContactRef {
            external_id: ticket
                .requester_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            ..ContactRef::default()
        };
    };
    let text = |value: &Option<serde_json::Value>| match value {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(serde_json::Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    ContactRef {
        external_id: requester.id.to_string(),
        name: requester.name.clone().filter(|name| !name.is_empty()),
        email: requester.email.clone().filter(|email| !email.is_empty()),
        phone: text(&requester.phone).or_else(|| text(&requester.mobile)),
    }
}

fn remote_comment(conversation: wire::Conversation) -> RemoteComment {
    RemoteComment {
        id: conversation.id.to_string(),
        author_id: conversation
            .user_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        public: !conversation.private,
        body: conversation.body_text.unwrap_or_default(),
        created_at: timestamp(conversation.created_at.as_deref()),
        attachments: conversation
            .attachments
            .into_iter()
            .map(|file| Attachment {
                filename: file.name.unwrap_or_else(|| "attachment".into()),
                content_type: file
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: file.size,
                url: file.attachment_url,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_both_ways() {
        let table = [
            (2, TicketStatus::Open),
            (3, TicketStatus::Pending),
            (4, TicketStatus::Solved),
            (5, TicketStatus::Closed),
        ];
        for (freshdesk, ours) in table {
            assert_eq!(status_from_freshdesk(freshdesk), ours);
            assert_eq!(u64::from(status_to_freshdesk(ours)), freshdesk);
            // Round trips: Freshdesk → ours → Freshdesk and ours → Freshdesk → ours.
            assert_eq!(
                u64::from(status_to_freshdesk(status_from_freshdesk(freshdesk))),
                freshdesk
            );
            assert_eq!(
                status_from_freshdesk(u64::from(status_to_freshdesk(ours))),
                ours
            );
        }
        assert_eq!(status_from_freshdesk(6), TicketStatus::Pending);
        assert_eq!(status_from_freshdesk(7), TicketStatus::Hold);
        for custom in [0, 1, 8, 42, u64::MAX] {
            assert_eq!(status_from_freshdesk(custom), TicketStatus::Open);
        }
        assert_eq!(status_to_freshdesk(TicketStatus::New), 2);
        assert_eq!(status_to_freshdesk(TicketStatus::Hold), 3);
        // Every status of ours lands on a built-in one, and comes back done exactly when it was.
        for ours in TicketStatus::ALL {
            let sent = status_to_freshdesk(*ours);
            assert!((2..=5).contains(&sent), "{ours}");
            assert_eq!(
                status_from_freshdesk(u64::from(sent)).is_done(),
                ours.is_done()
            );
        }
    }

    #[test]
    fn priorities() {
        let sent: Vec<u8> = Priority::ALL
            .iter()
            .map(|p| priority_to_freshdesk(*p))
            .collect();
        assert_eq!(sent, [1, 2, 3, 4]);
    }

    #[test]
    fn text_becomes_escaped_html() {
        assert_eq!(
            html_body("Hi <b>Ann</b> & \"Bob\"'s\nline two\r\nthree\rfour"),
            "Hi &lt;b&gt;Ann&lt;/b&gt; &amp; &quot;Bob&quot;&#39;s<br>line two<br>three<br>four"
        );
        assert_eq!(html_body(""), "");
        assert_eq!(html_body("\n\n"), "<br><br>");
        assert_eq!(html_body("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn timestamps_in_any_offset_become_utc() {
        let at = timestamp(Some("2015-01-01T10:58:39+10:00")).expect("parses");
        assert_eq!(format_timestamp(at), "2015-01-01T00:58:39Z");
        assert_eq!(timestamp(Some("yesterday")), None);
        assert_eq!(timestamp(None), None);
    }
}
