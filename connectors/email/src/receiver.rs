//! A small SMTP receiver (RFC 5321, the subset a relay uses): EHLO/HELO, MAIL, RCPT, DATA
//! with dot-unstuffing, RSET, NOOP, QUIT; a message size limit, read timeouts and a cap on
//! connections. What to accept and what to do with a message is the [`MailHandler`]'s: the hub
//! feeds its ingest path, tests record what arrived. No STARTTLS: run it on loopback or a
//! private network behind the organization's mail server.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;

/// An SMTP reply: a code and one line of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            text: text.into(),
        }
    }

    fn line(&self) -> String {
        format!("{} {}\r\n", self.code, self.text.replace(['\r', '\n'], " "))
    }
}

/// One message as the client handed it over.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The reverse path; empty for bounces (`MAIL FROM:<>`).
    pub mail_from: String,
    /// The accepted recipients.
    pub recipients: Vec<String>,
    /// The message, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
}

/// Decides what the receiver accepts and does with what it received.
#[async_trait::async_trait]
pub trait MailHandler: Send + Sync + 'static {
    /// `Ok` accepts mail for `recipient`; an `Err` is the reply that refuses it.
    async fn recipient(&self, recipient: &str) -> Result<(), Reply>;

    /// A complete message. Answer 250 only once it is safely kept: the client then forgets it.
    async fn message(&self, envelope: Envelope) -> Reply;
}

/// Bounds on what a client may do.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_connections: usize,
    /// How long the receiver waits for a command or a line of data.
    pub read_timeout: Duration,
    /// The name in the greeting and the EHLO answer.
    pub hostname: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 16 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 64,
            read_timeout: Duration::from_secs(300),
            hostname: "switchboard".into(),
        }
    }
}

/// A command line may be this long (RFC 5321 says 512; be lenient with long addresses).
const MAX_COMMAND_LINE: u64 = 4096;
/// A data line may be this long (RFC 5321 says 1000; real mail is sometimes longer).
const MAX_DATA_LINE: u64 = 64 * 1024;
/// After this many bad commands the client is sent away.
const MAX_ERRORS: u32 = 10;

/// Accepts connections until `shutdown`, each served on its own task.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn MailHandler>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let _ = stream
                .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                .await;
            continue;
        };
        let handler = handler.clone();
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let session = Session::new(handler, &limits);
            tokio::select! {
                result = session.run(stream) => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "SMTP session ended");
                    }
                }
                _ = shutdown.cancelled() => {}
            }
            drop(permit);
        });
    }
}

/// Where a client is in the protocol.
struct Session<'a> {
    handler: Arc<dyn MailHandler>,
    limits: &'a Limits,
    greeted: bool,
    mail_from: Option<String>,
    recipients: Vec<String>,
    errors: u32,
}

enum Line {
    Text(Vec<u8>),
    /// `max` bytes without a line end: the start of an over-long line.
    TooLong(Vec<u8>),
    Closed,
}

async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    max: u64,
    timeout: Duration,
) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut limited = (&mut *reader).take(max);
    let read = tokio::time::timeout(timeout, limited.read_until(b'\n', &mut line));
    match read.await {
        Err(_) => Ok(None),
        Ok(Err(err)) => Err(err),
        Ok(Ok(0)) => Ok(Some(Line::Closed)),
        Ok(Ok(_)) if !line.ends_with(b"\n") && line.len() as u64 >= max => {
            Ok(Some(Line::TooLong(line)))
        }
        Ok(Ok(_)) => Ok(Some(Line::Text(line))),
    }
}

/// A command line (without its line end) as its verb, upper-cased, and its argument, trimmed.
pub fn split_command(line: &str) -> (String, &str) {
    match line.split_once(' ') {
        Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
        None => (line.to_ascii_uppercase(), ""),
    }
}

/// The address inside `FROM:<…>` / `TO:<…>`, and the parameters after it.
fn path_argument<'l>(argument: &'l str, keyword: &str) -> Option<(&'l str, &'l str)> {
    let rest = argument.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    Some((path.trim(), params.trim()))
}

/// `MAIL`'s argument, `FROM:<reverse path> [SIZE=n …]`: the path and the size the client
/// declares, if it does.
pub fn mail_from(argument: &str) -> Option<(&str, Option<u64>)> {
    let (path, params) = path_argument(argument, "FROM:")?;
    let declared = params.split_whitespace().find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.eq_ignore_ascii_case("SIZE")
            .then(|| value.parse::<u64>().ok())
            .flatten()
    });
    Some((path, declared))
}

/// `RCPT`'s argument, `TO:<forward path> […]`: the path.
pub fn rcpt_to(argument: &str) -> Option<&str> {
    path_argument(argument, "TO:").map(|(path, _)| path)
}

