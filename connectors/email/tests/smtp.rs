//! Replies sent with lettre to a real SMTP server on loopback (the test kit's sink), how
//! failures are classified, and the SMTP receiver spoken to byte by byte.

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use switchboard_email::{EmailConfig, deliver::deliver};
use switchboard_model::{ChannelKind, ContactRef, DeliveryError, OutboundFile, OutboundMessage};
use switchboard_testkit::{SmtpClient, SmtpSink};

fn config(smtp_url: &str) -> EmailConfig {
    EmailConfig::from_json(&json!({
        "address": "help@acme.test",
        "inbound_secret": "s3cret",
        "smtp_url": smtp_url,
        "from_name": "Acme Support",
        "smtp_timeout_secs": 5,
    }))
    .expect("a valid config")
}

fn reply() -> OutboundMessage {
    OutboundMessage {
        message_id: "0196f0a2-1b2c-7d3e-8f40-123456789abc".into(),
        org_id: "org".into(),
        inbox_id: "inbox".into(),
        conversation_id: "conversation".into(),
        channel: ChannelKind::Email,
        thread_key: "root-1@gmail.test".into(),
        recipient: ContactRef {
            external_id: "ann@gmail.test".into(),
            name: Some("Ann Customer".into()),
            email: Some("ann@gmail.test".into()),
            phone: None,
        },
        text: "Hi Ann,\nhold the button for 10 seconds.\n\nAcme <Support>".into(),
        attachments: Vec::new(),
        files: Vec::new(),
        author_name: Some("Mia Agent".into()),
        subject: Some("My box won't lock".into()),
        in_reply_to: Some("latest-2@gmail.test".into()),
        customer_last_message_at: None,
        attempt: 1,
    }
}

#[tokio::test]
async fn a_reply_arrives_threaded_with_both_parts() {
    let sink = SmtpSink::start().await;
    let receipt = deliver(&config(&sink.url()), &reply())
        .await
        .expect("delivered");
    assert_eq!(
        receipt.channel_message_id.as_deref(),
        Some("0196f0a2-1b2c-7d3e-8f40-123456789abc@acme.test")
    );
    let received = sink.wait_for(1).await;
    assert_eq!(received[0].mail_from, "help@acme.test");
    assert_eq!(received[0].recipients, vec!["ann@gmail.test".to_owned()]);
    let email = MessageParser::default()
        .parse(&received[0].data)
        .expect("parses");
    assert_eq!(email.subject(), Some("Re: My box won't lock"));
    assert_eq!(
        email.message_id(),
        Some("0196f0a2-1b2c-7d3e-8f40-123456789abc@acme.test")
    );
    assert_eq!(email.in_reply_to().as_text(), Some("latest-2@gmail.test"));
    let references: Vec<String> = email
        .references()
        .as_text_list()
        .expect("a list")
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(references, ["root-1@gmail.test", "latest-2@gmail.test"]);
    let from = email.from().and_then(|from| from.first()).expect("a From");
    assert_eq!(from.name(), Some("Mia Agent from Acme Support"));
    assert_eq!(from.address(), Some("help@acme.test"));
    let reply_to = email
        .reply_to()
        .and_then(|to| to.first())
        .expect("a Reply-To");
    assert_eq!(
        reply_to.address(),
        Some("help+0196f0a21b2c7d3e8f40123456789abc@acme.test")
    );
    assert_eq!(
        email
            .body_text(0)
            .map(|text| text.replace("\r\n", "\n").trim_end().to_owned())
            .as_deref(),
        Some("Hi Ann,\nhold the button for 10 seconds.\n\nAcme <Support>")
    );
    let html = email
        .body_html(0)
        .expect("an HTML part")
        .replace("\r\n", "\n");
    assert!(html.contains("<p>Hi Ann,<br>\nhold the button"), "{html}");
    assert!(html.contains("Acme &lt;Support&gt;"), "{html}");
    assert_eq!(email.text_body_count(), 1);
    assert_eq!(email.html_body_count(), 1);
}

