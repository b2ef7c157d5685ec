//! Logs, metrics and the operational routes: `/healthz`, `/readyz`, `/metrics`.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Sets up logging once per process: `RUST_LOG` filters (default `info`), `text` or `json`.
pub fn init_logging(format: &str) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env()
        // PostgreSQL's notices ("relation … already exists, skipping" on every migrate) are
        // not the operator's business, and would land amid `contact export`'s JSON on stdout.
        .unwrap_or_else(|_| {
            EnvFilter::new("info,sea_orm_migration=warn,sqlx::postgres::notice=warn")
        });
    // On stderr: stdout is the commands' output (`contact export`'s JSON, a new key).
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is already installed; ours then records nothing,
        // which is better than not starting.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Counts and times every request by route template, never by raw path.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("switchboard_http_requests_total", &labels).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers and, on a cluster, the node hears the other nodes' events.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.bus.hears_other_nodes() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not subscribed to Redis").into_response();
    }
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "database is not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text, to callers with the `metrics_token` when one is set.
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_is(&headers, token.expose())
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics need the metrics token",
        )
            .into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics_handle().render(),
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Bearer <token>`. Their SHA-256s are compared, so the
/// time taken tells nothing of how much of the token was right.
fn bearer_is(headers: &axum::http::HeaderMap, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| Sha256::digest(given.trim()) == Sha256::digest(token))
}
