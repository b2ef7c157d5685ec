//! A batch of customer messages in one write transaction (the ingest writers' common case,
//! [`super::start_ingest_writers`]): messages to open conversations numbered from one read and
//! written back in one upsert, first messages of new threads opened in bulk, the rest stored one
//! by one through [`super::ingest_in`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryTrait, Statement, sea_query::OnConflict,
};
use switchboard_model::{self as model, ConversationStatus, new_id};

use super::{Effects, IngestOutcome, Pending, message_row, new_conversation, opened_by, stored};
use crate::{Result, StoreError, contacts, conversations::upsert_numbered, convert, entities::*};

/// A batch of messages in the caller's write transaction, with a constant number of
/// statements for the common case: messages in open conversations their channel thread already
/// names. Those are read in two queries, numbered here (the read is exact: the write gate makes
/// this transaction SQLite's only writer, and PostgreSQL's rows are locked, [`threads_of`]),
/// and written back in one upsert of the conversations and one insert of the messages. The
/// rest (a first message, a reply found by its quoted ids, a closed conversation) go through
/// [`ingest_in`] first. `None` when any message was stored before: the caller must roll back,
/// and write the batch again with `look_first`, which finds such messages before writing.
pub(super) async fn ingest_many_in(
    db: &impl ConnectionTrait,
    batch: &[Pending],
    now: DateTime<Utc>,
    look_first: bool,
) -> Result<Option<Vec<IngestOutcome>>> {
    let mut outcomes: Vec<Option<IngestOutcome>> = batch.iter().map(|_| None).collect();
    // Resends (a client that did not see its ack in time sends again): a copy of a message
    // committed before is a duplicate, found here when looking first, else by the insert's
    // conflict; a second copy in this batch becomes one once the first is stored.
    let before = if look_first {
        stored_before(db, batch).await?
    } else {
        HashMap::new()
    };
    let mut seen = HashSet::new();
    let mut live = vec![true; batch.len()];
    for (i, pending) in batch.iter().enumerate() {
        let Some(key) = pending.key() else {
            continue;
        };
        if let Some(message) = before.get(&key) {
            outcomes[i] = Some(IngestOutcome::Duplicate {
                message: message.clone(),
            });
            live[i] = false;
        } else if !seen.insert(key) {
            live[i] = false;
        }
    }
    let keyed = batch
        .iter()
        .zip(&live)
        .filter(|(pending, live)| **live && pending.by_thread())
        .map(|(pending, _)| pending);
    let wanted: HashSet<(&str, &str)> = keyed
        .map(|pending| {
            (
                pending.inbox_id.as_str(),
                pending.incoming.thread_key.as_str(),
            )
        })
        .collect();
    let mut threads: HashMap<(String, String), String> = HashMap::new();
    let mut open: HashMap<String, conversation::Model> = HashMap::new();
    for (thread, conversation) in threads_of(db, &wanted).await? {
        threads.insert(thread, conversation.id.clone());
        let accepts = convert::parse::<ConversationStatus>(&conversation.status)
            .is_ok_and(ConversationStatus::accepts_messages);
        if accepts {
            open.insert(conversation.id.clone(), conversation);
        }
    }
    // Which conversation each message goes to, when it can be numbered here.
    let target = |pending: &Pending| {
        pending
            .by_thread()
            .then(|| {
                threads.get(&(
                    pending.inbox_id.clone(),
                    pending.incoming.thread_key.clone(),
                ))
            })
            .flatten()
            .filter(|id| open.contains_key(*id))
            .cloned()
    };
    let targets: Vec<Option<String>> = batch
        .iter()
        .zip(&live)
        .map(|(pending, live)| live.then(|| target(pending)).flatten())
        .collect();
    // A thread the hub has never seen, named by one message of the batch: opened in bulk below.
    let mut named: HashMap<(&str, &str), usize> = HashMap::new();
    for (pending, _) in batch.iter().zip(&live).filter(|(_, live)| **live) {
        *named
            .entry((&pending.inbox_id, &pending.incoming.thread_key))
            .or_default() += 1;
    }
    let fresh: Vec<bool> = batch
        .iter()
        .enumerate()
        .map(|(i, pending)| {
            let key = (
                pending.inbox_id.as_str(),
                pending.incoming.thread_key.as_str(),
            );
            live[i]
                && pending.by_thread()
                && named.get(&key) == Some(&1)
                && !threads.contains_key(&(key.0.to_owned(), key.1.to_owned()))
        })
        .collect();
    // The others first, one by one; a conversation one of them touches is left to them.
    for (i, pending) in batch.iter().enumerate() {
        if targets[i].is_some() || !live[i] || fresh[i] {
            continue;
        }
        let Some(outcome) = pending.ingest_in(db, now).await? else {
            return Ok(None);
        };
        if let IngestOutcome::Stored { conversation, .. } = &outcome {
            open.remove(&conversation.id);
        }
        outcomes[i] = Some(outcome);
    }
    let mut rows = Vec::new();
    let mut changed = HashSet::new();
    let mut reopened = false;
    // On PostgreSQL the new contacts, identities, threads and conversations are written with
    // the messages, in one statement (`write_numbered`).
    let mut opening = Vec::new();
    for (i, conversation, row) in open_in_bulk(db, batch, &fresh, now, &mut opening).await? {
        rows.push(row.clone());
        outcomes[i] = Some(stored(conversation, row, true, false)?);
    }
    for (i, pending) in batch.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let Some(conversation) = targets[i].as_ref().and_then(|id| open.get_mut(id)) else {
            if outcomes[i].is_none() {
                // Its conversation was touched by a message stored one by one: so is this one.
                let Some(outcome) = pending.ingest_in(db, now).await? else {
                    return Ok(None);
                };
                outcomes[i] = Some(outcome);
            }
            continue;
        };
        let score = pending.score;
        conversation.last_seq += 1;
        conversation.last_message_preview = Some(convert::preview(&pending.incoming.text));
        conversation.last_message_at = Some(now);
        conversation.updated_at = now;
        let effects = Effects::of(conversation, &pending.incoming, score);
        effects.apply(conversation);
        reopened |= effects.reopen_as.is_some();
        let row = message_row(conversation, &pending.incoming, score, now);
        rows.push(row.clone());
        changed.insert(conversation.id.clone());
        outcomes[i] = Some(stored(
            conversation.clone(),
            row,
            false,
            effects.reopen_as.is_some(),
        )?);
    }
    if !rows.is_empty() {
        let updated: Vec<_> = open
            .into_values()
            .filter(|row| changed.contains(&row.id))
            .map(|row| row.into_active_model().reset_all())
            .collect();
        let count = rows.len() as u64;
        if write_numbered(db, opening, updated, reopened, rows).await? != count {
            return Ok(None);
        }
    }
    // Second copies: the message their first copy stored.
    for i in 0..batch.len() {
        if outcomes[i].is_some() {
            continue;
        }
        let first = batch[i]
            .key()
            .and_then(|key| (0..i).find(|j| live[*j] && batch[*j].key().as_ref() == Some(&key)));
        if let Some(IngestOutcome::Stored { message, .. }) =
            first.and_then(|j| outcomes[j].as_ref())
        {
            outcomes[i] = Some(IngestOutcome::Duplicate {
                message: message.clone(),
            });
        }
    }
    Ok(outcomes.into_iter().collect())
}

