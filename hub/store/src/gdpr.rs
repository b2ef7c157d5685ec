//! A contact's personal data, all of it: the export (GDPR access) and the erasure (GDPR
//! erasure), which deletes every row that holds what they wrote or who they are, in one
//! transaction.

use std::collections::HashSet;

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};
use switchboard_model::Attachment;

use crate::{Result, Store, StoreError, convert, entities::*};

/// Where the hub serves the files it keeps (`hub/server/src/attachments.rs`).
const KEPT_FILES: &str = "/api/v1/attachments/";

/// What an erasure removed.
#[derive(Clone, Debug, Default)]
pub struct Erased {
    pub conversations: usize,
    pub messages: usize,
    /// Kept files (`(sha256, filename)` in the organization's folder) that no message of the
    /// organization refers to any more: the caller deletes them from the data dir.
    pub orphaned_files: Vec<(String, String)>,
}

/// The words of a text, as knowledge gaps compare questions.
fn wording(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kept file an attachment names, if the hub keeps it.
fn kept_file(attachment: &Attachment) -> Option<(String, String)> {
    let rest = attachment.url.as_deref()?.strip_prefix(KEPT_FILES)?;
    let (hash, filename) = rest.split_once('/')?;
    Some((hash.to_owned(), filename.to_owned()))
}

async fn conversations_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    contact_id: &str,
) -> Result<Vec<conversation::Model>> {
    Ok(conversation::Entity::find()
        .filter(conversation::Column::OrgId.eq(org_id))
        .filter(conversation::Column::ContactId.eq(contact_id))
        .order_by_asc(conversation::Column::Id)
        .all(db)
        .await?)
}