impl<'a> Session<'a> {
    fn new(handler: Arc<dyn MailHandler>, limits: &'a Limits) -> Self {
        Session {
            handler,
            limits,
            greeted: false,
            mail_from: None,
            recipients: Vec::new(),
            errors: 0,
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }

    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let hostname = self.limits.hostname.clone();
        write
            .write_all(format!("220 {hostname} Switchboard ESMTP ready\r\n").as_bytes())
            .await?;
        loop {
            let line =
                match read_line(&mut reader, MAX_COMMAND_LINE, self.limits.read_timeout).await? {
                    None => {
                        write.write_all(b"421 4.4.2 timeout, closing\r\n").await?;
                        return Ok(());
                    }
                    Some(Line::Closed) => return Ok(()),
                    Some(Line::TooLong(_)) => {
                        write.write_all(b"500 5.5.2 line too long\r\n").await?;
                        return Ok(());
                    }
                    Some(Line::Text(line)) => line,
                };
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let (verb, argument) = split_command(line);
            let reply = match verb.as_str() {
                "EHLO" | "HELO" if argument.is_empty() => {
                    Reply::new(501, "5.5.4 a domain or address is required")
                }
                "EHLO" => {
                    self.greeted = true;
                    self.reset();
                    let max = self.limits.max_message_bytes;
                    write
                        .write_all(
                            format!(
                                "250-{hostname} greets {argument}\r\n250-SIZE {max}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
                            )
                            .as_bytes(),
                        )
                        .await?;
                    continue;
                }
                "HELO" => {
                    self.greeted = true;
                    self.reset();
                    Reply::new(250, format!("{hostname} greets {argument}"))
                }
                "MAIL" => self.mail(argument),
                "RCPT" => self.rcpt(argument).await,
                "DATA" if !argument.is_empty() => Reply::new(501, "5.5.4 DATA takes no argument"),
                "DATA" => {
                    if self.mail_from.is_none() || self.recipients.is_empty() {
                        Reply::new(503, "5.5.1 need MAIL and RCPT first")
                    } else {
                        write
                            .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                            .await?;
                        match self.data(&mut reader).await? {
                            Some(reply) => reply,
                            None => {
                                write.write_all(b"421 4.4.2 timeout, closing\r\n").await?;
                                return Ok(());
                            }
                        }
                    }
                }
                "RSET" => {
                    self.reset();
                    Reply::new(250, "2.0.0 reset")
                }
                "NOOP" => Reply::new(250, "2.0.0 OK"),
                "VRFY" => Reply::new(252, "2.5.0 cannot verify, but will try"),
                "HELP" => Reply::new(214, "2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT"),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                }
                "STARTTLS" => Reply::new(502, "5.5.1 TLS is not offered here"),
                _ => Reply::new(500, "5.5.2 command not recognized"),
            };
            if reply.code >= 500 {
                self.errors += 1;
            }
            write.write_all(reply.line().as_bytes()).await?;
            if self.errors >= MAX_ERRORS {
                write
                    .write_all(b"421 4.7.0 too many errors, closing\r\n")
                    .await?;
                return Ok(());
            }
        }
    }

    fn mail(&mut self, argument: &str) -> Reply {
        if !self.greeted {
            return Reply::new(503, "5.5.1 say EHLO or HELO first");
        }
        if self.mail_from.is_some() {
            return Reply::new(503, "5.5.1 a transaction is already open");
        }
        let Some((path, declared)) = mail_from(argument) else {
            return Reply::new(501, "5.5.4 expected MAIL FROM:<address>");
        };
        if declared.is_some_and(|size| size > self.limits.max_message_bytes as u64) {
            return Reply::new(552, "5.3.4 message too large");
        }
        self.mail_from = Some(path.to_owned());
        Reply::new(250, "2.1.0 OK")
    }

    async fn rcpt(&mut self, argument: &str) -> Reply {
        if self.mail_from.is_none() {
            return Reply::new(503, "5.5.1 need MAIL first");
        }
        let Some(path) = rcpt_to(argument) else {
            return Reply::new(501, "5.5.4 expected RCPT TO:<address>");
        };
        if !path.contains('@') {
            return Reply::new(501, "5.1.3 not an address");
        }
        if self.recipients.len() >= self.limits.max_recipients {
            return Reply::new(452, "4.5.3 too many recipients");
        }
        match self.handler.recipient(path).await {
            Ok(()) => {
                self.recipients.push(path.to_owned());
                Reply::new(250, "2.1.5 OK")
            }
            Err(reply) => reply,
        }
    }

    /// Reads the message up to the lone dot. `None` when the client stopped sending.
    async fn data(
        &mut self,
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> std::io::Result<Option<Reply>> {
        let mut data = Vec::new();
        let mut too_large = false;
        loop {
            let line = match read_line(reader, MAX_DATA_LINE, self.limits.read_timeout).await? {
                None | Some(Line::Closed) => return Ok(None),
                // An over-long line is kept in pieces: the size limit still bounds it all.
                Some(Line::TooLong(line) | Line::Text(line)) => line,
            };
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            if data.len() + unstuffed.len() > self.limits.max_message_bytes {
                // Keep reading to the end so the client hears the answer, but keep nothing.
                too_large = true;
                data.clear();
                continue;
            }
            if !too_large {
                data.extend_from_slice(unstuffed);
            }
        }
        let envelope = Envelope {
            mail_from: self.mail_from.take().unwrap_or_default(),
            recipients: std::mem::take(&mut self.recipients),
            data,
        };
        if too_large {
            return Ok(Some(Reply::new(552, "5.3.4 message too large")));
        }
        Ok(Some(self.handler.message(envelope).await))
    }
}