/// Writes what [`open_in_bulk`] left to write (`opening`), the conversations the batch numbered
/// (`updated`, upserted by id; their status only when one of them was `reopened`) and its
/// messages, which a resend stored before makes fewer; returns the messages inserted. On
/// PostgreSQL in one statement, the others data-modifying `WITH`s before the insert: each a
/// round trip fewer for the acknowledgements to wait for (SQLite's statements cost no round
/// trip).
async fn write_numbered(
    db: &impl ConnectionTrait,
    opening: Vec<Statement>,
    updated: Vec<conversation::ActiveModel>,
    reopened: bool,
    rows: Vec<message::Model>,
) -> Result<u64> {
    use conversation::Column;
    let backend = db.get_database_backend();
    let messages = message::Entity::insert_many(rows.into_iter().map(message::ActiveModel::from))
        .on_conflict(
            OnConflict::columns([message::Column::InboxId, message::Column::ChannelMessageId])
                .do_nothing()
                .to_owned(),
        )
        .build(backend);
    // SQLite rewrites an index entry whenever its column is assigned, even to the value it
    // had: `resolved_at`'s index was 5% of the pages a batch wrote while no conversation of
    // it had been resolved.
    let status: &[Column] = if reopened {
        &[Column::Status, Column::ResolvedAt]
    } else {
        &[]
    };
    let upsert = (!updated.is_empty()).then(|| {
        let also = status.iter().copied();
        upsert_numbered(updated, also.chain([Column::LastInboundChannelMessageId])).build(backend)
    });
    let mut first = opening;
    first.extend(upsert);
    crate::chained::execute(db, first, messages).await
}

