//! Labels: an organization's named, coloured tags, and the labels each conversation carries.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, RelationTrait as _, sea_query::SimpleExpr,
};
use serde_json::json;
use switchboard_model::{self as model, new_id};

use crate::{
    Result, Store, StoreError, conflict_as,
    conversations::{commit_with, conversation_row},
    directory::audit_at,
    entities::{contact, contact_label, conversation, conversation_label, label},
};

const NAME_TAKEN: &str = "a label with this name already exists";

/// At most this many labels on one conversation.
pub const MAX_LABELS_PER_CONVERSATION: usize = 20;

/// The colours a label gets when nobody chose one, picked by its name so that a label keeps
/// its colour wherever it was first made.
const DEFAULT_COLORS: [&str; 8] = [
    "#1f6feb", "#8250df", "#bf3989", "#cf222e", "#bc4c00", "#9a6700", "#1a7f37", "#0a7480",
];

fn record(row: label::Model) -> model::Label {
    model::Label {
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        color: row.color,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A label name as stored: trimmed and lowercased; 1–50 letters, digits, `-` or `_`.
pub fn label_name(name: &str) -> Result<String> {
    let name = name.trim().to_lowercase();
    if name.is_empty()
        || name.chars().count() > 50
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        return Err(StoreError::Invalid(format!(
            "label `{name}`: a name is 1–50 letters, digits, `-` or `_`"
        )));
    }
    Ok(name)
}

/// A colour as stored: `#rrggbb`, lowercased.
fn label_color(color: &str) -> Result<String> {
    let color = color.trim().to_lowercase();
    let hex = color.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(StoreError::Invalid("`color` must be `#rrggbb`".into()));
    }
    Ok(color)
}

fn default_color(name: &str) -> String {
    let sum = name.bytes().fold(0usize, |sum, byte| {
        sum.wrapping_mul(31).wrapping_add(byte.into())
    });
    DEFAULT_COLORS[sum % DEFAULT_COLORS.len()].to_owned()
}

/// The names of the labels of each owner in `owner_ids` (conversations or contacts, through
/// their join table `E`), in name order: one query for a whole page.
async fn names_by_owner<E>(
    db: &impl ConnectionTrait,
    org_id: &str,
    owner_ids: &[&str],
    owner: E::Column,
    org: E::Column,
    to_label: sea_orm::RelationDef,
) -> Result<HashMap<String, Vec<String>>>
where
    E: EntityTrait,
{
    let mut labels: HashMap<String, Vec<String>> = HashMap::new();
    if owner_ids.is_empty() {
        return Ok(labels);
    }
    let rows: Vec<(String, String)> = E::find()
        .select_only()
        .column(owner)
        .column(label::Column::Name)
        .join(JoinType::InnerJoin, to_label)
        .filter(org.eq(org_id))
        .filter(owner.is_in(owner_ids.iter().copied()))
        .order_by_asc(label::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    for (owner_id, name) in rows {
        labels.entry(owner_id).or_default().push(name);
    }
    Ok(labels)
}

/// The names of the labels of each of `conversation_ids`, in name order.
pub(crate) async fn labels_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversation_ids: &[&str],
) -> Result<HashMap<String, Vec<String>>> {
    names_by_owner::<conversation_label::Entity>(
        db,
        org_id,
        conversation_ids,
        conversation_label::Column::ConversationId,
        conversation_label::Column::OrgId,
        conversation_label::Relation::Label.def(),
    )
    .await
}

/// Fills the `labels` of `conversations` (all of one organization).
pub(crate) async fn fill_labels(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversations: &mut [model::Conversation],
) -> Result<()> {
    let ids: Vec<&str> = conversations.iter().map(|c| c.id.as_str()).collect();
    let mut labels = labels_of(db, org_id, &ids).await?;
    for conversation in conversations {
        conversation.labels = labels.remove(&conversation.id).unwrap_or_default();
    }
    Ok(())
}

/// The condition "carries the label named `name`" on conversations, for the list's filter:
/// answered from the (organization, label) index of `conversation_labels`.
pub(crate) fn has_label(org_id: &str, name: &str) -> SimpleExpr {
    let label_id = label::Entity::find()
        .select_only()
        .column(label::Column::Id)
        .filter(label::Column::OrgId.eq(org_id))
        .filter(label::Column::Name.eq(name))
        .into_query();
    let conversation_ids = conversation_label::Entity::find()
        .select_only()
        .column(conversation_label::Column::ConversationId)
        .filter(conversation_label::Column::OrgId.eq(org_id))
        .filter(conversation_label::Column::LabelId.in_subquery(label_id))
        .into_query();
    conversation::Column::Id.in_subquery(conversation_ids)
}

/// `names` as stored, each once, at most [`MAX_LABELS_PER_CONVERSATION`] (`what`: "a
/// conversation" or "a contact", for the error).
fn checked_names(names: &[String], what: &str) -> Result<BTreeSet<String>> {
    let names = names
        .iter()
        .map(|name| label_name(name))
        .collect::<Result<BTreeSet<String>>>()?;
    if names.len() > MAX_LABELS_PER_CONVERSATION {
        return Err(StoreError::Invalid(format!(
            "{what} carries at most {MAX_LABELS_PER_CONVERSATION} labels"
        )));
    }
    Ok(names)
}

