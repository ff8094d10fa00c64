//! The endpoint handlers. Submissions go through the gateway's group
//! commit; reads run on the blocking pool, never holding the store across
//! an `.await`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::body::{parse_bulk_items, parse_submit};
use super::error::ApiError;
use super::params::Params;
use super::views;
use crate::gateway::{Gateway, SubmitError, SubmitRequest};
use crate::store::{Cancel, IdempotencyKey, MessageFilter, MessageId, Store, StoreError};

type Answer = Result<Json<Value>, ApiError>;

/// Run `f` with the store's read connection on the blocking pool.
async fn with_store<T: Send + 'static>(
    gw: &Gateway,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let gw = gw.clone();
    tokio::task::spawn_blocking(move || f(&gw.read()))
        .await
        .map_err(|e| {
            tracing::error!(%e, "API store task failed");
            ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })?
}

fn query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
) -> Result<Params, ApiError> {
    let Query(pairs) = q.map_err(|e| ApiError::field("query", e.body_text()))?;
    Params::new(pairs, known)
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        // A body that did not come in time (see `server`) is 408.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<super::server::BodyTimeout>() {
                return ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    field: Some("body".into()),
                    message: c.to_string(),
                };
            }
            cause = c.source();
        }
        ApiError {
            status: e.status(),
            field: Some("body".into()),
            message: e.body_text(),
        }
    })
}

/// The body must be declared JSON (`application/json`, parameters such as
/// `charset=utf-8` allowed): 415 otherwise (curl's `-d` alone sends a
/// form, for one).
fn json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(only), None) = (types.next(), types.next()) else {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: Some("Content-Type".into()),
            message: "give one Content-Type: application/json".into(),
        });
    };
    let essence = only
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        field: Some("Content-Type".into()),
        message: format!(
            "{:?} is not application/json",
            String::from_utf8_lossy(only.as_bytes())
        ),
    })
}

/// The `Idempotency-Key` header with the digest of the request as
/// understood (so that a repeat with the keys in another order, or other
/// spacing, is the same request).
fn idempotency_key(
    headers: &axum::http::HeaderMap,
    endpoint: &'static str,
    reqs: &[SubmitRequest],
) -> Result<Option<IdempotencyKey>, ApiError> {
    const FIELD: &str = "Idempotency-Key";
    let mut values = headers.get_all(FIELD).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::field(FIELD, "given twice: give one key"));
    }
    let key = v
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::field(
                FIELD,
                "must be 1 to 255 printable ASCII characters without spaces",
            )
        })?;
    use sha2::Digest;
    let canonical = serde_json::to_vec(reqs).map_err(|e| {
        tracing::error!(%e, "cannot serialise a request");
        ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    let digest = sha2::Sha256::digest(&canonical);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        endpoint,
        body_sha256: hex,
    }))
}

fn submit_error(e: SubmitError) -> Response {
    match e {
        SubmitError::Invalid { field, reason } => ApiError::field(field, reason).into_response(),
        e @ SubmitError::UnknownModem(_) => ApiError::field("modem", e.to_string()).into_response(),
        SubmitError::ShuttingDown => ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway is shutting down",
        )
        .into_response(),
        SubmitError::InvalidItems(items) => bulk_refusal(
            items
                .into_iter()
                .map(|(f, m)| ApiError::field(f, m))
                .collect(),
        ),
        SubmitError::KeyConflict(why) => ApiError {
            status: StatusCode::CONFLICT,
            field: Some("Idempotency-Key".into()),
            message: why,
        }
        .into_response(),
        SubmitError::Store(e) => ApiError::internal(&e).into_response(),
    }
}

/// 400 naming every bad item of a bulk call: `error` is the first, `errors`
/// all of them (`messages[i].field`).
fn bulk_refusal(errors: Vec<ApiError>) -> Response {
    let list: Vec<Value> = errors
        .iter()
        .map(|e| json!({"field": e.field, "message": e.message}))
        .collect();
    let first = list.first().cloned().unwrap_or(Value::Null);
    let status = errors.first().map_or(StatusCode::BAD_REQUEST, |e| e.status);
    (status, Json(json!({"error": first, "errors": list}))).into_response()
}

