//! smsgw: an SMS gateway for GSM/3G/LTE USB modems.
//!
//! The library holds all the logic; `src/main.rs` is a thin CLI over it.
//! Module map (see `docs/architecture.md`):
//! - [`api`]: the HTTP API (axum) over the gateway.
//! - [`at`]: the AT protocol engine (sans-IO): host-side digester, modem-side reader.
//! - [`pdu`]: 3GPP TS 23.040 / 23.038 wire formats (pure, no IO).
//! - [`profile`]: hardware profiles (modem families) from `hw-profiles/*.toml`.
//! - [`state`]: SMPP-style message states and the TP-ST table.
//! - [`router`]: delivery-report correlation (pure data structure).
//! - [`receipt`]: SMPP-style delivery receipt text.
//! - [`store`]: SQLite: messages, parts, reports, events, collisions.
//! - [`modem`]: modem sessions (tokio): transport, start-up, AT+CMGS, reports.
//! - [`webhook`]: delivery of the store's webhook outbox.
//! - [`sim`]: the simulated modem (tests, demo, benchmarks).

pub mod api;
pub mod at;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod gateway;
pub mod modem;
pub mod pdu;
pub mod profile;
pub mod receipt;
pub mod router;
pub mod sim;
pub mod state;
pub mod store;
pub mod udev;
pub mod webhook;
