//! Query-string parameters: each parsed strictly, a bad one named in a 400.

use std::str::FromStr;

use super::error::ApiError;
use crate::state::MessageState;

/// Most items one list answer holds, and how many when `limit` is absent.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 100;

/// The query string as key/value pairs, checked against `known` keys.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Refuse any key not in `known` (a typo would silently widen a query).
    pub fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Params, ApiError> {
        for (k, _) in &pairs {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::field(
                    k.clone(),
                    format!("unknown parameter (known: {})", known.join(", ")),
                ));
            }
        }
        Ok(Params(pairs))
    }

    /// The value of `key` when present and not empty (the last one wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `limit`: 1..=[`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match u32::from_str(v) {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::field(
                    "limit",
                    format!("{v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    /// `since`: unix seconds, `YYYY-MM-DD` or an RFC 3339 time.
    pub fn since(&self) -> Result<Option<i64>, ApiError> {
        self.get("since").map(parse_time).transpose()
    }

    /// `state`: a state name (ACCEPTED, ENROUTE, DELIVRD, ...).
    pub fn state(&self) -> Result<Option<MessageState>, ApiError> {
        self.get("state")
            .map(|s| {
                s.parse().map_err(|_| {
                    let names: Vec<_> = MessageState::ALL.iter().map(|s| s.as_str()).collect();
                    ApiError::field("state", format!("{s:?} is not one of {}", names.join(", ")))
                })
            })
            .transpose()
    }
}

/// A time as [`crate::times::parse`] reads it (the CLI's `--since` too):
/// unix seconds, `YYYY-MM-DD` or RFC 3339.
fn parse_time(v: &str) -> Result<i64, ApiError> {
    crate::times::parse(v).map_err(|reason| ApiError::field("since", reason))
}

pub use crate::times::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Result<Params, ApiError> {
        Params::new(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            &["limit", "since", "state"],
        )
    }

    #[test]
    fn parses_and_names_bad_values() {
        let p = params(&[("limit", "5"), ("since", "2026-11-22T10:00:00Z")]).unwrap();
        assert_eq!(p.limit().unwrap(), 5);
        assert_eq!(p.since().unwrap(), Some(1_795_341_600));
        // A day, as the CLI's --since takes it: midnight UTC.
        let p = params(&[("since", "2026-11-22")]).unwrap();
        assert_eq!(p.since().unwrap(), Some(1_795_305_600));
        assert_eq!(p.state().unwrap(), None);
        for (k, v) in [
            ("limit", "0"),
            ("limit", "x"),
            ("limit", "1001"),
            ("since", "yesterday"),
            ("state", "SENT"),
        ] {
            let err = params(&[(k, v)]).unwrap();
            let err = match k {
                "limit" => err.limit().unwrap_err(),
                "since" => err.since().unwrap_err(),
                _ => err.state().unwrap_err(),
            };
            assert_eq!(err.field.as_deref(), Some(k));
        }
        assert_eq!(
            params(&[("lmit", "3")]).unwrap_err().field.as_deref(),
            Some("lmit")
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
