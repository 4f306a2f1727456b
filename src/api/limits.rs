//! What one client may ask of the service (OWASP API4): a rate limit per token subject and a time limit
//! per request. Sizes of bodies, pages, strings and lists are limited where they are read (`extract`, the
//! domain types); this module owns only the limits that need a clock.
//!
//! The rate limit is kept in memory, per replica: it protects each process from one client's flood
//! without a database round trip on every request. With N replicas behind a balancer a client gets up to
//! N times the pace, which the settings should allow for.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::error::ApiError;
use crate::config::LimitSettings;

pub const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Who a request is counted against: the subject of its token, or its peer address when it has no valid
/// token. Counting made-up tokens by themselves would give a fresh bucket to every request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    /// A keyed hash of the verified `sub`: the map holds no names, and a client cannot aim at someone
    /// else's bucket without knowing this process's key.
    Subject(u64),
    Address(Option<IpAddr>),
}

type KeyedLimiter = RateLimiter<Client, DefaultKeyedStateStore<Client>, DefaultClock, StateInformationMiddleware>;

/// Forget idle clients every this many requests, so the map does not grow with every token ever seen.
const HOUSEKEEPING_EVERY: u64 = 10_000;

/// The clocks of the limits, registered as their own application data: the middleware needs nothing
/// else of the application's state.
pub struct Limits {
    request_timeout: Duration,
    limiter: Option<KeyedLimiter>,
    hasher: std::collections::hash_map::RandomState,
    requests: AtomicU64,
}

/// How a request fared against its client's rate limit.
enum Verdict {
    Allowed { limit: u32, remaining: u32, reset: Duration },
    Refused { limit: u32, retry_after: Duration },
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        let limiter = NonZeroU32::new(settings.rate_limit_per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(settings.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>()
        });
        Self {
            request_timeout: settings.request_timeout,
            limiter,
            hasher: std::collections::hash_map::RandomState::new(),
            requests: AtomicU64::new(0),
        }
    }

    fn client(&self, req: &ServiceRequest) -> Client {
        match super::access::authenticate(req.request()) {
            Ok(principal) => Client::Subject(self.hasher.hash_one(&principal.sub)),
            Err(_) => Client::Address(req.peer_addr().map(|addr| addr.ip())),
        }
    }

    fn check(&self, client: &Client) -> Option<Verdict> {
        let limiter = self.limiter.as_ref()?;
        if self.requests.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1 {
            limiter.retain_recent();
        }
        Some(match limiter.check_key(client) {
            Ok(snapshot) => {
                let quota = snapshot.quota();
                let limit = quota.burst_size().get();
                let remaining = snapshot.remaining_burst_capacity();
                let reset = quota.replenish_interval().saturating_mul(limit.saturating_sub(remaining));
                Verdict::Allowed { limit, remaining, reset }
            }
            Err(not_until) => Verdict::Refused {
                limit: not_until.quota().burst_size().get(),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        })
    }
}

/// Probes must answer even when a client floods the API, or the balancer would take the replica out.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Whole seconds, rounded up: a client told "0" would retry at once and be refused again.
fn seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn insert_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: Duration) {
    headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(remaining));
    headers.insert(RATE_LIMIT_RESET, HeaderValue::from(seconds(reset)));
}

/// Refuses a client over its rate limit with 429, and answers 503 for a request that outlives
/// REQUEST_TIMEOUT. Runs inside the request context, so both problems carry the request id.
pub async fn limits(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limits) = req.app_data::<actix_web::web::Data<Limits>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let verdict = if is_probe(req.path()) { None } else { limits.check(&limits.client(&req)) };
    if let Some(Verdict::Refused { limit, retry_after }) = verdict {
        let detail = format!("more than {limit} requests in a short time; slow down and retry after the given seconds");
        let mut response: HttpResponse =
            ApiError::TooManyRequests { detail, retry_after: seconds(retry_after) as i64 }.error_response();
        insert_rate_headers(response.headers_mut(), limit, 0, retry_after);
        return Ok(req.into_response(response));
    }

    // The request itself cannot be kept aside for the answer (routing needs it whole), so a timeout
    // leaves as an error that carries the request's context. The handler runs as a task of its own: a
    // request past its time limit, or whose client left, stops being waited for, but its database work
    // is never cut off half-way; it finishes, and its connection goes back to the pool clean.
    let handler = actix_web::rt::spawn(super::middleware::in_this_request(next.call(req)));
    let mut response = match tokio::time::timeout(limits.request_timeout, handler).await {
        Ok(Ok(response)) => response?.map_into_boxed_body(),
        Ok(Err(failed)) => match failed.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(cancelled) => return Err(actix_web::error::ErrorServiceUnavailable(cancelled)),
        },
        Err(_elapsed) => {
            tracing::warn!(timeout = ?limits.request_timeout, "request timed out");
            return Err(ApiError::Timeout { context: super::middleware::RequestContext::current() }.into());
        }
    };
    if let Some(Verdict::Allowed { limit, remaining, reset }) = verdict {
        insert_rate_headers(response.headers_mut(), limit, remaining, reset);
    }
    Ok(response)
}
