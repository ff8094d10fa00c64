//! The `smsgw` binary's commands, the install script and the udev rules.
//!
//! One test binary per area (linking each of 40 files separately took most
//! of the suite's build time); each module is one former test file.

mod cli_demo;
mod cli_send_probe;
mod install_script;
mod pdu_cli;
mod profiles_cli;
mod send_policy;
mod sim_tools;
mod smpp_cli;
mod store_cli;
mod udev_rules;
