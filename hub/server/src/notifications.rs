//! Who is notified of what: the users a private note mentions (`@name` in its text, and the ids
//! the inbox's autocomplete sends), and the agent a conversation is assigned to by someone
//! else (a person, or routing). The store writes the notifications; each is announced on the
//! bus as `notification_created`, which only the recipient's event stream passes on
//! (`api/events.rs`), on every node (through Redis like every event).

use std::collections::HashSet;

use switchboard_model::{
    BusEvent, Conversation, MentionCandidate, Notification, NotificationKind, Permission,
};
use switchboard_store::{Store, StoreError};

use crate::{bus::EventBus, error::ApiError};

/// At most this many users named by id in one note.
pub const MAX_EXPLICIT_MENTIONS: usize = 50;

/// The users a private note by `author_id` mentions, in order: those named by id in
/// `explicit` (each must be a user of the organization, or the request is refused) and those
/// `text` names with `@` ([`switchboard_model::mentioned_users`]). Only active users who may
/// read conversations count, and never the author.
pub async fn mentions_of(
    store: &Store,
    org_id: &str,
    author_id: Option<&str>,
    text: &str,
    explicit: &[String],
) -> Result<Vec<String>, ApiError> {
    if explicit.len() > MAX_EXPLICIT_MENTIONS {
        return Err(ApiError::Unprocessable(format!(
            "`mentions` names at most {MAX_EXPLICIT_MENTIONS} users"
        )));
    }
    if explicit.is_empty() && !text.contains('@') {
        return Ok(Vec::new());
    }
    let users = store.list_users(org_id).await?;
    if let Some(unknown) = explicit
        .iter()
        .find(|id| !users.iter().any(|user| &user.id == *id))
    {
        return Err(ApiError::Unprocessable(format!(
            "`mentions`: no user `{unknown}` in this organization"
        )));
    }
    let readers: Vec<MentionCandidate<'_>> = users
        .iter()
        .filter(|user| user.active && user.role.can(Permission::ConversationsRead))
        .filter(|user| Some(user.id.as_str()) != author_id)
        .map(|user| MentionCandidate {
            id: &user.id,
            name: &user.name,
            email: &user.email,
        })
        .collect();
    let mut seen = HashSet::new();
    Ok(explicit
        .iter()
        .map(String::as_str)
        .filter(|id| readers.iter().any(|reader| reader.id == *id))
        .chain(switchboard_model::mentioned_users(text, &readers))
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect())
}

/// Tells the recipient's inbox, on every node.
pub fn announce(bus: &dyn EventBus, notification: Notification) {
    bus.publish(BusEvent::NotificationCreated {
        org_id: notification.org_id.clone(),
        user_id: notification.user_id.clone(),
        notification: Box::new(notification),
    });
}

/// After an assignment commits: notifies the new assignee unless they already had the
/// conversation (`previous_assignee`) or assigned it to themselves (`actor_id`: the user who
/// did it, `None` for routing or an API key). A failure is logged, not returned: the
/// assignment stands, and the conversation shows in the agent's "Mine" view regardless.
pub async fn assigned(
    store: &Store,
    bus: &dyn EventBus,
    conversation: &Conversation,
    previous_assignee: Option<&str>,
    actor_id: Option<&str>,
) {
    let Some(assignee) = conversation.assignee_id.as_deref() else {
        return;
    };
    if Some(assignee) == previous_assignee || Some(assignee) == actor_id {
        return;
    }
    match store
        .notify(
            &conversation.org_id,
            assignee,
            NotificationKind::Assigned,
            &conversation.id,
            actor_id,
        )
        .await
    {
        Ok(notification) => announce(bus, notification),
        Err(err @ (StoreError::NotFound | StoreError::Invalid(_))) => {
            tracing::debug!(error = %err, "no assignment notification");
        }
        Err(err) => {
            tracing::warn!(conversation_id = %conversation.id, error = %err,
                "cannot notify the assignee");
        }
    }
}
