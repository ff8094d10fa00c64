//! The `[http]` and `[webhook]` configuration sections, as fixed by the
//! issue-5 contract (moved to `crate::config` when that lands).

use serde::Deserialize;

/// `[http]`: where the API listens and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HttpConfig {
    /// Listen address, e.g. `"127.0.0.1:8080"`.
    pub listen: String,
    /// Bearer tokens accepted on every endpoint but `/healthz`.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Largest request body accepted (413 beyond).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

/// `[webhook]`: where events are POSTed and how failures are retried.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    /// HMAC-SHA256 key for the `X-Smsgw-Signature` header.
    #[serde(default)]
    pub secret: Option<String>,
    /// Longest pause between two attempts of one event.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_s: u64,
    /// Time allowed for one POST (connect, send, answer).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_max_body() -> usize {
    256 * 1024
}

fn default_max_backoff() -> u64 {
    300
}

fn default_timeout() -> u64 {
    10_000
}
