//! udev rules that give smsgw the AT port of every known modem when it is
//! plugged in (`smsgw udev-rules`, committed as `scripts/90-smsgw.rules`).
//!
//! For each USB id in a profile's `match.usb`, one rule recognises the AT port
//! (by USB interface number, or by interface protocol for Huawei sticks whose
//! PCUI port moves between firmwares) and tags it with the profile's name. A
//! common tail then, for every tagged port:
//! - makes a stable link `/dev/smsgw/<profile>-<id>`,
//! - sets `ID_MM_DEVICE_IGNORE` so ModemManager keeps off (also on the whole
//!   USB device: otherwise it grabs the other ports, and may read and delete
//!   the stored SMS and status reports smsgw is waiting for),
//! - sets group and mode,
//! - tags it for systemd with `SYSTEMD_WANTS` = the smsgw unit, so plugging a
//!   modem in starts the daemon (which finds new modems itself when running).
//!
//! `<id>` is the modem's USB serial number (`ID_SERIAL_SHORT`) when it has
//! one: the link then follows the modem to any USB socket and survives
//! reboots and re-enumeration. Cheap sticks often report no serial; their
//! `<id>` is the USB path (`ID_PATH`, e.g. `pci-0000:00:14.0-usb-0:2:1.2`),
//! stable as long as the modem stays in the same socket, and unique because
//! two devices cannot share a socket. The kernel name (`ttyUSB2`) is neither.
//!
//! Storage-mode ids (`match.usb_storage`) get no rule, only a comment: the
//! device has no AT port until usb_modeswitch switches it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::profile::{parse_usb_id, Profile, Quirk};

/// Default systemd unit started when a modem appears.
pub const DEFAULT_UNIT: &str = "smsgw.service";
/// Default group owning the AT ports.
pub const DEFAULT_GROUP: &str = "dialout";
/// Directory of the stable links, under /dev.
pub const LINK_DIR: &str = "smsgw";
/// File name the rules are installed under.
pub const RULES_FILE: &str = "90-smsgw.rules";

/// Choices of the generated rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesOptions {
    /// systemd unit to start on plug-in (`ENV{SYSTEMD_WANTS}`).
    pub unit: String,
    /// Group owning the AT port.
    pub group: String,
}

impl Default for RulesOptions {
    fn default() -> Self {
        RulesOptions {
            unit: DEFAULT_UNIT.to_string(),
            group: DEFAULT_GROUP.to_string(),
        }
    }
}

/// An option that cannot go into a udev rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("unit {0:?}: expected a systemd unit name such as smsgw.service or smsgw@x.service")]
    BadUnit(String),
    #[error("group {0:?}: expected a group name (letters, digits, '-', '_', at most 32)")]
    BadGroup(String),
}

impl RulesOptions {
    /// Check that the values fit systemd's and the system's naming rules (and
    /// so cannot break the quoting of a rule).
    pub fn validate(&self) -> Result<(), RulesError> {
        let unit_ok = [".service", ".target"].iter().any(|suffix| {
            self.unit.strip_suffix(suffix).is_some_and(|stem| {
                !stem.is_empty()
                    && stem.len() < 250
                    && stem
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
            })
        });
        if !unit_ok {
            return Err(RulesError::BadUnit(self.unit.clone()));
        }
        let g = &self.group;
        let group_ok = !g.is_empty()
            && g.len() <= 32
            && !g.starts_with('-')
            && g.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !group_ok {
            return Err(RulesError::BadGroup(g.clone()));
        }
        Ok(())
    }
}

/// How the AT port of one USB id is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMatch {
    /// `ENV{ID_USB_INTERFACE_NUM}`, the USB interface number.
    Interface(u8),
    /// Huawei PCUI: vendor class ff, subclass 01 or 02, protocol 02.
    HuaweiProtocol,
}

/// One USB id that gets a rule: which profile names the link, and how its AT
/// port is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub vid: u16,
    pub pid: u16,
    pub profile: String,
    pub port: PortMatch,
}