/// `POST /v1/messages`: 202 with the id and the number of parts; 200 with
/// the same for a repeat with the same `Idempotency-Key` and request.
#[utoipa::path(post, path = "/v1/messages", tag = "messages",
    request_body = SubmitRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and request within 24 h: the original answer (200)", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 202, description = "Queued", body = crate::gateway::Submitted),
        (status = 200, description = "A repeat of an earlier request with this Idempotency-Key", body = crate::gateway::Submitted),
        (status = 400, description = "A field is wrong (named)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = super::openapi::ErrorBody),
        (status = 409, description = "Idempotency-Key used with another request", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 503, description = "Shutting down, store stopped or disk full", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn submit(
    State(gw): State<Gateway>,
    headers: axum::http::HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let req = match json_content_type(&headers)
        .and_then(|()| body(b))
        .and_then(|b| parse_submit::<SubmitRequest>(&b))
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let reqs = vec![req];
    let key = match idempotency_key(&headers, "message", &reqs) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match gw.submit_many(reqs, key).await {
        Ok((mut out, repeat)) => match out.pop() {
            Some(s) => {
                let code = if repeat {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                };
                (code, Json(s)).into_response()
            }
            None => ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "nothing queued")
                .into_response(),
        },
        Err(e) => submit_error(e),
    }
}

/// `POST /v1/messages/bulk`: up to 10,000 messages in one transaction;
/// 202 `{"ids": [...]}` in order (200 for an idempotent repeat).
#[utoipa::path(post, path = "/v1/messages/bulk", tag = "messages",
    request_body = super::openapi::BulkRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "As for POST /v1/messages", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 202, description = "All queued, ids in request order", body = super::openapi::BulkAccepted),
        (status = 200, description = "A repeat with this Idempotency-Key", body = super::openapi::BulkAccepted),
        (status = 400, description = "Every bad item named messages[i].field; nothing stored", body = super::openapi::BulkErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = super::openapi::ErrorBody),
        (status = 409, description = "Idempotency-Key used with another request", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Not application/json", body = super::openapi::ErrorBody),
        (status = 503, description = "Shutting down, store stopped or disk full", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn submit_bulk(
    State(gw): State<Gateway>,
    headers: axum::http::HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match json_content_type(&headers).and_then(|()| body(b)) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let items: Vec<Result<SubmitRequest, ApiError>> = match parse_bulk_items(&bytes) {
        Ok(r) => r,
        Err(errors) => return bulk_refusal(errors),
    };
    if items.iter().any(Result::is_err) {
        // Every bad item is named: those whose JSON is wrong, and those
        // well formed that the gateway would refuse.
        let errors = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Err(e) => Some(e.clone()),
                Ok(r) => match gw.validate(r) {
                    Ok(()) => None,
                    Err(SubmitError::Invalid { field, reason }) => {
                        Some(ApiError::field(format!("messages[{i}].{field}"), reason))
                    }
                    Err(e @ SubmitError::UnknownModem(_)) => Some(ApiError::field(
                        format!("messages[{i}].modem"),
                        e.to_string(),
                    )),
                    Err(_) => None,
                },
            })
            .collect();
        return bulk_refusal(errors);
    }
    let reqs: Vec<SubmitRequest> = items.into_iter().flatten().collect();
    let key = match idempotency_key(&headers, "bulk", &reqs) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match gw.submit_many(reqs, key).await {
        Ok((out, repeat)) => {
            let code = if repeat {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let ids: Vec<&str> = out.iter().map(|s| s.id.as_str()).collect();
            let parts: Vec<u8> = out.iter().map(|s| s.parts).collect();
            (code, Json(json!({"ids": ids, "parts": parts}))).into_response()
        }
        Err(e) => submit_error(e),
    }
}

fn message_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::field("id", e.body_text()))?;
    id.parse()
        .map_err(|_| ApiError::field("id", format!("{id:?} is not a message id")))
}

