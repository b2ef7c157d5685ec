//! A contact's data under the GDPR: the export and the erasure, shared by the API
//! (`api/gdpr.rs`) and the CLI (`switchboard contact export|erase`). Both are audited with ids
//! and counts only, never with what the contact wrote.

use std::path::Path;

use switchboard_store::{Erased, Store, StoreError};

/// Everything held about the contact, as JSON (`Store::export_contact`), and an audit entry.
pub async fn export(
    store: &Store,
    org_id: &str,
    contact_id: &str,
    actor: &str,
) -> Result<serde_json::Value, StoreError> {
    let exported = store.export_contact(org_id, contact_id).await?;
    store
        .audit(
            org_id,
            actor,
            "contact.exported",
            Some(contact_id),
            serde_json::json!({}),
        )
        .await?;
    Ok(exported)
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