/// The ids of the labels named `names`, creating those the organization has not got yet (with
/// a default colour); a label made at the same moment by another caller stays.
async fn ensure_labels(
    db: &impl ConnectionTrait,
    org_id: &str,
    names: &BTreeSet<String>,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let new_labels = names.iter().map(|name| label::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        name: Set(name.clone()),
        color: Set(default_color(name)),
        created_at: Set(now),
        updated_at: Set(now),
    });
    label::Entity::insert_many(new_labels)
        .on_conflict_do_nothing_on([label::Column::OrgId, label::Column::Name])
        .exec_without_returning(db)
        .await?;
    Ok(label::Entity::find()
        .select_only()
        .column(label::Column::Id)
        .filter(label::Column::OrgId.eq(org_id))
        .filter(label::Column::Name.is_in(names.iter()))
        .into_tuple()
        .all(db)
        .await?)
}

/// The names of the labels of each of `contact_ids`, in name order.
pub(crate) async fn contact_labels_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    contact_ids: &[&str],
) -> Result<HashMap<String, Vec<String>>> {
    names_by_owner::<contact_label::Entity>(
        db,
        org_id,
        contact_ids,
        contact_label::Column::ContactId,
        contact_label::Column::OrgId,
        contact_label::Relation::Label.def(),
    )
    .await
}

