//! Command-line interface. Each subcommand lives in its own file and returns
//! a [`CliError`]; `run` maps errors to exit codes:
//! 0 success, 1 runtime failure (modem, store, IO), 2 bad input (usage,
//! malformed PDU, bad number), and whatever a subcommand documents otherwise.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) mod collisions;
pub(crate) mod db;
pub(crate) mod demo;
pub(crate) mod messages;
pub(crate) mod modem_args;
pub(crate) mod pdu;
pub(crate) mod probe;
pub(crate) mod profiles;
pub(crate) mod receipt;
pub(crate) mod reports;
pub(crate) mod send;
pub(crate) mod serve;
pub mod sim;
pub(crate) mod smpp;
pub(crate) mod states;
pub(crate) mod status;
pub(crate) mod udev_rules;

/// A failed command: the message goes to stderr, the code is the exit status.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Bad input from the user (exit 2).
    pub fn input(message: impl std::fmt::Display) -> Self {
        CliError {
            code: 2,
            message: message.to_string(),
        }
    }
    /// A runtime failure (exit 1).
    pub fn runtime(message: impl std::fmt::Display) -> Self {
        CliError {
            code: 1,
            message: message.to_string(),
        }
    }
}

pub type CliResult = Result<(), CliError>;

#[derive(Debug, Parser)]
#[command(
    name = "smsgw",
    version,
    about = "SMS gateway for GSM/3G/LTE USB modems (PDU mode, exact delivery reports)"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole gateway against simulated modems: send a batch, match every report, summarise.
    Demo(demo::DemoArgs),
    /// Identify a modem and print its SIM, network, signal and SMSC.
    Probe(probe::ProbeArgs),
    /// Send one message through a modem and optionally wait for its delivery reports.
    Send(send::SendArgs),
    /// Run the gateway daemon: modems from the config, the queue, the HTTP API and webhooks.
    Serve(serve::ServeArgs),
    /// Run a simulated modem on a pty (or TCP) for tests and demos.
    Sim(sim::SimArgs),
    /// Show what every TP-ST status byte means (state, final, permanent).
    States(states::StatesArgs),
    /// Decode or encode SMS PDUs (3GPP TS 23.040).
    Pdu(pdu::PduArgs),
    /// List the hardware profiles (modem families), or show one in full.
    Profiles(profiles::ProfilesArgs),
    /// Show a message with its parts, reports, events and receipt.
    Status(status::StatusArgs),
    /// List messages.
    Messages(messages::MessagesArgs),
    /// List status reports as received (all, orphans or ambiguous).
    Reports(reports::ReportsArgs),
    /// List TP-MR collisions (a part sent while another was pending under its key).
    Collisions(collisions::CollisionsArgs),
    /// Print the SMPP-style delivery receipt of a message.
    Receipt(receipt::ReceiptArgs),
    /// SMPP binds open in the daemon and receipts waiting per account.
    Smpp(smpp::SmppArgs),
    /// Print udev rules for the known modems (stable /dev/smsgw links, ModemManager off, start on plug-in).
    UdevRules(udev_rules::UdevRulesArgs),
}

/// Parse the command line, set up logging, run the subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Sim(_) | Command::Demo(_)
    ) {
        restore_sigpipe();
    }
    let result: CliResult = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Send(a) => send::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Sim(a) => sim::run(a),
        Command::States(a) => states::run(a),
        Command::Pdu(a) => pdu::run(a),
        Command::Profiles(a) => profiles::run(a),
        Command::Status(a) => status::run(a),
        Command::Messages(a) => messages::run(a),
        Command::Reports(a) => reports::run(a),
        Command::Collisions(a) => collisions::run(a),
        Command::Receipt(a) => receipt::run(a),
        Command::Smpp(a) => smpp::run(a),
        Command::UdevRules(a) => udev_rules::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smsgw: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Let the one-shot commands end quietly when their reader goes away
/// (`smsgw messages | head`), as Unix tools do, instead of failing on a
/// broken pipe. The long-running ones keep Rust's default (SIGPIPE ignored).
fn restore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no Rust code as a handler; this runs before
    // any other thread is started.
    #[allow(unsafe_code)]
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: not in a file, a pipe or the
    // journal, and not with NO_COLOR set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every option of every command says what it is for, names its value
    /// the same way everywhere, and the global ones come last, apart.
    #[test]
    fn help_is_complete_and_consistent() {
        let mut problems = Vec::new();
        let cli = Cli::command();
        let mut commands = vec![(String::from("smsgw"), cli.clone())];
        while let Some((path, cmd)) = commands.pop() {
            for sub in cmd.get_subcommands() {
                commands.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    problems.push(format!("{path}: --{id} has no description"));
                }
                let names: Vec<&str> = arg
                    .get_value_names()
                    .map(|v| v.iter().map(|s| s.as_str()).collect())
                    .unwrap_or_default();
                if id == "db" && names != ["PATH"] {
                    problems.push(format!("{path}: --db <{}> (want <PATH>)", names.join(" ")));
                }
                if id == "verbose" && arg.get_help_heading() != Some("Global options") {
                    problems.push(format!("{path}: -v is not under Global options"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
