//! `/api/v1/incidents/{id}/reviews` and `/api/v1/reviews/{id}`: lessons-learned reviews. The actions a
//! review decides on are created in the actions room (`POST /reviews/{id}/actions`).

use actix_web::{HttpRequest, HttpResponse, get, http::header, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access;
use super::common::{self, required, resource};
use super::error::{ApiError, Problem};
use super::extract::{self, ApiJson, entity_tag, if_match_versions};
use super::idempotency::Idempotency;
use super::state::{AppState, Data};
use crate::db;
use crate::domain::email::EmailAddress;
use crate::domain::principal::{Principal, Role};
use crate::domain::review::{
    Answers, Attendee, Attendees, Question, Review, ReviewFields, ReviewPatch, ReviewStatus, with_questions,
};
use crate::domain::text::{LongText, ShortText};
use crate::domain::time::parse_instant_text;
use crate::domain::{FieldError, FieldErrors, Patch};

macro_rules! answer_types {
    ($(($key:ident, $variant:ident, $section:ident, $text:tt)),* $(,)?) => {
        /// Answers to the standard lessons-learned questions (NIST SP 800-61, section 3.4.1). Each member
        /// is free text of at most 10 000 characters; its description is the question it answers.
        #[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct ReviewAnswers {
            $(
                #[doc = $text]
                #[serde(default)]
                #[schema(max_length = 10000)]
                pub $key: Option<String>,
            )*
        }

        /// Answers to change: members left out keep their answer, `null` clears one.
        #[derive(Debug, Default, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct ReviewAnswersPatch {
            $(
                #[doc = $text]
                #[serde(default)]
                #[schema(value_type = Option<String>, max_length = 10000)]
                pub $key: Patch<String>,
            )*
        }

        impl ReviewAnswers {
            fn from_domain(answers: &Answers) -> Self {
                Self { $($key: answers.get(Question::$variant).map(|a| a.as_str().to_owned()),)* }
            }

            fn into_domain(self, errors: &mut FieldErrors) -> Answers {
                let mut answers = Answers::default();
                $(
                    let field = concat!("answers.", stringify!($key));
                    if let Some(text) = errors.take(LongText::parse_optional(field, self.$key.as_deref())).flatten() {
                        answers.set(Question::$variant, Patch::Value(text));
                    }
                )*
                answers
            }
        }

        impl ReviewAnswersPatch {
            fn into_domain(self, errors: &mut FieldErrors) -> Vec<(Question, Patch<LongText>)> {
                let mut changes = Vec::new();
                $(
                    let field = concat!("answers.", stringify!($key));
                    if let Some(patch) = errors.take(blank_clears(self.$key).try_map(|a| LongText::parse(field, &a))) {
                        changes.push((Question::$variant, patch));
                    }
                )*
                changes
            }
        }
    };
}
with_questions!(answer_types);

/// An empty answer clears it, as `null` does: a form that submits "" for an emptied box means that.
fn blank_clears(patch: Patch<String>) -> Patch<String> {
    match patch {
        Patch::Value(text) if text.trim().is_empty() => Patch::Null,
        other => other,
    }
}

