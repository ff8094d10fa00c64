//! `smsgw profiles`: list the hardware profiles, or show one in full.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult};
use crate::profile::{Profile, ProfileSet};

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// Print JSON instead of a table (one array, or one object with NAME).
    #[arg(long)]
    pub json: bool,
    /// Directory of extra profiles; a file with a built-in name replaces it.
    /// Default: $SMSGW_PROFILES_DIR when set and not empty.
    #[arg(long, value_name = "DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// Show this profile in full (its file, comments and sources included).
    pub name: Option<String>,
}

pub fn run(args: ProfilesArgs) -> CliResult {
    let set = ProfileSet::load(args.profiles_dir.as_deref()).map_err(CliError::input)?;
    match args.name {
        Some(name) => {
            let Some(p) = set.by_name(&name) else {
                return Err(CliError::input(format!(
                    "no profile named {name:?}; known profiles: {}",
                    set.names().join(", ")
                )));
            };
            if args.json {
                println!("{}", to_json(p)?);
            } else {
                print!("# profile {} ({})\n{}", p.name, p.origin, p.text);
            }
        }
        None if args.json => {
            let all: Vec<serde_json::Value> =
                set.all().iter().map(to_json).collect::<Result<_, _>>()?;
            println!("{}", serde_json::Value::Array(all));
        }
        None => print_table(set.all()),
    }
    Ok(())
}

fn to_json(p: &Profile) -> Result<serde_json::Value, CliError> {
    let mut v = serde_json::to_value(p).map_err(CliError::runtime)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("origin".into(), p.origin.to_string().into());
    }
    Ok(v)
}

fn print_table(profiles: &[Profile]) {
    let rows: Vec<[String; 5]> = profiles
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.vendor.clone(),
                if p.models.is_empty() {
                    "-".to_string()
                } else {
                    p.models.join(",")
                },
                usb_summary(&p.matching.usb),
                p.sms.report_mode.as_str().to_string(),
            ]
        })
        .collect();
    let header = ["name", "vendor", "models", "usb ids", "reports"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s
    };
    println!("{}", line(header));
    for r in &rows {
        println!(
            "{}",
            line([
                r[0].as_str(),
                r[1].as_str(),
                r[2].as_str(),
                r[3].as_str(),
                r[4].as_str()
            ])
        );
    }
}

/// At most three ids, then how many more (the full list is in `profiles NAME`).
fn usb_summary(ids: &[String]) -> String {
    match ids.len() {
        0 => "-".to_string(),
        1..=3 => ids.join(","),
        n => format!("{} +{} more", ids[..3].join(","), n - 3),
    }
}
