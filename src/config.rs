//! The daemon's configuration file (`smsgw serve --config smsgw.toml`).
//!
//! TOML, every table closed to unknown keys, every value checked when the
//! file is loaded: a mistake stops the daemon with a message naming the file,
//! the line (when it can be found) and the dotted key (`modem[1].profile`),
//! never a modem driven with half a configuration. `smsgw.example.toml` at the
//! repository root documents every key; `docs/configuration.md` explains them.
//!
//! Secrets (SIM PINs, API tokens, the webhook secret and any password in the
//! webhook URL) never appear in `Debug` output, so a `tracing::debug!("{cfg:?}")`
//! cannot leak them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::gateway::{GatewaySettings, ResendUnknown};
use crate::pdu::validity::parse_validity;
use crate::pdu::validity::Validity;
use crate::profile::ProfileSet;
use crate::router::{ConfigError as RouterConfigError, RouterConfig};

/// The profile name that asks for detection (USB id, then AT+CGMM).
pub const AUTO_PROFILE: &str = "auto";

/// Shown instead of a secret in `Debug` output.
const REDACTED: &str = "<redacted>";

/// The whole configuration file.
#[derive(Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[store]`: the SQLite database.
    #[serde(default)]
    pub store: StoreSection,
    /// `[http]`: the HTTP API.
    #[serde(default)]
    pub http: HttpConfig,
    /// `[[modem]]` tables, in file order.
    #[serde(default, rename = "modem")]
    pub modems: Vec<ModemConfig>,
    /// `[webhook]`: where state changes and incoming SMS are POSTed (none: off).
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// `[gateway]`: sending defaults and retry policy.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// `[router]`: delivery-report correlation tunables.
    #[serde(default)]
    pub router: RouterSection,
    /// `[smpp]`: the SMPP server for applications (none: no listener).
    #[serde(default)]
    pub smpp: Option<SmppConfig>,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Database file; `None`: `smsgw.db` in the user's data directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `[http]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on, an IP literal: `127.0.0.1:8080`, `[::]:8080`.
    pub listen: String,
    /// Accepted bearer tokens (`Authorization: Bearer <token>`).
    pub tokens: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes: all a
    /// connection may hold before it is authenticated (431 beyond).
    pub max_header_bytes: usize,
    /// Time a client has to send a request's head, in milliseconds.
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's body, in milliseconds.
    pub body_timeout_ms: u64,
    /// An idle connection (no request under way) is closed after this, in
    /// milliseconds.
    pub idle_timeout_ms: u64,
}

/// Bounds of `[http]` settings (a typo must not make a limit useless).
pub const MAX_CONNECTIONS_LIMIT: usize = 65_536;
pub const MAX_HEADER_BYTES_RANGE: (usize, usize) = (8 * 1024, 1024 * 1024);
pub const MAX_BODY_BYTES_RANGE: (usize, usize) = (1024, 16 * 1024 * 1024);
pub const TIMEOUT_MS_RANGE: (u64, u64) = (100, 3_600_000);

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".to_string(),
            tokens: Vec::new(),
            max_body_bytes: 64 * 1024,
            max_connections: 512,
            max_header_bytes: 16 * 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
        }
    }
}

impl HttpConfig {
    /// The listen address (checked when the file was loaded).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("tokens", &Redacted::List(self.tokens.len()))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("header_timeout_ms", &self.header_timeout_ms)
            .field("body_timeout_ms", &self.body_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .finish()
    }
}

/// One `[[modem]]` table.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`): shown in the API, logs, metrics.
    pub name: String,
    /// Port path, or a glob such as `/dev/serial/by-id/usb-HUAWEI_*-if02-port0`.
    pub device: String,
    /// A hardware profile name, or `"auto"` (default) to detect it.
    #[serde(default = "auto_profile")]
    pub profile: String,
    /// SIM PIN, sent when the SIM asks for one.
    #[serde(default)]
    pub pin: Option<String>,
    /// Most submits per minute through this modem (none: as fast as it goes).
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
    /// SIM routing: only recipients starting with one of these (empty: all).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

