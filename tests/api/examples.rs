//! The spec's examples are what the server takes. Swagger UI's "Try it out" pre-fills a request with its
//! example and client authors copy them, so each example must be valid against its own schema (checked
//! by a JSON Schema 2020-12 validator, the dialect of OpenAPI 3.1) and each request example must be
//! answered 2xx when sent as it is to its operation.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::{TestApp, id, spawn_app};

/// One `example` and the schema it illustrates, with where it stands in the spec.
struct Example {
    place: String,
    value: Value,
    schema: Value,
}

fn spec() -> Value {
    serde_json::to_value(action_tracker::api::openapi()).unwrap()
}

/// Every example in the spec: of component schemas and their properties, of parameters, and of request
/// and response bodies.
fn examples(spec: &Value) -> Vec<Example> {
    let mut found = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        schema_examples(&format!("components.schemas.{name}"), schema, &mut found);
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for parameter in item["parameters"].as_array().into_iter().flatten() {
            parameter_examples(
                &format!("{path} parameter {}", parameter["name"].as_str().unwrap()),
                parameter,
                &mut found,
            );
        }
        for (method, operation) in item.as_object().unwrap().iter().filter(|(key, _)| *key != "parameters") {
            let place = format!("{} {path}", method.to_uppercase());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                parameter_examples(
                    &format!("{place} parameter {}", parameter["name"].as_str().unwrap()),
                    parameter,
                    &mut found,
                );
            }
            let bodies = operation["requestBody"]["content"].as_object().into_iter().flatten();
            let responses = operation["responses"].as_object().into_iter().flatten().flat_map(|(status, response)| {
                response["content"].as_object().into_iter().flatten().map(move |c| (status, c))
            });
            for (at, (media, content)) in
                bodies.map(|c| ("request".to_owned(), c)).chain(responses.map(|(s, c)| (format!("response {s}"), c)))
            {
                parameter_examples(&format!("{place} {at} {media}"), content, &mut found);
            }
        }
    }
    found
}

/// The examples of a parameter or a media type (`example`, `examples`), and those inside its schema.
fn parameter_examples(place: &str, holder: &Value, found: &mut Vec<Example>) {
    let schema = &holder["schema"];
    if let Some(value) = holder.get("example") {
        found.push(Example { place: place.to_owned(), value: value.clone(), schema: schema.clone() });
    }
    for (name, example) in holder["examples"].as_object().into_iter().flatten() {
        let value = example["value"].clone();
        found.push(Example { place: format!("{place} examples.{name}"), value, schema: schema.clone() });
    }
    schema_examples(&format!("{place} schema"), schema, found);
}

fn schema_examples(place: &str, schema: &Value, found: &mut Vec<Example>) {
    let Some(object) = schema.as_object() else { return };
    if let Some(value) = object.get("example") {
        found.push(Example { place: place.to_owned(), value: value.clone(), schema: schema.clone() });
    }
    for (n, value) in object.get("examples").and_then(Value::as_array).into_iter().flatten().enumerate() {
        found.push(Example { place: format!("{place}.examples[{n}]"), value: value.clone(), schema: schema.clone() });
    }
    for (name, property) in object.get("properties").and_then(Value::as_object).into_iter().flatten() {
        schema_examples(&format!("{place}.{name}"), property, found);
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(inner) = object.get(keyword) {
            schema_examples(&format!("{place}.{keyword}"), inner, found);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        for (n, inner) in object.get(keyword).and_then(Value::as_array).into_iter().flatten().enumerate() {
            schema_examples(&format!("{place}.{keyword}[{n}]"), inner, found);
        }
    }
}

/// What is wrong with `example` against its schema, whose `$ref`s point into the spec's components.
fn violations(spec: &Value, example: &Example) -> Vec<String> {
    let mut schema = match &example.schema {
        Value::Object(schema) => schema.clone(),
        Value::Bool(true) | Value::Null => return Vec::new(),
        other => panic!("{}: the schema is {other}", example.place),
    };
    schema.insert("components".into(), spec["components"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(schema))
        .unwrap_or_else(|e| panic!("{}: the schema does not compile: {e}", example.place));
    validator
        .iter_errors(&example.value)
        .map(|error| format!("{} at {:?}", error, error.instance_path().as_str()))
        .collect()
}

#[test]
fn every_example_in_the_spec_is_valid_against_its_schema() {
    let spec = spec();
    let examples = examples(&spec);
    let places: Vec<&str> = examples.iter().map(|example| example.place.as_str()).collect();
    for expected in [
        "components.schemas.CreateActionInIncidentRequest",
        "components.schemas.CreateActionInReviewRequest",
        "components.schemas.PutPersonRequest.timezone",
        "GET /api/v1/actions parameter sort",
    ] {
        assert!(places.contains(&expected), "no example at {expected}; found {places:#?}");
    }
    let failures: Vec<String> = examples
        .iter()
        .flat_map(|example| violations(&spec, example).into_iter().map(|v| format!("{}: {v}", example.place)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples are invalid:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}

/// The JSON request bodies, each with the example Swagger UI pre-fills: the media type's own, or else
/// its schema's.
fn request_examples(spec: &Value) -> Vec<(Method, String, String, Option<Value>)> {
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => spec["components"]["schemas"][name].clone(),
            None => schema.clone(),
        }
    };
    let mut requests = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (media, content) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
                if !media.ends_with("json") {
                    continue; // The one-click page's form is posted by a browser, not from an example.
                }
                let example =
                    content.get("example").cloned().or_else(|| resolve(&content["schema"]).get("example").cloned());
                requests.push((method.to_uppercase().parse().unwrap(), path.clone(), media.clone(), example));
            }
        }
    }
    requests
}