/// Opens a conversation for each message of `batch` marked in `fresh` (the first message of a
/// thread the hub has never seen), in the caller's write transaction: finds the senders'
/// identities in one query, and writes the new contacts, identities, conversations and threads
/// in one insert each; on PostgreSQL it leaves the inserts in `deferred`, for the caller to run
/// with the messages' in one statement. Returns each message's index, its conversation and its
/// row, which the caller inserts with the batch's other messages.
async fn open_in_bulk(
    db: &impl ConnectionTrait,
    batch: &[Pending],
    fresh: &[bool],
    now: DateTime<Utc>,
    deferred: &mut Vec<Statement>,
) -> Result<Vec<(usize, conversation::Model, message::Model)>> {
    let backend = db.get_database_backend();
    let mut write = async |statement: Statement| -> Result<()> {
        if backend == DbBackend::Postgres {
            deferred.push(statement);
        } else {
            db.execute_raw(statement).await?;
        }
        Ok(())
    };
    let opening: Vec<(usize, &Pending)> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| fresh[*i])
        .collect();
    if opening.is_empty() {
        return Ok(Vec::new());
    }
    // Who sent each message: its organization, channel and id there, as identities are keyed.
    let sender = |pending: &Pending| {
        (
            pending.org_id.clone(),
            pending.channel.as_str().to_owned(),
            pending.incoming.sender.external_id.clone(),
        )
    };
    let wanted: HashSet<(String, String, String)> =
        opening.iter().map(|(_, pending)| sender(pending)).collect();
    let mut contact_of: HashMap<(String, String, String), String> =
        contact_identity::Entity::find()
            .from_raw_sql(by_keys(
                db.get_database_backend(),
                "SELECT i.* FROM {keys} {join} contact_identities AS i \
                 ON i.org_id = k.value ->> 0 AND i.channel = k.value ->> 1 \
                 AND i.external_id = k.value ->> 2",
                wanted
                    .iter()
                    .map(|(org, channel, external)| [org, channel, external]),
            )?)
            .all(db)
            .await?
            .into_iter()
            .map(|identity| {
                let key = (identity.org_id, identity.channel, identity.external_id);
                (key, identity.contact_id)
            })
            .filter(|(key, _)| wanted.contains(key))
            .collect();
    let (mut new_contacts, mut new_identities) = (Vec::new(), Vec::new());
    for (_, pending) in &opening {
        let key = sender(pending);
        if contact_of.contains_key(&key) {
            continue;
        }
        let (contact_id, contact, identity) = contacts::new_contact(
            &pending.org_id,
            pending.channel,
            &pending.incoming.sender,
            now,
        );
        new_contacts.push(contact);
        new_identities.push(identity);
        contact_of.insert(key, contact_id);
    }
    if !new_contacts.is_empty() {
        write(contact::Entity::insert_many(new_contacts).build(backend)).await?;
        write(contact_identity::Entity::insert_many(new_identities).build(backend)).await?;
    }
    let mut opened = Vec::with_capacity(opening.len());
    let mut new_threads = Vec::with_capacity(opening.len());
    for (i, pending) in opening {
        let contact_id = contact_of
            .get(&sender(pending))
            .ok_or_else(|| StoreError::Corrupt("a sender without a contact".into()))?;
        let conversation = new_conversation(
            new_id(),
            &pending.org_id,
            &pending.inbox_id,
            pending.channel,
            contact_id,
            &pending.incoming,
            now,
        );
        let score = pending.score;
        let conversation = opened_by(conversation, &pending.incoming, score, now);
        let row = message_row(&conversation, &pending.incoming, score, now);
        new_threads.push(thread::ActiveModel {
            inbox_id: Set(pending.inbox_id.clone()),
            thread_key: Set(pending.incoming.thread_key.clone()),
            org_id: Set(pending.org_id.clone()),
            conversation_id: Set(conversation.id.clone()),
        });
        opened.push((i, conversation, row));
    }
    write(thread::Entity::insert_many(new_threads).build(backend)).await?;
    write(
        conversation::Entity::insert_many(
            opened
                .iter()
                .map(|(_, conversation, _)| conversation::ActiveModel::from(conversation.clone())),
        )
        .build(backend),
    )
    .await?;
    Ok(opened)
}

