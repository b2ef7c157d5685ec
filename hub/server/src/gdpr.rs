//! A contact's data under the GDPR: the export (JSON, or a ZIP archive of the JSON and the
//! contact's files) and the erasure, shared by the API (`api/gdpr.rs`) and the CLI
//! (`switchboard contact export|erase`). All are audited with ids and counts only, never with
//! what the contact wrote.

use std::{
    collections::BTreeSet,
    io::{Seek, Write},
    path::{Path, PathBuf},
};

use chrono::{DateTime, Datelike, Timelike, Utc};
use switchboard_model::Attachment;
use switchboard_store::{Erased, Store, StoreError};
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

/// Everything held about the contact, as JSON (`Store::export_contact`), and an audit entry.
pub async fn export(
    store: &Store,
    org_id: &str,
    contact_id: &str,
    actor: &str,
) -> Result<serde_json::Value, StoreError> {
    let exported = store.export_contact(org_id, contact_id).await?;
    audit_export(store, org_id, contact_id, actor, serde_json::json!({})).await?;
    Ok(exported)
}

/// The audit entry of an export: who exported whom, and `data` (counts, never content).
async fn audit_export(
    store: &Store,
    org_id: &str,
    contact_id: &str,
    actor: &str,
    data: serde_json::Value,
) -> Result<(), StoreError> {
    store
        .audit(org_id, actor, "contact.exported", Some(contact_id), data)
        .await?;
    Ok(())
}

/// Why an archive was not written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to write the archive: {0}")]
    Write(#[from] zip::result::ZipError),
    #[error("failed to write the archive: {0}")]
    Io(#[from] std::io::Error),
}

/// What an archive holds besides `contact.json`.
#[derive(Debug, Default)]
pub struct Archived {
    /// Files written, each once however many messages name it.
    pub files: usize,
    /// Files the messages name that the attachments folder no longer has (listed in the
    /// archive's `README.txt`).
    pub missing: Vec<String>,
}

/// The export as a ZIP archive written to `archive`: `contact.json`, the JSON [`export`]
/// answers; every file the hub keeps that a message of the export names, at
/// `attachments/<sha256>/<name>` (its URL's path under `/api/v1/`), read from `files`, the
/// attachments folder; and `README.txt`, which says so. Entries are stored, not compressed:
/// most files are compressed already, and it needs no compression crate. Audited as
/// `contact.exported` with the format and the number of files.
pub async fn export_archive<W: Write + Seek + Send + 'static>(
    store: &Store,
    files: &Path,
    org_id: &str,
    contact_id: &str,
    actor: &str,
    archive: W,
) -> Result<(W, Archived), ArchiveError> {
    let exported = store.export_contact(org_id, contact_id).await?;
    let kept = kept_files(&exported);
    let folder = files.join(org_id);
    let at = store.clock().now();
    let (archive, archived) =
        tokio::task::spawn_blocking(move || write_archive(archive, &exported, &folder, &kept, at))
            .await
            .map_err(std::io::Error::other)??;
    if !archived.missing.is_empty() {
        tracing::warn!(
            contact_id,
            missing = archived.missing.len(),
            "an export names files the attachments folder no longer has"
        );
    }
    let counts = serde_json::json!({
        "format": "zip",
        "files": archived.files,
        "missing_files": archived.missing.len(),
    });
    audit_export(store, org_id, contact_id, actor, counts).await?;
    Ok((archive, archived))
}