/// `DELETE /v1/messages/{id}`: cancel a message none of whose parts reached
/// a modem: 200 with the message (DELETED); 409 with the reason otherwise.
#[utoipa::path(delete, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id", pattern = "^[0-9]{1,18}$")),
    responses(
        (status = 200, description = "Cancelled: the message, DELETED", body = serde_json::Value),
        (status = 400, description = "Not a message id", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such message", body = super::openapi::ErrorBody),
        (status = 409, description = "Too late: a part reached a modem, or the message is final", body = super::openapi::ErrorBody),
        (status = 503, description = "Store stopped or disk full", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn cancel_message(
    State(gw): State<Gateway>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = message_id(id)?;
    match gw.cancel(MessageId(id)).await {
        Ok(Cancel::Cancelled) => {}
        Ok(Cancel::NotFound) => {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                field: Some("id".into()),
                message: format!("no message with id {id}"),
            })
        }
        Ok(Cancel::TooLate(why)) => {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                field: Some("id".into()),
                message: why,
            })
        }
        Err(e) => return Err(ApiError::internal(&e)),
    }
    let view = with_store(&gw, move |s| {
        s.message(MessageId(id)).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    Ok(Json(views::message_detail(&view)))
}

/// `GET /v1/messages/{id}`.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id", pattern = "^[0-9]{1,18}$")),
    responses(
        (status = 200, description = "The message with its parts, reports, events and receipt", body = serde_json::Value),
        (status = 400, description = "Not a message id", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such message", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn get_message(
    State(gw): State<Gateway>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = message_id(id)?;
    let view = with_store(&gw, move |s| match s.message(MessageId(id)) {
        Ok(v) => Ok(v),
        Err(StoreError::NoMessage(_)) => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some("id".into()),
            message: format!("no message with id {id}"),
        }),
        Err(e) => Err(ApiError::internal(&e)),
    })
    .await?;
    Ok(Json(views::message_detail(&view)))
}

