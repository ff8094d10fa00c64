//! Hardware profiles: one TOML file per modem family (`hw-profiles/*.toml`)
//! saying how to recognise the modem (USB id, AT+CGMM answer), which USB
//! interface carries AT commands, and how to drive it (init commands, CNMI,
//! +CDS or +CDSI, CNMA, timeouts, quirks).
//!
//! The files are embedded in the binary, so `smsgw` works with nothing
//! installed; a directory (`--profiles-dir`, env `SMSGW_PROFILES_DIR`) can add
//! profiles or replace built-in ones by name.

mod error;
mod schema;

use std::path::Path;
use std::sync::OnceLock;

pub use error::{Origin, ProfileError};
pub use schema::{
    format_usb_id, parse_usb_id, FlowControl, Match, Profile, Quirk, ReportMode, Serial, Sms,
    Timeouts, UssdEncoding,
};

/// Environment variable naming a directory of extra / overriding profiles.
pub const PROFILES_DIR_ENV: &str = "SMSGW_PROFILES_DIR";

/// Name of the fallback profile.
pub const GENERIC: &str = "generic";

/// The embedded files: (file name, text).
const BUILTIN: &[(&str, &str)] = &[
    (
        "generic.toml",
        include_str!("../../hw-profiles/generic.toml"),
    ),
    (
        "huawei-e173.toml",
        include_str!("../../hw-profiles/huawei-e173.toml"),
    ),
    (
        "huawei-e1750.toml",
        include_str!("../../hw-profiles/huawei-e1750.toml"),
    ),
    (
        "huawei-e3131.toml",
        include_str!("../../hw-profiles/huawei-e3131.toml"),
    ),
    (
        "huawei-e3372.toml",
        include_str!("../../hw-profiles/huawei-e3372.toml"),
    ),
    (
        "quectel-ec2x.toml",
        include_str!("../../hw-profiles/quectel-ec2x.toml"),
    ),
    (
        "sierra-mc7xxx.toml",
        include_str!("../../hw-profiles/sierra-mc7xxx.toml"),
    ),
    (
        "simcom-sim7600.toml",
        include_str!("../../hw-profiles/simcom-sim7600.toml"),
    ),
    (
        "simcom-sim800.toml",
        include_str!("../../hw-profiles/simcom-sim800.toml"),
    ),
    (
        "telit-le910.toml",
        include_str!("../../hw-profiles/telit-le910.toml"),
    ),
    ("zte-mf.toml", include_str!("../../hw-profiles/zte-mf.toml")),
];

/// Parse every embedded profile (sorted by name). Fails only if an embedded
/// file is broken, which the tests rule out.
pub fn try_builtin() -> Result<Vec<Profile>, ProfileError> {
    let mut out = Vec::with_capacity(BUILTIN.len());
    for (file, text) in BUILTIN {
        let p = Profile::from_toml(&format!("builtin:{file}"), text, Origin::Builtin)?;
        check_stem(&p, file)?;
        out.push(p);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn builtin_cached() -> &'static [Profile] {
    static CACHE: OnceLock<Vec<Profile>> = OnceLock::new();
    CACHE.get_or_init(|| match try_builtin() {
        Ok(v) => v,
        // The embedded files are validated by the test suite; a broken one is
        // a build defect, not an input error.
        Err(e) => panic!("embedded hardware profile is invalid: {e}"),
    })
}

fn check_stem(p: &Profile, file: &str) -> Result<(), ProfileError> {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if stem != p.name {
        return Err(ProfileError::Invalid {
            file: file.to_string(),
            key: "name".into(),
            message: format!("{:?} must equal the file name {stem:?}", p.name),
        });
    }
    Ok(())
}

impl Profile {
    /// All built-in profiles, sorted by name.
    pub fn builtin() -> Vec<Profile> {
        builtin_cached().to_vec()
    }

    /// A built-in profile by name.
    pub fn by_name(name: &str) -> Option<Profile> {
        builtin_cached().iter().find(|p| p.name == name).cloned()
    }

    /// The built-in profile listing this USB id (modem or storage mode).
    pub fn for_usb(vid: u16, pid: u16) -> Option<Profile> {
        ProfileSet::from_slice(builtin_cached())
            .for_usb(vid, pid)
            .cloned()
    }

    /// The built-in profile that best matches an AT+CGMI / AT+CGMM (or ATI)
    /// answer; the generic profile when none does.
    pub fn for_identity(manufacturer: &str, model: &str) -> Profile {
        ProfileSet::from_slice(builtin_cached())
            .for_identity(manufacturer, model)
            .clone()
    }
}

/// A set of profiles: the built-in ones, possibly overridden from a directory.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
}