/// What a request example needs to exist first, made through the API: an incident, an action in it
/// (done, so it can be verified by someone other than its owner), a review, a timeline entry, an item of evidence and an effort entry for the
/// path, and another incident for the examples that name one in the body. Another, as in Swagger UI:
/// the path is filled in by hand, the body is the example as it is, so a body that repeats the path's
/// incident would contradict it.
struct Fixtures {
    incident: String,
    named_incident: String,
    action: String,
    review: String,
    timeline_entry: String,
    indicator: String,
    evidence: String,
    effort_entry: String,
}

impl Fixtures {
    async fn create(app: &TestApp) -> Self {
        let incident = id(&app
            .create_incident(json!({"detected_at": "2026-11-02T08:15:00Z", "contained_at": "2026-11-02T11:40:00Z"}))
            .await);
        let action = id(&app.create_action(&incident, json!({"status": "done", "resolution": "Keys issued"})).await);
        let review = id(&app.create_review(&incident, json!({})).await);
        let timeline_entry =
            id(&app.create_timeline_entry(&incident, json!({"occurred_at": "2026-11-02T08:15:00Z"})).await);
        let evidence = id(&app.create_evidence(&incident, json!({"collected_at": "2026-11-02T10:30:00Z"})).await);
        let effort = json!({"person": "dana@example.com", "phase": "analysis", "minutes": 30});
        let effort_entry: Value =
            app.post(&format!("/api/v1/incidents/{incident}/effort"), &effort).await.json().await.unwrap();
        let effort_entry = id(&effort_entry);
        let named_incident = id(&app.create_incident(json!({"title": "Named by the examples"})).await);
        let indicator_body = json!({"type": "sha256", "value": "e".repeat(64)});
        let indicator: Value =
            app.post(&format!("/api/v1/incidents/{incident}/indicators"), &indicator_body).await.json().await.unwrap();
        let indicator = id(&indicator);
        Self { incident, named_incident, action, review, timeline_entry, indicator, evidence, effort_entry }
    }

    /// `path` with each parameter filled in: an `{id}` is the fixture its preceding segment names.
    fn fill(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let filled: Vec<&str> = segments
            .iter()
            .enumerate()
            .map(|(n, segment)| match (*segment, n.checked_sub(1).map(|p| segments[p])) {
                ("{id}", Some("incidents")) => self.incident.as_str(),
                ("{id}", Some("actions")) => self.action.as_str(),
                ("{id}", Some("reviews")) => self.review.as_str(),
                ("{id}", Some("timeline")) => self.timeline_entry.as_str(),
                ("{id}", Some("indicators")) => self.indicator.as_str(),
                ("{id}", Some("evidence")) => self.evidence.as_str(),
                ("{id}", Some("effort")) => self.effort_entry.as_str(),
                ("{email}", _) => "dana@example.com",
                ("{system}", _) => "jira",
                ("{key}", _) => "SEC-123",
                (parameter, _) if parameter.starts_with('{') => panic!("no fixture for {parameter} in {path}"),
                (literal, _) => literal,
            })
            .collect();
        filled.join("/")
    }
}

/// Replaces every string equal to `from` inside `value` with `to`.
fn replace(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) if text == from => *text = to.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|item| replace(item, from, to)),
        Value::Object(members) => members.values_mut().for_each(|member| replace(member, from, to)),
        _ => {}
    }
}

#[tokio::test]
async fn every_request_example_is_accepted_by_its_operation() {
    let spec = spec();
    let requests = request_examples(&spec);
    assert!(requests.len() >= 15, "only {} JSON request bodies found", requests.len());
    let missing: Vec<String> =
        requests.iter().filter(|(.., example)| example.is_none()).map(|(m, path, ..)| format!("{m} {path}")).collect();
    assert!(missing.is_empty(), "request bodies without an example: {missing:?}");

    let app = spawn_app().await;
    let fixtures = Fixtures::create(&app).await;
    // Examples name the incident of the IncidentResponse example; here that is `named_incident`.
    let example_incident = spec["components"]["schemas"]["IncidentResponse"]["example"]["id"].as_str().unwrap();
    let mut refused = Vec::new();
    for (method, path, media, example) in requests {
        let mut body = example.unwrap_or(Value::Object(Map::new()));
        replace(&mut body, example_incident, &fixtures.named_incident);
        let response = app
            .builder(method.clone(), &fixtures.fill(&path))
            .header("content-type", &media)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        if !status.is_success() {
            refused.push(format!("{method} {path} {body}\n  -> {status} {}", response.text().await.unwrap()));
        }
    }
    assert!(refused.is_empty(), "request examples refused:\n{}", refused.join("\n"));
}
