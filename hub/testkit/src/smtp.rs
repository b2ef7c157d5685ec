//! A mail server for tests: real SMTP over loopback TCP (the email connector's receiver),
//! which records every message it accepts and answers DATA with scripted failures on demand.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use switchboard_email::receiver::{self, Envelope, Limits, MailHandler, Reply};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorder {
    received: Mutex<Vec<Envelope>>,
    /// Replies for the next DATA commands, in order, instead of accepting.
    scripted: Mutex<VecDeque<Reply>>,
    /// When set, every DATA is answered with it.
    always: Mutex<Option<Reply>>,
    attempts: Mutex<usize>,
}

#[async_trait::async_trait]
impl MailHandler for Recorder {
    async fn recipient(&self, _recipient: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn message(&self, envelope: Envelope) -> Reply {
        *self.attempts.lock().expect("not poisoned") += 1;
        if let Some(reply) = self.always.lock().expect("not poisoned").clone() {
            return reply;
        }
        if let Some(reply) = self.scripted.lock().expect("not poisoned").pop_front() {
            return reply;
        }
        self.received.lock().expect("not poisoned").push(envelope);
        Reply::new(250, "2.0.0 queued")
    }
}

/// A running test mail server; stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    recorder: Arc<Recorder>,
    shutdown: CancellationToken,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let addr = listener.local_addr().expect("has an address");
        let recorder = Arc::new(Recorder::default());
        let shutdown = CancellationToken::new();
        tokio::spawn(receiver::serve(
            listener,
            recorder.clone(),
            Limits {
                hostname: "sink.test".into(),
                read_timeout: Duration::from_secs(30),
                ..Limits::default()
            },
            shutdown.clone(),
        ));
        SmtpSink {
            addr,
            recorder,
            shutdown,
        }
    }

    /// `smtp://127.0.0.1:port`: plain SMTP, as the connector speaks to a loopback host.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Answers the next DATA with `code text` instead of accepting the message.
    pub fn fail_next(&self, code: u16, text: &str) {
        self.recorder
            .scripted
            .lock()
            .expect("not poisoned")
            .push_back(Reply::new(code, text));
    }

    /// Answers every DATA with `code text` from now on.
    pub fn fail_always(&self, code: u16, text: &str) {
        *self.recorder.always.lock().expect("not poisoned") = Some(Reply::new(code, text));
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Envelope> {
        self.recorder.received.lock().expect("not poisoned").clone()
    }

    /// Every DATA the sink answered, accepted or not.
    pub fn attempts(&self) -> usize {
        *self.recorder.attempts.lock().expect("not poisoned")
    }

    /// Waits until `count` messages were accepted, or fails after ten seconds.
    pub async fn wait_for(&self, count: usize) -> Vec<Envelope> {
        for _ in 0..400 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the SMTP sink got {} messages, expected {count}",
            self.received().len()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A client that speaks SMTP one line at a time, to test a receiver's answers exactly.
pub struct SmtpClient {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl SmtpClient {
    /// Connects and returns the client with the server's greeting.
    pub async fn connect(addr: SocketAddr) -> (SmtpClient, String) {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects to the SMTP server");
        let mut client = SmtpClient {
            stream: tokio::io::BufReader::new(stream),
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// Sends `line` (CRLF added) and returns the whole reply, continuation lines included.
    pub async fn send(&mut self, line: &str) -> String {
        use tokio::io::AsyncWriteExt;
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("writes");
        self.reply().await
    }

    async fn reply(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_line(&mut line))
                .await
                .expect("the server answers in time")
                .expect("reads");
            reply.push_str(&line);
            // `250-…` continues, `250 …` (or a closed connection) ends the reply.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return reply;
            }
        }
    }
}
