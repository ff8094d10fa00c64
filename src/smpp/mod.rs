//! SMPP 3.4 server for applications (ESMEs): binds, submit_sm, query_sm,
//! cancel_sm, and delivery receipts / incoming SMS from a durable outbox.
//!
//! Two halves meet at [`backend::SmppBackend`]:
//! - the protocol side (wire codec, sessions, windows, enquire_link, the
//!   deliver_sm loop) speaks SMPP and knows nothing of the queue or the store;
//! - the gateway side implements the backend over the durable queue, the
//!   store and the router, exactly as an HTTP submit goes.
//!
//! Protocol side: [`pdu`] (wire formats), [`coding`] (data_coding),
//! [`time`] (SMPP times), [`message`] (PDUs to and from backend types).
//! Gateway side: [`gateway`] (the backend over the daemon), [`serve`] (the
//! listener in `smsgw serve`).

pub mod backend;
pub mod coding;
pub mod gateway;
pub mod message;
pub mod pdu;
pub mod registry;
pub mod serve;
pub mod server;
pub mod session;
pub mod time;
