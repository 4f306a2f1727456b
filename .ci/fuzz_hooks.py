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
  was detected, and not in the future; a review has `held_at` only once held, and lists each attendee
  once; an action links each ticket once, and leaves its review when it moves to another incident; a
  person is not their own manager; a closed action says how (`resolution`); `as_of` is only for a dry run; a ticket is named by
  `external_system` and `external_key` together. Valid requests leave out the member that would break
  the rule.
- Rules against what is stored: moving an action's due date later needs `due_date_change_reason`, and
  the reason is only taken then; the first push for a ticket (`PUT /actions/by-ref/…`) creates its
  action, so valid pushes carry what a new action needs. Valid patches get a reason exactly when their date is later than the
  stored one (read through the API).
- A webhook's receiver must be on the public internet (unless WEBHOOK_ALLOW_PRIVATE_TARGETS): the server
  checks the host and the addresses its name resolves to, which no pattern can say, so a valid
  request's URL keeps its scheme, port and path on a public host name.
- A done or cancelled action keeps its `resolution`: a valid patch clears it only while reopening it.
- An incident's cost is in an ISO 4217 currency with no more decimals than it has (2 for EUR, 0 for
  JPY) and within 10^15 minor units; a notification deadline needs someone to notify; each ATT&CK
  technique is listed once. A valid request's cost becomes a real one of the same size, a deadline gets
  the regulator, and repeated techniques are left out.
- A person's `timezone` must be an IANA name. The spec gives it as a string with a description, as
  most APIs do (the 598 names as an enum break client generators), so a valid request gets a real one.