impl ProfileSet {
    /// Just the built-in profiles.
    pub fn builtin() -> ProfileSet {
        ProfileSet::from_slice(builtin_cached())
    }

    fn from_slice(p: &[Profile]) -> ProfileSet {
        ProfileSet {
            profiles: p.to_vec(),
        }
    }

    /// Built-in profiles, then every `*.toml` in `dir` (a profile with the
    /// same name replaces the built-in one). Any bad file is an error: a
    /// half-loaded set would silently drive a modem with the wrong settings.
    pub fn with_dir(dir: &Path) -> Result<ProfileSet, ProfileError> {
        let mut set = ProfileSet::builtin();
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| ProfileError::Io {
            file: shown.clone(),
            source: e,
        })?;
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ProfileError::Io {
                file: shown.clone(),
                source: e,
            })?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("toml") {
                files.push(path);
            }
        }
        files.sort();
        for path in files {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| ProfileError::Io {
                file: file.clone(),
                source: e,
            })?;
            let p = Profile::from_toml(&file, &text, Origin::File(path.clone()))?;
            // File names are unique, so requiring name == stem also rules out
            // two files defining the same profile.
            check_stem(&p, &file)?;
            set.insert(p);
        }
        Ok(set)
    }

    /// The set the CLI uses: built-in, overridden by `dir` when given, else by
    /// `$SMSGW_PROFILES_DIR` when set and non-empty.
    pub fn load(dir: Option<&Path>) -> Result<ProfileSet, ProfileError> {
        match dir {
            Some(d) => ProfileSet::with_dir(d),
            None => match std::env::var_os(PROFILES_DIR_ENV) {
                Some(d) if !d.is_empty() => ProfileSet::with_dir(Path::new(&d)),
                _ => Ok(ProfileSet::builtin()),
            },
        }
    }

    /// Add a profile, replacing one of the same name.
    pub fn insert(&mut self, p: Profile) {
        match self.profiles.iter_mut().find(|q| q.name == p.name) {
            Some(slot) => *slot = p,
            None => {
                self.profiles.push(p);
                self.profiles.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
    }

    /// All profiles, sorted by name.
    pub fn all(&self) -> &[Profile] {
        &self.profiles
    }

    /// All profile names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    /// A profile by name.
    pub fn by_name(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The first profile (by name) listing this USB id. Several Huawei
    /// families share ids, so the identity answer refines the choice later.
    pub fn for_usb(&self, vid: u16, pid: u16) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.matches_usb(vid, pid))
    }

    /// The profile whose model pattern matches the AT+CGMM / ATI answer best
    /// (longest pattern; ties go to the first by name), falling back to the
    /// generic profile.
    pub fn for_identity(&self, manufacturer: &str, model: &str) -> &Profile {
        let mut best: Option<(usize, &Profile)> = None;
        for p in &self.profiles {
            if let Some(score) = p.identity_score(manufacturer, model) {
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, p));
                }
            }
        }
        match best {
            Some((_, p)) => p,
            None => self.generic(),
        }
    }

    /// The generic profile (a directory may override it, never remove it).
    pub fn generic(&self) -> &Profile {
        match self.by_name(GENERIC) {
            Some(p) => p,
            // Every set starts from the built-ins, which contain "generic".
            None => unreachable_generic(),
        }
    }
}

#[cold]
fn unreachable_generic() -> ! {
    panic!("profile set without the built-in \"generic\" profile")
}
