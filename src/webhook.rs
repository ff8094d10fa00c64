//! Webhook delivery: POST every notification of the store's outbox to the
//! configured URL until the receiver acknowledges it with a 2xx.
//!
//! The outbox rows are written by the store in the same transaction as the
//! change they announce, so nothing is lost while the receiver is down: a
//! row stays until it is acknowledged. Delivery is at least once (a receiver
//! that processed an event but whose answer was lost gets it again): the
//! `X-Smsgw-Delivery` header carries the row id for de-duplication.
//!
//! Order: due rows are sent oldest first, one at a time. When the receiver
//! cannot be reached (connection refused or reset, timeout, 429, 502, 503,
//! 504) the whole sender pauses for the failed row's backoff, so later
//! events do not overtake it and a receiver that is down is not hammered;
//! any other refusal (another 4xx or 5xx) backs off that row only.
//!
//! Backoff: 1 s after the first failure, doubling, capped at
//! `max_backoff_s`, each pause scaled by a random factor in 0.8..1.2.
//!
//! Wake-up: the outbox is polled every [`POLL`] through an indexed query
//! (`next_attempt`), so a new event leaves within about that time.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::config::WebhookConfig;
use crate::gateway::Gateway;
use crate::store::{unix_now, WebhookRow};

/// How often the outbox is looked at when it had nothing due.
pub const POLL: Duration = Duration::from_millis(200);

/// Rows fetched per look.
const BATCH: u32 = 64;

/// Why one POST failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What to record in the outbox row.
    pub message: String,
    /// The receiver itself is unavailable (not this event's fault): pause
    /// everything.
    pub receiver_down: bool,
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`, the
/// `X-Smsgw-Signature` header value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    out.push_str(&crate::pdu::hex::encode_lower(&tag));
    out
}

/// The event name of a payload (its `"event"` field), else the row kind.
fn event_name(row: &WebhookRow) -> String {
    serde_json::from_str::<serde_json::Value>(&row.payload)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| row.kind.clone())
}

/// Time left until unix second `t` begins (zero if past).
fn until(t: i64) -> Duration {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    at.duration_since(std::time::SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// A client that does not follow redirects and treats every status as an
/// answer (judged by [`post`]).
fn agent(cfg: &WebhookConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(cfg.timeout_ms.max(1))))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("smsgw/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// POST one row (blocking). Ok on a 2xx answer.
fn post(agent: &ureq::Agent, cfg: &WebhookConfig, row: &WebhookRow) -> Result<(), Failure> {
    let mut req = agent
        .post(&cfg.url)
        .header("Content-Type", "application/json")
        .header("X-Smsgw-Event", event_name(row))
        .header("X-Smsgw-Delivery", row.id.to_string())
        .header("X-Smsgw-Attempt", (row.attempts + 1).to_string());
    if let Some(secret) = &cfg.secret {
        req = req.header(
            "X-Smsgw-Signature",
            signature(secret, row.payload.as_bytes()),
        );
    }
    match req.send(row.payload.as_bytes()) {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(Failure {
                    message: format!("HTTP {status}"),
                    receiver_down: matches!(status, 429 | 502 | 503 | 504),
                })
            }
        }
        // Logged and stored: without the URL's credentials.
        Err(e) => Err(Failure {
            message: crate::config::scrub_url_secrets(&e.to_string(), &cfg.url),
            receiver_down: true,
        }),
    }
}

/// Deliver the outbox to `cfg.url` until `shutdown` turns true (or its
/// sender is dropped). A POST in progress at shutdown is abandoned; its row
/// stays in the outbox and is sent again at the next start.
pub async fn run(gw: Gateway, cfg: WebhookConfig, mut shutdown: watch::Receiver<bool>) {
    let agent = agent(&cfg);
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(cfg.max_backoff_s.max(1)),
    );
    // Never the URL's password in a log (issue 10, defect 5).
    tracing::info!(
        url = %crate::config::redact_url(&cfg.url),
        signed = cfg.secret.is_some(),
        "webhook delivery started"
    );
    loop {
        if *shutdown.borrow() {
            break;
        }
        let rows = {
            let gw = gw.clone();
            tokio::task::spawn_blocking(move || gw.store().due_webhooks(unix_now(), BATCH)).await
        };
        let rows = match rows {
            Ok(Ok(rows)) => {
                // What was read may come from a group commit whose disk sync
                // is still running: announce only what is on disk.
                if !rows.is_empty() {
                    gw.flush().await;
                }
                rows
            }
            Ok(Err(e)) => {
                tracing::error!(%e, "reading the webhook outbox");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(%e, "webhook outbox task failed");
                Vec::new()
            }
        };
        let mut wait = if rows.is_empty() {
            POLL
        } else {
            Duration::ZERO
        };
        for row in rows {
            let attempt = {
                let (agent, cfg, row) = (agent.clone(), cfg.clone(), row.clone());
                tokio::task::spawn_blocking(move || post(&agent, &cfg, &row))
            };
            let result = tokio::select! {
                r = attempt => r,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let result = result.unwrap_or_else(|e| {
                Err(Failure {
                    message: format!("delivery task failed: {e}"),
                    receiver_down: true,
                })
            });
            let now = unix_now();
            let gw2 = gw.clone();
            match result {
                Ok(()) => {
                    tracing::debug!(id = row.id, "webhook delivered");
                    let saved = tokio::task::spawn_blocking(move || {
                        gw2.store().webhook_delivered(row.id, now)
                    })
                    .await;
                    if let Ok(Err(e)) = saved {
                        tracing::error!(%e, id = row.id, "recording a webhook delivery");
                    }
                }
                Err(failure) => {
                    // Failure number attempts + 1: 1 s after the first.
                    let delay = backoff.jittered(row.attempts, 0.8 + 0.4 * rand::random::<f64>());
                    // The outbox keeps whole seconds: due again after at least 1 s.
                    let next = now.saturating_add(delay.as_secs().clamp(1, i64::MAX as u64) as i64);
                    tracing::warn!(
                        id = row.id,
                        attempt = row.attempts + 1,
                        error = %failure.message,
                        "webhook not acknowledged; next attempt in {delay:?}"
                    );
                    let message = failure.message.clone();
                    let saved = tokio::task::spawn_blocking(move || {
                        gw2.store().webhook_failed(row.id, &message, next, now)
                    })
                    .await;
                    if let Ok(Err(e)) = saved {
                        tracing::error!(%e, id = row.id, "recording a webhook failure");
                    }
                    if failure.receiver_down {
                        // Pause everything until this row is due again, so
                        // that it is still the first one sent.
                        wait = delay.max(until(next));
                        break;
                    }
                }
            }
        }
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
    }
    tracing::info!("webhook delivery stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
