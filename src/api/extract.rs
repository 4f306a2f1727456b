//! Reading requests: JSON bodies, query strings, path ids and conditional-request headers, each turned
//! into an `ApiError` with the right status when it cannot be read.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PathError, PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{Bytes, PathConfig, PayloadConfig, QueryConfig};
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::error::ApiError;
use crate::domain::{FieldError, FieldErrors, Patch};

/// Largest request body accepted (1 MiB); larger ones are answered 413 without being read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body. Accepts `application/json`, `application/merge-patch+json` and other `+json`
/// types; unknown members are refused by the target types themselves (`deny_unknown_fields`).
///
/// Members whose JSON cannot be read as their type (`"due_date": 5`, an unknown member) are collected
/// rather than ending the reading, and the body is reachable only through [`ApiJson::parse`], which adds
/// them to what the conversion into domain types finds: a client learns about every bad field at once.
pub struct ApiJson<T> {
    body: T,
    unreadable: FieldErrors,
}

impl<T> ApiJson<T> {
    /// The body as domain values, or every field error: the unreadable members and the conversion's.
    /// An unreadable member was left out of the body, so the conversion may also find it missing; it
    /// is reported once, as unreadable.
    pub fn parse<U, E: Into<FieldErrors>>(self, convert: impl FnOnce(T) -> Result<U, E>) -> Result<U, ApiError> {
        let mut errors = self.unreadable;
        match convert(self.body) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => {}
            Err(found) => {
                let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                for error in found.into().iter().filter(|e| !reported.contains(&e.field)) {
                    errors.push(error.clone());
                }
            }
        }
        Err(ApiError::Validation(errors))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
            })
            .unwrap_or(false);
        let too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|length| length > MAX_BODY_BYTES);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if too_large {
                return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
            }
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as application/json (or application/merge-patch+json for PATCH)".into(),
                ));
            }
            let bytes = body.await.map_err(|error| match error.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES },
                _ => ApiError::BadRequest("the request body could not be read".into()),
            })?;
            let (body, unreadable) = parse_json(&bytes)?;
            Ok(ApiJson { body, unreadable })
        })
    }
}

/// serde reads a struct from a JSON array as well as from an object (its members by position), so
/// `{"answers": [null, null]}` would pass for answers. The request body itself is checked in `parse_json`;
/// a member whose own members are all optional (where an array would quietly pass for an empty object)
/// is read with this. The object is read in place, so an error inside it names its own member
/// (`impact.cost.amount`), not the object.
pub fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct ObjectOrNull<T>(std::marker::PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectOrNull<T> {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an object or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_option(ObjectOrNull(std::marker::PhantomData))
}

/// `optional_object` for a merge-patch member: `null` clears, an object (never an array) is merged.
pub fn patch_object<'de, D, T>(deserializer: D) -> Result<Patch<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(optional_object(deserializer)?.map_or(Patch::Null, Patch::Value))
}

/// A merge-patch member that is a whole number. JSON Schema's `integer` takes `1.0` as well as `1`, and
/// so do JavaScript clients that cannot tell them apart; a fraction is refused.
pub fn patch_whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Patch<i64>, D::Error> {
    struct WholeNumber;

    impl<'de> serde::de::Visitor<'de> for WholeNumber {
        type Value = Patch<i64>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a whole number or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Patch::Null)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Patch::Null)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(Patch::Value(value))
        }

        // Beyond i64 is beyond every limit; the domain's range check names the field.
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Patch::Value(i64::try_from(value).unwrap_or(i64::MAX)))
        }

        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
            // Whole and within ±2^63: the cast is exact there.
            if value.fract() == 0.0 && value.abs() < 9.2e18 {
                Ok(Patch::Value(value as i64))
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_option(WholeNumber)
}

