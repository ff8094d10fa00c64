//! The AT protocol engine, sans-IO: no tokio, no IO, no clock.
//!
//! Host side (the modem session drives it):
//! - [`Digester`]: bytes from the modem in any chunking, [`Event`]s out
//!   (responses with their final result, the `> ` prompt, URCs, stream errors).
//! - [`answers`]: typed parsing of the responses the session needs.
//! - [`error_codes`]: +CMS / +CME ERROR names and retry classes.
//!
//! Modem side (the simulated modem drives it):
//! - [`CommandReader`]: bytes from the host in, commands and PDU bodies out.
//! - [`format`]: writing responses and URCs as a modem does.

pub mod answers;
pub(crate) mod digester;
pub mod error_codes;
pub(crate) mod fields;
pub mod format;
pub(crate) mod reader;
pub(crate) mod result;
pub(crate) mod urc;

pub use digester::{DigestError, Digester, Event, Limits, Response};
pub use error_codes::{CmeError, CmsError, ErrorInfo, RetryClass};
pub use reader::{CommandReader, ModemInput, ReaderError};
pub use result::FinalResult;
pub use urc::{RegDomain, Registration, TwoLineKind, Urc};