fn auto_profile() -> String {
    AUTO_PROFILE.to_string()
}

impl ModemConfig {
    /// Whether this modem may send to `recipient` under its routing prefixes.
    /// Both sides are compared with spaces removed and a leading `00` read as
    /// `+`; an empty prefix list accepts everyone.
    pub fn accepts(&self, recipient: &str) -> bool {
        prefixes_accept(&self.prefixes, recipient)
    }

    /// Whether `device` is a glob pattern rather than a plain path.
    pub fn device_is_glob(&self) -> bool {
        self.device.contains(['*', '?', '['])
    }

    /// The ports `device` names now (see [`resolve_device`]).
    pub fn resolve_device(&self) -> Vec<PathBuf> {
        resolve_device(&self.device)
    }
}

impl fmt::Debug for ModemConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModemConfig")
            .field("name", &self.name)
            .field("device", &self.device)
            .field("profile", &self.profile)
            .field("pin", &self.pin.as_ref().map(|_| Redacted::One))
            .field("rate_per_minute", &self.rate_per_minute)
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

/// The routing rule of a modem's `prefixes`, for the config, the API's
/// check at submit and the worker's claim alike: an empty list accepts
/// every number; otherwise the number must start with one of them, both
/// normalised the same way: the separators a number may be written with
/// (spaces, `-`, `.`, `(`, `)`) removed and a leading `00` read as `+`.
/// A prefix of digits only (`"3"`) is compared with numbers written
/// without `+` or `00` (national numbers), not with international ones.
pub fn prefixes_accept(prefixes: &[String], recipient: &str) -> bool {
    if prefixes.is_empty() {
        return true;
    }
    let to = normalise_number(recipient);
    prefixes
        .iter()
        .any(|p| to.starts_with(&normalise_number(p)))
}

fn normalise_number(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    match s.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => s,
    }
}

/// `[webhook]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL receiving the JSON events.
    pub url: String,
    /// Key of the HMAC-SHA256 signature header (none: unsigned).
    #[serde(default)]
    pub secret: Option<String>,
    /// Longest pause between two delivery attempts of one event, in seconds.
    #[serde(default = "default_max_backoff_s")]
    pub max_backoff_s: u64,
    /// Timeout of one POST, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_backoff_s() -> u64 {
    3600
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact_url(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| Redacted::One))
            .field("max_backoff_s", &self.max_backoff_s)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// The URL with any `user:password@` replaced, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The user information (`user:password`) of `url`, if it has any.
fn url_userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..authority_end]
        .rfind('@')
        .map(|at| &rest[..at])
        .filter(|u| !u.is_empty())
}

/// `text` (an error message, say) with the credentials of `url` replaced:
/// the whole user information, and the password alone where it appears.
pub fn scrub_url_secrets(text: &str, url: &str) -> String {
    let Some(userinfo) = url_userinfo(url) else {
        return text.to_string();
    };
    let mut out = text.replace(userinfo, REDACTED);
    if let Some((_, password)) = userinfo.split_once(':') {
        // A very short one would garble the text; it cannot be told apart.
        if password.len() >= 4 {
            out = out.replace(password, REDACTED);
        }
    }
    out
}

/// Allowed `gateway.resend_unknown_wait_s` (one minute to thirty days).
pub const RESEND_UNKNOWN_WAIT_S_RANGE: (u64, u64) = (60, 30 * 86_400);

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Validity of messages that do not give one (`90m`, `12h`, `1d`, `2w`);
    /// none: the SMSC's default.
    pub default_validity: Option<String>,
    /// Ask for status reports unless a request says otherwise.
    pub report: bool,
    /// Attempts of a part refused with a temporary error before it is REJECTD.
    pub max_retries: u32,
    /// First pause before a retry, in seconds (doubles each time).
    pub retry_backoff_s: u64,
    /// Parts whose AT+CMGS was never answered: `false` (UNKNOWN), `true`
    /// (resent after a crash) or `"if-no-report"` (resent when no report
    /// came within `resend_unknown_wait_s`).
    pub resend_unknown: ResendUnknown,
    /// Seconds to wait for the report of such a part (`"if-no-report"`).
    pub resend_unknown_wait_s: u64,
    /// Hold back parts whose TP-MR would make a report that no time stamp
    /// can attribute (same number, same TP-MR, sent seconds apart).
    pub avoid_mr_lookalikes: bool,
    /// `{ from = "21:00", to = "08:00", tz = "Europe/Rome" }`: only urgent
    /// messages are sent inside the window.
    pub quiet_hours: Option<QuietHoursConfig>,
}

