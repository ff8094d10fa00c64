//! `smsgw send`: send one message through a modem, record it in the store,
//! and optionally wait for its status reports.
//!
//! Exit codes: 0 sent (and, with --wait-report, delivered); 1 modem or store
//! failure; 2 bad input; 3 not delivered (a part failed, was refused, or no
//! final report came in time).

use std::path::Path;
use std::time::Duration;

use clap::Args;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::db::DbArgs;
use super::modem_args::ModemArgs;
use super::{CliError, CliResult};
use crate::gateway::{
    apply_inbound, send_message, InboundOutcome, OutboundMessage, PartOutcome, SentMessage,
};
use crate::modem::transport::Endpoint;
use crate::modem::{Modem, ModemEvent};
use crate::pdu::validity::parse_validity;
use crate::pdu::validity::Validity;
use crate::profile::Profile;
use crate::router::ModemId;
use crate::state::MessageState;
use crate::store::{MessageId, MessageView, Store};

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub modem: ModemArgs,
    /// The modem's name in the store (default: the device file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Recipient: +CC... international, or national digits.
    #[arg(long, value_name = "NUMBER")]
    pub to: String,
    /// Message text (split into parts when long).
    /// A text that starts with a dash is taken as the text (`--text -5`).
    #[arg(long, allow_hyphen_values = true)]
    pub text: String,
    /// Request a status report for every part.
    #[arg(long)]
    pub report: bool,
    /// Wait this many seconds for the final reports (implies --report).
    #[arg(long, value_name = "SECONDS")]
    pub wait_report: Option<u64>,
    /// Validity period: 90m, 12h, 1d, 2w (default: the SMSC's).
    #[arg(long, value_parser = parse_validity)]
    pub validity: Option<Validity>,
    /// Always use UCS2 (otherwise GSM 7-bit whenever the text allows).
    #[arg(long)]
    pub ucs2: bool,
    /// Class 0 (flash) message.
    #[arg(long)]
    pub flash: bool,
    /// Registration wait at start-up, seconds (default: the profile's).
    #[arg(long, value_name = "SECONDS")]
    pub registration_timeout: Option<u64>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(args: SendArgs) -> CliResult {
    if args.text.is_empty() {
        return Err(CliError::input("--text is empty: there is nothing to send"));
    }
    Endpoint::parse(&args.modem.device).map_err(CliError::input)?;
    // Bad input is refused before the modem is touched.
    crate::pdu::address::Address::parse_number(&args.to)
        .map_err(|e| CliError::input(format!("bad --to {:?}: {e}", args.to)))?;
    let mut store = args.db.open()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    rt.block_on(send(args, &mut store))
}

async fn send(args: SendArgs, store: &mut Store) -> CliResult {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.modem.device));
    let (modem, mut events, profile) = args
        .modem
        .connect(
            &name,
            args.registration_timeout.map(Duration::from_secs),
            true,
        )
        .await?;
    let modem_id = store.modem(&name).map_err(CliError::runtime)?;
    let msg = OutboundMessage {
        to: args.to.clone(),
        text: args.text.clone(),
        report: args.report || args.wait_report.is_some(),
        validity: args.validity.unwrap_or_default(),
        force_ucs2: args.ucs2,
        flash: args.flash,
        concat_ref: concat_ref_for(store),
    };
    let sent = send_message(store, &modem, modem_id, &msg)
        .await
        .map_err(|e| match e {
            crate::gateway::SendError::Store(e) => CliError::runtime(e),
            other => CliError::input(other),
        })?;
    if !args.db.json {
        print_sent(&sent, &name, &profile);
    }
    let mut code = if sent.all_sent() { 0 } else { 3 };
    if let (Some(secs), true) = (args.wait_report, sent.all_sent()) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let done = wait_reports(
            store,
            &modem,
            modem_id,
            &mut events,
            sent.id,
            deadline,
            args.db.json,
        )
        .await?;
        code = match done {
            Some(MessageState::Delivered) => 0,
            _ => 3,
        };
    }
    let view = store.message(sent.id).map_err(CliError::runtime)?;
    if args.db.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::api::views::message_detail(&view))
                .map_err(CliError::runtime)?
        );
    } else {
        print_final(&view, args.wait_report.is_some());
    }
    match code {
        0 => Ok(()),
        _ => Err(CliError {
            code: 3,
            message: not_delivered_reason(&view),
        }),
    }
}

fn default_name(device: &str) -> String {
    if let Some(addr) = device.strip_prefix("tcp:") {
        return format!("tcp-{addr}");
    }
    Path::new(device)
        .file_name()
        .map_or_else(|| device.to_string(), |n| n.to_string_lossy().into_owned())
}

/// A concatenation reference that differs between consecutive messages.
fn concat_ref_for(store: &Store) -> u16 {
    let n = store.router().stats();
    ((n.pending + n.settled) % 256) as u16
}

