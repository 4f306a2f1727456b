//! `Idempotency-Key` on POST: a client that retries a request with the same key gets the first answer
//! again (same status, same body, `Idempotent-Replayed: true`) instead of a second resource. The same key
//! with a different request is refused (422); while the first request still runs, a retry is told to
//! wait (409). Keys belong to the caller (the person the token names, with its `sub`) and are remembered
//! for 24 hours.
//!
//! A key is looked at only once the request has passed its handler's authorization and validation (the
//! handler calls [`Idempotency::begin`] then), so a replay is authorized exactly like a fresh request: a
//! token with the same `sub` but fewer rights gets the same 403 with or without the key, never the stored
//! answer. Only successful answers (2xx) are remembered; a refused or failed request leaves no key behind,
//! so the corrected request may use it again, and a caller who may not write cannot fill the store.
//!
//! The middleware reads and hashes the body (method, target and body must match on a retry) before the
//! handler runs, and after it stores the answer or lets the key go.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::MAX_BODY_BYTES;
use super::state::{AppState, Data};
use crate::db::idempotency::{self, Claim, StoredResponse};
use crate::domain::principal::Principal;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Keys one caller may hold at once (each is kept 24 hours): plenty for a ticketing system's creations,
/// and a bound on what one token can make the database keep.
pub const MAX_KEYS_PER_CALLER: i64 = 10_000;

/// The headers a replay repeats.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// A POST's key and the hash of what it asks, for its handler to claim.
#[derive(Debug, Clone)]
struct PendingKey {
    key: String,
    request_hash: String,
}

/// Left by [`Idempotency::begin`] when it claimed the key: the answer is to be stored (or the key let go).
#[derive(Debug, Clone)]
struct ClaimedKey {
    principal: String,
    key: String,
}

/// A POST handler's hold on the request's `Idempotency-Key`, if it has one.
pub struct Idempotency(HttpRequest);

impl FromRequest for Idempotency {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(req.clone())))
    }
}

impl Idempotency {
    /// Call once the request is authorized and valid, before doing its work: the answer stored for this
    /// key when the request was already made (to be returned as is), or `None` to go on, the key now
    /// held by this request. Refuses a key used for another request, one still in use, and a caller
    /// over [`MAX_KEYS_PER_CALLER`].
    pub async fn begin(&self, state: &AppState, principal: &Principal) -> Result<Option<HttpResponse>, ApiError> {
        let Some(pending) = self.0.extensions().get::<PendingKey>().cloned() else {
            return Ok(None);
        };
        let now = crate::domain::now();
        let lease_until = now + state.idempotency_lease;
        let claim = idempotency::claim(
            &state.db,
            caller(principal),
            pending.key.clone(),
            pending.request_hash,
            now,
            lease_until,
            MAX_KEYS_PER_CALLER,
        )
        .await
        .map_err(|e| ApiError::from_store(e, String::new))?;
        match claim {
            Claim::Fresh => {
                self.0.extensions_mut().insert(ClaimedKey { principal: caller(principal), key: pending.key });
                Ok(None)
            }
            Claim::Replay(stored) => Ok(Some(replay(stored))),
            Claim::InProgress => Err(ApiError::IdempotencyKeyInUse),
            Claim::Mismatch => Err(ApiError::IdempotencyKeyReused),
            Claim::TooMany { retry_after } => Err(ApiError::TooManyRequests {
                detail: format!(
                    "this caller holds {MAX_KEYS_PER_CALLER} Idempotency-Keys from the last 24 hours; retry when the \
                     oldest expires, or send the request without a key"
                ),
                retry_after: retry_after.num_seconds().max(1),
            }),
        }
    }
}

/// Whose keys these are: the person a token names (see `auth`), with the subject. Two tokens of one
/// subject naming different people (an opaque `sub` with two `email`s) do not share keys, so one never
/// gets the other's stored answer, such as a webhook's one-time secret.
fn caller(principal: &Principal) -> String {
    match &principal.email {
        Some(email) if email.as_str() != principal.sub => format!("{} {email}", principal.sub),
        _ => principal.sub.clone(),
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED, "true"));
    response.body(stored.body)
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

    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(refuse(req, ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }));
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
    req.extensions_mut().insert(PendingKey { key, request_hash: hex::encode(hasher.finalize()) });
    req.set_payload(Payload::from(body));

    let response = next.call(req).await?.map_into_boxed_body();
    let Some(claimed) = response.request().extensions().get::<ClaimedKey>().cloned() else {
        return Ok(response);
    };
    let status = response.status();
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes: Bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("the response body could not be read"))?;
    let outcome = if status.is_success() {
        let headers = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let stored =
            StoredResponse { status: status.as_u16(), headers, body: String::from_utf8_lossy(&bytes).into_owned() };
        idempotency::complete(&state.db, claimed.principal, claimed.key, stored).await
    } else {
        idempotency::release(&state.db, claimed.principal, claimed.key).await
    };
    if let Err(error) = outcome {
        // The request itself was answered; a retry would run it again, which the key cannot prevent now.
        tracing::error!(%error, "recording the idempotent response failed");
    }
    Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
}