#[tokio::test]
async fn a_reply_with_files_arrives_as_multipart_mixed_with_the_same_bytes() {
    let sink = SmtpSink::start().await;
    // Every byte value, and a text file with a line that SMTP would dot-stuff.
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let text = b"line one\r\n.hidden dot line\r\nend".to_vec();
    let mut message = reply();
    message.files = vec![
        OutboundFile {
            filename: "label.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: binary.clone().into(),
        },
        OutboundFile {
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
            bytes: text.clone().into(),
        },
    ];
    deliver(&config(&sink.url()), &message)
        .await
        .expect("delivered");
    let received = sink.wait_for(1).await;
    let email = MessageParser::default()
        .parse(&received[0].data)
        .expect("parses");
    let content_type = email.content_type().expect("a Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("mixed"))
    );
    assert_eq!(email.text_body_count(), 1);
    assert_eq!(email.html_body_count(), 1);
    assert!(
        email
            .body_text(0)
            .is_some_and(|body| body.contains("hold the button"))
    );
    let files: Vec<(Option<&str>, String, Vec<u8>)> = email
        .attachments()
        .map(|part| {
            let content_type = part.content_type().expect("typed");
            (
                part.attachment_name(),
                format!(
                    "{}/{}",
                    content_type.ctype(),
                    content_type.subtype().unwrap_or_default()
                ),
                part.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            (Some("label.pdf"), "application/pdf".to_owned(), binary),
            (Some("notes.txt"), "text/plain".to_owned(), text),
        ]
    );
}

#[tokio::test]
async fn failures_are_classified() {
    let sink = SmtpSink::start().await;
    let config = config(&sink.url());
    sink.fail_next(451, "4.3.0 mailbox busy, try later");
    match deliver(&config, &reply()).await {
        Err(DeliveryError::Retriable { reason, .. }) => assert!(reason.contains("451"), "{reason}"),
        other => panic!("a 4xx is retriable, got {other:?}"),
    }
    sink.fail_always(550, "5.1.1 no such user");
    match deliver(&config, &reply()).await {
        Err(DeliveryError::Permanent { reason }) => assert!(reason.contains("550"), "{reason}"),
        other => panic!("a 5xx is permanent, got {other:?}"),
    }
    assert_eq!(sink.attempts(), 2);
    assert!(sink.received().is_empty());

    // Nobody listens on the port any more: a connection error is worth retrying.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("an address")
    };
    let refused = deliver(&self::config(&format!("smtp://{closed}")), &reply()).await;
    assert!(
        matches!(refused, Err(DeliveryError::Retriable { .. })),
        "{refused:?}"
    );

    let no_smtp = EmailConfig::from_json(&json!({
        "address": "help@acme.test", "inbound_secret": "s3cret"
    }))
    .expect("valid");
    assert!(matches!(
        deliver(&no_smtp, &reply()).await,
        Err(DeliveryError::Permanent { .. })
    ));
    let mut bad_recipient = reply();
    bad_recipient.recipient.email = Some("not an address".into());
    assert!(matches!(
        deliver(&config, &bad_recipient).await,
        Err(DeliveryError::Permanent { .. })
    ));
}

#[tokio::test]
async fn the_receiver_speaks_smtp() {
    let sink = SmtpSink::start().await;
    let (mut client, greeting) = SmtpClient::connect(sink.addr).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(client.send("MAIL FROM:<a@b.c>").await.starts_with("503 "));
    assert!(client.send("BOGUS").await.starts_with("500 "));
    assert!(client.send("EHLO").await.starts_with("501 "));
    let ehlo = client.send("EHLO client.test").await;
    assert!(
        ehlo.starts_with("250-sink.test") && ehlo.contains("250-SIZE "),
        "{ehlo}"
    );
    assert!(client.send("DATA").await.starts_with("503 "));
    assert!(client.send("RCPT TO:<x@y.z>").await.starts_with("503 "));
    assert!(
        client
            .send("MAIL FROM:<a@b.c> SIZE=999999999999")
            .await
            .starts_with("552 ")
    );
    assert!(client.send("MAIL FROM:<a@b.c>").await.starts_with("250 "));
    assert!(client.send("MAIL FROM:<a@b.c>").await.starts_with("503 "));
    assert!(client.send("RCPT TO:<nobody>").await.starts_with("501 "));
    assert!(
        client
            .send("RCPT TO:<help@acme.test>")
            .await
            .starts_with("250 ")
    );
    assert!(client.send("NOOP").await.starts_with("250 "));
    assert!(client.send("DATA").await.starts_with("354 "));
    let body = "From: a@b.c\r\nSubject: dots\r\n\r\n..leading dot\r\n.\r\n";
    assert!(client.send(body.trim_end()).await.starts_with("250 "));
    assert!(client.send("RSET").await.starts_with("250 "));
    assert!(client.send("QUIT").await.starts_with("221 "));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&received[0].data),
        "From: a@b.c\r\nSubject: dots\r\n\r\n.leading dot\r\n"
    );
}
