//! Boots the real hub on 127.0.0.1:0 with a fresh database, and talks to it over HTTP like a
//! client would. Every real connector is registered; a `freshdesk` inbox whose config has
//! `inbound_secret` is served instead by a test connector whose behaviour that config sets, so
//! that the pipelines (verify, normalize, ingest, outbox) can be exercised on their own.

#![allow(dead_code)]

pub mod chat;
pub mod cluster;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::{Application, Settings};
use switchboard_model::{
    ChannelKind, Clock, ConfigError, Connector, ConnectorFactory, ContactRef, DeliveryError,
    DeliveryReceipt, Inbound, InboundEvent, InboundMessage, NormalizeError, OutboundMessage,
    RawInbound, Secret, VerifyError,
};
use switchboard_testkit::TestDatabase;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ADMIN_EMAIL: &str = "admin@acme.test";
pub const ADMIN_PASSWORD: &str = "admin password 1";

/// What the test connector was asked to deliver, across all its inboxes.
#[derive(Clone, Default)]
pub struct Deliveries(Arc<Mutex<Vec<OutboundMessage>>>);

impl Deliveries {
    pub fn attempts(&self) -> Vec<OutboundMessage> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// Behaves as its inbox config says: `inbound_secret` must arrive in `X-Test-Secret`;
/// `fail_first: n` fails the first n deliveries of each message with a retriable error;
/// `reject: true` fails every delivery permanently.
struct TestConnector {
    secret: String,
    fail_first: u32,
    reject: bool,
    deliveries: Deliveries,
}

/// The `freshdesk` channel's factory in tests: a config with `inbound_secret` (what
/// [`TestApp::test_inbox`] writes) builds a [`TestConnector`]; any other is a real Freshdesk
/// inbox, built by [`switchboard_freshdesk::FreshdeskFactory`].
struct TestFactory(Deliveries);

impl ConnectorFactory for TestFactory {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Freshdesk
    }

    fn build(&self, inbox_id: &str, config: &Value) -> Result<Arc<dyn Connector>, ConfigError> {
        let Some(secret) = config.get("inbound_secret") else {
            return switchboard_freshdesk::FreshdeskFactory.build(inbox_id, config);
        };
        let secret = secret.as_str().ok_or_else(|| ConfigError {
            channel: ChannelKind::Freshdesk,
            reason: "`inbound_secret` must be a string".into(),
        })?;
        Ok(Arc::new(TestConnector {
            secret: secret.to_owned(),
            fail_first: config["fail_first"].as_u64().unwrap_or(0) as u32,
            reject: config["reject"].as_bool().unwrap_or(false),
            deliveries: self.0.clone(),
        }))
    }

    fn config_fields(&self) -> Vec<switchboard_model::ConfigField> {
        switchboard_freshdesk::FreshdeskFactory.config_fields()
    }
}

#[async_trait::async_trait]
impl Connector for TestConnector {
    fn channel(&self) -> ChannelKind {
        ChannelKind::Freshdesk
    }

