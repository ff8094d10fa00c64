//! The `POST /v1/messages` body, checked field by field before it is handed
//! to the gateway, so that every refusal names the field at fault.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// No text longer than this fits in 255 parts (153 septets each, at best
/// one character per septet): refused before any splitting is attempted.
pub const MAX_TEXT_CHARS: usize = 255 * 153;

#[derive(Clone, Copy)]
enum Shape {
    String,
    Bool,
    /// A whole number, 0 or more.
    Count,
}

/// The fields of a submit request: name, shape, required.
const FIELDS: &[(&str, Shape, bool)] = &[
    ("to", Shape::String, true),
    ("text", Shape::String, true),
    ("report", Shape::Bool, false),
    ("validity", Shape::String, false),
    ("modem", Shape::String, false),
    ("ucs2", Shape::Bool, false),
    ("flash", Shape::Bool, false),
    ("send_at", Shape::String, false),
    ("expires_at", Shape::String, false),
    ("ttl", Shape::Count, false),
    ("priority", Shape::String, false),
    ("ignore_quiet_hours", Shape::Bool, false),
];

/// At most this many messages in one bulk call.
pub const MAX_BULK: usize = 10_000;

/// The body limit of a bulk call (`http.max_body_bytes` when larger):
/// 10,000 messages of about 1.6 KB of JSON each.
pub const MAX_BULK_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Parse and check a submit body: a JSON object with the known fields of the
/// right types (null allowed for optional ones), no others, `to` and `text`
/// present and not empty, `text` not beyond [`MAX_TEXT_CHARS`].
pub fn parse_submit<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // A key given twice: which one counts is up to the parser, so neither.
    if let Err(e) = serde_json::from_slice::<NoDuplicateKeys>(body) {
        if e.is_data() {
            return Err(ApiError::field("body", e.to_string()));
        }
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::field(
            "body",
            format!(
                "not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::field("body", "expected a JSON object"));
    };
    item(obj, "")
}

/// Read one message object; `prefix` goes before the field names of errors.
fn item<T: DeserializeOwned>(obj: Map<String, Value>, prefix: &str) -> Result<T, ApiError> {
    check_fields(&obj).map_err(|(f, m)| ApiError::field(format!("{prefix}{f}"), m))?;
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        ApiError::field(
            format!("{prefix}body"),
            format!("cannot be read as a message: {e}"),
        )
    })
}

/// Parse and check a bulk body `{"messages": [ {...}, ... ]}` (1 to
/// [`MAX_BULK`] items, each as [`parse_submit`] takes one): the envelope's
/// refusal, or each item read or refused (named `messages[i].field`).
pub fn parse_bulk_items<T: DeserializeOwned>(
    body: &[u8],
) -> Result<Vec<Result<T, ApiError>>, Vec<ApiError>> {
    let one = |e: ApiError| vec![e];
    if let Err(e) = serde_json::from_slice::<NoDuplicateKeys>(body) {
        if e.is_data() {
            return Err(one(ApiError::field("body", e.to_string())));
        }
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        one(ApiError::field(
            "body",
            format!(
                "not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        ))
    })?;
    let Value::Object(mut obj) = value else {
        return Err(one(ApiError::field("body", "expected a JSON object")));
    };
    if let Some(k) = obj.keys().find(|k| *k != "messages") {
        return Err(one(ApiError::field(
            k.clone(),
            "unknown field (known: messages)",
        )));
    }
    let list = match obj.remove("messages") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(one(ApiError::field("messages", "missing"))),
        Some(other) => {
            return Err(one(ApiError::field(
                "messages",
                format!("must be an array, not {}", kind(&other)),
            )))
        }
    };
    if list.is_empty() {
        return Err(one(ApiError::field(
            "messages",
            "empty: give 1 to 10000 messages",
        )));
    }
    if list.len() > MAX_BULK {
        return Err(one(ApiError::field(
            "messages",
            format!("{} messages: at most {MAX_BULK} in one call", list.len()),
        )));
    }
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => item(o, &format!("messages[{i}].")),
            other => Err(ApiError::field(
                format!("messages[{i}]"),
                format!("must be an object, not {}", kind(&other)),
            )),
        })
        .collect())
}