/// `gateway.quiet_hours`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursConfig {
    pub from: String,
    pub to: String,
    /// An IANA time zone name; UTC when not given.
    #[serde(default = "utc")]
    pub tz: String,
}

fn utc() -> String {
    "UTC".into()
}

impl QuietHoursConfig {
    pub fn parse(&self) -> Result<crate::gateway::quiet::QuietHours, String> {
        crate::gateway::quiet::QuietHours::new(&self.from, &self.to, &self.tz)
    }
}

impl Default for GatewaySection {
    fn default() -> Self {
        let d = GatewaySettings::default();
        GatewaySection {
            default_validity: None,
            report: d.report,
            max_retries: d.max_retries,
            retry_backoff_s: d.retry_backoff_s,
            resend_unknown: d.resend_unknown,
            resend_unknown_wait_s: d.resend_unknown_wait_s,
            avoid_mr_lookalikes: d.avoid_mr_lookalikes,
            quiet_hours: None,
        }
    }
}

impl GatewaySection {
    /// `default_validity` as a TP-VP (checked when the file was loaded).
    pub fn validity(&self) -> Result<Validity, String> {
        match &self.default_validity {
            Some(v) => parse_validity(v),
            None => Ok(Validity::None),
        }
    }
}

/// `[router]`: see [`RouterConfig`] for what each value does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSection {
    /// Trailing digits of a number compared (1..=15).
    pub suffix_digits: u8,
    /// Seconds an SCTS may be off a candidate's submit time.
    pub tolerance: i64,
    /// Seconds of window before a clock offset is learned.
    pub fallback_bound: i64,
    /// Seconds after the validity period before a part without report is UNKNOWN.
    pub expiry_grace: i64,
    /// Seconds a settled entry is kept to catch repeated reports.
    pub keep_settled: i64,
}

impl Default for RouterSection {
    fn default() -> Self {
        let d = RouterConfig::default();
        RouterSection {
            suffix_digits: d.suffix_digits,
            tolerance: d.tolerance,
            fallback_bound: d.fallback_bound,
            expiry_grace: d.expiry_grace,
            keep_settled: d.keep_settled,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("store", &self.store)
            .field("http", &self.http)
            .field("modems", &self.modems)
            .field("webhook", &self.webhook)
            .field("gateway", &self.gateway)
            .field("router", &self.router)
            .field("smpp", &self.smpp)
            .finish()
    }
}

/// `[smpp]`: the SMPP 3.4 server for applications (ESMEs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    /// Address and port to listen on, an IP literal: `127.0.0.1:2775`.
    pub listen: String,
    /// Most submit_sm awaiting their response per bind.
    #[serde(default = "default_smpp_window")]
    pub window: u32,
    /// Seconds a bind may be idle before the server sends enquire_link.
    #[serde(default = "default_enquire_link_s")]
    pub enquire_link_s: u64,
    /// Hours receipts and incoming SMS wait for an account that never binds.
    #[serde(default = "default_receipt_retention_h")]
    pub receipt_retention_h: u64,
    /// `[[smpp.account]]` tables, in file order.
    #[serde(default, rename = "account")]
    pub accounts: Vec<SmppAccountConfig>,
}

fn default_smpp_window() -> u32 {
    64
}

fn default_enquire_link_s() -> u64 {
    30
}

fn default_receipt_retention_h() -> u64 {
    72
}

