"""Schemathesis hooks for .ci/fuzz: test data that the spec is right about but JSON Schema cannot say.

Only requests generated as valid (positive mode) are touched, and only where a schema-valid value is
still meant to be refused by design, so `positive_data_acceptance` keeps judging everything else:

- `Idempotency-Key` must be new for a new request: the same key with another body is refused (422,
  `idempotency_key_reused`) as the IETF draft requires. Generated keys repeat across requests, so each
  valid request gets a fresh one.
- `If-Match` must name the resource's current `ETag`; any other tag is a lost update (412). Generated
  tags never are, so valid requests are sent unconditionally (a conditional request is tested in
  tests/api/conditional.rs).
- `cursor` (lists) and `after` (the change feed) must be values a previous page handed out; a made-up
  one is refused (422). Valid requests start from the first page.

- Rules across fields, which JSON Schema cannot state: an incident is contained and resolved after it
  was detected; a review has `held_at` only once held; `as_of` is only for a dry run; a ticket is
  named by `external_system` and `external_key` together. Valid requests leave out the member that
  would break the rule.
- Ids that must exist: `incident_id` in an action's body names an incident the hooks created, and a
  made-up `review_id` (which must belong to the action's incident) is left out.

Invalid (negative) requests are sent as generated, so malformed keys, tags and cursors are still
checked to be refused.
"""

import json
import os
import urllib.request
import uuid

import schemathesis

_incident_id = None


def _an_incident():
    """An incident that exists, made once per run through the API itself."""
    global _incident_id
    if _incident_id is None:
        request = urllib.request.Request(
            os.environ["FUZZ_BASE_URL"] + "/api/v1/incidents",
            data=json.dumps({"title": "Fuzzing fixture", "severity": "low"}).encode(),
            headers={"Authorization": "Bearer " + os.environ["FUZZ_TOKEN"], "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:
            _incident_id = json.load(response)["id"]
    return _incident_id


def _obey_cross_field_rules(method, path, case):
    body = case.body if isinstance(case.body, dict) else None
    if body is not None:
        if path == "/api/v1/incidents" and method == "POST":
            body.pop("contained_at", None)
            body.pop("resolved_at", None)
        elif path == "/api/v1/incidents/{id}" and method == "PATCH":
            for name in ("detected_at", "contained_at", "resolved_at"):
                body.pop(name, None)
        elif path in ("/api/v1/incidents/{id}/reviews", "/api/v1/reviews/{id}"):
            if body.get("status") not in ("held", "completed"):
                body.pop("held_at", None)
        elif path == "/api/v1/reminders/run" and "as_of" in body:
            body["dry_run"] = True
        if path.startswith("/api/v1/actions") or path.endswith("/actions"):
            body.pop("review_id", None)
            if "incident_id" in body:
                body["incident_id"] = _an_incident()
    if case.query and method == "GET" and path.endswith("/actions"):
        if ("external_system" in case.query) != ("external_key" in case.query):
            case.query.pop("external_system", None)
            case.query.pop("external_key", None)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.headers:
        for name in list(case.headers):
            if name.lower() == "idempotency-key":
                case.headers[name] = str(uuid.uuid4())
            elif name.lower() == "if-match":
                del case.headers[name]
    if case.query:
        for name in ("cursor", "after"):
            case.query.pop(name, None)
    _obey_cross_field_rules(case.operation.method.upper(), case.operation.path, case)