/// The kept files (`(sha256, name)`) the export's messages name, each once, in order.
fn kept_files(exported: &serde_json::Value) -> BTreeSet<(String, String)> {
    let messages = exported["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|conversation| conversation["messages"].as_array())
        .flatten();
    messages
        .filter_map(|message| message["attachments"].as_array())
        .flatten()
        .filter_map(|attachment| serde_json::from_value::<Attachment>(attachment.clone()).ok())
        .filter_map(|attachment| {
            crate::attachments::kept_file(&attachment)
                .map(|(hash, name)| (hash.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Writes the archive (blocking: it reads and writes files).
fn write_archive<W: Write + Seek>(
    archive: W,
    exported: &serde_json::Value,
    folder: &Path,
    kept: &BTreeSet<(String, String)>,
    at: DateTime<Utc>,
) -> Result<(W, Archived), ArchiveError> {
    let mut options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .unix_permissions(0o600);
    let year = u16::try_from(at.year()).unwrap_or(1980);
    if let Ok(time) = zip::DateTime::from_date_and_time(
        year,
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    ) {
        options = options.last_modified_time(time);
    }
    let mut zip = ZipWriter::new(archive);
    zip.start_file("contact.json", options)?;
    zip.write_all(&serde_json::to_vec_pretty(exported).map_err(std::io::Error::other)?)?;
    let mut archived = Archived::default();
    for (hash, name) in kept {
        let path: PathBuf = folder.join(hash).join(name);
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                archived.missing.push(format!("attachments/{hash}/{name}"));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let large = file.metadata()?.len() >= u64::from(u32::MAX);
        zip.start_file(
            format!("attachments/{hash}/{name}"),
            options.large_file(large),
        )?;
        std::io::copy(&mut file, &mut zip)?;
        archived.files += 1;
    }
    zip.start_file("README.txt", options)?;
    zip.write_all(readme(&archived).as_bytes())?;
    Ok((zip.finish()?, archived))
}

/// What the archive holds, for the person who opens it.
fn readme(archived: &Archived) -> String {
    let mut text = String::from(
        "Everything this support hub holds about one contact.\n\n\
         contact.json: the contact, its identities, its conversations with their messages, \
         CSAT answers, handoffs and routing state, and the audit entries about them.\n\
         attachments/<sha256>/<name>: each file a message lists with the URL \
         /api/v1/attachments/<sha256>/<name>; <sha256> is the SHA-256 of the file's bytes.\n",
    );
    if !archived.missing.is_empty() {
        text.push_str("\nFiles a message lists that the hub no longer had when exporting:\n");
        for missing in &archived.missing {
            text.push_str(missing);
            text.push('\n');
        }
    }
    text
}

/// Erases the contact (`Store::erase_contact`), deletes the files only their messages kept
/// (under `files`, the attachments folder), and records the erasure in the audit log.
pub async fn erase(
    store: &Store,
    files: &Path,
    org_id: &str,
    contact_id: &str,
    actor: &str,
) -> Result<Erased, StoreError> {
    let erased = store.erase_contact(org_id, contact_id, &gap_terms).await?;
    delete_files(files, org_id, &erased.orphaned_files).await;
    store
        .audit(
            org_id,
            actor,
            "contact.erased",
            Some(contact_id),
            serde_json::json!({
                "conversations": erased.conversations,
                "messages": erased.messages,
                "files": erased.orphaned_files.len(),
            }),
        )
        .await?;
    Ok(erased)
}

/// A knowledge-gap question's search terms, as the gap recorder keys gaps (`ai.rs`).
fn gap_terms(question: &str) -> Vec<String> {
    switchboard_ai::text::distinct_terms(&mut switchboard_ai::text::analyzer(), question)
}

/// Deletes kept files (`(sha256, filename)` in the organization's folder under `root`, the
/// attachments folder) that no message names any more, after the rows that named them are
/// committed. A file that cannot be deleted is logged; the rows are gone either way.
pub async fn delete_files(root: &Path, org_id: &str, files: &[(String, String)]) {
    for (hash, filename) in files {
        if !crate::attachments::is_hash(hash) {
            continue;
        }
        let file = crate::attachments::path(
            root,
            org_id,
            hash,
            &crate::attachments::safe_filename(filename),
        );
        match tokio::fs::remove_file(&file).await {
            Ok(()) => {
                if let Some(folder) = file.parent() {
                    // Only when empty: another name of the same bytes may still be there.
                    let _ = tokio::fs::remove_dir(folder).await;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::error!(error = %err, file = %file.display(), "cannot delete a file no message names any more");
            }
        }
    }
}