/// `GET /v1/messages?state=&since=&to=&limit=`: newest first.
#[utoipa::path(get, path = "/v1/messages", tag = "messages",
    params(
        ("state" = Option<String>, Query, description = "ACCEPTED, ENROUTE, DELIVRD, EXPIRED, DELETED, UNDELIV, REJECTD, UNKNOWN", pattern = "^(ACCEPTED|ENROUTE|DELIVRD|EXPIRED|DELETED|UNDELIV|REJECTD|UNKNOWN)?$"),
        ("since" = Option<String>, Query, description = "Unix seconds, YYYY-MM-DD or RFC 3339 (empty: no bound)", pattern = "^([0-9]{1,10})?$"),
        ("to" = Option<String>, Query, description = "Recipient"),
        ("limit" = Option<String>, Query, description = "1 to 1000 (empty: the default)", pattern = "^([1-9][0-9]{0,2}|1000)?$"),
    ),
    responses(
        (status = 200, description = "Messages, newest first", body = serde_json::Value),
        (status = 400, description = "A bad query parameter (named)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn list_messages(
    State(gw): State<Gateway>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let p = query(q, &["state", "since", "to", "limit"])?;
    let filter = MessageFilter {
        state: p.state()?,
        since: p.since()?,
        to: p.get("to").map(str::to_string),
        limit: Some(p.limit()?),
    };
    let rows = with_store(&gw, move |s| {
        s.messages(&filter).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let list: Vec<Value> = rows.iter().map(views::message_summary).collect();
    Ok(Json(json!({ "messages": list })))
}

/// `GET /v1/inbox?since=&limit=`: incoming SMS, newest first.
#[utoipa::path(get, path = "/v1/inbox", tag = "incoming",
    params(
        ("since" = Option<String>, Query, description = "Unix seconds, YYYY-MM-DD or RFC 3339 (empty: no bound)", pattern = "^([0-9]{1,10})?$"),
        ("limit" = Option<String>, Query, description = "1 to 1000 (empty: the default)", pattern = "^([1-9][0-9]{0,2}|1000)?$"),
    ),
    responses(
        (status = 200, description = "Incoming SMS, newest first", body = serde_json::Value),
        (status = 400, description = "A bad query parameter (named)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn inbox(
    State(gw): State<Gateway>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let p = query(q, &["since", "limit"])?;
    let (since, limit) = (p.since()?, p.limit()?);
    let rows = with_store(&gw, move |s| {
        s.inbox(since, Some(limit))
            .map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let list: Vec<Value> = rows.iter().map(views::incoming).collect();
    Ok(Json(json!({ "messages": list })))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn metrics(State(gw): State<Gateway>) -> Result<Response, ApiError> {
    let (counters, wal_bytes) = with_store(&gw, |s| {
        let c = s.counters().map_err(|e| ApiError::internal(&e))?;
        Ok((c, s.wal_bytes()))
    })
    .await?;
    let space = super::metrics::StoreSpace {
        state: gw.store_space(),
        wal_bytes,
    };
    let mut page = super::metrics::render(
        &counters,
        &modems_of(&gw).await?,
        gw.is_shutting_down(),
        &space,
    );
    if let Some(m) = smpp_of(&gw).await? {
        page.push_str(&super::metrics::render_smpp(&m));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    )
        .into_response())
}

/// The SMPP server's binds, counters and waiting receipts (None when no
/// SMPP server runs).
async fn smpp_of(gw: &Gateway) -> Result<Option<super::metrics::SmppMetrics>, ApiError> {
    let Some(smpp) = gw.smpp() else {
        return Ok(None);
    };
    let waiting = with_store(gw, |s| {
        s.smpp_outbox_waiting().map_err(|e| ApiError::internal(&e))
    })
    .await?;
    Ok(Some(super::metrics::SmppMetrics {
        counters: smpp.counters(),
        binds: smpp.binds(),
        waiting,
    }))
}

/// `GET /v1/smpp/binds`: the binds open now, and per configured account
/// its binds, counters and receipts waiting. 404 when no SMPP server runs.
#[utoipa::path(get, path = "/v1/smpp/binds", tag = "operations",
    responses(
        (status = 200, description = "Binds and accounts", body = serde_json::Value),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 404, description = "No SMPP server configured", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn smpp_binds(State(gw): State<Gateway>) -> Answer {
    let Some(m) = smpp_of(&gw).await? else {
        return Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "no SMPP server is configured ([smpp] in the configuration)",
        ));
    };
    let accounts: Vec<Value> = m
        .counters
        .iter()
        .map(|c| {
            let waiting = m
                .waiting
                .iter()
                .find(|(a, _)| *a == c.system_id)
                .map_or(0, |(_, n)| *n);
            json!({
                "system_id": c.system_id,
                "binds": m.binds.iter().filter(|b| b.system_id == c.system_id).count(),
                "submits": c.submits,
                "throttled": c.throttled,
                "expired": c.expired,
                "receipts_waiting": waiting,
            })
        })
        .collect();
    Ok(Json(json!({ "binds": m.binds, "accounts": accounts })))
}

/// `GET /v1/modems`: every configured modem, connected or not.
#[utoipa::path(get, path = "/v1/modems", tag = "operations",
    responses(
        (status = 200, description = "The configured modems", body = serde_json::Value),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Internal error", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn modems(State(gw): State<Gateway>) -> Answer {
    Ok(Json(json!({ "modems": modems_of(&gw).await? })))
}

/// The modems with their queue depths, read on the blocking pool (the
/// depths come from the store, whose lock may be held by a group commit).
async fn modems_of(gw: &Gateway) -> Result<Vec<crate::gateway::ModemStatus>, ApiError> {
    let gw = gw.clone();
    tokio::task::spawn_blocking(move || gw.modems())
        .await
        .map_err(|e| {
            tracing::error!(%e, "API store task failed");
            ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })
}

/// `GET /v1/collisions?limit=`: newest first, each with its parts and how
/// they were settled.
#[utoipa::path(get, path = "/v1/collisions", tag = "operations",
    params(("limit" = Option<String>, Query, description = "1 to 1000 (empty: the default)", pattern = "^([1-9][0-9]{0,2}|1000)?$")),
    responses(
        (status = 200, description = "TP-MR collisions, newest first", body = serde_json::Value),
        (status = 400, description = "A bad query parameter (named)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 500, description = "Database failure", body = super::openapi::ErrorBody),
    ), security(("bearer" = [])))]
pub async fn collisions(
    State(gw): State<Gateway>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let p = query(q, &["limit"])?;
    let limit = p.limit()?;
    let list = with_store(&gw, move |s| {
        views::collisions(s, limit).map_err(|e| ApiError::internal(&e))
    })
    .await?;
    Ok(Json(json!({ "collisions": list })))
}

/// `GET /healthz` (no authentication): whether the gateway can take and
/// send work. 503 when it cannot: the store has stopped for good (the
/// daemon then exits to be restarted), it is shutting down, or the disk is
/// full (`"disk_full"`: writes fail for lack of space; back to ok on its
/// own once space is freed). 200 with
/// `"status": "degraded"` when messages are still taken and queued but none
/// can leave now (no modem connected); 200 `"ok"` otherwise. See docs/api.md.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "ok, or degraded (no modem connected)", body = serde_json::Value),
        (status = 503, description = "store_stopped, shutting_down or disk_full", body = serde_json::Value),
        (status = 500, description = "Internal error", body = super::openapi::ErrorBody),
    ))]
pub async fn healthz(State(gw): State<Gateway>) -> Response {
    let modems = match modems_of(&gw).await {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let connected = modems.iter().filter(|m| m.connected).count();
    let (status, code, reason) = if let Some(why) = gw.store_failure() {
        ("store_stopped", StatusCode::SERVICE_UNAVAILABLE, Some(why))
    } else if gw.is_shutting_down() {
        ("shutting_down", StatusCode::SERVICE_UNAVAILABLE, None)
    } else if let Some((since, why)) = gw.store_space().full {
        (
            "disk_full",
            StatusCode::SERVICE_UNAVAILABLE,
            Some(format!(
                "the disk is full since {}: {why}; nothing new is stored until space \
                 is freed, then smsgw resumes by itself",
                crate::times::rfc3339(since)
            )),
        )
    } else if connected == 0 {
        (
            "degraded",
            StatusCode::OK,
            Some("no modem connected: messages are queued, none is sent".to_string()),
        )
    } else {
        ("ok", StatusCode::OK, None)
    };
    let mut body = json!({
        "status": status,
        "modems": {
            "configured": modems.len(),
            "connected": connected,
            "names": modems
                .iter()
                .map(|m| json!({"name": m.name, "connected": m.connected}))
                .collect::<Vec<_>>(),
        },
    });
    if let Some(why) = reason {
        body["reason"] = json!(why);
    }
    (code, Json(body)).into_response()
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::GatewaySettings;
    use crate::router::RouterConfig;
    use crate::store::Store;

    async fn health(gw: &Gateway) -> (StatusCode, serde_json::Value) {
        let r = healthz(State(gw.clone())).await;
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn a_stopped_store_makes_health_fail_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), RouterConfig::default()).unwrap();
        let gw = Gateway::new(
            store,
            GatewaySettings::default(),
            &[("m1".into(), "/dev/null".into())],
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (code, body) = health(&gw).await;
            assert_eq!(
                (code, body["status"].as_str()),
                (StatusCode::OK, Some("degraded"))
            );
            gw.stop_store_for_test("cannot sync x.db-wal: EIO");
            let (code, body) = health(&gw).await;
            assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body["status"], "store_stopped");
            assert!(body["reason"].as_str().unwrap().contains("EIO"), "{body}");
            // And the daemon hears of it (it exits for a restart).
            assert!(gw.store_stopped().await.contains("EIO"));
        });
    }
}