/// Allowed `smpp.window`.
pub const SMPP_WINDOW_RANGE: (u32, u32) = (1, 10_000);
/// Allowed `smpp.enquire_link_s` (one second to one day).
pub const SMPP_ENQUIRE_LINK_S_RANGE: (u64, u64) = (1, 86_400);
/// Allowed `smpp.receipt_retention_h` (one hour to a year).
pub const SMPP_RETENTION_H_RANGE: (u64, u64) = (1, 24 * 366);

/// How an account's message ids are written (`message_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmppIdFormat {
    /// The API id in decimal (default).
    #[default]
    Decimal,
    /// The same number in upper-case hex.
    Hex,
}

/// One `[[smpp.account]]` table.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppAccountConfig {
    /// The bind's system_id: 1 to 15 characters, unique.
    pub system_id: String,
    /// The bind's password: 1 to 8 characters.
    pub password: String,
    /// Most message parts per second this account may submit (none: no limit).
    #[serde(default)]
    pub throughput: Option<u32>,
    /// CIDRs a bind may come from (empty: anywhere).
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Incoming SMS are delivered to this account's receiver binds.
    #[serde(default)]
    pub receive_mo: bool,
    /// `"decimal"` (default) or `"hex"`.
    #[serde(default)]
    pub message_id: SmppIdFormat,
}

impl fmt::Debug for SmppAccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppAccountConfig")
            .field("system_id", &self.system_id)
            .field("password", &Redacted::One)
            .field("throughput", &self.throughput)
            .field("allowed_ips", &self.allowed_ips)
            .field("receive_mo", &self.receive_mo)
            .field("message_id", &self.message_id)
            .finish()
    }
}

impl SmppConfig {
    /// The listen address (checked when the file was loaded).
    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.listen.parse()
    }

    fn check(&self) -> Result<(), (String, String)> {
        if let Err(e) = self.listen_addr() {
            return Err((
                "smpp.listen".into(),
                format!(
                    "{:?} is not an IP address with a port (127.0.0.1:2775, [::]:2775): {e}",
                    self.listen
                ),
            ));
        }
        let within = |key: &str, v: u64, (lo, hi): (u64, u64)| {
            if v < lo || v > hi {
                Err((
                    format!("smpp.{key}"),
                    format!("{v} is out of range ({lo} to {hi})"),
                ))
            } else {
                Ok(())
            }
        };
        let (lo, hi) = SMPP_WINDOW_RANGE;
        within(
            "window",
            u64::from(self.window),
            (u64::from(lo), u64::from(hi)),
        )?;
        within(
            "enquire_link_s",
            self.enquire_link_s,
            SMPP_ENQUIRE_LINK_S_RANGE,
        )?;
        within(
            "receipt_retention_h",
            self.receipt_retention_h,
            SMPP_RETENTION_H_RANGE,
        )?;
        for (i, a) in self.accounts.iter().enumerate() {
            a.check(i)?;
            if let Some(first) = self.accounts[..i]
                .iter()
                .position(|o| o.system_id == a.system_id)
            {
                return Err((
                    format!("smpp.account[{i}].system_id"),
                    format!(
                        "{:?} is already the system_id of smpp.account[{first}]",
                        a.system_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl SmppAccountConfig {
    fn check(&self, i: usize) -> Result<(), (String, String)> {
        let key = |k: &str| format!("smpp.account[{i}].{k}");
        let n = self.system_id.chars().count();
        if !(1..=15).contains(&n) {
            return Err((
                key("system_id"),
                format!("{:?}: a system_id is 1 to 15 characters", self.system_id),
            ));
        }
        if !self.system_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err((
                key("system_id"),
                format!(
                    "{:?}: only printable ASCII without spaces (it travels as a C string)",
                    self.system_id
                ),
            ));
        }
        // Never echo the password itself.
        let n = self.password.chars().count();
        if !(1..=8).contains(&n) || self.password.len() != n {
            return Err((
                key("password"),
                "a password is 1 to 8 ASCII characters (SMPP 3.4: 9 octets with the NUL)".into(),
            ));
        }
        if self.password.bytes().any(|b| b.is_ascii_control()) {
            return Err((
                key("password"),
                "the password contains control characters".into(),
            ));
        }
        if self.throughput == Some(0) {
            return Err((
                key("throughput"),
                "0 would refuse every submit; leave it out for no limit".into(),
            ));
        }
        for (j, c) in self.allowed_ips.iter().enumerate() {
            if let Err(e) = Cidr::parse(c) {
                return Err((format!("smpp.account[{i}].allowed_ips[{j}]"), e));
            }
        }
        Ok(())
    }

    /// `allowed_ips` parsed (checked when the file was loaded).
    pub fn allowed_cidrs(&self) -> Vec<Cidr> {
        self.allowed_ips
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect()
    }
}

/// An address block, `192.0.2.0/24` or `2001:db8::/32` (a bare address is
/// the block of that address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `a.b.c.d/n` or `x::y/n` (or a bare address).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?}: {addr:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(format!(
                        "{s:?}: the prefix length must be a number from 0 to {max}"
                    ))
                }
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What `Debug` prints in place of secrets.
enum Redacted {
    One,
    List(usize),
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Redacted::One => f.write_str(REDACTED),
            Redacted::List(n) => write!(f, "[{REDACTED}; {n}]"),
        }
    }
}