/// The rule for every modem-mode USB id of `profiles`, in profile order (by
/// name) and the order of `match.usb`. An id listed by several profiles gets
/// one rule, named after the first profile giving an AT port for it (the
/// daemon's `profile = "auto"` tells them apart with AT+CGMM).
pub fn port_rules(profiles: &[Profile]) -> Vec<PortRule> {
    let mut out: Vec<PortRule> = Vec::new();
    for p in profiles {
        for id in &p.matching.usb {
            let Some((vid, pid)) = parse_usb_id(id) else {
                continue;
            };
            if out.iter().any(|r| r.vid == vid && r.pid == pid) {
                continue;
            }
            if let Some(port) = port_match(p, vid, pid) {
                out.push(PortRule {
                    vid,
                    pid,
                    profile: p.name.clone(),
                    port,
                });
            }
        }
    }
    out
}

fn port_match(p: &Profile, vid: u16, pid: u16) -> Option<PortMatch> {
    match p.at_interface_for(vid, pid) {
        Some(n) => Some(PortMatch::Interface(n)),
        None if p.has_quirk(Quirk::AtPortByProtocol) => Some(PortMatch::HuaweiProtocol),
        None => None,
    }
}

/// The rules file for `profiles` (normally `Profile::builtin()`).
pub fn generate(profiles: &[Profile], opts: &RulesOptions) -> Result<String, RulesError> {
    opts.validate()?;
    let rules = port_rules(profiles);
    let mut owner: BTreeMap<(u16, u16), &PortRule> = BTreeMap::new();
    for r in &rules {
        owner.insert((r.vid, r.pid), r);
    }
    let mut s = String::new();
    header(&mut s, opts);
    s.push_str("ACTION==\"remove\", GOTO=\"smsgw_end\"\n");
    for p in profiles {
        section(&mut s, p, &owner);
    }
    tail(&mut s, opts);
    Ok(s)
}

fn header(s: &mut String, opts: &RulesOptions) {
    let _ = write!(
        s,
        "\
# {RULES_FILE}: udev rules for smsgw, generated by `smsgw udev-rules` from the
# built-in hardware profiles (hw-profiles/*.toml). Do not edit: regenerate with
#   smsgw udev-rules --unit {unit} --group {group} > /etc/udev/rules.d/{RULES_FILE}
#
# For the AT port of each known modem:
# - a stable link /dev/{LINK_DIR}/<profile>-<id>, where <id> is the USB serial
#   number (ID_SERIAL_SHORT) when the modem reports one (the link follows the
#   modem to any socket), else the USB path (ID_PATH: stable while the modem
#   stays in the same socket); /dev/ttyUSBn numbers change, these do not;
# - ID_MM_DEVICE_IGNORE=1 on the port and the whole USB device, so ModemManager
#   neither opens the port nor reads (and deletes) SMS through another one;
# - group {group}, mode 0660;
# - TAG systemd + SYSTEMD_WANTS={unit}: plugging a modem in starts smsgw.
# The daemon picks up modems that appear while it runs; its config can name
# them by link, e.g. device = \"/dev/{LINK_DIR}/huawei-e173-*\".
# SMSGW_PROFILE (see `udevadm info /dev/ttyUSB2`) holds the profile's name.

",
        unit = opts.unit,
        group = opts.group,
    );
}

fn section(s: &mut String, p: &Profile, owner: &BTreeMap<(u16, u16), &PortRule>) {
    let _ = writeln!(s, "\n# {}: {}", p.name, p.description);
    if p.matching.usb.is_empty() {
        s.push_str(
            "#   no USB id (UART module or any modem): set `device` in the config yourself\n",
        );
    }
    for id in &p.matching.usb {
        let Some((vid, pid)) = parse_usb_id(id) else {
            continue;
        };
        match owner.get(&(vid, pid)) {
            Some(r) if r.profile == p.name => {
                let _ = writeln!(s, "#   {id}: AT port {}", describe(r.port));
                rule_lines(s, r);
            }
            Some(r) => {
                let _ = writeln!(
                    s,
                    "#   {id}: shared with {} (rule above); profile = \"auto\" tells them apart",
                    r.profile
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "#   {id}: AT interface unknown, no rule: set `device` in the config yourself"
                );
            }
        }
    }
    for id in &p.matching.usb_storage {
        let _ = writeln!(
            s,
            "#   {id}: storage mode (virtual CD-ROM), no AT port yet: usb_modeswitch \
             (package usb-modeswitch) switches it, see docs/setup-debian.md"
        );
    }
}

