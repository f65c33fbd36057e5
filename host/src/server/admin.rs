//! The admin API: plugins, recent requests, reload status. Guarded by the admin
//! token; without one configured, it answers loopback callers only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::App;

fn authorized(app: &App, peer: &SocketAddr, headers: &HeaderMap) -> Result<(), Box<Response>> {
    match &app.admin_token {
        Some(token) => {
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if constant_time_eq(given.as_bytes(), token.as_bytes()) {
                Ok(())
            } else {
                Err(Box::new((StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "admin token required: Authorization: Bearer <token>"}))).into_response()))
            }
        }
        None if peer.ip().is_loopback() => Ok(()),
        None => Err(Box::new((StatusCode::FORBIDDEN, Json(serde_json::json!({"error": "the admin API answers loopback only unless admin_token is set"}))).into_response())),
    }
}

/// Compare secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn plugins(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &peer, &headers) {
        return *r;
    }
    Json(app.reloader.current().plugins.report()).into_response()
}

#[derive(serde::Deserialize)]
pub struct RecentQuery {
    limit: Option<usize>,
}

pub async fn requests(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<RecentQuery>,
) -> Response {
    if let Err(r) = authorized(&app, &peer, &headers) {
        return *r;
    }
    let limit = q.limit.unwrap_or(100).min(10_000);
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.recent(limit)).await {
        Ok(records) => Json(records).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub async fn reload_status(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &peer, &headers) {
        return *r;
    }
    Json(app.reloader.status()).into_response()
}

pub async fn reload_now(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &peer, &headers) {
        return *r;
    }
    let reloader = Arc::clone(&app.reloader);
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(generation)) => {
            Json(serde_json::json!({"ok": true, "generation": generation})).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({"ok": false, "error": e})),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