/// Why a configuration file was refused. Every variant names the file; content
/// errors name the dotted key (`modem[0].pin`) and the line when known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or a value of the wrong type.
    #[error("{file}: {}{message}", place(*line, key.as_deref()))]
    Parse {
        file: String,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// Well-formed TOML with a value that breaks a rule.
    #[error("{file}: {}{message}", place(*line, Some(key)))]
    Invalid {
        file: String,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

fn place(line: Option<usize>, key: Option<&str>) -> String {
    match (line, key) {
        (Some(l), Some(k)) => format!("line {l}: key `{k}`: "),
        (None, Some(k)) => format!("key `{k}`: "),
        (Some(l), None) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

impl ConfigError {
    /// The dotted key the error is about, if known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Io { .. } => None,
        }
    }

    /// The 1-based line the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Parse { line, .. } | ConfigError::Invalid { line, .. } => *line,
            ConfigError::Io { .. } => None,
        }
    }
}

impl Config {
    /// Read and check a configuration file; profile names are checked against
    /// the built-in profiles.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &ProfileSet::builtin())
    }

    /// Like [`Config::load`], with profile names checked against `profiles`
    /// (built-in plus a `--profiles-dir`).
    pub fn load_with(path: &Path, profiles: &ProfileSet) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        Config::from_toml_with(&text, &file, profiles)
    }

    /// Parse and check configuration text; `origin` names it in errors.
    /// Profile names are checked against the built-in profiles.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with(text, origin, &ProfileSet::builtin())
    }

    /// Like [`Config::from_toml`], with profile names checked against `profiles`.
    pub fn from_toml_with(
        text: &str,
        origin: &str,
        profiles: &ProfileSet,
    ) -> Result<Config, ConfigError> {
        let keys = KeyLines::scan(text);
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of_offset(text, s.start));
            let key = line.and_then(|l| keys.key_at(l)).map(str::to_string);
            let message = match &key {
                // A wrong-type message may quote the value: not for secrets.
                Some(k) if is_secret_key(k) => {
                    "wrong type or value (not shown: this key holds a secret); expected a string"
                        .to_string()
                }
                _ => e.message().trim().to_string(),
            };
            ConfigError::Parse {
                file: origin.to_string(),
                line,
                key,
                message,
            }
        })?;
        cfg.check(profiles).map_err(|(key, message)| {
            let line = keys.line_of(&key);
            ConfigError::Invalid {
                file: origin.to_string(),
                line,
                key,
                message,
            }
        })?;
        Ok(cfg)
    }

    /// The router's tunables from `[router]`.
    pub fn router_config(&self) -> RouterConfig {
        let r = &self.router;
        RouterConfig {
            suffix_digits: r.suffix_digits,
            tolerance: r.tolerance,
            fallback_bound: r.fallback_bound,
            expiry_grace: r.expiry_grace,
            keep_settled: r.keep_settled,
        }
    }

    /// The gateway's sending defaults from `[gateway]`.
    pub fn gateway_settings(&self) -> GatewaySettings {
        let g = &self.gateway;
        GatewaySettings {
            // Checked in `check`; an unparsable value cannot get here.
            default_validity: g.validity().unwrap_or(Validity::None),
            report: g.report,
            max_retries: g.max_retries,
            retry_backoff_s: g.retry_backoff_s,
            resend_unknown: g.resend_unknown,
            resend_unknown_wait_s: g.resend_unknown_wait_s,
            avoid_mr_lookalikes: g.avoid_mr_lookalikes,
            // Checked in `check`.
            quiet_hours: g.quiet_hours.as_ref().and_then(|q| q.parse().ok()),
        }
    }

    /// A modem by name.
    pub fn modem(&self, name: &str) -> Option<&ModemConfig> {
        self.modems.iter().find(|m| m.name == name)
    }

    /// Every rule a parsed file must also satisfy; the error is (dotted key, why).
    fn check(&self, profiles: &ProfileSet) -> Result<(), (String, String)> {
        self.http.check()?;
        for (i, m) in self.modems.iter().enumerate() {
            m.check(i, profiles)?;
            if let Some(first) = self.modems[..i].iter().position(|o| o.name == m.name) {
                return Err((
                    format!("modem[{i}].name"),
                    format!("{:?} is already the name of modem[{first}]", m.name),
                ));
            }
        }
        if let Some(w) = &self.webhook {
            w.check()?;
        }
        if let Err(e) = self.gateway.validity() {
            return Err(("gateway.default_validity".into(), e));
        }
        if self.gateway.retry_backoff_s == 0 {
            return Err((
                "gateway.retry_backoff_s".into(),
                "must be at least 1 second".into(),
            ));
        }
        if let Some(q) = &self.gateway.quiet_hours {
            q.parse()
                .map_err(|e| ("gateway.quiet_hours".to_string(), e))?;
        }
        let (lo, hi) = RESEND_UNKNOWN_WAIT_S_RANGE;
        let wait = self.gateway.resend_unknown_wait_s;
        if !(lo..=hi).contains(&wait) {
            return Err((
                "gateway.resend_unknown_wait_s".into(),
                format!(
                    "{wait} is out of range ({lo} to {hi} seconds): the time a report may \
                     take to come before a part of unknown outcome is sent again"
                ),
            ));
        }
        if let Some(smpp) = &self.smpp {
            smpp.check()?;
        }
        if let Err(e) = self.router_config().validate() {
            let field = match &e {
                RouterConfigError::SuffixDigits(_) => "suffix_digits",
                RouterConfigError::Negative { field, .. } => field,
                RouterConfigError::ToleranceAboveBound { .. } => "tolerance",
            };
            return Err((format!("router.{field}"), e.to_string()));
        }
        Ok(())
    }
}

