//! Conversations: the list with filters, one conversation with its messages, replies and
//! notes, assignment, resolve and reopen.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_model::{
    BusEvent, ChannelKind, Contact, Conversation, ConversationStatus, Csat, Handoff, Message,
    MessageRole, Permission, Priority, SlaClock,
};
use switchboard_store::{ConversationFilter, NewMessage, SlaFilter};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::page_limit,
    auth::Auth,
    bus::publish_change,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses: `bot,escalated,assigned,resolved,closed`.
    pub status: Option<String>,
    // Parsed by hand, so that an unknown value is a 422 naming the field; described as the
    // enums it takes.
    #[param(value_type = Option<ChannelKind>)]
    pub channel: Option<String>,
    pub inbox_id: Option<String>,
    /// A user id, `me`, or `none` for unassigned.
    pub assignee: Option<String>,
    pub team_id: Option<String>,
    #[param(value_type = Option<Priority>)]
    pub priority: Option<String>,
    pub contact_id: Option<String>,
    /// Only conversations whose latest sentiment is at most this (0–100).
    pub sentiment_max: Option<i32>,
    /// `breached`: an SLA target was missed; `due_soon`: a target is due within 30 minutes.
    #[param(pattern = "^(breached|due_soon)?$")]
    pub sla: Option<String>,
    /// Only conversations carrying the label of this name.
    pub label: Option<String>,
    /// Snoozed conversations are left out unless this is `true` (only them) or `any`.
    #[param(pattern = "^(true|false|any)?$")]
    pub snoozed: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<ConversationListItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A conversation as the list shows it: its fields and, once an escalation started one, its
/// SLA clock (the same as `GET /conversations/{id}` gives), for the list's countdown.
#[derive(Serialize, ToSchema)]
pub struct ConversationListItem {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub sla: Option<SlaClock>,
}

/// How many conversations each view of the inbox holds.
#[derive(Serialize, ToSchema)]
pub struct ViewCounts {
    /// Open conversations assigned to the caller.
    pub mine: u64,
    /// Open conversations no agent owns (with the AI or waiting for a human).
    pub unassigned: u64,
    /// Conversations waiting for a human.
    pub escalated: u64,
    /// Every conversation.
    pub all: u64,
    /// Snoozed conversations (which the other views leave out).
    pub snoozed: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub contact: Option<Contact>,
    /// Every message, private notes included, in `seq` order.
    pub messages: Vec<Message>,
    /// The latest handoff record, once the conversation has been handed to a human.
    pub handoff: Option<Handoff>,
    /// The SLA clock, once an escalation started one.
    pub sla: Option<SlaClock>,
    /// Tags set by escalation rules.
    pub tags: Vec<String>,
    /// The customer's rating, once they gave one.
    pub csat: Option<Csat>,
    /// On channels that limit free-form replies to a time after the customer's last message
    /// (WhatsApp's 24 hours): whether a reply can go out now, and until when. Absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_window: Option<ReplyWindow>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplyWindow {
    pub open: bool,
    /// When it closes (or closed); null before the customer has written.
    pub closes_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What an agent can do when it is closed.
    pub hint: Option<String>,
}

