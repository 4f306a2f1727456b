//! Per-request context: the request id and one tracing span per request; and the security headers every
//! response carries.
//!
//! The request id comes from the client's `X-Request-Id` when it is sane, otherwise a new UUIDv7; it is
//! echoed on every response, recorded on the span (so every log line of the request carries it) and
//! available to the error renderer through a task-local.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

impl RequestContext {
    /// The context of the request being served, if called while serving one.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

/// `future` in the context and span of the request being served, to run as a task of its own.
pub fn in_this_request<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let span = tracing::Span::current();
    let context = RequestContext::current();
    async move {
        match context {
            Some(context) => CURRENT.scope(context, future.instrument(span)).await,
            None => future.instrument(span).await,
        }
    }
}

/// The id of the request being served, for a handler's span; empty outside a request.
pub fn current_request_id() -> String {
    CURRENT.try_with(|context| context.request_id.clone()).unwrap_or_default()
}

/// A client-supplied id is kept if it is short and made of safe characters, so it can go into logs
/// and headers as is.
fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID_HEADER)?.to_str().ok()?;
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    (!value.is_empty() && value.len() <= 128 && value.chars().all(safe)).then(|| value.to_owned())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let request_id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        route = %route,
        request_id = %request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let context = RequestContext { request_id: request_id.clone(), path: req.path().to_owned() };
    let state = req.app_data::<super::state::Data>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let result = CURRENT.scope(context, next.call(req).instrument(span.clone())).await;

    // An error here (a timeout) is rendered by the server after this returns, but is counted all the same.
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", status.as_u16());
    span.record("latency_ms", latency_ms);
    span.in_scope(|| tracing::info!("request completed"));
    if let Some(state) = state {
        state.metrics.observe_request(&route, method.as_str(), status.as_u16(), latency_ms / 1000.0);
    }
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// Headers that make a browser treat every answer as what it says it is and never frame it. A page that
/// needs more (the HTML report, the owner's one-click page) sets its own Content-Security-Policy, which is
/// kept; the API docs load their own scripts and styles, so they get only the framing rule.
pub fn security_headers_for(is_docs: bool) -> [(HeaderName, HeaderValue); 4] {
    let policy = if is_docs { "frame-ancestors 'none'" } else { "default-src 'none'; frame-ancestors 'none'" };
    [
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

/// Adds `security_headers_for` to every response, keeping a policy a page set for itself.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let is_docs = req.path().starts_with("/docs");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    for (name, value) in security_headers_for(is_docs) {
        let own_policy = matches!(name, header::CONTENT_SECURITY_POLICY | header::REFERRER_POLICY);
        if !(own_policy && headers.contains_key(&name)) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}