impl HttpConfig {
    fn check(&self) -> Result<(), (String, String)> {
        if let Err(e) = self.listen_addr() {
            return Err((
                "http.listen".into(),
                format!(
                    "{:?} is not an IP address with a port (127.0.0.1:8080, [::]:8080): {e}",
                    self.listen
                ),
            ));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            if t.trim().is_empty() {
                return Err((format!("http.tokens[{i}]"), "token is empty".into()));
            }
            if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err((
                    format!("http.tokens[{i}]"),
                    "token contains white space or control characters".into(),
                ));
            }
        }
        let within = |key: &str, v: u64, (lo, hi): (u64, u64)| {
            if v < lo || v > hi {
                Err((
                    format!("http.{key}"),
                    format!("{v} is out of range ({lo} to {hi})"),
                ))
            } else {
                Ok(())
            }
        };
        let wide = |(lo, hi): (usize, usize)| (lo as u64, hi as u64);
        within(
            "max_body_bytes",
            self.max_body_bytes as u64,
            wide(MAX_BODY_BYTES_RANGE),
        )?;
        within(
            "max_connections",
            self.max_connections as u64,
            (1, MAX_CONNECTIONS_LIMIT as u64),
        )?;
        within(
            "max_header_bytes",
            self.max_header_bytes as u64,
            wide(MAX_HEADER_BYTES_RANGE),
        )?;
        within(
            "header_timeout_ms",
            self.header_timeout_ms,
            TIMEOUT_MS_RANGE,
        )?;
        within("body_timeout_ms", self.body_timeout_ms, TIMEOUT_MS_RANGE)?;
        within("idle_timeout_ms", self.idle_timeout_ms, TIMEOUT_MS_RANGE)?;
        Ok(())
    }
}

