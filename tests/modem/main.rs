//! Modem sessions over real transports (pty, TCP) against the simulated modem.
//!
//! One test binary per area (linking each of 40 files separately took most
//! of the suite's build time); each module is one former test file.

mod pty_transport;
mod session_common;
mod session_dialects;
mod session_incoming;
mod session_pin;
mod session_read_retry;
mod session_reconnect;
mod session_sim;
mod session_stale;
mod session_tcp;
