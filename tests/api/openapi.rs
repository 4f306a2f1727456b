//! The committed spec is the contract ticketing systems integrate against: it must be what the code serves.

use serde_json::Value;

use crate::helpers::spawn_app;

const REGENERATE: &str = "regenerate it with: cargo run -- openapi > openapi/openapi.json";

fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}; {REGENERATE}"));
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

#[test]
fn the_committed_spec_is_what_the_code_generates() {
    let generated = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    assert!(generated == committed(), "openapi/openapi.json is stale; {REGENERATE}");
}

#[tokio::test]
async fn the_server_serves_the_committed_spec_and_its_docs() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert!(served == committed(), "GET /openapi.json differs from openapi/openapi.json; {REGENERATE}");

    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    // Swagger UI loads the document the server serves, from the same origin.
    let initializer = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(
        initializer.contains(r#""url": "/openapi.json""#) || initializer.contains(r#""url":"/openapi.json""#),
        "{initializer}"
    );
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.url().path(), "/docs/");
}

#[test]
fn every_operation_is_documented_with_its_errors() {
    let spec = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    assert_eq!(spec["openapi"].as_str().unwrap().get(..3), Some("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, operations) in paths {
        let methods = ["get", "put", "post", "patch", "delete"];
        for (method, operation) in operations.as_object().unwrap().iter().filter(|(m, _)| methods.contains(&m.as_str()))
        {
            assert!(
                operation["responses"].as_object().unwrap().values().all(|r| r["headers"]["X-Request-Id"].is_object())
            );
            let name = format!("{} {path}", method.to_uppercase());
            // Client generators and OpenAPI links find operations by id.
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(operation_ids.insert(id.to_owned()), "{name} shares the operationId {id:?}");
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{name} has no description"
            );
            let responses = operation["responses"].as_object().unwrap();
            if path.starts_with("/api/") {
                assert!(responses.contains_key("503"), "{name} does not document 503");
                if path.contains("{id}") {
                    assert!(responses.contains_key("404"), "{name} does not document 404");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(responses.contains_key(status), "{name} does not document {status}");
                    }
                }
            }
        }
    }
}

/// Where the server refuses blank text (a merge-patch, the upsert by ticket), the spec says so; where
/// blank means "nothing" (optional text when creating, a review answer) it allows it.
#[test]
fn the_spec_says_where_blank_text_is_refused() {
    let spec = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    let pattern = |schema: &str, property: &str| {
        spec["components"]["schemas"][schema]["properties"][property]["pattern"].as_str().unwrap_or_default().to_owned()
    };
    let refuses_blank = |pattern: &str| pattern.contains("[^\\s");
    for (schema, property) in [
        ("UpdateActionRequest", "due_date_change_reason"),
        ("UpdateReviewRequest", "agenda"),
        ("UpsertActionRequest", "description"),
        ("UpsertActionRequest", "due_date_change_reason"),
    ] {
        assert!(refuses_blank(&pattern(schema, property)), "{schema}.{property}: {}", pattern(schema, property));
    }
    for (schema, property) in [("CreateActionRequest", "description"), ("ReviewAnswersPatch", "when")] {
        let pattern = pattern(schema, property);
        assert!(!pattern.is_empty() && !refuses_blank(&pattern), "{schema}.{property}: {pattern}");
    }
}

/// Client generators turn enum values into identifiers; values that differ only in punctuation or case
/// (the time zones `GMT0`, `GMT+0` and `GMT-0` did) become one name and the generator gives up.
#[test]
fn no_enum_has_values_that_collide_as_identifiers() {
    fn walk(place: &str, value: &Value, collisions: &mut Vec<String>) {
        match value {
            Value::Object(members) => {
                if let Some(Value::Array(values)) = members.get("enum") {
                    let mut seen = std::collections::HashMap::new();
                    for text in values.iter().filter_map(Value::as_str) {
                        let identifier: String =
                            text.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
                        if let Some(earlier) = seen.insert(identifier, text) {
                            collisions.push(format!("{place}: {earlier:?} and {text:?}"));
                        }
                    }
                }
                for (name, member) in
                    members.iter().filter(|(name, _)| !["enum", "example", "examples"].contains(&name.as_str()))
                {
                    walk(&format!("{place}/{name}"), member, collisions);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(place, item, collisions)),
            _ => {}
        }
    }
    let mut collisions = Vec::new();
    walk("#", &serde_json::to_value(action_tracker::api::openapi()).unwrap(), &mut collisions);
    assert!(collisions.is_empty(), "{collisions:#?}");
}

/// A time zone is published as an IANA name in a string, as most APIs do; the server still refuses a
/// name that is not one (tests/api/people.rs).
#[test]
fn a_time_zone_is_a_string_with_a_description_and_an_example() {
    let spec = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    let timezone = &spec["components"]["schemas"]["PutPersonRequest"]["properties"]["timezone"];
    assert!(timezone.get("enum").is_none(), "{timezone}");
    assert_eq!(timezone["type"], serde_json::json!(["string", "null"]));
    assert!(timezone["description"].as_str().unwrap().contains("IANA"), "{timezone}");
    assert_eq!(timezone["example"], "Europe/Berlin");
}

/// Linters and scanners read these: every operation says how it is authorised (`security: []` where no
/// token is needed), and the spec names its server relative to wherever it is served from, so Swagger
/// UI and generated clients reach any deployment.
#[tokio::test]
async fn every_operation_says_how_it_is_authorised_and_the_spec_names_its_server() {
    let spec = serde_json::to_value(action_tracker::api::openapi()).unwrap();
    assert_eq!(spec["servers"][0]["url"], "/");
    let mut public = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap().iter().filter(|(key, _)| *key != "parameters") {
            let security = operation["security"].as_array();
            let name = format!("{} {path}", method.to_uppercase());
            assert!(security.is_some(), "{name} does not declare its security");
            if security.is_some_and(Vec::is_empty) {
                public.push(name);
            }
        }
    }
    assert_eq!(public, ["GET /a/{token}", "POST /a/{token}", "GET /healthz", "GET /readyz"]);
    let metrics: Vec<&str> = spec["paths"]["/metrics"]["get"]["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|requirement| requirement.as_object().unwrap().keys().map(String::as_str))
        .collect();
    assert_eq!(metrics, ["metricsToken", "bearerAuth"]);

    // What the spec says public is answered without a token; what it says is not, is refused.
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.request_as(None, reqwest::Method::GET, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = app.request_as(None, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(metrics.status(), 401);
}
