//! The `smsgw` binary: a thin shell over the library (see `smsgw::cli`).

#![deny(clippy::unwrap_used)]

fn main() -> std::process::ExitCode {
    smsgw::cli::run()
}
