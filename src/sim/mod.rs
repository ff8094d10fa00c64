pub mod codec;
pub mod driver;
pub mod model;
pub mod pty;

pub use driver::{spawn, SimEndpoint, SimHandle};
pub use model::{OutcomeMix, ReportMode, ReportRecord, SimConfig, SimModem, SubmitRecord};
