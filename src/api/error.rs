//! API errors: a status code and a JSON body
//! `{"error": {"field": "...", "message": "..."}}` naming what was wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// The request field at fault (body key, query parameter or path part).
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    /// 400 naming `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Any status, no field.
    pub fn status(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: None,
            message: message.into(),
        }
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::status(StatusCode::UNAUTHORIZED, message)
    }

    /// 500 for a store failure (logged; the body says only that it failed),
    /// or 503 naming the reason when the disk is full (not logged here: the
    /// store says so once per episode): nothing was stored, and the same
    /// request is taken again once space is freed.
    pub fn internal(err: &StoreError) -> ApiError {
        if err.is_disk_full() {
            return ApiError::status(StatusCode::SERVICE_UNAVAILABLE, err.to_string());
        }
        tracing::error!(%err, "store failure while answering an API request");
        ApiError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (see the log)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"field": self.field, "message": self.message}}));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"smsgw\""),
            );
        }
        resp
    }
}
