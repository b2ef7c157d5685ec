//! Files that came with customer messages, kept in the data dir:
//! `<data_dir>/attachments/<org id>/<sha256 of the bytes>/<safe filename>`. The content hash
//! names the folder, so a redelivered message writes nothing new and two files never collide;
//! the sender's filename is only ever used after [`safe_filename`] made it harmless.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use switchboard_model::{Attachment, InboundMessage};

/// Where the API serves a kept file.
pub fn url(hash: &str, filename: &str) -> String {
    format!("/api/v1/attachments/{hash}/{filename}")
}

/// A filename that is safe as one path component on every system: the last component of what
/// the sender gave, letters, digits, `.`, `-`, `_` and spaces only, no leading dot, at most
/// 100 characters, never empty.
pub fn safe_filename(given: &str) -> String {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', ' ']).trim_end();
    if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether `hash` is a SHA-256 in lower-case hex, as [`keep_files`] names folders.
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The file a hash and a (safe) filename name, in an organization's folder under `root` (the
/// attachments folder, [`crate::Settings::attachments_dir`]).
pub fn path(root: &Path, org_id: &str, hash: &str, filename: &str) -> PathBuf {
    root.join(org_id).join(hash).join(filename)
}

/// Writes the message's files to the data dir and lists them in its `attachments`. The bytes
/// are written before the message is stored, so an acknowledged message never points at a
/// file that is missing.
pub async fn keep_files(
    root: &Path,
    org_id: &str,
    message: &mut InboundMessage,
) -> std::io::Result<()> {
    if message.files.is_empty() {
        return Ok(());
    }
    let files = std::mem::take(&mut message.files);
    let root = root.to_owned();
    let org_id = org_id.to_owned();
    // Hashing and writing megabytes is blocking work.
    let kept = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|file| {
                let hash = hex::encode(Sha256::digest(&file.bytes));
                let filename = safe_filename(&file.filename);
                let target = path(&root, &org_id, &hash, &filename);
                if !target.exists() {
                    let folder = target.parent().unwrap_or(&root);
                    std::fs::create_dir_all(folder)?;
                    let partial = folder.join(format!(".{}.partial", switchboard_model::new_id()));
                    std::fs::write(&partial, &file.bytes)?;
                    std::fs::rename(&partial, &target)?;
                }
                Ok(Attachment {
                    url: Some(url(&hash, &filename)),
                    filename,
                    content_type: file.content_type,
                    size: file.bytes.len() as u64,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()
    })
    .await
    .map_err(std::io::Error::other)??;
    message.attachments.extend(kept);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_made_safe() {
        assert_eq!(safe_filename("report.pdf"), "report.pdf");
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(safe_filename(".."), "attachment");
        assert_eq!(safe_filename(".bashrc"), "bashrc");
        assert_eq!(safe_filename("a<b>|c?.txt"), "a_b__c_.txt");
        assert_eq!(safe_filename("日本語.txt"), "日本語.txt");
        assert_eq!(safe_filename(""), "attachment");
        assert_eq!(safe_filename(&"x".repeat(300)).len(), 100);
        assert!(is_hash(&"a".repeat(64)));
        assert!(!is_hash("../x"));
    }
}
