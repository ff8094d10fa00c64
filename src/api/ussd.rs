//! `POST /v1/modems/{name}/ussd` with `{"code": "*100#"}` (and optionally
//! `"timeout_s"`): the network's answer, as text. A menu is walked with one
//! request per step: the next `code` is the answer typed in the menu.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};
use std::time::Duration;

use super::error::ApiError;
use crate::gateway::{Gateway, UssdError};
use crate::modem::ModemError;

/// Longest wait for the network's answer a request may ask for.
const MAX_TIMEOUT_S: u64 = 180;
const DEFAULT_TIMEOUT_S: u64 = 30;

fn parse(body: &[u8]) -> Result<(String, u64), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::field("body", format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::field("body", "expected a JSON object"));
    };
    check_keys(&obj)?;
    let code = match obj.get("code") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(ApiError::field("code", "empty")),
        Some(_) => return Err(ApiError::field("code", "must be a string")),
        None => return Err(ApiError::field("code", "missing")),
    };
    let timeout = match obj.get("timeout_s") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_S,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=MAX_TIMEOUT_S) => n,
            _ => {
                return Err(ApiError::field(
                    "timeout_s",
                    format!("must be a whole number of seconds from 1 to {MAX_TIMEOUT_S}"),
                ))
            }
        },
    };
    Ok((code, timeout))
}

fn check_keys(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj
        .keys()
        .find(|k| !["code", "timeout_s"].contains(&k.as_str()))
    {
        Some(k) => Err(ApiError::field(
            k.clone(),
            "unknown field (known: code, timeout_s)",
        )),
        None => Ok(()),
    }
}

/// `POST /v1/modems/{name}/ussd`.
pub async fn ussd(
    State(gw): State<Gateway>,
    name: Result<Path<String>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::field("name", e.body_text()))?;
    let b = b.map_err(|e| ApiError::field("body", e.body_text()))?;
    let (code, timeout) = parse(&b)?;
    match gw.ussd(&name, &code, Duration::from_secs(timeout)).await {
        Ok(a) => Ok(Json(json!({
            "modem": name,
            "status": a.status,
            "status_text": a.status_text(),
            "more_expected": a.more_expected(),
            "text": a.text,
            "dcs": a.dcs,
        }))),
        Err(e @ UssdError::UnknownModem(_)) => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some("name".into()),
            message: e.to_string(),
        }),
        Err(UssdError::BadRequest(m)) => Err(ApiError::field("code", m)),
        Err(e @ UssdError::NotConnected(_)) => Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
        Err(UssdError::Modem(e @ ModemError::Timeout { .. })) => Err(ApiError::status(
            StatusCode::GATEWAY_TIMEOUT,
            format!("{code}: {e}"),
        )),
        Err(UssdError::Modem(e)) => Err(ApiError::status(
            StatusCode::BAD_GATEWAY,
            format!("{code}: {e}"),
        )),
    }
}
