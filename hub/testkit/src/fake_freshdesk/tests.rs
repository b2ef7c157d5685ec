use super::*;

#[test]
fn html_bodies_become_freshdesk_body_text() {
    assert_eq!(
        html_text("<div>Hi &lt;b&gt; &amp; you</div>"),
        "Hi <b> & you"
    );
    assert_eq!(html_text("line one<br>line two"), "line one\nline two");
    assert_eq!(
        html_text("Ann&#39;s &quot;parcel&quot;<br/>two"),
        "Ann's \"parcel\"\ntwo"
    );
    assert_eq!(html_text(&paragraph("a <b>\nc")), "a <b>\nc");
}

#[test]
fn pages_and_whether_more_follow() {
    let items: Vec<u32> = (1..=5).collect();
    assert_eq!(page_of(&items, 1, 2), (vec![1, 2], true));
    assert_eq!(page_of(&items, 3, 2), (vec![5], false));
    assert_eq!(page_of(&items, 4, 2), (vec![], false));
    assert_eq!(page_of(&items, 1, 5), (items.clone(), false));
}

/// One HTTP/1.1 exchange with the fake: the status line's code, the head, the body. `body`
/// is JSON.
async fn call(
    fake: &FakeFreshdesk,
    method: &str,
    path: &str,
    authorized: bool,
    body: Option<&str>,
) -> (u16, String, String) {
    let body = body.unwrap_or_default().as_bytes();
    exchange(fake, method, path, authorized, "application/json", body).await
}

async fn exchange(
    fake: &FakeFreshdesk,
    method: &str,
    path: &str,
    authorized: bool,
    content_type: &str,
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = fake.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:X", fake.api_key));
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    if authorized {
        request.push_str(&format!("authorization: Basic {credentials}\r\n"));
    }
    request.push_str(&format!(
        "content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    ));
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_default();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn refuses_what_freshdesk_refuses_and_counts_the_minute() {
    let fake = FakeFreshdesk::start().await;
    let (status, _, body) = call(&fake, "GET", "/api/v2/agents/me", false, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_credentials"), "{body}");

    let (status, _, body) = call(&fake, "GET", "/api/v2/tickets?since=x", true, None).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_field"), "{body}");
    let unknown_field = r#"{"name": "Ann", "email": "ann@example.test", "nick": "A"}"#;
    let (status, _, body) =
        call(&fake, "POST", "/api/v2/contacts", true, Some(unknown_field)).await;
    assert_eq!(status, 400);
    assert!(body.contains("nick"), "{body}");
    let (status, _, _) = call(&fake, "GET", "/api/v2/tickets/1", true, None).await;
    assert_eq!(status, 404);

    fake.limit_per_minute(2);
    let (status, head, _) = call(&fake, "GET", "/api/v2/agents/me", true, None).await;
    assert_eq!(status, 200);
    assert!(head.contains("x-ratelimit-remaining: 1"), "{head}");
    call(&fake, "GET", "/api/v2/agents/me", true, None).await;
    let (status, head, _) = call(&fake, "GET", "/api/v2/agents/me", true, None).await;
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: "), "{head}");
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 400, 400, 404, 200, 200, 429]);
}

/// `(name, file name, content type, bytes)` of a part to send.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A form as reqwest writes one: text parts, then files with a name and a type.
fn form(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = b"preamble\r\n".to_vec();
    for (name, file_name, content_type, bytes) in parts {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
        );
        if let Some(file_name) = file_name {
            body.extend(format!("; filename=\"{file_name}\"").bytes());
        }
        if let Some(content_type) = content_type {
            body.extend(format!("\r\nContent-Type: {content_type}").bytes());
        }
        body.extend(b"\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    body
}

#[test]
fn multipart_bodies_are_read_part_by_part() {
    let boundary = "a1b2-c3";
    let body = form(
        boundary,
        &[
            ("body", None, None, b"<div>Hi</div>"),
            (
                "attachments[]",
                Some(r#"say \"hi\".bin"#),
                Some("application/octet-stream"),
                b"\r\n--a1b2 not the end\r\n",
            ),
        ],
    );
    let parts = multipart_parts(
        &format!("multipart/form-data; boundary=\"{boundary}\""),
        &body,
    )
    .expect("a form");
    assert_eq!(
        parts,
        [
            FormPart {
                name: "body".into(),
                file_name: None,
                content_type: None,
                bytes: b"<div>Hi</div>".to_vec(),
            },
            FormPart {
                name: "attachments[]".into(),
                file_name: Some("say \"hi\".bin".into()),
                content_type: Some("application/octet-stream".into()),
                bytes: b"\r\n--a1b2 not the end\r\n".to_vec(),
            },
        ]
    );
    assert_eq!(multipart_parts("application/json", &body), None);
    assert_eq!(
        multipart_parts("multipart/form-data; boundary=other", &body),
        None
    );
    let cut = &body[..body.len() - 12];
    assert_eq!(
        multipart_parts("multipart/form-data; boundary=a1b2-c3", cut),
        None
    );
}

#[tokio::test]
async fn a_note_with_files_keeps_them_on_the_conversation() {
    let fake = FakeFreshdesk::start().await;
    let ticket = fake.customer_ticket("Ann", "ann@example.test", "Parcel", "Where is it?");
    let content_type = "multipart/form-data; boundary=xyz";
    let photo: &[u8] = &[0xff, 0xd8, 0xff, 0x00, 0x0d, 0x0a];
    let note = form(
        "xyz",
        &[
            ("body", None, None, b"<div>Photo</div>"),
            ("private", None, None, b"false"),
            ("attachments[]", Some("door.jpg"), Some("image/jpeg"), photo),
        ],
    );
    let path = format!("/api/v2/tickets/{ticket}/notes");
    let (status, _, answer) = exchange(&fake, "POST", &path, true, content_type, &note).await;
    assert_eq!(status, 201, "{answer}");
    let written: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(written["attachments"][0]["name"], "door.jpg");
    assert_eq!(written["attachments"][0]["size"], photo.len());
    let entry = &fake.ticket(ticket).expect("the ticket").conversations[0];
    assert!(!entry.private, "the form's \"false\" is read as a boolean");
    assert_eq!(entry.body, "<div>Photo</div>");
    assert_eq!(entry.attachments.len(), 1);
    assert_eq!(entry.attachments[0].name, "door.jpg");
    assert_eq!(entry.attachments[0].content_type, "image/jpeg");
    assert_eq!(entry.attachments[0].bytes, photo);
    assert_eq!(
        fake.requests().last().expect("recorded").body,
        json!({ "body": "<div>Photo</div>", "private": "false" })
    );

    // Files only as `attachments[]`, and only on replies and notes.
    let misnamed = form(
        "xyz",
        &[
            ("body", None, None, b"x"),
            ("file", Some("a.txt"), None, b"a"),
        ],
    );
    let (status, _, answer) = exchange(&fake, "POST", &path, true, content_type, &misnamed).await;
    assert_eq!(status, 400);
    assert!(answer.contains("file"), "{answer}");
    let on_ticket = form("xyz", &[("attachments[]", Some("a.txt"), None, b"a")]);
    let put = format!("/api/v2/tickets/{ticket}");
    let (status, _, _) = exchange(&fake, "PUT", &put, true, content_type, &on_ticket).await;
    assert_eq!(status, 400);
    let (status, _, _) = exchange(&fake, "POST", &path, true, content_type, b"garbage").await;
    assert_eq!(status, 400);
    assert_eq!(
        fake.ticket(ticket).expect("the ticket").conversations.len(),
        1
    );
}
