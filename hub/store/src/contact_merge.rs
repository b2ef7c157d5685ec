//! Merging two contacts that are one person (the same customer by email and on WhatsApp): the
//! identities, conversations, ratings, labels and routing value of one move to the other, which keeps
//! its own fields and takes the other's where it has none; the merged contact is deleted.

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde_json::json;
use switchboard_model::{self as model, ConversationStatus};

use crate::{
    Result, Store, StoreError, convert,
    directory::audit_at,
    entities::{contact, contact_identity, contact_value, conversation, csat_response},
};

/// What a merge did.
#[derive(Clone, Debug)]
pub struct MergedContact {
    /// The surviving contact, with every identity.
    pub contact: model::Contact,
    /// The conversations that moved to it, as `(conversation id, inbox id, status)`, so that
    /// open views can be told.
    pub moved_conversations: Vec<(String, String, ConversationStatus)>,
}

/// `value` unless it is absent or blank, then `other`.
fn or_blank(value: Option<String>, other: Option<String>) -> Option<String> {
    match value {
        Some(value) if !value.trim().is_empty() => Some(value),
        _ => other.filter(|other| !other.trim().is_empty()),
    }
}

/// At most this many likely duplicates are suggested for one contact.
const MAX_DUPLICATES: u64 = 20;

impl Store {
    /// The contacts of `org_id` that are likely the same person as `contact_id`: the same email
    /// (letter case aside) or the same phone number. `NotFound` when the contact is not the
    /// organization's; empty when it has neither email nor phone.
    pub async fn duplicate_contacts(
        &self,
        org_id: &str,
        contact_id: &str,
    ) -> Result<Vec<model::Contact>> {
        let this = self
            .contact(org_id, contact_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let email = this
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let phone = this
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let mut same = sea_orm::Condition::any();
        if let Some(email) = email {
            same = same.add(
                Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(
                    contact::Column::Email,
                )))
                .eq(email.to_lowercase()),
            );
        }
        if let Some(phone) = phone {
            same = same.add(contact::Column::Phone.eq(phone));
        }
        if email.is_none() && phone.is_none() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .filter(contact::Column::OrgId.eq(org_id))
            .filter(contact::Column::Id.ne(contact_id))
            .filter(same)
            .limit(MAX_DUPLICATES)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut duplicates = Vec::with_capacity(ids.len());
        for id in ids {
            duplicates.extend(self.contact(org_id, &id).await?);
        }
        Ok(duplicates)
    }

    /// Merges contact `merged_id` into `into_id`, both of `org_id`, in one transaction, and
    /// audits it. New messages on the merged contact's identities then land on the survivor,
    /// because the identities themselves moved.
    pub async fn merge_contacts(
        &self,
        org_id: &str,
        merged_id: &str,
        into_id: &str,
        actor: &str,
    ) -> Result<MergedContact> {
        if merged_id == into_id {
            return Err(StoreError::Invalid(
                "a contact cannot be merged into itself".into(),
            ));
        }
        let txn = self.begin_write().await?;
        let find = |id: &str| {
            contact::Entity::find_by_id(id.to_owned()).filter(contact::Column::OrgId.eq(org_id))
        };
        let merged = find(merged_id)
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let survivor = find(into_id)
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let moved: Vec<(String, String, String)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .column(conversation::Column::InboxId)
            .column(conversation::Column::Status)
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::ContactId.eq(merged_id))
            .into_tuple()
            .all(&*txn)
            .await?;
        let moved_conversations = moved
            .into_iter()
            .map(|(id, inbox_id, status)| Ok((id, inbox_id, convert::parse(&status)?)))
            .collect::<Result<Vec<_>>>()?;
        contact_identity::Entity::update_many()
            .col_expr(contact_identity::Column::ContactId, Expr::value(into_id))
            .filter(contact_identity::Column::OrgId.eq(org_id))
            .filter(contact_identity::Column::ContactId.eq(merged_id))
            .exec(&*txn)
            .await?;
        let now = self.now();
        conversation::Entity::update_many()
            .col_expr(conversation::Column::ContactId, Expr::value(into_id))
            .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
            .filter(conversation::Column::OrgId.eq(org_id))
            .filter(conversation::Column::ContactId.eq(merged_id))
            .exec(&*txn)
            .await?;
        csat_response::Entity::update_many()
            .col_expr(csat_response::Column::ContactId, Expr::value(into_id))
            .filter(csat_response::Column::OrgId.eq(org_id))
            .filter(csat_response::Column::ContactId.eq(merged_id))
            .exec(&*txn)
            .await?;
        // The routing value: the survivor's own wins; without one it takes the merged one's.
        let has_value = contact_value::Entity::find_by_id(into_id.to_owned())
            .one(&*txn)
            .await?
            .is_some();
        if has_value {
            contact_value::Entity::delete_by_id(merged_id.to_owned())
                .exec(&*txn)
                .await?;
        } else {
            contact_value::Entity::update_many()
                .col_expr(contact_value::Column::ContactId, Expr::value(into_id))
                .filter(contact_value::Column::OrgId.eq(org_id))
                .filter(contact_value::Column::ContactId.eq(merged_id))
                .exec(&*txn)
                .await?;
        }
        crate::labels::move_contact_labels(&*txn, org_id, merged_id, into_id).await?;
        let filled = json!({
            "name": survivor.name.is_none() && merged.name.is_some(),
            "email": survivor.email.is_none() && merged.email.is_some(),
            "phone": survivor.phone.is_none() && merged.phone.is_some(),
        });
        let mut active: contact::ActiveModel = survivor.clone().into();
        active.name = Set(or_blank(survivor.name, merged.name.clone()));
        active.email = Set(or_blank(survivor.email, merged.email.clone()));
        active.phone = Set(or_blank(survivor.phone, merged.phone.clone()));
        active.updated_at = Set(now);
        contact::Entity::update(active).exec(&*txn).await?;
        contact::Entity::delete_by_id(merged_id.to_owned())
            .exec(&*txn)
            .await?;
        audit_at(
            &*txn,
            self.now(),
            org_id,
            actor,
            "contact.merged",
            Some(into_id),
            json!({
                "merged_id": merged_id,
                "merged": { "name": merged.name, "email": merged.email, "phone": merged.phone },
                "filled": filled,
                "conversations": moved_conversations.len(),
            }),
        )
        .await?;
        txn.commit().await?;
        let contact = self
            .contact(org_id, into_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(MergedContact {
            contact,
            moved_conversations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::or_blank;

    #[test]
    fn the_survivors_fields_win_unless_blank() {
        let some = |text: &str| Some(text.to_owned());
        assert_eq!(or_blank(some("Ada"), some("Bob")), some("Ada"));
        assert_eq!(or_blank(None, some("Bob")), some("Bob"));
        assert_eq!(or_blank(some("  "), some("Bob")), some("Bob"));
        assert_eq!(or_blank(None, some(" ")), None);
    }
}