/// Syntax errors are the client's malformed JSON (400). Well-formed JSON of the wrong shape is read
/// again member by member: each member that cannot be read as its type is named with serde's reason and
/// left out, until the rest reads (the body, with the errors for [`ApiJson::parse`] to report) or a
/// member that is required is missing (422 with every error found so far).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, FieldErrors), ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|first| *first == b'[') {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let first = match serde_path_to_error::deserialize(deserializer) {
        Ok(body) => return Ok((body, FieldErrors::new())),
        Err(error) if error.inner().classify() == serde_json::error::Category::Data => error,
        Err(error) => {
            return Err(ApiError::BadRequest(format!("the request body is not valid JSON: {}", error.into_inner())));
        }
    };
    let mut errors = FieldErrors::new();
    // Read from the document again, so the errors come in one order; what only the text shows (a member
    // given twice, which the document keeps once) is the first error alone.
    let reread = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|value| serde_path_to_error::deserialize::<_, T>(&value).err().map(|error| (value, error)));
    let Some((mut value, mut error)) = reread else {
        errors.push(member_error(&first).0);
        return Err(ApiError::Validation(errors));
    };
    let mut left_out: Vec<String> = Vec::new();
    // Each round leaves out one member, so a body cannot hold more rounds than it has members.
    for _ in 0..MAX_UNREADABLE_MEMBERS {
        let (found, member) = member_error(&error);
        let missing_because_left_out = left_out.contains(&found.field);
        if !missing_because_left_out {
            errors.push(found.clone());
        }
        // A missing member leaves out the member around it (the list holding its item, or its object), so
        // the rest of the body is still read and its errors named too.
        let member = match member {
            Some(member) if !missing_because_left_out => Some(member),
            Some(_) => None,
            None => enclosing_member(&error),
        };
        let Some(member) = member else { break };
        if !leave_out(&mut value, &member) {
            break;
        }
        // The member left out, which may hold the item at fault (`tags` for `tags[1]`): what a later
        // "missing field" about it means.
        left_out.push(field_of(&member));
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(body) => return Ok((body, errors)),
            Err(next) => error = next,
        }
    }
    Err(ApiError::Validation(errors))
}

/// The object member at `error`'s path, or the one holding the list whose item it is:
/// `impact.affected_systems` for `impact.affected_systems[0]`; none at the top of the body.
fn enclosing_member(error: &serde_path_to_error::Error<serde_json::Error>) -> Option<Vec<Segment>> {
    let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
    while matches!(segments.last(), Some(Segment::Seq { .. })) {
        segments.pop();
    }
    matches!(segments.last(), Some(Segment::Map { .. })).then_some(segments)
}

/// More unreadable members than this are not looked for: the client has enough to fix.
const MAX_UNREADABLE_MEMBERS: usize = 50;

