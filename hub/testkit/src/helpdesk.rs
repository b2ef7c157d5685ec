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
    assert_eq!(http_get(url).await, file.bytes);
}

/// The body of a plain `GET` of an `http://` URL on loopback (the fakes' file links), spoken
/// over a socket so that the test kit, and the store's tests with it, need no HTTP client.
async fn http_get(url: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "served: {head}");
    let body = &response[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}