impl ReplyWindow {
    fn of(channel: ChannelKind, messages: &[Message]) -> Option<ReplyWindow> {
        let length = channel.reply_window()?;
        let closes_at = messages
            .iter()
            .filter(|message| message.role == MessageRole::Customer)
            .map(|message| message.created_at)
            .max()
            .map(|last| last + length);
        let open = closes_at.is_some_and(|closes_at| chrono::Utc::now() < closes_at);
        Some(ReplyWindow {
            open,
            closes_at,
            hint: (!open).then(|| {
                "outside WhatsApp's 24-hour window: only an approved template can be sent \
                 (reply `/template NAME [LANGUAGE] [| parameter | ...]`)"
                    .to_owned()
            }),
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ReplyRequest {
    /// May be empty when the reply carries attachments.
    pub text: String,
    /// A note for other agents, never sent to the customer.
    #[serde(default)]
    pub private: bool,
    /// Private notes only: user ids the note mentions (the inbox's autocomplete sends them),
    /// beside the `@name`s of its text. Each must be a user of the organization; those who
    /// may read conversations are notified.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Files to send with the reply: the `id`s that `POST /conversations/{id}/attachments`
    /// answered for this conversation (at most 10).
    #[serde(default)]
    pub attachments: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct AssignRequest {
    /// The agent, or null to unassign.
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PriorityRequest {
    pub priority: Priority,
}

fn invalid(field: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable(format!("`{field}`: {err}"))
}

impl ListParams {
    fn filter(&self, auth: &Auth) -> ApiResult<ConversationFilter> {
        let statuses = match &self.status {
            Some(list) => list
                .split(',')
                .filter(|status| !status.trim().is_empty())
                .map(|status| status.trim().parse().map_err(|err| invalid("status", err)))
                .collect::<ApiResult<_>>()?,
            None => Vec::new(),
        };
        let assignee_id = match self.assignee.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some("me") => Some(Some(
                auth.principal
                    .user_id()
                    .ok_or_else(|| invalid("assignee", "an API key is nobody's `me`"))?
                    .to_owned(),
            )),
            Some(id) => Some(Some(id.to_owned())),
        };
        Ok(ConversationFilter {
            statuses,
            channel: self
                .channel
                .as_deref()
                .map(ChannelKind::parse)
                .transpose()
                .map_err(|err| invalid("channel", err))?,
            inbox_id: self.inbox_id.clone(),
            assignee_id,
            team_id: self.team_id.clone(),
            priority: self
                .priority
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|err| invalid("priority", err))?,
            contact_id: self.contact_id.clone(),
            sentiment_max: self.sentiment_max,
            sla: match self.sla.as_deref() {
                None | Some("") => None,
                Some("breached") => Some(SlaFilter::Breached),
                Some("due_soon") => Some(SlaFilter::DueSoon),
                Some(other) => {
                    return Err(invalid(
                        "sla",
                        format!("`{other}` is not breached or due_soon"),
                    ));
                }
            },
            label: match self.label.as_deref() {
                None | Some("") => None,
                Some(label) => Some(
                    switchboard_store::label_name(label).map_err(|err| invalid("label", err))?,
                ),
            },
            snoozed: match self.snoozed.as_deref() {
                None | Some("" | "false") => Some(false),
                Some("true") => Some(true),
                Some("any") => None,
                Some(other) => {
                    return Err(invalid(
                        "snoozed",
                        format!("`{other}` is not true, false or any"),
                    ));
                }
            },
        })
    }
}

/// Lists conversations, most recently active first.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationList),
        (status = 422, body = crate::error::ErrorBody, description = "A filter with a value it does not take")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<ApiJson<ConversationList>> {
    auth.require(Permission::ConversationsRead)?;
    let filter = params.filter(&auth)?;
    let page = state
        .store
        .list_conversations(
            auth.org_id(),
            &filter,
            params.cursor.as_deref(),
            page_limit(params.limit),
        )
        .await?;
    let mut sla = page.sla;
    let conversations = page
        .conversations
        .into_iter()
        .map(|conversation| ConversationListItem {
            sla: sla.remove(&conversation.id),
            conversation,
        })
        .collect();
    Ok(ApiJson(ConversationList {
        conversations,
        next_cursor: page.next_cursor,
    }))
}

/// Counts per inbox view (mine, unassigned, escalated, all, snoozed). `channel`, `inbox_id`,
/// `team_id`, `priority`, `sentiment_max` and `label` narrow every view; each view sets status
/// and assignee itself, so `status` and `assignee` are ignored here.
#[utoipa::path(get, path = "/conversations/counts", tag = "conversations", params(ListParams),
    responses((status = 200, body = ViewCounts),
        (status = 422, body = crate::error::ErrorBody, description = "A filter with a value it does not take")))]
pub async fn counts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<ApiJson<ViewCounts>> {
    auth.require(Permission::ConversationsRead)?;
    let base = ListParams {
        status: None,
        assignee: None,
        ..params
    }
    .filter(&auth)?;
    use ConversationStatus::{Assigned, Bot, Escalated};
    let view = |statuses: Vec<ConversationStatus>, assignee_id: Option<Option<String>>| {
        ConversationFilter {
            statuses,
            assignee_id,
            ..base.clone()
        }
    };
    let store = &state.store;
    let org_id = auth.org_id();
    let mine = match auth.principal.user_id() {
        Some(user_id) => {
            let filter = view(
                vec![Bot, Escalated, Assigned],
                Some(Some(user_id.to_owned())),
            );
            store.count_conversations(org_id, &filter).await?
        }
        None => 0,
    };
    let unassigned = view(vec![Bot, Escalated, Assigned], Some(None));
    let escalated = view(vec![Escalated], None);
    let snoozed = ConversationFilter {
        snoozed: Some(true),
        ..base.clone()
    };
    Ok(ApiJson(ViewCounts {
        snoozed: store.count_conversations(org_id, &snoozed).await?,
        mine,
        unassigned: store.count_conversations(org_id, &unassigned).await?,
        escalated: store.count_conversations(org_id, &escalated).await?,
        all: store.count_conversations(org_id, &base).await?,
    }))
}

/// One conversation with its contact and every message.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = ConversationDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ConversationDetail>> {
    auth.require(Permission::ConversationsRead)?;
    let conversation = state
        .store
        .conversation(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let contact = state
        .store
        .contact(auth.org_id(), &conversation.contact_id)
        .await?;
    let messages = state
        .store
        .messages(auth.org_id(), &id, 0, 10_000, true)
        .await?;
    let csat = state.store.csat(auth.org_id(), &id).await?;
    let handoff = state.store.handoff(auth.org_id(), &id).await?;
    let sla = state.store.sla_clock(auth.org_id(), &id).await?;
    let tags = state.store.routing_state(auth.org_id(), &id).await?.tags;
    Ok(ApiJson(ConversationDetail {
        reply_window: ReplyWindow::of(conversation.channel, &messages),
        conversation,
        contact,
        messages,
        handoff,
        sla,
        tags,
        csat,
    }))
}

/// Tells the customer that an agent is typing (shown in the web-chat widget). Send it again
/// every few seconds while the agent types.
#[utoipa::path(post, path = "/conversations/{id}/typing", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn typing(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .conversation(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    state.bus.publish(BusEvent::Typing {
        org_id: conversation.org_id,
        inbox_id: conversation.inbox_id,
        conversation_id: conversation.id,
        role: MessageRole::Agent,
    });
    Ok(StatusCode::NO_CONTENT)
}

