pub mod codec;
pub mod driver;
pub mod lockstep;
pub mod model;
pub mod pty;

pub use driver::{spawn, SimEndpoint, SimHandle};
pub use model::{OutcomeMix, ReportMode, SimConfig, SimModem, SubmitRecord};
