//! `smsgw smpp`: the SMPP binds open in the running daemon (from its HTTP
//! API, `GET /v1/smpp/binds`) and the receipts and incoming SMS waiting in
//! each account's outbox (from the database).

use std::time::Duration;

use clap::Args;

use super::db::{print_json, show_time, DbArgs};
use super::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct SmppArgs {
    /// The daemon's HTTP API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// An API token of the daemon ([http] tokens).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SMSGW_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// What the daemon said about its binds, or why it could not be asked.
enum Binds {
    Listed(serde_json::Value),
    Unavailable(String),
}

fn fetch_binds(api: &str, token: Option<&str>) -> Binds {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("{}/v1/smpp/binds", api.trim_end_matches('/'));
    let mut req = agent.get(&url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    match req.call() {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let text = match resp.body_mut().read_to_string() {
                Ok(t) => t,
                Err(e) => return Binds::Unavailable(format!("{url}: unreadable answer: {e}")),
            };
            let body: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return Binds::Unavailable(format!("{url}: unreadable answer: {e}")),
            };
            match status {
                200 => Binds::Listed(body),
                401 => Binds::Unavailable(format!(
                    "{url}: 401: give an API token (--token or SMSGW_TOKEN)"
                )),
                404 => Binds::Unavailable(format!(
                    "{url}: the daemon runs no SMPP server ([smpp] is not configured)"
                )),
                s => Binds::Unavailable(format!("{url}: HTTP {s}: {body}")),
            }
        }
        Err(e) => Binds::Unavailable(format!("{url}: {e} (is `smsgw serve` running?)")),
    }
}

pub fn run(args: SmppArgs) -> CliResult {
    let store = args.db.open_existing()?;
    let waiting = store.smpp_outbox_waiting().map_err(CliError::runtime)?;
    let binds = fetch_binds(&args.api, args.token.as_deref());
    if args.db.json {
        let (binds, error) = match &binds {
            Binds::Listed(v) => (v["binds"].clone(), None),
            Binds::Unavailable(why) => (serde_json::Value::Null, Some(why.clone())),
        };
        let waiting: Vec<serde_json::Value> = waiting
            .iter()
            .map(|(a, n)| serde_json::json!({"account": a, "waiting": n}))
            .collect();
        return print_json(&serde_json::json!({
            "binds": binds,
            "binds_error": error,
            "waiting": waiting,
        }));
    }
    match &binds {
        Binds::Listed(v) => {
            let list = v["binds"].as_array().cloned().unwrap_or_default();
            println!("{} bind(s) open", list.len());
            if !list.is_empty() {
                println!("{:<16} {:<12} {:<40} since", "system_id", "type", "peer");
                for b in &list {
                    println!(
                        "{:<16} {:<12} {:<40} {}",
                        b["system_id"].as_str().unwrap_or("?"),
                        b["bind_type"].as_str().unwrap_or("?"),
                        b["peer"].as_str().unwrap_or("?"),
                        show_time(b["since"].as_i64())
                    );
                }
            }
        }
        Binds::Unavailable(why) => println!("binds: unknown ({why})"),
    }
    println!();
    if waiting.is_empty() {
        println!("no receipts or incoming SMS waiting");
    } else {
        println!("{:<16} waiting (receipts and incoming SMS)", "account");
        for (a, n) in &waiting {
            println!("{a:<16} {n}");
        }
    }
    Ok(())
}