impl ModemConfig {
    fn check(&self, i: usize, profiles: &ProfileSet) -> Result<(), (String, String)> {
        let key = |k: &str| format!("modem[{i}].{k}");
        if self.name.is_empty() {
            return Err((key("name"), "name is empty".into()));
        }
        if let Some(c) = self
            .name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err((
                key("name"),
                format!(
                    "{:?}: {c:?} not allowed (letters, digits, '-', '_', '.')",
                    self.name
                ),
            ));
        }
        if !self.device.starts_with('/') {
            return Err((
                key("device"),
                format!("{:?} is not an absolute path", self.device),
            ));
        }
        if let Err(e) = glob::Pattern::new(&self.device) {
            return Err((
                key("device"),
                format!("{:?} is not a valid glob: {e}", self.device),
            ));
        }
        if self.profile != AUTO_PROFILE && profiles.by_name(&self.profile).is_none() {
            return Err((
                key("profile"),
                format!(
                    "unknown profile {:?}; use \"auto\" or one of: {}",
                    self.profile,
                    profiles.names().join(", ")
                ),
            ));
        }
        if let Some(pin) = &self.pin {
            // Never echo the PIN itself.
            if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return Err((key("pin"), "a SIM PIN is 4 to 8 digits".into()));
            }
        }
        if self.rate_per_minute == Some(0) {
            return Err((
                key("rate_per_minute"),
                "0 would never send; leave it out for no limit".into(),
            ));
        }
        for (j, p) in self.prefixes.iter().enumerate() {
            let digits = p.strip_prefix('+').unwrap_or(p);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err((
                    format!("modem[{i}].prefixes[{j}]"),
                    format!("{p:?}: a prefix is digits with an optional leading '+'"),
                ));
            }
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn check(&self) -> Result<(), (String, String)> {
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        match host {
            None => {
                return Err((
                    "webhook.url".into(),
                    format!(
                        "{:?} must start with http:// or https://",
                        redact_url(&self.url)
                    ),
                ))
            }
            Some(h) if h.rsplit('@').next().unwrap_or("").is_empty() => {
                return Err((
                    "webhook.url".into(),
                    format!("{:?} has no host", redact_url(&self.url)),
                ))
            }
            Some(_) => {}
        }
        if self.url.chars().any(char::is_whitespace) {
            return Err(("webhook.url".into(), "URL contains white space".into()));
        }
        if self.secret.as_deref().is_some_and(str::is_empty) {
            return Err((
                "webhook.secret".into(),
                "secret is empty; leave it out for unsigned webhooks".into(),
            ));
        }
        if self.max_backoff_s == 0 {
            return Err((
                "webhook.max_backoff_s".into(),
                "must be at least 1 second".into(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("webhook.timeout_ms".into(), "must be at least 1 ms".into()));
        }
        Ok(())
    }
}

fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    matches!(last, "pin" | "tokens" | "secret" | "password")
}

