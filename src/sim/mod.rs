pub mod codec;
pub(crate) mod driver;
pub mod lockstep;
pub(crate) mod model;
pub mod pty;

pub use driver::{spawn, SimEndpoint, SimHandle};
pub use model::{
    OutcomeMix, ReportMode, ReportRecord, SimConfig, SimModem, SubmitRecord, UssdReply,
};