fn check_fields(obj: &Map<String, Value>) -> Result<(), (String, String)> {
    let err = |f: &str, m: String| Err((f.to_string(), m));
    for key in obj.keys() {
        if !FIELDS.iter().any(|(name, _, _)| name == key) {
            let names: Vec<_> = FIELDS.iter().map(|f| f.0).collect();
            return err(key, format!("unknown field (known: {})", names.join(", ")));
        }
    }
    for &(name, shape, required) in FIELDS {
        match (obj.get(name), shape) {
            (None | Some(Value::Null), _) if required => {
                return err(name, "missing".into());
            }
            (None | Some(Value::Null), _) => {}
            (Some(Value::String(_)), Shape::String) | (Some(Value::Bool(_)), Shape::Bool) => {}
            (Some(Value::Number(n)), Shape::Count) if n.is_u64() => {}
            (Some(other), Shape::String) => {
                return err(name, format!("must be a string, not {}", kind(other)));
            }
            (Some(other), Shape::Bool) => {
                return err(name, format!("must be true or false, not {}", kind(other)));
            }
            (Some(Value::Number(n)), Shape::Count) => {
                return err(name, format!("must be a whole number of seconds, not {n}"));
            }
            (Some(other), Shape::Count) => {
                return err(
                    name,
                    format!("must be a whole number of seconds, not {}", kind(other)),
                );
            }
        }
    }
    let to = obj.get("to").and_then(Value::as_str).unwrap_or_default();
    if to.trim().is_empty() {
        return err("to", "empty recipient".into());
    }
    let text = obj.get("text").and_then(Value::as_str).unwrap_or_default();
    if text.is_empty() {
        return err("text", "empty text".into());
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return err("text", format!("{chars} characters: more than 255 parts"));
    }
    if let Some(p) = obj.get("priority").and_then(Value::as_str) {
        if !["high", "normal", "bulk"].contains(&p) {
            return err(
                "priority",
                format!("{p:?} is not one of \"high\", \"normal\", \"bulk\""),
            );
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deserializes any JSON and fails on an object that has a key twice (at
/// any depth). `serde_json::Value` keeps the last one silently.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} is given twice"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Req {
        to: String,
        text: String,
        #[serde(default)]
        report: Option<bool>,
    }

    fn field_of(body: &str) -> String {
        parse_submit::<Req>(body.as_bytes())
            .unwrap_err()
            .field
            .unwrap_or_default()
    }

    #[test]
    fn names_the_field_at_fault() {
        let ok: Req = parse_submit(br#"{"to":"+393331234567","text":"hi","report":null}"#).unwrap();
        assert_eq!(
            (ok.to.as_str(), ok.text.as_str(), ok.report),
            ("+393331234567", "hi", None)
        );
        assert_eq!(field_of("{\"to\":"), "body");
        assert_eq!(field_of("[1]"), "body");
        assert_eq!(field_of(r#"{"text":"hi"}"#), "to");
        assert_eq!(field_of(r#"{"to":393331234567,"text":"hi"}"#), "to");
        assert_eq!(field_of(r#"{"to":" ","text":"hi"}"#), "to");
        assert_eq!(field_of(r#"{"to":"1"}"#), "text");
        assert_eq!(field_of(r#"{"to":"1","text":""}"#), "text");
        assert_eq!(
            field_of(r#"{"to":"1","text":"a","report":"yes"}"#),
            "report"
        );
        assert_eq!(
            field_of(r#"{"to":"1","text":"a","validity":86400}"#),
            "validity"
        );
        assert_eq!(field_of(r#"{"to":"1","text":"a","modem":["m"]}"#), "modem");
        assert_eq!(field_of(r#"{"to":"1","text":"a","ucs2":1}"#), "ucs2");
        assert_eq!(field_of(r#"{"to":"1","text":"a","flash":{}}"#), "flash");
        assert_eq!(field_of(r#"{"to":"1","text":"a","txt":"b"}"#), "txt");
        let long = format!(
            r#"{{"to":"1","text":"{}"}}"#,
            "a".repeat(MAX_TEXT_CHARS + 1)
        );
        assert_eq!(field_of(&long), "text");
    }
}