/// The field error a serde error stands for, and the object member to leave out to read on: the member
/// at fault, or the one holding the list whose item is (its other items' positions must not shift). A
/// missing member has nothing to leave out.
fn member_error(error: &serde_path_to_error::Error<serde_json::Error>) -> (FieldError, Option<Vec<Segment>>) {
    let path = error.path().to_string();
    let message = strip_position(&error.inner().to_string());
    // A missing member is reported at its parent; name the member itself.
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`'));
    let field = match (missing, path.as_str()) {
        (Some(member), ".") => member.to_owned(),
        (Some(member), parent) => format!("{parent}.{member}"),
        (None, ".") => "body".to_owned(),
        (None, _) => path,
    };
    let member = if missing.is_none() { enclosing_member(error) } else { None };
    (FieldError::new(field, message), member)
}

/// A member's path as errors name fields: `actions[1].owner_email`.
fn field_of(path: &[Segment]) -> String {
    let mut field = String::new();
    for segment in path {
        match segment {
            Segment::Map { key } if field.is_empty() => field.push_str(key),
            Segment::Map { key } => field.push_str(&format!(".{key}")),
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Enum { variant } => field.push_str(&format!(".{variant}")),
            Segment::Unknown => field.push_str(".?"),
        }
    }
    field
}

/// Removes the member at `path` (ending in an object key); false when the path leads nowhere.
fn leave_out(value: &mut serde_json::Value, path: &[Segment]) -> bool {
    let Some((Segment::Map { key }, parents)) = path.split_last() else { return false };
    let mut node = value;
    for segment in parents {
        let next = match segment {
            Segment::Map { key } => node.get_mut(key.as_str()),
            Segment::Seq { index } => node.get_mut(*index),
            Segment::Enum { .. } | Segment::Unknown => None,
        };
        let Some(next) = next else { return false };
        node = next;
    }
    node.as_object_mut().and_then(|object| object.remove(key)).is_some()
}

// serde_json appends " at line 1 column 42" to data errors; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Body and extractor limits and error mappings for the whole app.
pub fn payload_config() -> PayloadConfig {
    PayloadConfig::new(MAX_BODY_BYTES)
}

pub fn query_config() -> QueryConfig {
    QueryConfig::default().error_handler(|error, _| {
        let detail = match &error {
            QueryPayloadError::Deserialize(inner) => format!("invalid query string: {inner}"),
            other => format!("invalid query string: {other}"),
        };
        ApiError::BadRequest(detail).into()
    })
}

pub fn form_config() -> actix_web::web::FormConfig {
    actix_web::web::FormConfig::default()
        .limit(64 * 1024)
        .error_handler(|error, _| ApiError::BadRequest(format!("invalid form: {error}")).into())
}

/// An id that does not parse cannot name anything that exists.
pub fn path_config() -> PathConfig {
    PathConfig::default().error_handler(|error: PathError, req| {
        let _ = error;
        ApiError::NotFound(format!("nothing exists at {}", req.path())).into()
    })
}

/// The strong entity tag of a resource: its version, and the day its computed fields (such as
/// `overdue`) were computed for, so a cached copy is not reused once those could have changed.
pub fn entity_tag(version: i64, today: chrono::NaiveDate) -> String {
    entity_tag_with(version, today, "")
}

/// The entity tag of a resource whose computed fields also depend on other rows; `extra` tells those
/// states apart (an incident's review being held changes its `review_overdue`, not its version).
pub fn entity_tag_with(version: i64, today: chrono::NaiveDate, extra: &str) -> String {
    format!("\"{version}-{}{extra}\"", today.format("%Y%m%d"))
}

/// The versions an `If-Match` header accepts: `None` when absent, empty or `*` (any current version).
/// Matching is on the version part, so a tag from yesterday still guards against lost updates.
/// A header naming no tag of ours, or one that is not even text, yields an empty list, which matches
/// nothing: a condition the client sent must never turn into no condition.
pub fn if_match_versions(req: &HttpRequest) -> Option<Vec<i64>> {
    let Ok(value) = req.headers().get(header::IF_MATCH)?.to_str() else {
        return Some(Vec::new());
    };
    let value = value.trim();
    if value == "*" || value.is_empty() {
        return None;
    }
    Some(
        value
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.starts_with("W/"))
            .filter_map(|tag| tag.strip_prefix('"')?.strip_suffix('"')?.split('-').next()?.parse().ok())
            .collect(),
    )
}

/// True when `If-None-Match` names `etag` (or `*`), so the client's copy is current.
pub fn none_match_hits(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // If-None-Match uses weak comparison: W/"x" matches "x".
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_match_reads_versions_and_ignores_weak_tags() {
        let req = TestRequest::default()
            .insert_header((header::IF_MATCH, "\"3-20261123\", W/\"4-20261123\""))
            .to_http_request();
        assert_eq!(if_match_versions(&req), Some(vec![3]));
        let any = TestRequest::default().insert_header((header::IF_MATCH, "*")).to_http_request();
        assert_eq!(if_match_versions(&any), None);
        let junk = TestRequest::default().insert_header((header::IF_MATCH, "nonsense")).to_http_request();
        assert_eq!(if_match_versions(&junk), Some(vec![]));
        let unreadable = TestRequest::default()
            .insert_header((header::IF_MATCH, header::HeaderValue::from_bytes(b"\"3-\xff\"").unwrap()))
            .to_http_request();
        assert_eq!(if_match_versions(&unreadable), Some(vec![]), "a header that is not text matches nothing");
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            title: String,
        }
        match parse_json::<Body>(br#"{"title": 5}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.iter().next().unwrap().field, "title"),
            other => panic!("{:?}", other.map(|(_, errors)| errors)),
        }
        assert!(matches!(parse_json::<Body>(b"{\"title\":"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn every_unreadable_member_is_named_and_the_rest_is_read() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Item {
            name: String,
            count: Option<u32>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            title: String,
            priority: Option<u8>,
            tags: Option<Vec<String>>,
            items: Vec<Item>,
        }
        let fields = |errors: &FieldErrors| errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>();
        let body = br#"{"title": "t", "priority": "high", "tags": ["a", 5], "id": 1,
                        "items": [{"name": "x"}, {"name": "y", "count": -1}]}"#;
        let (read, unreadable) = parse_json::<Body>(body).unwrap();
        let mut named = fields(&unreadable);
        named.sort();
        assert_eq!(named, ["id", "items[1].count", "priority", "tags[1]"]);
        assert_eq!((read.title.as_str(), read.priority, read.tags, read.items.len()), ("t", None, None, 2));

        // A required member that cannot be read ends the reading, with every error found until then.
        match parse_json::<Body>(br#"{"title": 5, "priority": "high", "items": []}"#) {
            Err(ApiError::Validation(errors)) => {
                let mut named = fields(&errors);
                named.sort();
                assert_eq!(named, ["priority", "title"]);
            }
            other => panic!("{:?}", other.map(|(_, errors)| errors)),
        }
        // A bad item of a required list is named once, not also as the list missing.
        match parse_json::<Body>(br#"{"title": "t", "items": [{"name": "x"}, 5]}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(fields(&errors), ["items[1]"]),
            other => panic!("{:?}", other.map(|(_, errors)| errors)),
        }
        match parse_json::<Body>(br#"{"priority": 300}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(fields(&errors), ["priority", "title"]),
            other => panic!("{:?}", other.map(|(_, errors)| errors)),
        }
    }
}
