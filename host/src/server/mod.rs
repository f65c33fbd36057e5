//! The HTTP surface: front doors (routes declared by provider plugins), health,
//! and the admin API; plus startup and graceful shutdown.

pub mod admin;
pub mod errors;
pub mod proxy;
mod retag;
mod signatures;
pub mod translate;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::reload::Reloader;
use crate::store::Store;

/// Everything a request handler needs.
pub struct App {
    pub reloader: Arc<Reloader>,
    pub store: Store,
    pub client: upstream::UpstreamClient,
    pub admin_token: Option<String>,
}

/// The axum router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(root).head(root))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/admin/plugins", get(admin::plugins))
        .route("/admin/requests", get(admin::requests))
        .route(
            "/admin/reload",
            get(admin::reload_status).post(admin::reload_now),
        )
        .fallback(any(gateway))
        .with_state(app)
}

async fn root() -> impl IntoResponse {
    (
        StatusCode::OK,
        [("content-type", "text/plain; charset=utf-8")],
        "Tollgate AI gateway\n",
    )
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let rt = app.reloader.current();
    if rt.routes.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no routes").into_response()
    } else {
        (
            StatusCode::OK,
            format!("ready (generation {})", rt.generation),
        )
            .into_response()
    }
}

async fn gateway(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    proxy::handle(app, req).await
}

/// Serve until `shutdown` resolves, then finish in-flight requests and flush
/// the store.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    let store = app.store.clone();
    let result = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    store.close();
    result.context("serving HTTP")
}
