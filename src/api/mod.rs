//! The HTTP API (axum): thin adapters over [`Gateway`] calls.
//!
//! Every endpoint but `/healthz` needs `Authorization: Bearer <token>`.
//! Errors answer `{"error": {"field": ..., "message": ...}}`; see
//! `docs/api.md` for the endpoints and their answers.

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

use crate::config::HttpConfig;
use crate::gateway::Gateway;

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod error;
mod events;
pub(crate) mod exposition;
mod handlers;
pub(crate) mod metrics;
pub mod openapi;
pub(crate) mod params;
pub(crate) mod server;
pub(crate) mod ussd;
pub(crate) mod views;

/// The API's routes over `gw`, with authentication, the body size limit and
/// request tracing.
pub fn router(gw: Gateway, http: &HttpConfig) -> Router {
    if http.tokens.is_empty() {
        tracing::warn!("no API tokens configured: every authenticated endpoint answers 401");
    }
    let tokens = auth::Tokens::new(&http.tokens);
    let authed = Router::new()
        .route(
            "/v1/messages",
            post(handlers::submit).get(handlers::list_messages),
        )
        .route(
            "/v1/messages/bulk",
            post(handlers::submit_bulk).layer(DefaultBodyLimit::max(
                http.max_body_bytes.max(body::MAX_BULK_BODY_BYTES),
            )),
        )
        .route(
            "/v1/messages/{id}",
            get(handlers::get_message).delete(handlers::cancel_message),
        )
        .route("/v1/inbox", get(handlers::inbox))
        .route("/v1/events", get(events::events))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/v1/modems", get(handlers::modems))
        .route("/v1/modems/{name}/ussd", post(ussd::ussd))
        .route("/v1/collisions", get(handlers::collisions))
        .route("/v1/smpp/binds", get(handlers::smpp_binds))
        .route("/metrics", get(handlers::metrics))
        .route_layer(middleware::from_fn_with_state(tokens, auth::require_token));
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .merge(authed)
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(gw)
}

/// Bind `http.listen` (before anything is announced: a port in use is an
/// error at once, naming the address).
pub async fn bind(http: &HttpConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(&http.listen).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", http.listen))
    })
}

/// Bind `http.listen` and serve until `shutdown` turns true (or its sender
/// is dropped), then finish the requests in progress.
pub async fn serve(
    gw: Gateway,
    http: &HttpConfig,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = bind(http).await?;
    serve_on(listener, gw, http, shutdown).await
}

/// [`serve`] on a listener already bound (tests bind port 0), with the
/// connection limits and timeouts of `http` (see [`server`]).
pub async fn serve_on(
    listener: TcpListener,
    gw: Gateway,
    http: &HttpConfig,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "HTTP API listening");
    let app = router(gw, http);
    server::run(listener, app, server::Limits::from_config(http), shutdown).await
}
