//! smsgw: an SMS gateway for GSM/3G/LTE USB modems.
//!
//! The library holds all the logic; `src/main.rs` is a thin CLI over it.
//! Module map (see `docs/architecture.md`):
//! - [`pdu`]: 3GPP TS 23.040 / 23.038 wire formats (pure, no IO).
//! - [`state`]: SMPP-style message states and the TP-ST table.
//! - [`router`]: delivery-report correlation (pure data structure).
//! - [`receipt`]: SMPP-style delivery receipt text.
//! - [`store`]: SQLite: messages, parts, reports, events, collisions.

pub mod cli;
pub mod pdu;
pub mod receipt;
pub mod router;
pub mod state;
pub mod store;