/// Moves the labels of contact `from` to contact `into` (a merge): `into` keeps its own and
/// takes the others.
pub(crate) async fn move_contact_labels(
    db: &impl ConnectionTrait,
    org_id: &str,
    from: &str,
    into: &str,
) -> Result<()> {
    let label_ids: Vec<String> = contact_label::Entity::find()
        .select_only()
        .column(contact_label::Column::LabelId)
        .filter(contact_label::Column::OrgId.eq(org_id))
        .filter(contact_label::Column::ContactId.eq(from))
        .into_tuple()
        .all(db)
        .await?;
    if label_ids.is_empty() {
        return Ok(());
    }
    let rows = label_ids.iter().map(|label_id| contact_label::ActiveModel {
        contact_id: Set(into.to_owned()),
        label_id: Set(label_id.clone()),
        org_id: Set(org_id.to_owned()),
    });
    contact_label::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([
            contact_label::Column::ContactId,
            contact_label::Column::LabelId,
        ])
        .exec_without_returning(db)
        .await?;
    contact_label::Entity::delete_many()
        .filter(contact_label::Column::OrgId.eq(org_id))
        .filter(contact_label::Column::ContactId.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

impl Store {
    pub async fn list_labels(&self, org_id: &str) -> Result<Vec<model::Label>> {
        Ok(label::Entity::find()
            .filter(label::Column::OrgId.eq(org_id))
            .order_by_asc(label::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(record)
            .collect())
    }

    /// Adds a label; without a colour it gets one of the default colours.
    pub async fn create_label(
        &self,
        org_id: &str,
        name: &str,
        color: Option<&str>,
    ) -> Result<model::Label> {
        let name = label_name(name)?;
        let color = match color {
            Some(color) => label_color(color)?,
            None => default_color(&name),
        };
        let now = self.now();
        let row = label::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name,
            color,
            created_at: now,
            updated_at: now,
        };
        let txn = self.begin_write().await?;
        label::Entity::insert(label::ActiveModel::from(row.clone()))
            .exec_without_returning(&*txn)
            .await
            .map_err(conflict_as(NAME_TAKEN))?;
        txn.commit().await?;
        Ok(record(row))
    }

    /// Renames or recolours a label (the fields that are given). Conversations keep it.
    pub async fn update_label(
        &self,
        org_id: &str,
        id: &str,
        name: Option<&str>,
        color: Option<&str>,
    ) -> Result<model::Label> {
        let name = name.map(label_name).transpose()?;
        let color = color.map(label_color).transpose()?;
        let txn = self.begin_write().await?;
        let row = label::Entity::find_by_id(id)
            .filter(label::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: label::ActiveModel = row.into();
        if let Some(name) = name {
            active.name = Set(name);
        }
        if let Some(color) = color {
            active.color = Set(color);
        }
        active.updated_at = Set(self.now());
        let row = label::Entity::update(active)
            .exec(&*txn)
            .await
            .map_err(conflict_as(NAME_TAKEN))?;
        txn.commit().await?;
        Ok(record(row))
    }

    /// Deletes a label and takes it off every conversation and contact. Returns the conversations that
    /// carried it, so that open views can be told.
    pub async fn delete_label(&self, org_id: &str, id: &str) -> Result<Vec<String>> {
        let txn = self.begin_write().await?;
        let carried: Vec<String> = conversation_label::Entity::find()
            .select_only()
            .column(conversation_label::Column::ConversationId)
            .filter(conversation_label::Column::OrgId.eq(org_id))
            .filter(conversation_label::Column::LabelId.eq(id))
            .into_tuple()
            .all(&*txn)
            .await?;
        conversation_label::Entity::delete_many()
            .filter(conversation_label::Column::OrgId.eq(org_id))
            .filter(conversation_label::Column::LabelId.eq(id))
            .exec(&*txn)
            .await?;
        contact_label::Entity::delete_many()
            .filter(contact_label::Column::OrgId.eq(org_id))
            .filter(contact_label::Column::LabelId.eq(id))
            .exec(&*txn)
            .await?;
        let deleted = label::Entity::delete_many()
            .filter(label::Column::Id.eq(id))
            .filter(label::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        txn.commit().await?;
        Ok(carried)
    }

    /// Sets the labels of a conversation to exactly `names`; a name the organization has no
    /// label for yet becomes one, with a default colour. Audited, in one transaction.
    pub async fn set_conversation_labels(
        &self,
        org_id: &str,
        conversation_id: &str,
        names: &[String],
        actor: &str,
    ) -> Result<model::Conversation> {
        let names = checked_names(names, "a conversation")?;
        let txn = self.begin_write().await?;
        let row = conversation_row(&*txn, org_id, conversation_id).await?;
        let now = self.now();
        let label_ids = ensure_labels(&*txn, org_id, &names, now).await?;
        conversation_label::Entity::delete_many()
            .filter(conversation_label::Column::ConversationId.eq(conversation_id))
            .exec(&*txn)
            .await?;
        if !label_ids.is_empty() {
            let rows = label_ids
                .iter()
                .map(|label_id| conversation_label::ActiveModel {
                    conversation_id: Set(conversation_id.to_owned()),
                    label_id: Set(label_id.clone()),
                    org_id: Set(org_id.to_owned()),
                });
            conversation_label::Entity::insert_many(rows)
                .exec_without_returning(&*txn)
                .await?;
        }
        let mut active: conversation::ActiveModel = row.into();
        active.updated_at = Set(now);
        let row = conversation::Entity::update(active).exec(&*txn).await?;
        audit_at(
            &*txn,
            self.now(),
            org_id,
            actor,
            "conversation.labels",
            Some(conversation_id),
            json!({ "labels": names }),
        )
        .await?;
        commit_with(txn, org_id, row).await
    }

    /// The names of a conversation's labels, in name order (empty for an unknown one).
    pub async fn conversation_labels(
        &self,
        org_id: &str,
        conversation_id: &str,
    ) -> Result<Vec<String>> {
        Ok(labels_of(self.db(), org_id, &[conversation_id])
            .await?
            .remove(conversation_id)
            .unwrap_or_default())
    }

    /// Sets the labels of a contact to exactly `names`, as [`Store::set_conversation_labels`]
    /// does for a conversation. Audited (`contact.labels`), in one transaction.
    pub async fn set_contact_labels(
        &self,
        org_id: &str,
        contact_id: &str,
        names: &[String],
        actor: &str,
    ) -> Result<model::Contact> {
        let names = checked_names(names, "a contact")?;
        let txn = self.begin_write().await?;
        let row = contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = self.now();
        let label_ids = ensure_labels(&*txn, org_id, &names, now).await?;
        contact_label::Entity::delete_many()
            .filter(contact_label::Column::OrgId.eq(org_id))
            .filter(contact_label::Column::ContactId.eq(contact_id))
            .exec(&*txn)
            .await?;
        if !label_ids.is_empty() {
            let rows = label_ids.iter().map(|label_id| contact_label::ActiveModel {
                contact_id: Set(contact_id.to_owned()),
                label_id: Set(label_id.clone()),
                org_id: Set(org_id.to_owned()),
            });
            contact_label::Entity::insert_many(rows)
                .exec_without_returning(&*txn)
                .await?;
        }
        let mut active: contact::ActiveModel = row.into();
        active.updated_at = Set(now);
        contact::Entity::update(active).exec(&*txn).await?;
        audit_at(
            &*txn,
            self.now(),
            org_id,
            actor,
            "contact.labels",
            Some(contact_id),
            json!({ "labels": names }),
        )
        .await?;
        txn.commit().await?;
        self.contact(org_id, contact_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Fills what conversations read elsewhere carry beside their row (labels, snooze).
    pub async fn complete_conversations(
        &self,
        org_id: &str,
        conversations: &mut [model::Conversation],
    ) -> Result<()> {
        crate::conversations::complete(self.db(), org_id, conversations).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_colours_are_checked() {
        assert_eq!(label_name(" Billing ").expect("valid"), "billing");
        assert_eq!(label_name("vip_2").expect("valid"), "vip_2");
        assert!(label_name("").is_err());
        assert!(label_name("two words").is_err());
        assert!(label_name(&"x".repeat(51)).is_err());
        assert_eq!(label_color("#A0B1C2").expect("valid"), "#a0b1c2");
        assert!(label_color("red").is_err());
        assert!(label_color("#12345").is_err());
        assert_eq!(default_color("billing"), default_color("billing"));
        assert!(DEFAULT_COLORS.contains(&default_color("bug").as_str()));
    }
}
