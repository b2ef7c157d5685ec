//! Checks every helpdesk connector's tests make against its fake account: a comment with files
//! written through the `Helpdesk` trait, and read back as the account's attachments, whose
//! links serve the same bytes.

use switchboard_model::{Attachment, Helpdesk, InboundFile, NewComment};

/// Adds a comment of `body` carrying `files` to `ticket`, as the integration's user; its id.
pub async fn add_comment_with_files(
    helpdesk: &dyn Helpdesk,
    ticket: &str,
    body: &str,
    public: bool,
    files: Vec<InboundFile>,
) -> String {
    let comment = NewComment {
        body: body.into(),
        public,
        author_id: None,
        files,
    };
    helpdesk
        .add_comment(ticket, &comment)
        .await
        .expect("the comment is added")
}

/// Reads `ticket` back through the helpdesk: its comment `comment_id` lists `file` at `index`,
/// linked at `url`, and the link serves the file's bytes.
pub async fn check_attachment_reads_back(
    helpdesk: &dyn Helpdesk,
    ticket: &str,
    comment_id: &str,
    index: usize,
    file: &InboundFile,
    url: &str,
) {
    let read = helpdesk
        .ticket(ticket)
        .await
        .expect("read")
        .expect("the ticket exists");
    let comment = read
        .comments
        .into_iter()
        .find(|comment| comment.id == comment_id)
        .expect("the comment");
    assert_eq!(
        comment.attachments[index],
        Attachment {
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            size: file.bytes.len() as u64,
            url: Some(url.to_owned()),
        }
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let served = reqwest::get(url).await.expect("served");
    assert_eq!(served.bytes().await.expect("a body").as_ref(), file.bytes);
}
