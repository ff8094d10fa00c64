//! The `smsgw` binary: a thin shell over the library (see `smsgw::cli`).

fn main() -> std::process::ExitCode {
    smsgw::cli::run()
}