/// Someone who took part in the review.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendeeBody {
    #[schema(max_length = 254, example = "sam@example.com")]
    pub email: String,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// Their part in the incident or the meeting, e.g. "incident handler", "legal".
    #[schema(max_length = 200)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1c3-2a4b-7c5d-8e6f-7a8b9c0d1e2f", "incident_id": "0193a1c2-7b4e-7d21-9f0a-5c3e2b1a0f9d",
    "status": "held", "scheduled_for": "2026-11-09T14:00:00Z", "held_at": "2026-11-09T14:05:00Z",
    "facilitator_email": "facilitator@example.com", "scribe_email": "sam@example.com",
    "attendees": [{"email": "dana@example.com", "name": "Dana Reyes", "role": "IT Security"}],
    "agenda": "Timeline, what went well, what to change, actions.",
    "answers": {"what_happened": "Three finance users entered credentials on a fake SSO page.",
                "do_differently": "Block newly registered domains at the proxy."},
    "created_at": "2026-11-04T10:00:00Z", "updated_at": "2026-11-09T15:00:00Z", "version": 3,
    "created_by": "facilitator@example.com", "updated_by": "sam@example.com"
}))]
pub struct ReviewResponse {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub status: ReviewStatus,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Set when the review is held or completed (stamped with the time of the change if not given).
    pub held_at: Option<DateTime<Utc>>,
    /// Runs the meeting; reminders about a review not yet held go to them.
    pub facilitator_email: Option<String>,
    pub scribe_email: Option<String>,
    pub attendees: Vec<AttendeeBody>,
    pub agenda: Option<String>,
    pub answers: ReviewAnswers,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases by one with every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl From<&Review> for ReviewResponse {
    fn from(review: &Review) -> Self {
        let f = &review.fields;
        Self {
            id: review.id,
            incident_id: review.incident_id,
            status: f.status,
            scheduled_for: f.scheduled_for,
            held_at: f.held_at,
            facilitator_email: f.facilitator_email.as_ref().map(ToString::to_string),
            scribe_email: f.scribe_email.as_ref().map(ToString::to_string),
            attendees: f
                .attendees
                .iter()
                .map(|a| AttendeeBody {
                    email: a.email.to_string(),
                    name: a.name.as_ref().map(ToString::to_string),
                    role: a.role.as_ref().map(ToString::to_string),
                })
                .collect(),
            agenda: f.agenda.as_ref().map(ToString::to_string),
            answers: ReviewAnswers::from_domain(&f.answers),
            created_at: review.created_at,
            updated_at: review.updated_at,
            version: review.version,
            created_by: review.created_by.clone(),
            updated_by: review.updated_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewList {
    /// Oldest first.
    pub items: Vec<ReviewResponse>,
}

/// A lessons-learned meeting to hold, or one already held.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "scheduled_for": "2026-11-09T14:00:00Z", "facilitator_email": "facilitator@example.com",
    "scribe_email": "sam@example.com",
    "attendees": [{"email": "dana@example.com", "name": "Dana Reyes", "role": "IT Security"}],
    "agenda": "Timeline, what went well, what to change, actions."
}))]
pub struct CreateReviewRequest {
    /// Defaults to `scheduled`.
    pub status: Option<ReviewStatus>,
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub scheduled_for: Option<String>,
    /// Only for a held or completed review; defaults to the time of the request then.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub held_at: Option<String>,
    #[schema(max_length = 254, format = Email)]
    pub facilitator_email: Option<String>,
    #[schema(max_length = 254, format = Email)]
    pub scribe_email: Option<String>,
    #[schema(max_items = 100)]
    pub attendees: Option<Vec<AttendeeBody>>,
    #[schema(max_length = 10000)]
    pub agenda: Option<String>,
    #[serde(default, deserialize_with = "extract::optional_object")]
    pub answers: Option<ReviewAnswers>,
}

/// A merge-patch (RFC 7396) of a review; `answers` is merged question by question.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "held", "answers": {"what_went_well": "The SOC contained it within four hours."}}))]
pub struct UpdateReviewRequest {
    #[serde(default)]
    #[schema(value_type = ReviewStatus)]
    pub status: Patch<ReviewStatus>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub scheduled_for: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub held_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 254, format = Email)]
    pub facilitator_email: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 254, format = Email)]
    pub scribe_email: Patch<String>,
    /// Replaces the list; `null` or `[]` empties it.
    #[serde(default)]
    #[schema(value_type = Option<Vec<AttendeeBody>>, max_items = 100)]
    pub attendees: Patch<Vec<AttendeeBody>>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub agenda: Patch<String>,
    #[serde(default, deserialize_with = "extract::optional_object")]
    pub answers: Option<ReviewAnswersPatch>,
}

fn email(field: &str, raw: Option<&str>) -> Result<Option<EmailAddress>, FieldError> {
    raw.map(|r| EmailAddress::parse(field, r)).transpose()
}

fn attendees(errors: &mut FieldErrors, raw: Vec<AttendeeBody>) -> Option<Attendees> {
    if raw.len() > Attendees::MAX {
        errors.push(FieldError::new("attendees", format!("must list at most {} people", Attendees::MAX)));
        return None;
    }
    let parsed: Vec<Option<Attendee>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let email = errors.take(EmailAddress::parse(&format!("attendees[{i}].email"), &a.email));
            let name = errors.take(ShortText::parse_optional(&format!("attendees[{i}].name"), a.name.as_deref()));
            let role = errors.take(ShortText::parse_optional(&format!("attendees[{i}].role"), a.role.as_deref()));
            Some(Attendee { email: email?, name: name?, role: role? })
        })
        .collect();
    let parsed: Option<Vec<Attendee>> = parsed.into_iter().collect();
    errors.take(Attendees::new("attendees", parsed?))
}

impl TryFrom<CreateReviewRequest> for ReviewFields {
    type Error = FieldErrors;

    fn try_from(body: CreateReviewRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let facilitator_email = errors.take(email("facilitator_email", body.facilitator_email.as_deref()));
        let scribe_email = errors.take(email("scribe_email", body.scribe_email.as_deref()));
        let attendees = attendees(&mut errors, body.attendees.unwrap_or_default());
        let agenda = errors.take(LongText::parse_optional("agenda", body.agenda.as_deref()));
        let answers = body.answers.unwrap_or_default().into_domain(&mut errors);
        let scheduled_for =
            errors.take(body.scheduled_for.as_deref().map(|t| parse_instant_text("scheduled_for", t)).transpose());
        let held_at = errors.take(body.held_at.as_deref().map(|t| parse_instant_text("held_at", t)).transpose());
        let fields = || {
            Some(ReviewFields {
                status: body.status.unwrap_or_default(),
                scheduled_for: scheduled_for?,
                held_at: held_at?,
                facilitator_email: facilitator_email?,
                scribe_email: scribe_email?,
                attendees: attendees?,
                agenda: agenda?,
                answers,
            })
        };
        errors.check(fields())
    }
}