impl Store {
    /// Everything held about a contact, as JSON: the contact with its identities, its
    /// customer value, each conversation with its messages, CSAT answers, handoffs and routing
    /// state, and the audit entries about the contact or its conversations.
    pub async fn export_contact(&self, org_id: &str, contact_id: &str) -> Result<Value> {
        let contact = self
            .contact(org_id, contact_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let db = self.db();
        let value = contact_value::Entity::find_by_id(contact_id)
            .filter(contact_value::Column::OrgId.eq(org_id))
            .one(db)
            .await?
            .map(
                |row| json!({ "tier": row.tier, "value": row.value, "updated_at": row.updated_at }),
            );
        let mut subjects = vec![contact_id.to_owned()];
        let mut conversations = Vec::new();
        for row in conversations_of(db, org_id, contact_id).await? {
            let id = row.id.clone();
            subjects.push(id.clone());
            let messages = message::Entity::find()
                .filter(message::Column::ConversationId.eq(&id))
                .order_by_asc(message::Column::Seq)
                .all(db)
                .await?
                .into_iter()
                .map(convert::message)
                .collect::<Result<Vec<_>>>()?;
            let csat: Vec<Value> = csat_response::Entity::find()
                .filter(csat_response::Column::ConversationId.eq(&id))
                .all(db)
                .await?
                .into_iter()
                .map(|row| {
                    json!({ "score": row.score, "comment": row.comment,
                            "created_at": row.created_at, "updated_at": row.updated_at })
                })
                .collect();
            let handoffs: Vec<Value> = handoff::Entity::find()
                .filter(handoff::Column::ConversationId.eq(&id))
                .order_by_asc(handoff::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .map(|row| {
                    json!({ "id": row.id, "summary": row.summary, "reason": row.reason,
                            "reason_kind": row.reason_kind, "suggested_reply": row.suggested_reply,
                            "topic": row.topic, "sentiment": row.sentiment,
                            "priority": row.priority, "created_at": row.created_at })
                })
                .collect();
            let routing = conversation_routing::Entity::find_by_id(&id)
                .one(db)
                .await?
                .map(|row| {
                    json!({ "tags": row.tags, "escalated_at": row.escalated_at,
                            "first_response_due_at": row.first_response_due_at,
                            "resolution_due_at": row.resolution_due_at })
                });
            conversations.push(json!({
                "conversation": convert::conversation(row)?,
                "messages": messages,
                "csat": csat,
                "handoffs": handoffs,
                "routing": routing,
            }));
        }
        let audit: Vec<_> = audit_log::Entity::find()
            .filter(audit_log::Column::OrgId.eq(org_id))
            .filter(audit_log::Column::SubjectId.is_in(subjects))
            .order_by_asc(audit_log::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(convert::audit_event)
            .collect();
        Ok(json!({
            "exported_at": self.now(),
            "contact": contact,
            "customer_value": value,
            "conversations": conversations,
            "audit": audit,
        }))
    }

    /// Erases a contact: its identities and value, its conversations with their messages,
    /// delivery jobs, CSAT answers, handoffs, routing state, labels, snoozes, helpdesk and Slack
    /// links and queued webhooks ([`delete_conversations`]); the knowledge-gap examples that
    /// are its words; and the data of the audit entries about it (the entries stay, saying
    /// what was done and when). One transaction: all of it or nothing.
    ///
    /// `terms_of` gives a question's search terms, as [`Store::record_gap`] was given them: a
    /// gap that loses its question to the erasure is keyed again by its next example's terms.
    pub async fn erase_contact(
        &self,
        org_id: &str,
        contact_id: &str,
        terms_of: &(dyn Fn(&str) -> Vec<String> + Sync),
    ) -> Result<Erased> {
        let txn = self.begin_write().await?;
        contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let conversation_ids: Vec<String> = conversations_of(&*txn, org_id, contact_id)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        let deleted = delete_conversations(&*txn, &conversation_ids).await?;
        csat_response::Entity::delete_many()
            .filter(csat_response::Column::ContactId.eq(contact_id))
            .exec(&*txn)
            .await?;
        contact_identity::Entity::delete_many()
            .filter(contact_identity::Column::ContactId.eq(contact_id))
            .exec(&*txn)
            .await?;
        contact_value::Entity::delete_many()
            .filter(contact_value::Column::ContactId.eq(contact_id))
            .exec(&*txn)
            .await?;
        crate::entities::contact_label::Entity::delete_many()
            .filter(crate::entities::contact_label::Column::ContactId.eq(contact_id))
            .exec(&*txn)
            .await?;
        contact::Entity::delete_by_id(contact_id)
            .exec(&*txn)
            .await?;

        let subjects: Vec<String> = std::iter::once(contact_id.to_owned())
            .chain(conversation_ids.iter().cloned())
            .collect();
        audit_log::Entity::update_many()
            .col_expr(
                audit_log::Column::Data,
                Expr::value(json!({ "erased": true })),
            )
            .filter(audit_log::Column::OrgId.eq(org_id))
            .filter(audit_log::Column::SubjectId.is_in(subjects))
            .exec(&*txn)
            .await?;

        forget_gap_examples(&*txn, org_id, &deleted.customer_words, terms_of).await?;
        let orphaned_files = unused_files(&*txn, org_id, deleted.files).await?;
        txn.commit().await?;
        Ok(Erased {
            conversations: conversation_ids.len(),
            messages: deleted.messages,
            orphaned_files,
        })
    }
}

/// Takes the questions that are `words` out of the organization's knowledge gaps: a gap keeps
/// its count, shows another example as its question, or goes when none is left. A gap whose
/// question changes is keyed again by `terms_of` its new question.
async fn forget_gap_examples(
    db: &impl ConnectionTrait,
    org_id: &str,
    words: &HashSet<String>,
    terms_of: &(dyn Fn(&str) -> Vec<String> + Sync),
) -> Result<()> {
    if words.is_empty() {
        return Ok(());
    }
    let gaps = knowledge_gap::Entity::find()
        .filter(knowledge_gap::Column::OrgId.eq(org_id))
        .all(db)
        .await?;
    for gap in gaps {
        let examples: Vec<String> = convert::from_json(&gap.examples)?;
        let kept: Vec<String> = examples
            .iter()
            .filter(|example| !words.contains(&wording(example)))
            .cloned()
            .collect();
        let question_is_theirs = words.contains(&wording(&gap.question));
        if kept.len() == examples.len() && !question_is_theirs {
            continue;
        }
        match kept.first().cloned() {
            None => {
                knowledge_gap::Entity::delete_by_id(gap.id).exec(db).await?;
            }
            Some(first) => {
                let question = if question_is_theirs {
                    first
                } else {
                    gap.question.clone()
                };
                let mut active: knowledge_gap::ActiveModel = gap.into();
                if question_is_theirs {
                    // The grouping key is made of the question's words too.
                    let mut terms = terms_of(&question);
                    terms.sort();
                    terms.dedup();
                    active.terms = Set(terms.join(" "));
                }
                active.question = Set(question);
                active.examples = Set(convert::to_json(&kept));
                knowledge_gap::Entity::update(active).exec(db).await?;
            }
        }
    }
    Ok(())
}

/// What [`delete_conversations`] removed.
pub(crate) struct DeletedConversations {
    pub messages: usize,
    /// The customers' questions, as knowledge gaps compare them.
    pub customer_words: HashSet<String>,
    /// The kept files the messages named (which other messages may still name).
    pub files: Vec<(String, String)>,
}

/// The kept files that messages' attachments name, each once.
pub(crate) fn kept_files(attachments: &[serde_json::Value]) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for json in attachments {
        let attachments: Vec<Attachment> = convert::from_json(json)?;
        files.extend(attachments.iter().filter_map(kept_file));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Deletes conversations (of one organization) with every row that hangs off them: messages
/// and their delivery jobs, helpdesk and Slack links, threads, routing state, handoffs, CSAT
/// answers, labels, snoozes, notifications and queued webhooks. The search index follows the rows (its
/// triggers and expression indexes). The caller's transaction; the files are the caller's.
pub(crate) async fn delete_conversations(
    db: &impl ConnectionTrait,
    conversation_ids: &[String],
) -> Result<DeletedConversations> {
    if conversation_ids.is_empty() {
        return Ok(DeletedConversations {
            messages: 0,
            customer_words: HashSet::new(),
            files: Vec::new(),
        });
    }
    let ids = || conversation_ids.iter().cloned();
    let messages: Vec<(String, String, serde_json::Value)> = message::Entity::find()
        .select_only()
        .columns([
            message::Column::Role,
            message::Column::Text,
            message::Column::Attachments,
        ])
        .filter(message::Column::ConversationId.is_in(ids()))
        .into_tuple()
        .all(db)
        .await?;
    let customer_words: HashSet<String> = messages
        .iter()
        .filter(|(role, _, _)| role == switchboard_model::MessageRole::Customer.as_str())
        .map(|(_, text, _)| wording(text))
        .filter(|words| !words.is_empty())
        .collect();
    let attachments: Vec<serde_json::Value> = messages
        .iter()
        .map(|(_, _, attachments)| attachments.clone())
        .collect();
    let files = kept_files(&attachments)?;

    // By subquery, not a list of ids: a batch may hold more messages than a statement binds.
    delivery_job::Entity::delete_many()
        .filter(
            delivery_job::Column::MessageId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(message::Column::Id)
                    .from(message::Entity)
                    .and_where(message::Column::ConversationId.is_in(ids()))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?;
    helpdesk_comment::Entity::delete_many()
        .filter(helpdesk_comment::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    helpdesk_ticket::Entity::delete_many()
        .filter(helpdesk_ticket::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    slack_desk_message::Entity::delete_many()
        .filter(slack_desk_message::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    slack_mirror::Entity::delete_many()
        .filter(slack_mirror::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    thread::Entity::delete_many()
        .filter(thread::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    conversation_routing::Entity::delete_many()
        .filter(conversation_routing::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    handoff::Entity::delete_many()
        .filter(handoff::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    csat_response::Entity::delete_many()
        .filter(csat_response::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    conversation_label::Entity::delete_many()
        .filter(conversation_label::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    conversation_snooze::Entity::delete_many()
        .filter(conversation_snooze::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    notification::Entity::delete_many()
        .filter(notification::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    crate::webhooks::forget_conversations(db, conversation_ids).await?;
    message::Entity::delete_many()
        .filter(message::Column::ConversationId.is_in(ids()))
        .exec(db)
        .await?;
    conversation::Entity::delete_many()
        .filter(conversation::Column::Id.is_in(ids()))
        .exec(db)
        .await?;
    Ok(DeletedConversations {
        messages: messages.len(),
        customer_words,
        files,
    })
}

/// Of `files` (kept in the organization's folder), those no message of the organization
/// names any more: the caller deletes them from the data dir after committing.
pub(crate) async fn unused_files(
    db: &impl ConnectionTrait,
    org_id: &str,
    files: Vec<(String, String)>,
) -> Result<Vec<(String, String)>> {
    let mut unused = Vec::new();
    for (hash, filename) in files {
        let still_used = message::Entity::find()
            .filter(message::Column::OrgId.eq(org_id))
            .filter(Expr::cust("CAST(attachments AS TEXT)").like(format!("%{hash}%")))
            .one(db)
            .await?
            .is_some();
        if !still_used {
            unused.push((hash, filename));
        }
    }
    Ok(unused)
}