- Ids that must exist: `incident_id` in an action's body names an incident the hooks created, and a
  made-up `review_id` (which must belong to the action's incident) is left out.

Invalid (negative) requests are sent as generated, so malformed keys, tags and cursors are still
checked to be refused.
"""

import datetime
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

import schemathesis

_incident_id = None

# IANA names (blank means the server's own zone and is left as generated).
_TIME_ZONES = ("Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland", "UTC", "Etc/GMT+0")


def _an_incident():
    """An incident that exists, made once per run through the API itself."""
    global _incident_id
    if _incident_id is None:
        _incident_id = _api("POST", "/api/v1/incidents", {"title": "Fuzzing fixture", "severity": "low"})["id"]
    return _incident_id


def _api(method, path, body=None):
    request = urllib.request.Request(
        os.environ["FUZZ_BASE_URL"] + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + os.environ["FUZZ_TOKEN"], "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)
    except urllib.error.HTTPError:
        return None


def _stored_due_date(action_id):
    action = _api("GET", "/api/v1/actions/" + urllib.parse.quote(str(action_id)))
    return action and action.get("due_date")


def _reason_only_when_later(case, body):
    stored = _stored_due_date(case.path_parameters.get("id"))
    later = isinstance(body.get("due_date"), str) and stored is not None and body["due_date"] > stored
    if later and not body.get("due_date_change_reason"):
        body["due_date_change_reason"] = "The fuzzer moved it later."
    elif not later:
        body.pop("due_date_change_reason", None)


def _each_ticket_once(refs):
    """A ticket (system, key) is linked once; systems are compared lower-case, as they are stored."""
    seen = set()
    kept = []
    for ref in refs:
        name = (str(ref.get("system", "")).lower(), ref.get("key")) if isinstance(ref, dict) else None
        if name not in seen:
            seen.add(name)
            kept.append(ref)
    return kept


def _on_a_public_host(url):
    """The URL with its host replaced by a public name: what a receiver on the internet looks like."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port is not None else ""
    return urllib.parse.urlunsplit((parts.scheme, "hooks.example.com" + port, parts.path, parts.query, ""))


def _in_the_future(timestamp):
    try:
        moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return False
    if moment.tzinfo is None:
        return False
    return moment > datetime.datetime.now(datetime.timezone.utc)


# A few ISO 4217 currencies with their decimals.
_CURRENCIES = (("EUR", 2), ("JPY", 0), ("BHD", 3), ("USD", 2))


def _real_assessment(body):
    impact = body.get("impact")
    if isinstance(impact, dict):
        cost = impact.get("cost")
        if isinstance(cost, dict) and isinstance(cost.get("amount"), str):
            code, decimals = _CURRENCIES[len(cost["amount"]) % len(_CURRENCIES)]
            whole, _, fraction = cost["amount"].partition(".")
            amount = whole[-11:] + ("." + fraction[:decimals] if fraction[:decimals] else "")
            impact["cost"] = {"amount": amount, "currency": code}
        notification = impact.get("notification")
        if isinstance(notification, dict) and notification.get("deadline") is not None:
            if not notification.get("regulator") and not notification.get("customers"):
                notification["regulator"] = True
    attack = body.get("attack")
    if isinstance(attack, dict) and isinstance(attack.get("techniques"), list):
        seen = set()
        techniques = []
        for technique in attack["techniques"]:
            key = str(technique.get("id", "")).strip().upper() if isinstance(technique, dict) else None
            if key not in seen:
                seen.add(key)
                techniques.append(technique)
        attack["techniques"] = techniques


# A value of each indicator type: whether a string is a valid hash or domain is the service's to decide,
# beyond what a schema can say.
_INDICATOR_VALUES = {
    "ipv4": "203.0.113.7", "ipv6": "2001:db8::7", "cidr": "198.51.100.0/24", "domain": "login-examp1e.com",
    "url": "https://login-examp1e.com/sso", "email": "it-support@examp1e.net",
    "md5": "d41d8cd98f00b204e9800998ecf8427e", "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "file_name": "invoice.pdf.exe",
    "registry_key": "HKLM\\Software\\Run", "user_agent": "Mozilla/5.0 (evil)", "cve": "CVE-2024-3400",
}


def _new_resources(method, path, case, body):
    """The rules of indicators, evidence and custody that relate one field to another or to what is stored."""
    if path in ("/api/v1/incidents/{id}/indicators", "/api/v1/indicators/{id}"):
        kind = body.get("type")
        if kind in _INDICATOR_VALUES:
            body["value"] = _INDICATOR_VALUES[kind]
        else:
            body.pop("value", None)
        if body.get("first_seen") is not None or method == "PATCH":
            body.pop("last_seen", None)
    elif path in ("/api/v1/incidents/{id}/evidence", "/api/v1/evidence/{id}"):
        if "location" in body:
            body["location"] = "s3://forensics/case-17/laptop.e01"
        if method == "PATCH":
            body.pop("collected_at", None)
    elif path == "/api/v1/evidence/{id}/custody" and "at" in body:
        body["at"] = "2029-01-01T00:00:00Z"


def _obey_cross_field_rules(method, path, case):
    body = case.body if isinstance(case.body, dict) else None
    if body is not None:
        _new_resources(method, path, case, body)
        if path in ("/api/v1/incidents", "/api/v1/incidents/{id}") and method in ("POST", "PATCH"):
            _real_assessment(body)
        if path == "/api/v1/incidents" and method == "POST":
            body.pop("contained_at", None)
            body.pop("resolved_at", None)
            if _in_the_future(body.get("detected_at")):
                body.pop("detected_at")
        elif path == "/api/v1/incidents/{id}" and method == "PATCH":
            for name in ("detected_at", "contained_at", "resolved_at"):
                body.pop(name, None)
        elif path in ("/api/v1/incidents/{id}/reviews", "/api/v1/reviews/{id}"):
            if body.get("status") not in ("held", "completed"):
                body.pop("held_at", None)
            if isinstance(body.get("attendees"), list):
                seen = set()
                attendees = []
                for attendee in body["attendees"]:
                    email = attendee.get("email", "").lower() if isinstance(attendee, dict) else None
                    if email not in seen:
                        seen.add(email)
                        attendees.append(attendee)
                body["attendees"] = attendees
        elif path == "/api/v1/people/{email}" and method == "PUT":
            person = urllib.parse.unquote(str(case.path_parameters.get("email", "")))
            if str(body.get("manager_email", "")).lower() == person.lower():
                body.pop("manager_email")
            if isinstance(body.get("timezone"), str) and body["timezone"].strip():
                body["timezone"] = _TIME_ZONES[len(body["timezone"]) % len(_TIME_ZONES)]
        elif path == "/api/v1/actions/{id}" and method == "PATCH":
            _reason_only_when_later(case, body)
            if "resolution" in body and body["resolution"] is None:
                stored = _api("GET", "/api/v1/actions/" + urllib.parse.quote(str(case.path_parameters.get("id"))))
                closed = stored is not None and stored.get("status") in ("done", "cancelled")
                if closed and body.get("status") not in ("open", "in_progress", "blocked"):
                    body.pop("resolution")
        elif path == "/api/v1/webhooks" and method == "POST" and isinstance(body.get("url"), str):
            body["url"] = _on_a_public_host(body["url"])
        elif path == "/api/v1/actions/by-ref/{system}/{key}":
            # The reason defaults to naming the ticket; whether the date moves later depends on what is stored.
            body.pop("due_date_change_reason", None)
        elif path == "/api/v1/reminders/run" and "as_of" in body:
            body["dry_run"] = True
        if path.startswith("/api/v1/actions") or path.endswith("/actions"):
            body.pop("review_id", None)
            if "incident_id" in body:
                body["incident_id"] = _an_incident()
                if method == "PATCH":
                    # The review the action came from belongs to the incident it leaves.
                    body["review_id"] = None
            for action in body.get("actions") or [body]:
                if not isinstance(action, dict):
                    continue
                if isinstance(action.get("external_refs"), list):
                    action["external_refs"] = _each_ticket_once(action["external_refs"])
                if action.get("status") in ("done", "cancelled") and not action.get("resolution"):
                    action["resolution"] = "The fuzzer closed it."
            if path == "/api/v1/actions/by-ref/{system}/{key}":
                # The first push for a ticket creates its action, which needs these.
                body.setdefault("incident_id", _an_incident())
                for name, value in (("title", "Fuzzed ticket"), ("owner_email", "owner@example.com"),
                                    ("due_date", "2030-01-01")):
                    if body.get(name) is None:
                        body[name] = value
    if case.query and method == "GET" and path == "/api/v1/indicators":
        case.query["value"] = _INDICATOR_VALUES.get(case.query.get("type"), "203.0.113.7")
        if case.query.get("type") not in _INDICATOR_VALUES:
            case.query.pop("type", None)
    if case.query and method == "GET" and path == "/api/v1/stats":
        if case.query.get("since") and case.query.get("until"):
            case.query.pop("until")
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
