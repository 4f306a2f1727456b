//! The one error type of the HTTP boundary, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return `ApiError`; every variant has a stable snake_case `code` that clients can match on
//! and a fixed HTTP status, both decided here and nowhere else. Client errors carry a detail written for
//! the client. Server errors log their cause with the request id and show only a generic detail: SQL,
//! file paths and library messages never reach a response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::middleware::RequestContext;
use crate::db::StoreError;
use crate::domain::listing::CursorError;
use crate::domain::{FieldError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read: malformed JSON, an unknown query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The request was read, but values in it are not acceptable.
    #[error("{}", .0)]
    Validation(FieldErrors),
    /// A `cursor` handed out for another query; the errors name the parameters that differ.
    #[error("the cursor belongs to another query: {0}")]
    CursorMismatch(FieldErrors),
    /// No credentials were sent.
    #[error("this needs a bearer token in the Authorization header")]
    Unauthenticated,
    /// Credentials were sent but are not acceptable; the text says why.
    #[error("{0}")]
    InvalidToken(String),
    /// The caller is known but may not do this; `fields` names the fields outside its rights.
    #[error("{detail}")]
    Forbidden { detail: String, fields: Vec<String> },
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method; the value is the `Allow` header (`GET, POST`).
    #[error("this path answers {0} only")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource has changed since the version named in If-Match; fetch it again and retry")]
    PreconditionFailed,
    /// Too soon after the same request; retry after this many seconds.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: i64 },
    /// The body was larger than `limit` bytes.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `Idempotency-Key` already used for a different request.
    #[error("this Idempotency-Key was used for a different request; use a new key for a new request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` has not finished yet.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyKeyInUse,
    /// None of the media types the client accepts can be produced; the text lists those that can.
    #[error("{0}")]
    NotAcceptable(String),
    /// The request ran longer than REQUEST_TIMEOUT. It is rendered after the request's own scope has
    /// ended, so it carries the request's context itself.
    #[error("the request took longer than the server allows")]
    Timeout { context: Option<RequestContext> },
    /// The database cannot be reached; the cause is logged, not shown.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation(_) => "validation_failed",
            ApiError::CursorMismatch(_) => "cursor_mismatch",
            ApiError::Unauthenticated | ApiError::InvalidToken(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::NotAcceptable(_) => "not_acceptable",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::IdempotencyKeyInUse => "idempotency_key_in_use",
            ApiError::Timeout { .. } => "request_timeout",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn invalid_token(reason: &str) -> Self {
        ApiError::InvalidToken(reason.to_owned())
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldError::new(field, message).into())
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(_) => "the request has invalid fields; see `errors`".to_owned(),
            ApiError::CursorMismatch(_) => "the cursor was handed out for another query; repeat that query's \
                                            parameters (see `errors`), or start again without `cursor`"
                .to_owned(),
            ApiError::Unavailable(_) => "the database is not reachable right now; retry shortly".to_owned(),
            ApiError::Timeout { .. } => {
                "the request took longer than the server allows; retry shortly, with the same Idempotency-Key \
                 for a POST"
                    .to_owned()
            }
            ApiError::Internal(_) => "an unexpected error occurred; quote the request id when reporting it".to_owned(),
            client_error => client_error.to_string(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "the request has invalid fields; see `errors`",
    "instance": "/api/v1/actions",
    "code": "validation_failed",
    "request_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "errors": [{"field": "owner_email", "message": "must be a valid e-mail address such as alice@example.com"}]
}))]
pub struct Problem {
    /// Always `about:blank`: the HTTP status says what kind of problem it is, `code` says exactly which.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The path of the request that failed.
    pub instance: Option<String>,
    /// Stable machine-readable code: bad_request, validation_failed, cursor_mismatch, unauthorized, forbidden,
    /// not_found, method_not_allowed, conflict, too_many_requests,
    /// precondition_failed, payload_too_large, unsupported_media_type, not_acceptable, idempotency_key_reused,
    /// idempotency_key_in_use, request_timeout, service_unavailable, internal_error.
    pub code: String,
    /// The request id, also sent as the `X-Request-Id` header; quote it when reporting a problem.
    pub request_id: Option<String>,
    /// For `validation_failed`: every invalid field; for `cursor_mismatch`: each query parameter that differs
    /// from the query the cursor was handed out for; for `forbidden`: the fields outside the caller's rights.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field, as a path into the request (`tags[2]`) or the query parameter's name.
    pub field: String,
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::CursorMismatch(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyKeyInUse => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let context = match self {
            ApiError::Timeout { context: Some(context) } => Some(context.clone()),
            _ => RequestContext::current(),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        }
        let errors = match self {
            ApiError::Validation(fields) | ApiError::CursorMismatch(fields) => {
                fields.iter().map(|e| ProblemField { field: e.field.clone(), message: e.message.clone() }).collect()
            }
            ApiError::Forbidden { fields, .. } => fields
                .iter()
                .map(|field| ProblemField { field: field.clone(), message: "is outside your rights".into() })
                .collect(),
            _ => Vec::new(),
        };
        let problem = Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            instance: context.as_ref().map(|c| c.path.clone()),
            code: self.code().to_owned(),
            request_id: context.as_ref().map(|c| c.request_id.clone()),
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        // Most problems pass through the request's middleware on their way out, which adds these too; a
        // timeout does not, so the problem carries them itself.
        if let Some(Ok(request_id)) = context.as_ref().map(|c| HeaderValue::from_str(&c.request_id)) {
            response.insert_header((super::middleware::REQUEST_ID_HEADER, request_id));
        }
        for (name, value) in super::middleware::security_headers_for(false) {
            response.insert_header((name, value));
        }
        // RFC 6750: no error code when no credentials were sent, `invalid_token` when they were refused.
        match self {
            ApiError::Unauthenticated => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"action-tracker\""));
            }
            ApiError::InvalidToken(reason) => {
                let reason = reason.replace('"', "'");
                let challenge =
                    format!("Bearer realm=\"action-tracker\", error=\"invalid_token\", error_description=\"{reason}\"");
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            _ => {}
        }
        if let ApiError::MethodNotAllowed(allow) = self {
            response.insert_header((header::ALLOW, allow.clone()));
        }
        if let ApiError::IdempotencyKeyInUse = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<CursorError> for ApiError {
    fn from(error: CursorError) -> Self {
        match error {
            CursorError::Invalid(error) => ApiError::Validation(error.into()),
            CursorError::OtherQuery(differences) => ApiError::CursorMismatch(differences),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::Validation(error.into())
    }
}

impl ApiError {
    /// Maps a storage failure; `what` names the resource for a 404 ("action 0193…").
    pub fn from_store(error: StoreError, what: impl FnOnce() -> String) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound(format!("no {} exists", what())),
            StoreError::UnknownIncident => ApiError::invalid("incident_id", "no incident with this id exists"),
            StoreError::VersionMismatch => ApiError::PreconditionFailed,
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Invalid(fields) => ApiError::Validation(fields),
            StoreError::Forbidden(detail) => ApiError::Forbidden { detail, fields: Vec::new() },
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            other @ (StoreError::Query(_) | StoreError::Raced) => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn a_validation_problem_renders_the_exact_json() {
        let error = ApiError::invalid("due_date", "must be a date like 2026-12-31");
        let response = error.error_response();
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers().get("content-type").unwrap(), "application/problem+json");
        let body = response.into_body().try_into_bytes().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": "the request has invalid fields; see `errors`",
                "instance": null,
                "code": "validation_failed",
                "request_id": null,
                "errors": [{"field": "due_date", "message": "must be a date like 2026-12-31"}]
            })
        );
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let error = ApiError::Internal("relation \"actions\" does not exist at /srv/db".into());
        let body = error.error_response().into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("relation"), "{text}");
        assert!(text.contains("internal_error"));
    }
}
