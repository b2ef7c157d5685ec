//! After an agent's message: what follows a reply or a private note once it is stored, whether
//! it was written in the inbox (`api/conversations.rs`) or in a Slack thread of the agent desk
//! (`app/slack_desk.rs`).

use switchboard_model::{BusEvent, Conversation, ConversationStatus, Message};

use crate::state::AppState;

/// What follows an agent's reply or note once it is stored, wherever it was written (the inbox,
/// a Slack thread of the agent desk): the first public reply by a person takes an unowned
/// conversation over, the audit log records it, the bus tells the inbox and the customer's
/// socket, and the outbox is woken to deliver it.
pub async fn after_agent_message(
    state: &AppState,
    actor: &str,
    user_id: Option<&str>,
    conversation: &Conversation,
    message: &Message,
    audit: serde_json::Value,
) -> Result<(), switchboard_store::StoreError> {
    let org_id = &conversation.org_id;
    if let (Some(user_id), false, None) = (
        user_id,
        message.private,
        conversation.assignee_id.as_deref(),
    ) && conversation.status != ConversationStatus::Resolved
        && conversation.status != ConversationStatus::Closed
    {
        let conversation = state
            .store
            .assign(
                org_id,
                &conversation.id,
                Some(user_id),
                conversation.team_id.as_deref(),
                actor,
            )
            .await?;
        crate::bus::publish_change(state.bus.as_ref(), &conversation);
    }
    let action = if message.private {
        "message.note"
    } else {
        "message.reply"
    };
    state
        .store
        .audit(org_id, actor, action, Some(&conversation.id), audit)
        .await?;
    state.bus.publish(BusEvent::MessageCreated {
        org_id: org_id.clone(),
        inbox_id: conversation.inbox_id.clone(),
        message: Box::new(message.clone()),
    });
    if !message.private {
        state.delivery_wakeup.notify_one();
    }
    Ok(())
}