fn describe(m: PortMatch) -> String {
    match m {
        PortMatch::Interface(n) => format!("on USB interface {n}"),
        PortMatch::HuaweiProtocol => {
            "by interface class ff, subclass 01/02, protocol 02 (Huawei PCUI)".to_string()
        }
    }
}

fn rule_lines(s: &mut String, r: &PortRule) {
    let (v, p) = (format!("{:04x}", r.vid), format!("{:04x}", r.pid));
    match r.port {
        PortMatch::Interface(n) => {
            let _ = writeln!(
                s,
                "SUBSYSTEM==\"tty\", ATTRS{{idVendor}}==\"{v}\", ATTRS{{idProduct}}==\"{p}\", \
                 ENV{{ID_USB_INTERFACE_NUM}}==\"{n:02x}\", ENV{{SMSGW_PROFILE}}=\"{}\"",
                r.profile
            );
        }
        PortMatch::HuaweiProtocol => {
            // ATTRS keys of one rule must all match on the same parent device:
            // the ids live on the USB device, class and protocol on the
            // interface, so the ids are taken from the environment (usb_id).
            let _ = writeln!(
                s,
                "SUBSYSTEM==\"tty\", ENV{{ID_VENDOR_ID}}==\"{v}\", ENV{{ID_MODEL_ID}}==\"{p}\", \
                 ATTRS{{bInterfaceClass}}==\"ff\", ATTRS{{bInterfaceSubClass}}==\"01|02\", \
                 ATTRS{{bInterfaceProtocol}}==\"02\", ENV{{SMSGW_PROFILE}}=\"{}\"",
                r.profile
            );
        }
    }
    let _ = writeln!(
        s,
        "SUBSYSTEM==\"usb\", ENV{{DEVTYPE}}==\"usb_device\", ATTR{{idVendor}}==\"{v}\", \
         ATTR{{idProduct}}==\"{p}\", ENV{{ID_MM_DEVICE_IGNORE}}=\"1\""
    );
}

fn tail(s: &mut String, opts: &RulesOptions) {
    let _ = write!(
        s,
        "
# Every AT port recognised above.
ENV{{SMSGW_PROFILE}}!=\"?*\", GOTO=\"smsgw_end\"
ENV{{ID_MM_DEVICE_IGNORE}}=\"1\", GROUP=\"{group}\", MODE=\"0660\"
ENV{{ID_SERIAL_SHORT}}==\"?*\", SYMLINK+=\"{LINK_DIR}/$env{{SMSGW_PROFILE}}-$env{{ID_SERIAL_SHORT}}\"
ENV{{ID_SERIAL_SHORT}}!=\"?*\", ENV{{ID_PATH}}==\"?*\", SYMLINK+=\"{LINK_DIR}/$env{{SMSGW_PROFILE}}-$env{{ID_PATH}}\"
TAG+=\"systemd\", ENV{{SYSTEMD_WANTS}}+=\"{unit}\"

LABEL=\"smsgw_end\"
",
        group = opts.group,
        unit = opts.unit,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_ids_get_one_rule() {
        let rules = port_rules(&Profile::builtin());
        let n1001 = rules
            .iter()
            .filter(|r| (r.vid, r.pid) == (0x12d1, 0x1001))
            .count();
        assert_eq!(n1001, 1);
        let mut ids: Vec<_> = rules.iter().map(|r| (r.vid, r.pid)).collect();
        let len = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), len);
    }

    #[test]
    fn options_are_checked() {
        let bad_unit = RulesOptions {
            unit: "smsgw\".service".into(),
            ..RulesOptions::default()
        };
        assert!(matches!(bad_unit.validate(), Err(RulesError::BadUnit(_))));
        let bad_group = RulesOptions {
            group: "dial out".into(),
            ..RulesOptions::default()
        };
        assert!(matches!(bad_group.validate(), Err(RulesError::BadGroup(_))));
        let ok = RulesOptions {
            unit: "smsgw@modem.service".into(),
            group: "smsgw".into(),
        };
        assert_eq!(ok.validate(), Ok(()));
    }
}
