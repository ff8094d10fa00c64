//! Errors from loading a hardware profile, each naming the file and the key.

use std::fmt;
use std::path::PathBuf;

/// Why a profile could not be loaded. Every variant names where the problem is:
/// the file (or `builtin:<name>.toml`) and, for content errors, the dotted key.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or a value of the wrong type.
    #[error("{file}: {}{message}", key_prefix(key, *line))]
    Parse {
        file: String,
        /// Dotted key the error points at, when it could be located.
        key: Option<String>,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        message: String,
    },
    /// Well-formed TOML whose values break a rule of the schema.
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

fn key_prefix(key: &Option<String>, line: Option<usize>) -> String {
    match (key, line) {
        (Some(k), Some(l)) => format!("line {l}: key `{k}`: "),
        (Some(k), None) => format!("key `{k}`: "),
        (None, Some(l)) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

impl ProfileError {
    /// The dotted key this error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ProfileError::Parse { key, .. } => key.as_deref(),
            ProfileError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Build a parse error from a `toml` deserialisation error, locating the
    /// offending key in `text` from the error's byte span.
    pub(crate) fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let (key, line) = match err.span() {
            Some(span) => locate_key(text, span.start),
            None => (None, None),
        };
        ProfileError::Parse {
            file: file.to_string(),
            key,
            line,
            message: err.message().trim().to_string(),
        }
    }
}

/// Where a profile came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// Embedded in the binary from `hw-profiles/<name>.toml`.
    #[default]
    Builtin,
    /// Loaded from a file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("builtin"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Find the dotted key (table path + key) of the line holding byte `offset`,
/// and that line's 1-based number. A best effort for messages: it understands
/// `[table]` headers and `key = value` lines, which is all our schema uses.
fn locate_key(text: &str, offset: usize) -> (Option<String>, Option<usize>) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let mut table = String::new();
    for l in before.lines() {
        let t = l.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            if let Some(end) = t.find(']') {
                table = t[1..end].trim().to_string();
            }
        }
    }
    let trimmed = line.trim();
    let own_key = if trimmed.starts_with('[') {
        // The error is about the header itself: the table path is the key.
        return (
            trimmed
                .find(']')
                .map(|e| trimmed[1..e].trim().to_string())
                .filter(|s| !s.is_empty()),
            Some(line_no),
        );
    } else {
        trimmed
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
    };
    let key = match own_key {
        Some(k) if table.is_empty() => Some(k),
        Some(k) => Some(format!("{table}.{k}")),
        // A continuation line of a multi-line array: name the array's key.
        None => enclosing_array_key(before).map(|k| {
            if table.is_empty() {
                k
            } else {
                format!("{table}.{k}")
            }
        }),
    };
    (key, Some(line_no))
}

/// For an offset inside a multi-line `key = [` array, the key that opened it.
fn enclosing_array_key(before: &str) -> Option<String> {
    for l in before.lines().rev() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            return None;
        }
        if let Some((k, v)) = t.split_once('=') {
            if v.trim_start().starts_with('[') {
                return Some(k.trim().to_string());
            }
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_key_in_table() {
        let text = "name = \"x\"\n[serial]\nbaud = \"fast\"\n";
        let off = text.find("\"fast\"").unwrap();
        assert_eq!(
            locate_key(text, off),
            (Some("serial.baud".to_string()), Some(3))
        );
    }

    #[test]
    fn locates_top_level_key() {
        let text = "name = \"x\"\nechoo = true\n";
        let off = text.find("echoo").unwrap();
        assert_eq!(locate_key(text, off), (Some("echoo".to_string()), Some(2)));
    }

    #[test]
    fn locates_key_of_multiline_array() {
        let text = "[match]\nusb = [\n  \"12d1:1001\",\n  42,\n]\n";
        let off = text.find("42").unwrap();
        assert_eq!(
            locate_key(text, off),
            (Some("match.usb".to_string()), Some(4))
        );
    }
}
