//! The SMPP server in the daemon: the listener bound before anything
//! starts, the backend over the gateway, and the server's binds shown to
//! the API and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::gateway::{BindView, SmppGateway, SmppStatus};
use crate::config::SmppConfig;
use crate::gateway::Gateway;

/// Bind `[smpp] listen` (a port in use is an error at once, naming it).
pub async fn bind(cfg: &SmppConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(&cfg.listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for SMPP on {}: {e}", cfg.listen),
        )
    })
}

/// Start serving SMPP on `listener` for the accounts of `cfg` until the
/// gateway shuts down; returns the backend (for its housekeeping) and the
/// server's task.
pub fn start(
    gw: &Gateway,
    cfg: &SmppConfig,
    listener: TcpListener,
) -> (Arc<SmppGateway>, JoinHandle<()>) {
    let backend = SmppGateway::new(gw.clone(), cfg);
    let server = super::server::SmppServer::new(
        backend.clone(),
        super::server::ServerConfig {
            window: cfg.window as usize,
            enquire_link: Duration::from_secs(cfg.enquire_link_s),
            ..super::server::ServerConfig::default()
        },
    );
    let registry = server.binds();
    backend.set_binds(move || {
        registry
            .snapshot()
            .into_iter()
            .map(|b| BindView {
                system_id: b.system_id,
                bind_type: b.kind.as_str().to_string(),
                peer: b.peer.to_string(),
                since: b.since,
            })
            .collect()
    });
    gw.set_smpp(backend.clone() as Arc<dyn SmppStatus>);
    let stop = gw.shutdown_signal();
    let task = tokio::spawn(async move {
        if let Err(e) = server.run(listener, stop).await {
            tracing::error!("SMPP server: {e}");
        }
    });
    (backend, task)
}