async fn wait_reports(
    store: &mut Store,
    modem: &Modem,
    modem_id: ModemId,
    events: &mut UnboundedReceiver<ModemEvent>,
    id: MessageId,
    deadline: Instant,
    quiet: bool,
) -> Result<Option<MessageState>, CliError> {
    loop {
        let state = store.message(id).map_err(CliError::runtime)?.message.state;
        if state.is_final() {
            return Ok(Some(state));
        }
        let ev = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err(CliError::runtime("the modem session ended")),
            Ok(Some(ev)) => ev,
        };
        match ev {
            ModemEvent::Inbound(inb) => match apply_inbound(store, modem_id, &inb) {
                Ok(InboundOutcome::Report(outcome)) => {
                    modem.handed_on(&inb.origin);
                    if !quiet {
                        let parts = store.message(id).map_err(CliError::runtime)?.parts;
                        let label = |p: crate::router::PartId| part_label(&parts, p);
                        println!("  report: {}", describe(&outcome.resolution, label));
                    }
                }
                Ok(InboundOutcome::Sms(d)) => {
                    // Not ours to consume here: it stays in the modem for the daemon.
                    if !quiet {
                        println!("  (an SMS from {} arrived; left in the modem)", d.sender);
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            },
            ModemEvent::Disconnected { reason, .. } => {
                eprintln!("smsgw: modem disconnected ({reason}); waiting for it to come back");
            }
            ModemEvent::Reconnected(_) => eprintln!("smsgw: modem back"),
            ModemEvent::SimLocked { reason, .. } => {
                return Err(CliError::runtime(format!("SIM: {reason}")))
            }
            ModemEvent::Unsolicited { .. } => {}
        }
    }
}

fn print_sent(sent: &SentMessage, modem: &str, profile: &Profile) {
    println!(
        "message {} via {modem} (profile {}): {} part(s)",
        sent.id.0,
        profile.name,
        sent.parts.len()
    );
    let n = sent.parts.len();
    for (i, (_, outcome)) in sent.parts.iter().enumerate() {
        let what = match outcome {
            PartOutcome::Sent { mr, collision_with } if collision_with.is_empty() => {
                format!("sent, TP-MR {mr}")
            }
            PartOutcome::Sent { mr, collision_with } => {
                format!("sent, TP-MR {mr} (collides with pending part(s) {collision_with:?}; reports will be told apart by time)")
            }
            PartOutcome::Rejected { code, reason } => {
                format!(
                    "REJECTED: +CMS ERROR {} {reason}",
                    code.map_or("?".to_string(), |c| c.to_string())
                )
            }
            PartOutcome::OutcomeUnknown { reason } => {
                format!("UNKNOWN outcome (may have been sent): {reason}")
            }
            PartOutcome::NotSent { reason } => format!("not sent, still queued: {reason}"),
        };
        println!("  part {}/{n}: {what}", i + 1);
    }
}

fn print_final(view: &MessageView, waited: bool) {
    let m = &view.message;
    if waited || m.state.is_final() {
        for p in &view.parts {
            println!(
                "  part {}: {}{}",
                p.seq,
                p.state,
                p.tp_status.map_or(String::new(), |s| format!(
                    " (TP-ST 0x{s:02X}: {})",
                    crate::pdu::status::TpStatus(s).description()
                ))
            );
        }
    }
    println!("message {}: {}", m.id, m.state);
    if let Some(r) = view.receipts.first() {
        println!("{r}");
    }
}

fn not_delivered_reason(view: &MessageView) -> String {
    let m = &view.message;
    match m.state {
        MessageState::Accepted | MessageState::Enroute => {
            format!("message {} is {} (no final report yet)", m.id, m.state)
        }
        s => {
            let why = view
                .parts
                .iter()
                .find(|p| p.state.is_failure())
                .and_then(|p| p.error.clone());
            format!(
                "message {} is {s}{}",
                m.id,
                why.map_or(String::new(), |w| format!(": {w}"))
            )
        }
    }
}

/// A part as the user knows it: `part 2/3` of the message being sent, or
/// the store's row for a part of another message.
fn part_label(parts: &[crate::store::PartRow], part: crate::router::PartId) -> String {
    match parts.iter().find(|p| p.id == part.0) {
        Some(p) => format!("part {}/{}", p.seq, parts.len()),
        None => format!("part row {} (another message)", part.0),
    }
}

/// One line about what a report did; `part` names a part.
pub fn describe(
    r: &crate::router::Resolution,
    part: impl Fn(crate::router::PartId) -> String,
) -> String {
    use crate::router::{Basis, Resolution};
    match r {
        Resolution::Matched(m) => format!(
            "{} {} (TP-ST 0x{:02X}: {}), matched {}",
            part(m.part),
            m.outcome.state,
            m.outcome.status.byte(),
            m.outcome.description,
            match m.basis {
                Basis::Sole => "as the only candidate",
                Basis::Time => "by its timestamp among colliding candidates",
                Basis::Set => "by the set: as many reports, all alike, as colliding candidates",
                Basis::Window => "as the only part of unknown outcome sent in its time window",
            }
        ),
        Resolution::AlreadySettled { part: p } => {
            format!("repeated report for {} (already final)", part(*p))
        }
        Resolution::Ambiguous { candidates } => {
            let names: Vec<String> = candidates.iter().map(|p| part(*p)).collect();
            format!("AMBIGUOUS between {}: attached to none", names.join(", "))
        }
        Resolution::Orphan => {
            "orphan (no part could have caused it); kept for a later match".to_string()
        }
    }
}
