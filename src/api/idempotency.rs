//! `Idempotency-Key` on POST: a client that retries a request with the same key gets the first answer
//! again (same status, same body, `Idempotent-Replayed: true`) instead of a second resource. The same key
//! with a different request is refused (422); while the first request still runs, a retry is told to
//! wait (409). Keys belong to the caller (the token's `sub`) and are remembered for 24 hours. Server
//! errors are not remembered, so a retry after one runs the request again.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::Data;
use super::error::ApiError;
use super::extract::MAX_BODY_BYTES;
use crate::db::idempotency::{self, Claim, StoredResponse};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long the first request may run before a retry may take its key over (it crashed).
const LEASE_SECONDS: i64 = 60;

/// The headers a replay repeats.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req.headers().get(&IDEMPOTENCY_KEY).map(|v| v.to_str().map(str::to_owned));
    let (Method::POST, Some(key)) = (req.method().clone(), key) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let Some(key) = key.ok().filter(|k| valid_key(k)) else {
        let error = ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into());
        return Ok(refuse(req, error));
    };
    let Some(state) = req.app_data::<Data>().cloned() else {
        return Ok(refuse(req, ApiError::Internal("application state is not configured".into())));
    };
    // Keys are per caller; an unauthenticated request goes on to be refused by its handler.
    let token = super::access::bearer_token(req.request()).ok().flatten();
    let Some(principal) = token.and_then(|t| state.tokens.verify(t).ok()) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };

    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(refuse(req, ApiError::PayloadTooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b"\n");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    hasher.update(&body);
    let hash = hex::encode(hasher.finalize());

    let now = crate::domain::now();
    let lease_until = now + chrono::Duration::seconds(LEASE_SECONDS);
    let claim = idempotency::claim(&state.db, principal.sub.clone(), key.clone(), hash, now, lease_until).await;
    match claim {
        Err(error) => Ok(refuse(req, ApiError::from_store(error, String::new))),
        Ok(Claim::Mismatch) => Ok(refuse(req, ApiError::IdempotencyKeyReused)),
        Ok(Claim::InProgress) => Ok(refuse(req, ApiError::IdempotencyKeyInUse)),
        Ok(Claim::Replay(stored)) => {
            let mut response = HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            for (name, value) in &stored.headers {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
                    response.insert_header((name, value));
                }
            }
            response.insert_header((REPLAYED, "true"));
            Ok(req.into_response(response.body(stored.body)))
        }
        Ok(Claim::Fresh) => {
            req.set_payload(actix_web::dev::Payload::from(body));
            let response = next.call(req).await?.map_into_boxed_body();
            let status = response.status();
            let (request, response) = response.into_parts();
            let (head, body) = response.into_parts();
            let bytes: Bytes = actix_web::body::to_bytes(body)
                .await
                .map_err(|_| actix_web::error::ErrorInternalServerError("the response body could not be read"))?;
            let forget = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            let outcome = if forget {
                idempotency::release(&state.db, principal.sub, key).await
            } else {
                let headers = KEPT_HEADERS
                    .iter()
                    .filter_map(|name| {
                        let value = head.headers().get(name)?.to_str().ok()?;
                        Some((name.as_str().to_owned(), value.to_owned()))
                    })
                    .collect();
                let stored = StoredResponse {
                    status: status.as_u16(),
                    headers,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                };
                idempotency::complete(&state.db, principal.sub, key, stored).await
            };
            if let Err(error) = outcome {
                // The request itself succeeded; a retry would run it again, which the key cannot prevent now.
                tracing::error!(%error, "storing the idempotent response failed");
            }
            Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
        }
    }
}