/// An agent's reply, delivered on the conversation's channel, or a private note; with the
/// files uploaded for it, if any (422 for an id not uploaded to this conversation, or files
/// over the channel's total). A note's `@name`s (a user's display name, email local part or
/// email) and `mentions` notify those users; the message lists them in `mentions`.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    request_body = ReplyRequest,
    responses((status = 201, body = Message), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReplyRequest>,
) -> ApiResult<(StatusCode, ApiJson<Message>)> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let text = request.text.trim();
    if text.is_empty() && request.attachments.is_empty() {
        return Err(ApiError::Unprocessable("`text` must not be empty".into()));
    }
    if text.len() > 64 * 1024 {
        return Err(ApiError::Unprocessable(
            "`text` is longer than 64 KiB".into(),
        ));
    }
    if !request.private && !request.mentions.is_empty() {
        return Err(ApiError::Unprocessable(
            "`mentions` are for private notes (`private: true`)".into(),
        ));
    }
    let mentions = if request.private {
        crate::notifications::mentions_of(
            &state.store,
            auth.org_id(),
            principal.user_id(),
            text,
            &request.mentions,
        )
        .await?
    } else {
        Vec::new()
    };
    let attachments =
        super::attachments::attachments_for_reply(&state, auth.org_id(), &id, &request.attachments)
            .await?;
    let new = NewMessage {
        mentions,
        attachments,
        ..NewMessage::agent(principal.user_id(), text, request.private)
    };
    let (conversation, message, notifications) = state
        .store
        .append_message_notifying(auth.org_id(), &id, new)
        .await?;
    crate::app::agent_reply::after_agent_message(
        &state,
        &principal.actor(),
        principal.user_id(),
        &conversation,
        &message,
        serde_json::json!({ "message_id": message.id, "mentions": message.mentions }),
    )
    .await?;
    for notification in notifications {
        crate::notifications::announce(state.bus.as_ref(), notification);
    }
    Ok((StatusCode::CREATED, ApiJson(message)))
}