impl TryFrom<UpdateReviewRequest> for ReviewPatch {
    type Error = FieldErrors;

    fn try_from(body: UpdateReviewRequest) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let attendees = match body.attendees {
            Patch::Absent => None,
            Patch::Null => Some(Attendees::default()),
            Patch::Value(raw) => attendees(&mut errors, raw),
        };
        let patch = ReviewPatch {
            status: errors.take(required("status", body.status)).flatten(),
            scheduled_for: errors
                .take(body.scheduled_for.try_map(|t| parse_instant_text("scheduled_for", &t)))
                .unwrap_or_default(),
            held_at: errors.take(body.held_at.try_map(|t| parse_instant_text("held_at", &t))).unwrap_or_default(),
            facilitator_email: errors
                .take(body.facilitator_email.try_map(|e| EmailAddress::parse("facilitator_email", &e)))
                .unwrap_or_default(),
            scribe_email: errors
                .take(body.scribe_email.try_map(|e| EmailAddress::parse("scribe_email", &e)))
                .unwrap_or_default(),
            attendees,
            agenda: errors.take(body.agenda.try_map(|t| LongText::parse("agenda", &t))).unwrap_or_default(),
            answers: body.answers.map(|a| a.into_domain(&mut errors)).unwrap_or_default(),
        };
        errors.into_result().map(|()| patch)
    }
}

fn review_resource(
    state: &AppState,
    req: &HttpRequest,
    builder: actix_web::HttpResponseBuilder,
    review: &Review,
) -> HttpResponse {
    resource(req, builder, &ReviewResponse::from(review), entity_tag(review.version, state.today()))
}

fn not_found(id: Uuid) -> impl FnOnce() -> String {
    move || format!("review with id {id}")
}

/// Registers this feature's routes with their spec entries.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(create).service(list).service(get).service(update);
}

/// Plan a lessons-learned review of an incident, or record one already held. Needs the editor role.
#[utoipa::path(
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CreateReviewRequest,
    responses(
        (status = 201, description = "Created", body = ReviewResponse, headers(
            ("Location" = String, description = "URL of the new review"),
            ("ETag" = String, description = "Entity tag of the new review"))),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The incident has the most reviews allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/incidents/{id}/reviews")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<CreateReviewRequest>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let incident_id = id.into_inner();
    let fields = body.parse(ReviewFields::try_from)?;
    if let Some(replay) = idempotency.begin(&state, &principal).await? {
        return Ok(replay);
    }
    let review = db::reviews::create(&state.db, incident_id, fields, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, || format!("incident with id {incident_id}")))?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/v1/reviews/{}", review.id)));
    Ok(review_resource(&state, &req, created, &review))
}

/// The reviews of an incident, oldest first. Needs the viewer role.
#[utoipa::path(
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident's reviews", body = ReviewList),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/incidents/{id}/reviews")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let incident_id = id.into_inner();
    common::incident_collection(
        &state,
        &req,
        incident_id,
        db::reviews::for_incident(&state.db, incident_id),
        |reviews| ReviewList { items: reviews.iter().map(ReviewResponse::from).collect() },
    )
    .await
}

/// Fetch one review. Needs the viewer role.
#[utoipa::path(
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"),
           ("If-None-Match" = Option<String>, Header, description = "Entity tag of the copy the client has")),
    responses(
        (status = 200, description = "The review", body = ReviewResponse, headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reviews/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn get(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Viewer)?;
    let id = id.into_inner();
    let review = db::reviews::find(&state.db, id).await.map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(review_resource(&state, &req, HttpResponse::Ok(), &review))
}

/// Change a review (JSON merge-patch): hold it, record who came, answer the questions. Moving it to held
/// or completed stamps `held_at` if it is not set. Needs the editor role.
#[utoipa::path(
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id"),
           ("If-Match" = Option<String>, Header, description = "Only change it if this is still its entity tag")),
    request_body(content = UpdateReviewRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed review", body = ReviewResponse, headers(("ETag" = String, description = "New entity tag"))),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/reviews/{id}")]
#[tracing::instrument(skip_all, fields(request_id = %crate::api::middleware::current_request_id()))]
pub async fn update(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    access::require(&principal, Role::Editor)?;
    let id = id.into_inner();
    let patch = body.parse(ReviewPatch::try_from)?;
    let review = db::reviews::update(&state.db, id, if_match_versions(&req), patch, access::change_context(&principal))
        .await
        .map_err(|e| ApiError::from_store(e, not_found(id)))?;
    Ok(review_resource(&state, &req, HttpResponse::Ok(), &review))
}
