//! A web-chat visitor's WebSocket, for tests that chat with the real hub.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};

use super::TestApp;

pub const ORIGIN: &str = "https://shop.example";
pub const SECRET: &str = "parcelo-identity-secret-2026";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One visitor's WebSocket.
pub struct Chat {
    pub socket: Socket,
}

pub async fn open(
    app: &TestApp,
    query: &str,
    origin: Option<&str>,
) -> Result<Chat, tungstenite::Error> {
    open_at(app.addr, query, origin).await
}

/// A visitor's WebSocket to the hub listening at `addr` (a hub of this process or another).
pub async fn open_at(
    addr: std::net::SocketAddr,
    query: &str,
    origin: Option<&str>,
) -> Result<Chat, tungstenite::Error> {
    open_from(addr, query, origin, None).await
}

/// A visitor's WebSocket from the client address `forwarded_for`, as a proxy on loopback (which
/// the hub trusts by default) would name it in `X-Forwarded-For`.
pub async fn open_from(
    addr: std::net::SocketAddr,
    query: &str,
    origin: Option<&str>,
    forwarded_for: Option<&str>,
) -> Result<Chat, tungstenite::Error> {
    let mut request = format!("ws://{addr}/chat/ws?{query}")
        .into_client_request()
        .expect("a request");
    let headers = [("origin", origin), ("x-forwarded-for", forwarded_for)];
    for (name, value) in headers {
        if let Some(value) = value {
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(value).expect("a header"));
        }
    }
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Chat { socket })
}

/// The status and `Retry-After` of a refused upgrade.
pub fn refusal(refused: Result<Chat, tungstenite::Error>) -> (u16, Option<u64>) {
    match refused {
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok()),
        ),
        Err(other) => panic!("refused otherwise: {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

impl Chat {
    pub async fn connect(app: &TestApp, query: &str) -> Chat {
        open(app, query, Some(ORIGIN)).await.expect("connects")
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_raw(&frame.to_string()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("sends");
    }

    pub async fn message(&mut self, client_id: &str, text: &str) {
        self.send(json!({ "type": "message", "client_id": client_id, "text": text }))
            .await;
    }

    /// The next protocol frame, within a few seconds.
    pub async fn next(&mut self) -> Value {
        self.try_next(Duration::from_secs(10))
            .await
            .expect("a frame in time")
    }

    pub async fn try_next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON frames"));
                }
                Some(Ok(Message::Close(close))) => panic!("closed: {close:?}"),
                Some(Ok(_)) => continue,
                other => panic!("the connection ended: {other:?}"),
            }
        }
    }

    /// The next frame of `kind`, skipping others (typing, status…) on the way.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        for _ in 0..500 {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
        panic!("no `{kind}` frame");
    }

    /// Asserts that nothing is queued for this visitor before a marker: the hub answers a frame of
    /// an unknown type with an `error` frame on the same ordered queue, so that error coming
    /// next proves no other frame was waiting.
    pub async fn nothing_before_marker(&mut self) {
        self.send(serde_json::json!({ "type": "marker" })).await;
        let frame = self.next().await;
        assert_eq!(
            frame["type"], "error",
            "expected nothing before the marker, got {frame}"
        );
    }

    /// Asserts that nothing but pings arrives for a while.
    pub async fn silent(&mut self, wait: Duration) {
        if let Some(frame) = self.try_next(wait).await {
            panic!("expected silence, got {frame}");
        }
    }

    /// Sends a message and returns its ack.
    pub async fn say(&mut self, client_id: &str, text: &str) -> Value {
        self.message(client_id, text).await;
        let ack = self.next_of("ack").await;
        assert_eq!(ack["client_id"], client_id);
        ack
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => panic!("the server did not close the connection"),
                Ok(Some(Ok(Message::Close(close)))) => return close.map(|c| c.code.into()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return None,
            }
        }
    }
}

/// A web-chat inbox of the admin's organization.
pub async fn webchat_inbox(app: &TestApp, admin: &str, extra: Value) -> String {
    let mut config = json!({
        "allowed_origins": [ORIGIN, "http://localhost:*"],
        "identity_secret": SECRET,
        "rate_limit_per_minute": 600,
        "rate_limit_burst": 100,
    });
    config
        .as_object_mut()
        .expect("object")
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (status, inbox) = app
        .post(
            admin,
            "/api/v1/inboxes",
            json!({ "name": "Website", "channel": "webchat", "config": config }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    inbox["id"].as_str().expect("an id").to_owned()
}
