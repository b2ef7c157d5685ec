//! The web front ends the hub serves from `inbox-ui/`: the agent inbox at `/`, the chat widget
//! at `/widget.js`, the demo page at `/demo`, and their assets under `/ui/`. Release builds embed
//! the files; debug builds read them from disk, so editing the UI needs no rebuild.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::state::AppState;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../inbox-ui/"]
#[exclude = "node_modules/*"]
#[exclude = "tests/*"]
#[exclude = "*.json"]
struct Assets;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("app/index.html") }))
        .route("/widget.js", get(|| async { asset("widget/widget.js") }))
        .route("/demo", get(|| async { asset("demo/index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

/// One file of `inbox-ui/`, with its content type; 404 when there is none.
fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = content_type(path);
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The widget is loaded by other sites' pages; everything else is the hub's own.
    let cache = if path.ends_with(".html") {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
