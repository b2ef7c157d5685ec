//! `GET /api/v1/channels`: the channels this hub has connectors for, each with the config
//! fields an inbox on it takes (type, required, secret, help, default), which the web UI builds
//! its inbox form from. The hub here is booted with exactly `switchboard::connectors()`,
//! what `switchboard serve` registers (support's `TestApp` serves `freshdesk` with a test double).

mod support;

use std::{collections::BTreeSet, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::Application;
use switchboard_model::{ChannelKind, FieldKind};
use switchboard_testkit::{TestDatabase, backend_tests};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

backend_tests!(
    channels_list_their_config_fields,
    channels_are_for_signed_in_readers_of_inboxes,
);

/// The hub with the connectors it ships, on 127.0.0.1:0.
struct Hub {
    url: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
    _db: TestDatabase,
}

impl Hub {
    async fn spawn(db: TestDatabase) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = Application::build(support::settings(&db), switchboard::connectors())
            .await
            .expect("the hub builds");
        let url = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        Hub {
            url,
            client,
            shutdown,
            server,
            _db: db,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.expect("joins").expect("stops cleanly");
    }

    async fn call(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sends");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                None,
                "/api/v1/auth/login",
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {email}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    async fn channels(&self, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, token, "/api/v1/channels", None)
            .await
    }
}

/// The fields of `channel` in the answer, by name.
fn fields_of<'a>(channels: &'a Value, channel: &str) -> &'a Vec<Value> {
    channels
        .as_array()
        .and_then(|channels| channels.iter().find(|entry| entry["channel"] == channel))
        .and_then(|entry| entry["fields"].as_array())
        .unwrap_or_else(|| panic!("{channel} is listed with fields: {channels}"))
}

/// `(name, type, required, secret, default)` of each field, in order.
fn summary(fields: &[Value]) -> Vec<(String, String, bool, bool, Value)> {
    fields
        .iter()
        .map(|field| {
            (
                field["name"].as_str().expect("a name").to_owned(),
                field["type"].as_str().expect("a type").to_owned(),
                field["required"].as_bool().expect("required is a bool"),
                field["secret"].as_bool().expect("secret is a bool"),
                field["default"].clone(),
            )
        })
        .collect()
}

fn row(
    name: &str,
    kind: &str,
    required: bool,
    secret: bool,
    default: Value,
) -> (String, String, bool, bool, Value) {
    (name.into(), kind.into(), required, secret, default)
}