    fn verify(&self, request: &RawInbound<'_>) -> Result<(), VerifyError> {
        let given = request
            .headers
            .get("x-test-secret")
            .ok_or(VerifyError::Missing("X-Test-Secret"))?;
        if given.as_bytes() == self.secret.as_bytes() {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn normalize(&self, request: &RawInbound<'_>) -> Result<Inbound, NormalizeError> {
        let body: Value =
            serde_json::from_slice(request.body).map_err(|err| NormalizeError(err.to_string()))?;
        let field = |name: &str| {
            body[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| NormalizeError(format!("missing `{name}`")))
        };
        Ok(Inbound::Events(vec![InboundEvent::Message(
            InboundMessage {
                thread_key: field("thread")?,
                channel_message_id: Some(field("id")?),
                sender: ContactRef {
                    external_id: field("from")?,
                    email: Some(field("from")?),
                    ..Default::default()
                },
                text: field("text")?,
                subject: body["subject"].as_str().map(str::to_owned),
                ..Default::default()
            },
        )]))
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, DeliveryError> {
        self.deliveries
            .0
            .lock()
            .expect("not poisoned")
            .push(message.clone());
        if self.reject {
            return Err(DeliveryError::Permanent {
                reason: "400 recipient rejected".into(),
            });
        }
        if message.attempt <= self.fail_first {
            return Err(DeliveryError::Retriable {
                reason: "503 try later".into(),
                retry_after: None,
            });
        }
        Ok(DeliveryReceipt {
            channel_message_id: Some(format!("sent-{}", message.message_id)),
        })
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The running hub's state: its bus, its web-chat connections.
    pub state: switchboard::AppState,
    /// The SMTP receiver, when the settings turned it on.
    pub smtp_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub deliveries: Deliveries,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

pub fn settings(db: &TestDatabase) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: db.dir.path().to_owned(),
        database_url: Some(db.url.clone()),
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        delivery_retry_base_ms: 20,
        delivery_poll_ms: 20,
        delivery_max_attempts: 4,
        // The built-in sentence encoder costs seconds of CPU per knowledge base; the AI's own
        // tests and `kb_cli.rs` run it.
        offline_encoder: false,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        Self::spawn_with(db, settings).await
    }

    /// The hub without the bot: conversations wait for agents, so a test sees only the
    /// customer's and the agents' messages.
    pub async fn spawn_quiet(db: TestDatabase) -> TestApp {
        Self::spawn_quiet_with(db, settings).await
    }

    pub async fn spawn_quiet_with(
        db: TestDatabase,
        configure: impl FnOnce(&TestDatabase) -> Settings,
    ) -> TestApp {
        Self::spawn_with(db, |db| Settings {
            bot_enabled: false,
            ..configure(db)
        })
        .await
    }

    pub async fn spawn_with(
        db: TestDatabase,
        configure: impl FnOnce(&TestDatabase) -> Settings,
    ) -> TestApp {
        let settings = configure(&db);
        // The hub's pipelines with a bot that always hands over; the AI has its own tests.
        let responder: Arc<dyn switchboard_model::Responder> =
            Arc::new(switchboard::AcknowledgeOnly);
        Self::spawn_full(db, settings, Some(responder)).await
    }

    /// The hub with these settings and this responder answering bot conversations; `None`:
    /// the responder the settings ask for, as `switchboard serve` runs it.
    pub async fn spawn_full(
        db: TestDatabase,
        settings: Settings,
        responder: Option<Arc<dyn switchboard_model::Responder>>,
    ) -> TestApp {
        Self::spawn_full_with_clock(db, settings, responder, Clock::system()).await
    }

    /// The hub without the bot whose routing, SLA clocks and presence read `clock`: the test
    /// moves it (`Clock::manual`, `set`, `advance`).
    pub async fn spawn_quiet_with_clock(
        db: TestDatabase,
        configure: impl FnOnce(&TestDatabase) -> Settings,
        clock: Clock,
    ) -> TestApp {
        let settings = Settings {
            bot_enabled: false,
            ..configure(&db)
        };
        let responder: Arc<dyn switchboard_model::Responder> =
            Arc::new(switchboard::AcknowledgeOnly);
        Self::spawn_full_with_clock(db, settings, Some(responder), clock).await
    }

    /// [`TestApp::spawn_full`] with `clock` as the hub's clock.
    pub async fn spawn_full_with_clock(
        db: TestDatabase,
        settings: Settings,
        responder: Option<Arc<dyn switchboard_model::Responder>>,
        clock: Clock,
    ) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let deliveries = Deliveries::default();
        let connectors = switchboard::connectors().with(TestFactory(deliveries.clone()));
        let app = Application::build_with_clock(settings, connectors, responder, clock)
            .await
            .expect("the hub builds");
        let addr = app.local_addr();
        let state = app.state().clone();
        let smtp_addr = app.smtp_addr();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        TestApp {
            addr,
            state,
            smtp_addr,
            client,
            db,
            deliveries,
            shutdown,
            server,
        }
    }

    /// Stops the hub gracefully and hands back its database, to start it again.
    pub async fn stop(self) -> TestDatabase {
        self.shutdown.cancel();
        self.server.await.expect("joins").expect("stops cleanly");
        self.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("sends");
        assert_eq!(response.status(), StatusCode::OK, "login as {email}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// The hub's `/metrics` text (the process's recorder: other tests write to it too).
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("sends")
            .text()
            .await
            .expect("text")
    }

    /// The value of one series on `/metrics` (`name{labels}` as the exposition writes it), 0
    /// when it is not there yet. The recorder is the process's: other tests running beside
    /// this one may add to a counter, never take from it, so compare before and after.
    pub async fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("sends");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("sends");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    /// Creates a user of `role` through the API and signs them in.
    pub async fn user_token(&self, admin: &str, role: &str) -> String {
        self.user(admin, role).await.1
    }

    /// Creates a user of `role` through the API and signs them in: their id and token.
    pub async fn user(&self, admin: &str, role: &str) -> (String, String) {
        let email = format!("{role}-{}@acme.test", switchboard_model::new_id());
        let (status, created) = self
            .post(
                admin,
                "/api/v1/users",
                json!({ "email": email, "role": role, "password": "long enough" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("an id").to_owned();
        (id, self.login(&email, "long enough").await)
    }

    /// A second organization, `globex`, with its own admin, made the way an operator would;
    /// returns the admin's token.
    pub async fn second_organization(&self) -> String {
        let store = &self.state.store;
        let globex = store.create_org("globex", "Globex").await.expect("org");
        store
            .create_user(
                &globex.id,
                "boss@globex.test",
                "Boss",
                switchboard_model::Role::Admin,
                "globex password",
            )
            .await
            .expect("user");
        self.login("boss@globex.test", "globex password").await
    }

    /// A customer message in `thread` through the test inbox; returns its conversation's id.
    pub async fn customer_writes(&self, admin: &str, inbox_id: &str, thread: &str) -> String {
        self.customer_says(admin, inbox_id, thread, &format!("Help with {thread}"))
            .await
    }

    /// The customer of `thread` writes `text` through the test inbox; returns the
    /// conversation's id.
    pub async fn customer_says(
        &self,
        admin: &str,
        inbox_id: &str,
        thread: &str,
        text: &str,
    ) -> String {
        let status = self
            .webhook(
                inbox_id,
                "s3cret",
                json!({ "thread": thread, "from": format!("{thread}@customer.test"),
                        "id": switchboard_model::new_id(), "text": text }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = self
            .get(admin, &format!("/api/v1/conversations?inbox_id={inbox_id}"))
            .await;
        list["conversations"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|c| c["thread_key"] == thread)
            .and_then(|c| c["id"].as_str())
            .expect("the conversation")
            .to_owned()
    }

    /// An inbox on the test connector's channel.
    pub async fn test_inbox(&self, admin: &str, config: Value) -> String {
        let mut full = json!({ "inbound_secret": "s3cret", "address": "help@acme.test" });
        full.as_object_mut()
            .expect("object")
            .extend(config.as_object().cloned().unwrap_or_default());
        let (status, inbox) = self
            .post(
                admin,
                "/api/v1/inboxes",
                json!({ "name": "Test", "channel": "freshdesk", "config": full }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inbox}");
        inbox["id"].as_str().expect("an id").to_owned()
    }

    /// Posts a customer message to the test inbox's webhook.
    pub async fn webhook(&self, inbox_id: &str, secret: &str, body: Value) -> StatusCode {
        self.client
            .post(self.url(&format!("/webhooks/freshdesk/{inbox_id}")))
            .header("x-test-secret", secret)
            .json(&body)
            .send()
            .await
            .expect("sends")
            .status()
    }

    /// Waits until `check` holds on the conversation, or fails after a few seconds.
    pub async fn wait_for(
        &self,
        token: &str,
        conversation_id: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..200 {
            let (_, body) = self
                .get(token, &format!("/api/v1/conversations/{conversation_id}"))
                .await;
            if check(&body) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("conversation {conversation_id} never reached the expected state");
    }

    /// A conversation with its messages, as the API shows it.
    pub async fn conversation(&self, token: &str, conversation_id: &str) -> Value {
        let (status, body) = self
            .get(token, &format!("/api/v1/conversations/{conversation_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// The messages of a conversation's detail written by `role`.
pub fn messages_of(detail: &Value, role: &str) -> Vec<Value> {
    detail["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["role"] == role)
        .cloned()
        .collect()
}

/// Waits until `check` finds something (on a fake platform, say), or fails after ten seconds.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(found) = check() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never: {what}");
}

/// The next `message` frame a web-chat visitor gets from an agent, skipping the rest.
pub async fn next_agent_message(chat: &mut chat::Chat) -> Value {
    loop {
        let frame = chat.next_of("message").await;
        if frame["message"]["role"] == "agent" {
            return frame["message"].clone();
        }
    }
}