/// The serial ports a `device` value names now: the path itself when it is
/// not a glob (whether or not it exists: the modem may be unplugged), else
/// every existing path matching it, sorted. Unreadable directories are skipped.
pub fn resolve_device(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        return vec![PathBuf::from(pattern)];
    }
    match glob::glob(pattern) {
        Ok(paths) => {
            let mut v: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key of every `key = value` line and table header of a file,
/// with `[[modem]]` tables numbered (`modem[1].pin`). A line scanner, enough
/// for messages: headers, keys, multi-line arrays and strings with brackets.
struct KeyLines {
    /// (1-based line, dotted key), in file order.
    entries: Vec<(usize, String)>,
}

impl KeyLines {
    fn scan(text: &str) -> KeyLines {
        let mut entries = Vec::new();
        let mut table = String::new();
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut depth: i32 = 0;
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let code = strip_comment(raw);
            let t = code.trim();
            if depth > 0 {
                depth += bracket_balance(t);
                continue;
            }
            if t.is_empty() {
                continue;
            }
            if let Some(inner) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = inner.trim().to_string();
                let idx = match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, c)) => {
                        *c += 1;
                        *c - 1
                    }
                    None => {
                        counts.push((name.clone(), 1));
                        0
                    }
                };
                table = format!("{name}[{idx}]");
                entries.push((line_no, table.clone()));
            } else if let Some(inner) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = inner.trim().to_string();
                entries.push((line_no, table.clone()));
            } else if let Some((k, v)) = t.split_once('=') {
                let k = k.trim().trim_matches('"');
                let full = if table.is_empty() {
                    k.to_string()
                } else {
                    format!("{table}.{k}")
                };
                entries.push((line_no, full));
                depth = bracket_balance(v).max(0);
            }
        }
        KeyLines { entries }
    }

    /// The key whose line is `line` or, for a continuation line, the last key
    /// started before it.
    fn key_at(&self, line: usize) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(l, _)| *l <= line)
            .map(|(_, k)| k.as_str())
    }

    /// The line of a dotted key (`modem[1].prefixes[2]` is looked up as
    /// `modem[1].prefixes`); falls back to its table's header.
    fn line_of(&self, key: &str) -> Option<usize> {
        let key = match key.rfind('[') {
            Some(i) if key.ends_with(']') && !key[i..].contains('.') => &key[..i],
            _ => key,
        };
        let find = |k: &str| self.entries.iter().find(|(_, e)| e == k).map(|(l, _)| *l);
        find(key).or_else(|| key.rsplit_once('.').and_then(|(table, _)| find(table)))
    }
}

/// The line without a trailing `# comment` (a `#` inside a string stays).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return &line[..i],
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            _ => {}
        }
    }
    line
}

/// Opening minus closing brackets outside strings.
fn bracket_balance(s: &str) -> i32 {
    let mut quote: Option<char> = None;
    let mut n = 0;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '[') => n += 1,
            (None, ']') => n -= 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_number_array_tables() {
        let text = "[http]\nlisten = \"x\"\n\n[[modem]]\nname = \"a\"\n[[modem]]\nname = \"b\"\nprefixes = [\n  \"+39\", # it\n  \"x\",\n]\npin = \"1\"\n";
        let k = KeyLines::scan(text);
        assert_eq!(k.line_of("http.listen"), Some(2));
        assert_eq!(k.line_of("modem[1].name"), Some(7));
        assert_eq!(k.line_of("modem[1].prefixes[1]"), Some(8));
        assert_eq!(k.line_of("modem[1].pin"), Some(12));
        assert_eq!(
            k.line_of("modem[0].pin"),
            Some(4),
            "falls back to the header"
        );
        assert_eq!(k.key_at(10), Some("modem[1].prefixes"));
    }

    #[test]
    fn comments_and_strings() {
        assert_eq!(strip_comment("a = \"#x\" # c"), "a = \"#x\" ");
        assert_eq!(bracket_balance("[\"]\", ["), 2);
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x/1", "::/129", "1.2.3.4/+8"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_redaction() {
        assert_eq!(
            redact_url("https://u:p@hook.example/x?a@b"),
            "https://<redacted>@hook.example/x?a@b"
        );
        assert_eq!(redact_url("http://h/p"), "http://h/p");
        let url = "http://alice:s3cret-pw@hook.example/x";
        assert_eq!(
            scrub_url_secrets("POST http://alice:s3cret-pw@hook.example/x: refused", url),
            "POST http://<redacted>@hook.example/x: refused"
        );
        assert_eq!(
            scrub_url_secrets("auth s3cret-pw failed", url),
            "auth <redacted> failed"
        );
        assert_eq!(scrub_url_secrets("plain", "http://h/p"), "plain");
    }
}
