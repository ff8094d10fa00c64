//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the API, generated
//! from the handlers' own annotations and the request and answer types
//! (utoipa), so that it follows the code.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::gateway::{SubmitRequest, Submitted};
use crate::store::Priority;

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was wrong, and the request field at fault when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub field: Option<String>,
    pub message: String,
}

/// A refused bulk call: the first bad item, and all of them.
#[derive(Serialize, ToSchema)]
pub struct BulkErrorBody {
    pub error: ErrorDetail,
    /// Every bad item (absent when the request as a whole is refused, e.g.
    /// its Idempotency-Key).
    pub errors: Option<Vec<ErrorDetail>>,
}

/// `POST /v1/messages/bulk`.
#[derive(Serialize, ToSchema)]
pub struct BulkRequest {
    /// 1 to 10,000 messages, each as `POST /v1/messages` takes one.
    #[schema(min_items = 1, max_items = 10000)]
    pub messages: Vec<SubmitRequest>,
}

/// The ids of a bulk call, in request order, and their parts.
#[derive(Serialize, ToSchema)]
pub struct BulkAccepted {
    pub ids: Vec<String>,
    pub parts: Vec<u8>,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "smsgw HTTP API", description = "See docs/api.md."),
    paths(
        super::handlers::submit,
        super::handlers::submit_bulk,
        super::handlers::list_messages,
        super::handlers::get_message,
        super::handlers::cancel_message,
        super::handlers::inbox,
        super::events::events,
        super::handlers::modems,
        super::handlers::collisions,
        super::handlers::smpp_binds,
        super::handlers::healthz,
        super::handlers::metrics,
        openapi_json,
    ),
    components(schemas(
        SubmitRequest, Submitted, Priority, ErrorBody, ErrorDetail, BulkErrorBody,
        BulkRequest, BulkAccepted
    )),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses(
        (status = 200, description = "This document", body = serde_json::Value),
        (status = 401, description = "No or wrong token", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
