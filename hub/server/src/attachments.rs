//! Files that came with customer messages, kept in the data dir:
//! `<data_dir>/attachments/<org id>/<sha256 of the bytes>/<safe filename>`. The content hash
//! names the folder, so a redelivered message writes nothing new and two files never collide;
//! the sender's filename is only ever used after [`safe_filename`] made it harmless.
//!
//! Agents' uploads go to the same place ([`keep_upload`]). [`FileLinks`] signs what the hub
//! hands out about them: the id an upload answers with (which the reply names), and the
//! capability links a web-chat visitor downloads an agent's file with, without a login.

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use switchboard_model::{Attachment, InboundMessage};
use tokio::io::AsyncWriteExt;

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

/// The hash and filename of a file the hub keeps, from an attachment's `url` ([`url`]); `None`
/// for a file the hub does not keep (a link to a platform's copy).
pub fn kept_file(attachment: &Attachment) -> Option<(&str, &str)> {
    let rest = attachment
        .url
        .as_deref()?
        .strip_prefix("/api/v1/attachments/")?;
    let (hash, filename) = rest.split_once('/')?;
    (is_hash(hash) && safe_filename(filename) == filename).then_some((hash, filename))
}

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload broke off: {0}")]
    Body(axum::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Streams an agent's upload into the organization's folder, hashing as it goes, and answers
/// its hash and size. Nothing is kept of a file that is empty or over `limit` bytes; the rest
/// of an oversized body is read and dropped (up to `drain_to` bytes in all) so that the
/// client, still sending, gets the answer rather than a reset connection.
pub async fn keep_upload(
    root: &Path,
    org_id: &str,
    filename: &str,
    body: axum::body::Body,
    limit: u64,
    drain_to: u64,
) -> Result<(String, u64), UploadError> {
    let folder = root.join(org_id);
    tokio::fs::create_dir_all(&folder).await?;
    let partial = folder.join(format!(".{}.partial", switchboard_model::new_id()));
    let written = write_partial(&partial, body, limit, drain_to).await;
    let (hash, size) = match written {
        Ok(written) => written,
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(err);
        }
    };
    let target = path(root, org_id, &hash, filename);
    if tokio::fs::try_exists(&target).await? {
        tokio::fs::remove_file(&partial).await?;
    } else {
        tokio::fs::create_dir_all(target.parent().unwrap_or(&folder)).await?;
        tokio::fs::rename(&partial, &target).await?;
    }
    Ok((hash, size))
}

async fn write_partial(
    partial: &Path,
    body: axum::body::Body,
    limit: u64,
    drain_to: u64,
) -> Result<(String, u64), UploadError> {
    let mut file = tokio::fs::File::create(partial).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(UploadError::Body)?;
        size += chunk.len() as u64;
        if size > limit {
            while size <= drain_to
                && let Some(Ok(chunk)) = chunks.next().await
            {
                size += chunk.len() as u64;
            }
            return Err(UploadError::TooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    if size == 0 {
        return Err(UploadError::Empty);
    }
    file.sync_all().await?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// An agent's upload, as its id names it: the file and the conversation it was made for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upload {
    pub conversation_id: String,
    pub hash: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

impl Upload {
    /// The attachment a message keeps for it.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            url: Some(url(&self.hash, &self.filename)),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
        }
    }
}

/// The key that signs upload ids and visitors' file links: 32 random bytes in
/// `<attachments dir>/links.key`, made on first start, so that every node mounting the folder
/// signs alike. Ids and links are unguessable without it, and bound to one organization.
pub struct FileLinks {
    key: Vec<u8>,
}

impl FileLinks {
    const FILE: &str = "links.key";

    /// Reads the key, or makes it. Two nodes starting at once agree: the key is written aside
    /// and linked into place, which only the first does.
    pub fn open(root: &Path) -> std::io::Result<FileLinks> {
        let path = root.join(Self::FILE);
        if !path.exists() {
            std::fs::create_dir_all(root)?;
            let partial = root.join(format!(".{}.partial", switchboard_model::new_id()));
            let key: [u8; 32] = rand::random();
            write_private(&partial, hex::encode(key).as_bytes())?;
            let linked = std::fs::hard_link(&partial, &path);
            std::fs::remove_file(&partial)?;
            match linked {
                Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => return Err(err),
                _ => {}
            }
        }
        let key = hex::decode(std::fs::read_to_string(&path)?.trim())
            .ok()
            .filter(|key| key.len() == 32)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not 32 bytes in hex", path.display()),
                )
            })?;
        Ok(FileLinks { key })
    }

    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for part in parts {
            // Length-prefixed, so that no two lists of parts sign the same bytes.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn sign(&self, parts: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
    }

    fn verify(&self, parts: &[&str], signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|signature| self.mac(parts).verify_slice(&signature).is_ok())
    }

    /// The id an upload answers with: what it names, signed for the organization.
    pub fn upload_id(&self, org_id: &str, upload: &Upload) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(upload).unwrap_or_default());
        let signature = self.sign(&["upload", org_id, &payload]);
        format!("{payload}.{signature}")
    }

    /// The upload an id names, when this organization's upload made it.
    pub fn open_upload(&self, org_id: &str, id: &str) -> Option<Upload> {
        let (payload, signature) = id.split_once('.')?;
        if !self.verify(&["upload", org_id, payload], signature) {
            return None;
        }
        let upload: Upload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (is_hash(&upload.hash) && safe_filename(&upload.filename) == upload.filename)
            .then_some(upload)
    }

    /// Where a web-chat visitor downloads a kept file: a capability link, no login. `None` for
    /// an attachment the hub does not keep.
    pub fn visitor_url(&self, org_id: &str, attachment: &Attachment) -> Option<String> {
        let (hash, filename) = kept_file(attachment)?;
        let signature = self.sign(&["visitor", org_id, hash, filename]);
        Some(format!(
            "/chat/files/{org_id}/{hash}/{signature}/{filename}"
        ))
    }

    /// Whether a visitor's link was signed by [`FileLinks::visitor_url`].
    pub fn check_visitor_link(
        &self,
        org_id: &str,
        hash: &str,
        filename: &str,
        signature: &str,
    ) -> bool {
        self.verify(&["visitor", org_id, hash, filename], signature)
    }
}

