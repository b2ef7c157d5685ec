//! Contacts and their identities on each channel.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use switchboard_model::{self as model, ChannelKind, ContactRef, new_id};

use crate::{Result, Store, StoreError, convert, entities::*};

/// One page of contacts, newest first.
#[derive(Clone, Debug)]
pub struct ContactPage {
    pub contacts: Vec<model::Contact>,
    pub next_cursor: Option<String>,
}

/// Finds the contact known on `channel` as `sender.external_id`, or creates it. Safe against a
/// concurrent first message from the same person: the identity is claimed first, and only the
/// transaction that claims it creates the contact.
pub(crate) async fn find_or_create(
    db: &impl ConnectionTrait,
    org_id: &str,
    channel: ChannelKind,
    sender: &ContactRef,
    now: DateTime<Utc>,
) -> Result<String> {
    let find = || {
        contact_identity::Entity::find().filter(
            Condition::all()
                .add(contact_identity::Column::OrgId.eq(org_id))
                .add(contact_identity::Column::Channel.eq(channel.as_str()))
                .add(contact_identity::Column::ExternalId.eq(&sender.external_id)),
        )
    };
    if let Some(identity) = find().one(db).await? {
        return Ok(identity.contact_id);
    }
    let (contact_id, contact, identity) = new_contact(org_id, channel, sender, now);
    let claimed = contact_identity::Entity::insert(identity)
        .on_conflict_do_nothing_on([
            contact_identity::Column::OrgId,
            contact_identity::Column::Channel,
            contact_identity::Column::ExternalId,
        ])
        .exec_without_returning(db)
        .await?;
    if !matches!(claimed, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        let identity = find().one(db).await?.ok_or(StoreError::NotFound)?;
        return Ok(identity.contact_id);
    }
    contact::Entity::insert(contact)
        .exec_without_returning(db)
        .await?;
    Ok(contact_id)
}

/// The rows of a contact first seen as `sender` on `channel`: its id, the contact and its
/// identity.
pub(crate) fn new_contact(
    org_id: &str,
    channel: ChannelKind,
    sender: &ContactRef,
    now: DateTime<Utc>,
) -> (String, contact::ActiveModel, contact_identity::ActiveModel) {
    let contact_id = new_id();
    let identity = contact_identity::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_owned()),
        contact_id: Set(contact_id.clone()),
        channel: Set(channel.as_str().to_owned()),
        external_id: Set(sender.external_id.clone()),
        created_at: Set(now),
    };
    let contact = contact::ActiveModel {
        id: Set(contact_id.clone()),
        org_id: Set(org_id.to_owned()),
        name: Set(sender.name.clone()),
        email: Set(sender.email.clone()),
        phone: Set(sender.phone.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    (contact_id, contact, identity)
}

/// The identities of `contact_ids` (all of `org_id`), by contact, oldest first: one query.
async fn identities_of(
    db: &impl ConnectionTrait,
    org_id: &str,
    contact_ids: Vec<String>,
) -> Result<HashMap<String, Vec<contact_identity::Model>>> {
    let mut identities: HashMap<String, Vec<contact_identity::Model>> = HashMap::new();
    for identity in contact_identity::Entity::find()
        .filter(contact_identity::Column::OrgId.eq(org_id))
        .filter(contact_identity::Column::ContactId.is_in(contact_ids))
        .order_by_asc(contact_identity::Column::Id)
        .all(db)
        .await?
    {
        identities
            .entry(identity.contact_id.clone())
            .or_default()
            .push(identity);
    }
    Ok(identities)
}

/// Fills the `contact_display_name` and `contact_avatar_colour` of `conversations` (all of
/// one organization) from their contacts: two queries for the whole slice.
pub(crate) async fn fill_contact_names(
    db: &impl ConnectionTrait,
    org_id: &str,
    conversations: &mut [model::Conversation],
) -> Result<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = conversations.iter().map(|c| c.contact_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org_id))
        .filter(contact::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    let mut identities = identities_of(db, org_id, ids).await?;
    let mut contacts = HashMap::with_capacity(rows.len());
    for row in rows {
        let own = identities.remove(&row.id).unwrap_or_default();
        let contact = convert::contact(row, own)?;
        contacts.insert(contact.id.clone(), contact);
    }
    for conversation in conversations {
        if let Some(contact) = contacts.get(&conversation.contact_id) {
            conversation.contact_display_name = Some(contact.display_name.clone());
            conversation.contact_avatar_colour = Some(contact.avatar_colour.clone());
        }
    }
    Ok(())
}

impl Store {
    /// Contacts, newest first, optionally those whose name or email contains `query`.
    pub async fn list_contacts(
        &self,
        org_id: &str,
        query: Option<&str>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<ContactPage> {
        let mut select = contact::Entity::find().filter(contact::Column::OrgId.eq(org_id));
        if let Some(query) = query.map(str::trim).filter(|query| !query.is_empty()) {
            select = select.filter(
                Condition::any()
                    .add(contact::Column::Name.contains(query))
                    .add(contact::Column::Email.contains(query))
                    .add(contact::Column::Phone.contains(query)),
            );
        }
        if let Some(cursor) = cursor {
            select = select.filter(contact::Column::Id.lt(cursor));
        }
        let mut rows = select
            .order_by_desc(contact::Column::Id)
            .limit(limit + 1)
            .all(self.db())
            .await?;
        let next_cursor = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|row| row.id.clone())
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut identities = identities_of(self.db(), org_id, ids).await?;
        let contact_ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let mut labels = crate::labels::contact_labels_of(self.db(), org_id, &contact_ids).await?;
        let contacts = rows
            .into_iter()
            .map(|row| {
                let own = identities.remove(&row.id).unwrap_or_default();
                let own_labels = labels.remove(&row.id).unwrap_or_default();
                convert::contact(row, own).map(|contact| model::Contact {
                    labels: own_labels,
                    ..contact
                })
            })
            .collect::<Result<_>>()?;
        Ok(ContactPage {
            contacts,
            next_cursor,
        })
    }

    pub async fn contact(&self, org_id: &str, contact_id: &str) -> Result<Option<model::Contact>> {
        let Some(row) = contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrgId.eq(org_id))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let identities = contact_identity::Entity::find()
            .filter(contact_identity::Column::ContactId.eq(contact_id))
            .order_by_asc(contact_identity::Column::Id)
            .all(self.db())
            .await?;
        let labels = crate::labels::contact_labels_of(self.db(), org_id, &[contact_id])
            .await?
            .remove(contact_id)
            .unwrap_or_default();
        let contact = convert::contact(row, identities)?;
        Ok(Some(model::Contact { labels, ..contact }))
    }

    /// Updates a contact's name, email or phone (`Some(None)` clears a field).
    pub async fn update_contact(
        &self,
        org_id: &str,
        contact_id: &str,
        name: Option<Option<String>>,
        email: Option<Option<String>>,
        phone: Option<Option<String>>,
    ) -> Result<model::Contact> {
        let txn = self.begin_write().await?;
        let row = contact::Entity::find_by_id(contact_id)
            .filter(contact::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: contact::ActiveModel = row.into();
        if let Some(name) = name {
            active.name = Set(name);
        }
        if let Some(email) = email {
            active.email = Set(email);
        }
        if let Some(phone) = phone {
            active.phone = Set(phone);
        }
        active.updated_at = Set(self.now());
        contact::Entity::update(active).exec(&*txn).await?;
        txn.commit().await?;
        self.contact(org_id, contact_id)
            .await?
            .ok_or(StoreError::NotFound)
    }
}