async fn channels_list_their_config_fields(db: TestDatabase) {
    let hub = Hub::spawn(db).await;
    let admin = hub
        .login(support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
        .await;
    let (status, channels) = hub.channels(Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{channels}");

    let names: Vec<&str> = channels
        .as_array()
        .expect("an array")
        .iter()
        .map(|entry| entry["channel"].as_str().expect("a channel name"))
        .collect();
    let mut every_channel: Vec<&str> = ChannelKind::ALL.iter().map(|c| c.as_str()).collect();
    every_channel.sort_unstable();
    assert_eq!(
        names, every_channel,
        "every shipped channel, sorted by name"
    );

    let keys: BTreeSet<&str> = ["name", "type", "required", "secret", "help", "default"].into();
    let types: BTreeSet<&str> = ["string", "url", "boolean", "integer", "string_list"].into();
    for channel in ChannelKind::ALL {
        let fields = fields_of(&channels, channel.as_str());
        for field in fields {
            let object = field.as_object().expect("a field is an object");
            assert_eq!(
                object.keys().map(String::as_str).collect::<BTreeSet<_>>(),
                keys,
                "{channel}: {field}"
            );
            assert!(
                types.contains(field["type"].as_str().unwrap_or_default()),
                "{channel}: {field}"
            );
            assert!(
                !field["help"].as_str().unwrap_or_default().trim().is_empty(),
                "{channel}: {field} says what it is"
            );
            let name = field["name"].as_str().unwrap_or_default();
            assert_eq!(
                field["secret"],
                channel.secret_fields().contains(&name),
                "{channel}: `secret` comes from ChannelKind::secret_fields: {field}"
            );
        }
        let flagged: BTreeSet<&str> = fields
            .iter()
            .filter(|field| field["secret"] == true)
            .filter_map(|field| field["name"].as_str())
            .collect();
        assert_eq!(
            flagged,
            channel.secret_fields().iter().copied().collect(),
            "{channel}: every secret field is listed, flagged"
        );
    }

    let sync = |poll: u64| {
        vec![
            row("escalation_desk", "boolean", false, false, json!(false)),
            row("poll_interval_secs", "integer", false, false, json!(poll)),
            row("rate_limit_per_minute", "integer", false, false, json!(200)),
        ]
    };
    let mut zendesk = vec![
        row("base_url", "url", true, false, Value::Null),
        row("email", "string", true, false, Value::Null),
        row("api_token", "string", true, true, Value::Null),
        row("webhook_secret", "string", true, true, Value::Null),
    ];
    zendesk.extend(sync(60));
    assert_eq!(summary(fields_of(&channels, "zendesk")), zendesk);
    let mut freshdesk = vec![
        row("base_url", "url", true, false, Value::Null),
        row("api_key", "string", true, true, Value::Null),
        row("webhook_secret", "string", true, true, Value::Null),
    ];
    freshdesk.extend(sync(60));
    assert_eq!(summary(fields_of(&channels, "freshdesk")), freshdesk);
    assert_eq!(
        summary(fields_of(&channels, "telegram")),
        vec![
            row("bot_token", "string", true, true, Value::Null),
            row("secret_token", "string", true, true, Value::Null),
            row(
                "api_base_url",
                "url",
                false,
                false,
                json!("https://api.telegram.org")
            ),
        ]
    );
    let webchat = summary(fields_of(&channels, "webchat"));
    assert_eq!(
        webchat[0],
        row("allowed_origins", "string_list", true, false, Value::Null)
    );
    hub.stop().await;
}

async fn channels_are_for_signed_in_readers_of_inboxes(db: TestDatabase) {
    let hub = Hub::spawn(db).await;
    let (status, body) = hub.channels(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["code"].is_string(), "{body}");
    assert_eq!(
        hub.channels(Some("not-a-token")).await.0,
        StatusCode::UNAUTHORIZED
    );

    let admin = hub
        .login(support::ADMIN_EMAIL, support::ADMIN_PASSWORD)
        .await;
    for (role, expected) in [
        ("support_agent", StatusCode::OK),
        ("knowledge_editor", StatusCode::FORBIDDEN),
    ] {
        let email = format!("{role}@acme.test");
        let (status, body) = hub
            .call(
                reqwest::Method::POST,
                Some(&admin),
                "/api/v1/users",
                Some(json!({ "email": email, "role": role, "password": "long enough" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = hub.login(&email, "long enough").await;
        assert_eq!(hub.channels(Some(&token)).await.0, expected, "{role}");
    }

    let (_, openapi) = hub
        .call(reqwest::Method::GET, None, "/api/v1/openapi.json", None)
        .await;
    assert!(
        openapi["paths"]["/api/v1/channels"]["get"].is_object(),
        "GET /api/v1/channels is documented"
    );
    hub.stop().await;
}

/// Every connector the hub ships declares its config, and among it every field its channel
/// keeps secret (`ChannelKind::secret_fields`, the one place that says so).
#[test]
fn every_connector_declares_its_fields_with_its_secrets() {
    let registry = switchboard::connectors();
    let declared = registry.config_fields();
    assert_eq!(
        declared.len(),
        ChannelKind::ALL.len(),
        "every channel ships a connector"
    );
    for (channel, fields) in declared {
        assert!(!fields.is_empty(), "{channel} declares its config fields");
        let names: Vec<&str> = fields.iter().map(|field| field.name).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{channel}: names are unique");
        for secret in channel.secret_fields() {
            assert!(
                names.contains(secret),
                "{channel} declares its secret field `{secret}`"
            );
        }
        for field in &fields {
            let Some(default) = &field.default else {
                continue;
            };
            assert!(
                !field.required,
                "{channel}.{}: required with a default",
                field.name
            );
            assert!(
                !channel.secret_fields().contains(&field.name),
                "{channel}.{}: a secret has no default",
                field.name
            );
            let fits = match field.kind {
                FieldKind::String | FieldKind::Url => default.is_string(),
                FieldKind::Boolean => default.is_boolean(),
                FieldKind::Integer => default.is_u64() || default.is_i64(),
                FieldKind::StringList => default
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string)),
            };
            assert!(
                fits,
                "{channel}.{}: default {default} is a {:?}",
                field.name, field.kind
            );
        }
    }
}
