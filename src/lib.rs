//! smsgw: an SMS gateway for GSM/3G/LTE USB modems.
//!
//! The library holds all the logic; `src/main.rs` is a thin CLI over it.
//! Module map (see `docs/architecture.md`):
//! - [`at`]: the AT protocol engine (sans-IO): host-side digester, modem-side reader.
//! - [`pdu`]: 3GPP TS 23.040 / 23.038 wire formats (pure, no IO).
//! - [`profile`]: hardware profiles (modem families) from `hw-profiles/*.toml`.
//! - [`state`]: SMPP-style message states and the TP-ST table.

pub mod at;
pub mod cli;
pub mod modem;
pub mod pdu;
pub mod profile;
pub mod sim;
pub mod state;
