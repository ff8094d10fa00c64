//! Modem sessions: the sans-IO session core against the simulated model in
//! virtual time, and the real transports (pty, TCP).
//!
//! One test binary per area (linking each of 40 files separately took most
//! of the suite's build time); each module is one former test file.

mod pty_transport;
mod session_common;
mod session_reconnect;
mod session_sim;
mod session_tcp;
mod session_ussd;
mod session_virtual;