/// Writes a new file readable by the hub's user alone.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads the bytes of the kept files among a message's attachments, in order, for delivery.
pub async fn read_kept(
    root: &Path,
    org_id: &str,
    attachments: &[Attachment],
) -> std::io::Result<Vec<switchboard_model::OutboundFile>> {
    let mut files = Vec::new();
    for attachment in attachments {
        let Some((hash, filename)) = kept_file(attachment) else {
            continue;
        };
        let bytes = tokio::fs::read(path(root, org_id, hash, filename)).await?;
        files.push(switchboard_model::OutboundFile {
            filename: filename.to_owned(),
            content_type: attachment.content_type.clone(),
            bytes: bytes.into(),
        });
    }
    Ok(files)
}

/// A kept file as a download: always `application/octet-stream` with
/// `Content-Disposition: attachment`, so that a file's HTML never runs in the hub's origin.
pub async fn download(
    root: &Path,
    org_id: &str,
    hash: &str,
    filename: &str,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use axum::{http::header, response::IntoResponse};

    use crate::error::ApiError;
    if !is_hash(hash) || safe_filename(filename) != filename {
        return Err(ApiError::NotFound);
    }
    let bytes = match tokio::fs::read(path(root, org_id, hash, filename)).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::NotFound),
        Err(err) => return Err(ApiError::Internal(anyhow::Error::new(err))),
    };
    // Header values are ASCII: other characters of the name become `_` here only.
    let ascii_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii_name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
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

    #[tokio::test]
    async fn delivery_reads_the_kept_files_in_order_and_misses_an_erased_one() {
        let root = std::env::temp_dir().join(format!("kept-{}", switchboard_model::new_id()));
        let keep = |bytes: &[u8], filename: &str| {
            let hash = hex::encode(Sha256::digest(bytes));
            let target = path(&root, "org1", &hash, filename);
            std::fs::create_dir_all(target.parent().expect("a folder")).expect("made");
            std::fs::write(&target, bytes).expect("written");
            Attachment {
                url: Some(url(&hash, filename)),
                filename: filename.into(),
                content_type: "text/plain".into(),
                size: bytes.len() as u64,
            }
        };
        let platform_link = Attachment {
            url: Some("https://files.example.com/x.png".into()),
            filename: "x.png".into(),
            content_type: "image/png".into(),
            size: 1,
        };
        let attachments = vec![keep(b"one", "a.txt"), platform_link, keep(b"two", "b.txt")];
        let files = read_kept(&root, "org1", &attachments).await.expect("read");
        let read: Vec<(&str, &[u8])> = files
            .iter()
            .map(|file| (file.filename.as_str(), &file.bytes[..]))
            .collect();
        assert_eq!(read, [("a.txt", &b"one"[..]), ("b.txt", &b"two"[..])]);
        // Another organization's folder has none of them.
        let err = read_kept(&root, "org2", &attachments)
            .await
            .expect_err("not there");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn upload_ids_and_visitor_links_are_bound_to_their_organization() {
        let root = std::env::temp_dir().join(format!("links-{}", switchboard_model::new_id()));
        let links = FileLinks::open(&root).expect("made");
        let again = FileLinks::open(&root).expect("read");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(root.join("links.key"))
                .expect("a key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the key is the hub's alone");
        }
        let upload = Upload {
            conversation_id: "c1".into(),
            hash: "a".repeat(64),
            filename: "report.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
        };
        let id = links.upload_id("org1", &upload);
        assert_eq!(again.open_upload("org1", &id), Some(upload.clone()));
        assert_eq!(links.open_upload("org2", &id), None);
        let (payload, signature) = id.split_once('.').expect("two parts");
        let mut forged = upload.clone();
        forged.conversation_id = "c2".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(
            links.open_upload("org1", &format!("{forged_payload}.{signature}")),
            None
        );
        assert_eq!(links.open_upload("org1", payload), None);
        assert_eq!(links.open_upload("org1", "garbage"), None);

        let link = links
            .visitor_url("org1", &upload.attachment())
            .expect("a kept file");
        let parts: Vec<&str> = link.split('/').collect();
        assert_eq!(&parts[..4], ["", "chat", "files", "org1"]);
        assert!(links.check_visitor_link("org1", parts[4], parts[6], parts[5]));
        assert!(!links.check_visitor_link("org2", parts[4], parts[6], parts[5]));
        assert!(!links.check_visitor_link("org1", parts[4], "other.pdf", parts[5]));
        let _ = std::fs::remove_dir_all(&root);
    }
}