/// Assigns the conversation to an agent and team. Agents may take a conversation that is
/// unassigned or already theirs; anything else (another's conversation, assigning others)
/// needs `conversations:assign`, as for takeover. An agent assigned by someone else gets an
/// `assigned` notification.
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    request_body = AssignRequest, responses((status = 200, body = Conversation),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> ApiResult<ApiJson<Conversation>> {
    let taking_it = request.assignee_id.is_some()
        && request.assignee_id.as_deref() == auth.principal.user_id()
        && request.team_id.is_none();
    let principal = if taking_it {
        auth.require(Permission::ConversationsReply)?
    } else {
        auth.require(Permission::ConversationsAssign)?
    };
    let current = state
        .store
        .conversation(auth.org_id(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if taking_it {
        not_anothers(&auth, &current)?;
    }
    let conversation = state
        .store
        .assign(
            auth.org_id(),
            &id,
            request.assignee_id.as_deref(),
            request.team_id.as_deref(),
            &principal.actor(),
        )
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    crate::notifications::assigned(
        &state.store,
        state.bus.as_ref(),
        &conversation,
        current.assignee_id.as_deref(),
        principal.user_id(),
    )
    .await;
    Ok(ApiJson(conversation))
}

/// Marks the conversation resolved.
#[utoipa::path(post, path = "/conversations/{id}/resolve", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = Conversation)))]
pub async fn resolve(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .set_status(
            auth.org_id(),
            &id,
            ConversationStatus::Resolved,
            &principal.actor(),
        )
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    crate::routing::assignment::capacity_freed(&state.routing(), auth.org_id()).await;
    Ok(ApiJson(conversation))
}

/// Reopens a resolved or closed conversation, for its assignee or the human queue.
#[utoipa::path(post, path = "/conversations/{id}/reopen", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = Conversation)))]
pub async fn reopen(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .reopen(auth.org_id(), &id, &principal.actor())
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}

/// Loads a conversation for takeover or hand-back: it must be open, and one that another agent
/// owns may only be moved by someone with `conversations:assign`.
async fn open_for_handover(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Conversation> {
    auth.require(Permission::ConversationsReply)?;
    let conversation = state
        .store
        .conversation(auth.org_id(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if matches!(
        conversation.status,
        ConversationStatus::Resolved | ConversationStatus::Closed
    ) {
        return Err(ApiError::Conflict(format!(
            "the conversation is {}; reopen it first",
            conversation.status
        )));
    }
    not_anothers(auth, &conversation)?;
    Ok(conversation)
}

/// The one rule for moving a conversation someone owns: one that another agent owns may only
/// be moved by someone with `conversations:assign` (a supervisor or an admin).
fn not_anothers(auth: &Auth, conversation: &Conversation) -> ApiResult<()> {
    if let Some(owner) = conversation.assignee_id.as_deref()
        && Some(owner) != auth.principal.user_id()
    {
        auth.require(Permission::ConversationsAssign)?;
    }
    Ok(())
}

/// Takes the conversation over from the AI or the queue: assigns it to the caller (a signed-in
/// user) and sets it `assigned`.
#[utoipa::path(post, path = "/conversations/{id}/takeover", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = Conversation), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "An API key: only a user takes a conversation over")))]
pub async fn takeover(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Conversation>> {
    let user_id = auth
        .principal
        .user_id()
        .ok_or_else(|| {
            ApiError::Unprocessable("an API key cannot take a conversation over".into())
        })?
        .to_owned();
    let current = open_for_handover(&state, &auth, &id).await?;
    let conversation = state
        .store
        .assign(
            auth.org_id(),
            &id,
            Some(&user_id),
            current.team_id.as_deref(),
            &auth.principal.actor(),
        )
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}

/// Hands the conversation back to the AI: unassigned, status `bot`.
#[utoipa::path(post, path = "/conversations/{id}/handback", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, body = Conversation), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn handback(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Conversation>> {
    open_for_handover(&state, &auth, &id).await?;
    let mut conversation = state
        .store
        .hand_back_to_ai(auth.org_id(), &id, &auth.principal.actor())
        .await?;
    state
        .store
        .complete_conversations(auth.org_id(), std::slice::from_mut(&mut conversation))
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    crate::routing::assignment::capacity_freed(&state.routing(), auth.org_id()).await;
    Ok(ApiJson(conversation))
}

/// Sets the conversation's priority.
#[utoipa::path(post, path = "/conversations/{id}/priority", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    request_body = PriorityRequest, responses((status = 200, body = Conversation)))]
pub async fn set_priority(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<PriorityRequest>,
) -> ApiResult<ApiJson<Conversation>> {
    let principal = auth.require(Permission::ConversationsAssign)?;
    let conversation = state
        .store
        .set_priority(auth.org_id(), &id, request.priority, &principal.actor())
        .await?;
    publish_change(state.bus.as_ref(), &conversation);
    Ok(ApiJson(conversation))
}
