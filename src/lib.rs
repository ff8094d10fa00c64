//! smsgw: an SMS gateway for GSM/3G/LTE USB modems.
//!
//! The library holds all the logic; `src/main.rs` is a thin CLI over it.
//! Module map (see `docs/architecture.md`):
//! - [`api`]: the HTTP API (axum) over the gateway.
//! - [`at`]: the AT protocol engine (sans-IO): host-side digester, modem-side reader.
//! - `backoff` (crate-internal): the exponential backoff every retry uses.
//! - [`pdu`]: 3GPP TS 23.040 / 23.038 wire formats (pure, no IO).
//! - [`profile`]: hardware profiles (modem families) from `hw-profiles/*.toml`.
//! - [`state`]: SMPP-style message states and the TP-ST table.
//! - [`router`]: delivery-report correlation (pure data structure).
//! - `receipt` (crate-internal): SMPP-style delivery receipt text.
//! - [`store`]: SQLite: messages, parts, reports, events, collisions.
//! - [`times`]: times as users give and read them (CLI and API alike).
//! - [`modem`]: modem sessions (tokio): transport, start-up, AT+CMGS, reports.
//! - [`webhook`]: delivery of the store's webhook outbox.
//! - [`sim`]: the simulated modem (tests, demo, benchmarks).
//! - [`smpp`]: the SMPP 3.4 server for applications.

// Bad input gets an error naming the problem, never a panic: no unwrap
// outside tests (clippy.toml allows it in #[cfg(test)] code).
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod at;
pub(crate) mod backoff;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod gateway;
pub mod modem;
pub mod pdu;
pub mod profile;
pub(crate) mod receipt;
pub mod router;
pub mod sim;
pub mod smpp;
pub mod state;
pub mod store;
pub mod times;
pub mod udev;
pub mod webhook;