/// The messages of `batch` that are stored already, by inbox and channel message id.
async fn stored_before(
    db: &impl ConnectionTrait,
    batch: &[Pending],
) -> Result<HashMap<(String, String), model::Message>> {
    let keys: Vec<(String, String)> = batch.iter().filter_map(Pending::key).collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = message::Entity::find()
        .from_raw_sql(by_keys(
            db.get_database_backend(),
            "SELECT m.* FROM {keys} {join} messages AS m \
             ON m.inbox_id = k.value ->> 0 AND m.channel_message_id = k.value ->> 1",
            keys.iter().map(|(inbox, id)| [inbox, id]),
        )?)
        .all(db)
        .await?;
    found
        .into_iter()
        .filter_map(|row| {
            let key = (row.inbox_id.clone(), row.channel_message_id.clone()?);
            Some(convert::message(row).map(|message| (key, message)))
        })
        .collect()
}

/// The threads of `wanted` (inbox, thread key) that the hub knows, each with its conversation.
///
/// On PostgreSQL the conversations are locked until the commit, in the order of their ids (so
/// that two batches that share conversations never wait for each other in a circle), and read
/// as the last transaction that changed them left them: the `seq`s handed out from them are
/// then the next ones, whichever node's writer commits first. On SQLite the write gate makes
/// the batch the only writer.
async fn threads_of(
    db: &impl ConnectionTrait,
    wanted: &HashSet<(&str, &str)>,
) -> Result<Vec<((String, String), conversation::Model)>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => " ORDER BY c.id FOR UPDATE OF c",
        _ => "",
    };
    let rows = db
        .query_all_raw(by_keys(
            backend,
            &format!(
                "SELECT c.*, t.inbox_id AS thread_inbox_id, t.thread_key AS thread_thread_key \
                 FROM {{keys}} \
                 {{join}} threads AS t \
                 ON t.inbox_id = k.value ->> 0 AND t.thread_key = k.value ->> 1 \
                 {{join}} conversations AS c ON c.id = t.conversation_id{lock}"
            ),
            wanted.iter().map(|(inbox, thread)| [inbox, thread]),
        )?)
        .await?;
    rows.iter()
        .map(|row| {
            let thread = (
                row.try_get::<String>("", "thread_inbox_id")?,
                row.try_get::<String>("", "thread_thread_key")?,
            );
            Ok((thread, conversation::Model::from_query_result(row, "")?))
        })
        .collect()
}

/// `sql`, a query that reads `{keys}` as a table `k` of JSON arrays of strings (`k.value`),
/// bound to `keys` as one JSON parameter (SQLite's `json_each`, PostgreSQL's
/// `jsonb_array_elements`), and joins the tables it names with `{join}` (SQLite's
/// `CROSS JOIN`, which keeps the keys the outer loop; PostgreSQL's plain `JOIN`, which the
/// writers' connections run as a loop of index lookups). One statement for any number of
/// keys: it is prepared once, and the database looks each key up in an index instead of
/// building a temporary one for an `IN` list, as SQLite does for every run of such a list, or
/// probing every combination of several lists' values, as PostgreSQL does.
fn by_keys<const N: usize>(
    backend: DbBackend,
    sql: &str,
    keys: impl IntoIterator<Item = [impl AsRef<str>; N]>,
) -> Result<Statement> {
    // Borrowed, not copied: serde writes slices of any length (arrays only up to 32).
    let keys: Vec<[_; N]> = keys.into_iter().collect();
    let parts: Vec<[&str; N]> = keys
        .iter()
        .map(|key| key.each_ref().map(AsRef::as_ref))
        .collect();
    let rows: Vec<&[&str]> = parts.iter().map(<[&str; N]>::as_slice).collect();
    let json = serde_json::to_string(&rows)
        .map_err(|err| StoreError::Corrupt(format!("cannot write the keys as JSON: {err}")))?;
    let (table, join) = match backend {
        DbBackend::Postgres => ("jsonb_array_elements($1::jsonb) AS k(value)", "JOIN"),
        _ => ("json_each(?) AS k", "CROSS JOIN"),
    };
    Ok(Statement::from_sql_and_values(
        backend,
        sql.replace("{keys}", table).replace("{join}", join),
        [json.into()],
    ))
}
