"""The README's walk-through, run with the Python client that openapi-python-client generates from
openapi/openapi.json (see .ci/client): its typed models and API functions only, no HTTP by hand. Each
step checks what the README says it gets; any surprise ends the run with a non-zero exit.

Environment: CLIENT_BASE_URL (the running server), CLIENT_ADMIN_TOKEN (an admin's token),
CLIENT_OWNER_TOKEN (a token for dana@example.com with no role: the owner of the actions) and
CLIENT_VIEWER_TOKEN (a viewer's token).
"""

import datetime
import os
import sys
import uuid

from action_tracker_client import AuthenticatedClient
from action_tracker_client.api.actions import actions_get, actions_list, actions_update, create_for_incident
from action_tracker_client.api.comments import actions_comments_create
from action_tracker_client.api.effort import incidents_effort_create, incidents_effort_list
from action_tracker_client.api.evidence import evidence_custody_create, incidents_evidence_create
from action_tracker_client.api.history import action_history
from action_tracker_client.api.incidents import incidents_create, incidents_report_get, incidents_update
from action_tracker_client.api.indicators import incidents_indicators_create, incidents_stix_get, indicators_search
from action_tracker_client.models import (
    ActionCategory,
    ActionList,
    ActionResponse,
    ActionStatus,
    AffectedSystemInput,
    AttackInput,
    AttackVector,
    CommentResponse,
    CreateActionInIncidentRequest,
    CreateCommentRequest,
    CreateCustodyEntryRequest,
    CreateEffortEntryRequest,
    CreateEvidenceRequest,
    CreateIncidentRequest,
    CreateIndicatorRequest,
    DataCategory,
    EffortEntryResponse,
    EffortLog,
    EffortPhase,
    EventKind,
    EventList,
    EvidenceKind,
    EvidenceResponse,
    ImpactInput,
    IncidentResponse,
    IncidentsStixGetResponse200,
    IncidentStatus,
    IndicatorResponse,
    IndicatorType,
    MoneyText,
    Priority,
    Problem,
    RootCauseCategory,
    RootCauseInput,
    Severity,
    Sightings,
    SystemKind,
    TechniqueInput,
    Tlp,
    UpdateActionRequest,
    UpdateIncidentRequest,
)
from action_tracker_client.types import UNSET

PAGE = 3
TODAY = datetime.datetime.now(datetime.timezone.utc).date()


class WalkthroughFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise WalkthroughFailed(message)


def expect(response, status, step, model):
    """The parsed body of `response` after checking its status and that it parsed as `model`."""
    check(
        response.status_code == status,
        f"{step}: expected {status}, got {response.status_code}: {response.content[:1000]!r}",
    )
    check(isinstance(response.parsed, model), f"{step}: expected a {model.__name__}, got {response.parsed!r}")
    return response.parsed


def client(token):
    # raise_on_unexpected_status: a status the spec does not document for the operation is an error too.
    return AuthenticatedClient(
        base_url=os.environ["CLIENT_BASE_URL"], token=token, raise_on_unexpected_status=True, timeout=30.0
    )


def walk(admin, dana):
    print("record an incident")
    incident = expect(
        incidents_create.sync_detailed(
            client=admin,
            body=CreateIncidentRequest(
                reference=f"SEC-{uuid.uuid4().hex[:8]}",
                title="Credential phishing against finance",
                severity=Severity.HIGH,
                category="phishing",
                detected_at=datetime.datetime(2026, 11, 2, 8, 15, tzinfo=datetime.timezone.utc),
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
        "POST /incidents",
        IncidentResponse,
    )
    check(incident.status == IncidentStatus.OPEN and incident.version == 1, f"a new incident: {incident!r}")

    print("record its impact, root cause and attack")
    assessed = expect(
        incidents_update.sync_detailed(
            incident.id,
            client=admin,
            body=UpdateIncidentRequest(
                impact=ImpactInput(
                    affected_systems=[
                        AffectedSystemInput(
                            name="sso.example.com",
                            kind=SystemKind.APPLICATION,
                            role="impersonated by the phishing page",
                        )
                    ],
                    data_exposed=[DataCategory.CREDENTIALS],
                    records_exposed=3,
                    downtime_minutes=240,
                    cost=MoneyText(amount="12500", currency="EUR"),
                ),
                root_cause=RootCauseInput(category=RootCauseCategory.PROCESS_GAP),
                attack=AttackInput(vector=AttackVector.EMAIL, techniques=[TechniqueInput(id="t1566.002")]),
            ),
        ),
        200,
        "PATCH /incidents/{id} impact, root cause and attack",
        IncidentResponse,
    )
    check(
        assessed.version == 2
        and assessed.impact.cost.amount == "12500.00"
        and assessed.impact.affected_systems[0].kind == SystemKind.APPLICATION
        and assessed.root_cause.category == RootCauseCategory.PROCESS_GAP
        and [t.id for t in assessed.attack.techniques] == ["T1566.002"],
        f"the assessment as recorded: {assessed!r}",
    )

    print("add the corrective actions: one already overdue, the rest due later")
    overdue_day = TODAY - datetime.timedelta(days=3)
    mfa = expect(
        create_for_incident.sync_detailed(
            incident.id,
            client=admin,
            body=CreateActionInIncidentRequest(
                title="Enforce phishing-resistant MFA for finance",
                owner_email="dana@example.com",
                due_date=overdue_day.isoformat(),
                priority=Priority.HIGH,
                category=ActionCategory.PREVENTION,
                tags=["mfa"],
            ),
        ),
        201,
        "POST /incidents/{id}/actions",
        ActionResponse,
    )
    check(mfa.overdue is True and mfa.days_overdue == 3, f"due {overdue_day}, so 3 days overdue: {mfa!r}")
    created = [mfa.id]
    for n in range(1, 8):
        action = expect(
            create_for_incident.sync_detailed(
                incident.id,
                client=admin,
                body=CreateActionInIncidentRequest(
                    title=f"Follow-up {n}",
                    owner_email="lee@example.com",
                    due_date=(TODAY + datetime.timedelta(days=10 * n)).isoformat(),
                ),
            ),
            201,
            f"POST /incidents/{{id}}/actions ({n})",
            ActionResponse,
        )
        check(action.overdue is False, f"due later, not overdue: {action!r}")
        created.append(action.id)

    print("list what is overdue, most urgent first")
    overdue = expect(
        actions_list.sync_detailed(client=admin, incident_id=incident.id, overdue=True, sort="due_date"),
        200,
        "GET /actions?overdue=true",
        ActionList,
    )
    check([a.id for a in overdue.items] == [mfa.id], f"only {mfa.key} is overdue: {[a.key for a in overdue.items]}")
    check(overdue.next_cursor in (None, UNSET), f"one page: {overdue.next_cursor!r}")

    print(f"page through the incident's {len(created)} actions, {PAGE} at a time, by cursor")
    seen, cursor, pages = [], UNSET, 0
    while True:
        page = expect(
            actions_list.sync_detailed(client=admin, incident_id=incident.id, limit=PAGE, cursor=cursor),
            200,
            f"GET /actions page {pages + 1}",
            ActionList,
        )
        pages += 1
        check(len(page.items) <= PAGE, f"page {pages} holds {len(page.items)} items")
        seen.extend(a.id for a in page.items)
        if page.next_cursor in (None, UNSET):
            break
        cursor = page.next_cursor
        check(pages < 10, "the cursor never ends")
    check(len(seen) == len(set(seen)), f"an action came twice: {seen}")
    check(sorted(seen) == sorted(created), f"the pages hold {seen}, not {created}")
    check(pages == -(-len(created) // PAGE), f"{pages} pages for {len(created)} actions")

    print("Dana, the owner, comments, and may not move the due date")
    expect(
        actions_comments_create.sync_detailed(
            mfa.id, client=dana, body=CreateCommentRequest(text="Keys ordered; rollout starts Monday.")
        ),
        201,
        "POST /actions/{id}/comments",
        CommentResponse,
    )
    later = (TODAY + datetime.timedelta(days=22)).isoformat()
    refused = expect(
        actions_update.sync_detailed(mfa.id, client=dana, body=UpdateActionRequest(due_date=later)),
        403,
        "PATCH /actions/{id} by the owner",
        Problem,
    )
    check([e.field for e in refused.errors] == ["due_date"], f"the 403 names due_date: {refused!r}")

    print("the ETag Dana holds goes stale when an editor moves the due date later")
    before = actions_get.sync_detailed(mfa.id, client=dana)
    expect(before, 200, "GET /actions/{id}", ActionResponse)
    stale_tag = before.headers["ETag"]
    reason = "Hardware keys are back-ordered until December"
    moved = expect(
        actions_update.sync_detailed(
            mfa.id, client=admin, body=UpdateActionRequest(due_date=later, due_date_change_reason=reason)
        ),
        200,
        "PATCH /actions/{id} due date",
        ActionResponse,
    )
    check(moved.due_date.isoformat() == later and moved.overdue is False, f"moved to {later}: {moved!r}")

    print("closing it with the stale If-Match is refused; with the current one it is done")
    closing = UpdateActionRequest(
        status=ActionStatus.DONE, resolution="FIDO2 keys issued to all finance staff; SMS codes disabled."
    )
    expect(
        actions_update.sync_detailed(mfa.id, client=dana, body=closing, if_match=stale_tag),
        412,
        "PATCH /actions/{id} with a stale If-Match",
        Problem,
    )
    current = actions_get.sync_detailed(mfa.id, client=dana)
    still_open = expect(current, 200, "GET /actions/{id}", ActionResponse)
    check(still_open.status == ActionStatus.OPEN, f"the refused PATCH changed nothing: {still_open!r}")
    check(current.headers["ETag"] != stale_tag, "the change gave a new ETag")
    done = expect(
        actions_update.sync_detailed(mfa.id, client=dana, body=closing, if_match=current.headers["ETag"]),
        200,
        "PATCH /actions/{id} with the current If-Match",
        ActionResponse,
    )
    check(done.status == ActionStatus.DONE and done.completed_at not in (None, UNSET), f"closed: {done!r}")

    print("the history shows every change, newest first, with who made it")
    history = expect(action_history.sync_detailed(mfa.id, client=admin), 200, "GET /actions/{id}/history", EventList)
    kinds = [event.kind for event in history.items]
    check(
        kinds == [EventKind.UPDATED, EventKind.UPDATED, EventKind.COMMENTED, EventKind.CREATED],
        f"history kinds: {kinds}",
    )
    closed, dated, commented = history.items[0], history.items[1], history.items[2]
    check(closed.actor.email == "dana@example.com", f"Dana closed it: {closed.actor!r}")
    status = closed.changes["status"]
    check((status.old, status.new) == ("open", "done"), f"status change: {status!r}")
    due = dated.changes["due_date"]
    check((due.old, due.new) == (overdue_day.isoformat(), later), f"due date change: {due!r}")
    check(dated.reason == reason, f"the reason is kept: {dated.reason!r}")
    check(commented.changes["comment"].new == "Keys ordered; rollout starts Monday.", f"comment: {commented!r}")
    return incident.id


def record(admin, viewer, incident_id):
    """Indicators, the STIX export, evidence with its custody, time spent, and the report that shows them."""
    print("record indicators: a defanged value is stored refanged and normalised, once per incident")
    indicators = {}
    for type_, value, tlp in [
        (IndicatorType.URL, "hxxps://login-examp1e[.]com/sso", Tlp.AMBER),
        (IndicatorType.DOMAIN, "Login-Examp1e.COM", Tlp.GREEN),
        (IndicatorType.IPV4, "203.0.113.66", Tlp.RED),
    ]:
        created = expect(
            incidents_indicators_create.sync_detailed(
                incident_id, client=admin, body=CreateIndicatorRequest(type_=type_, value=value, tlp=tlp, confidence=80)
            ),
            201,
            f"POST /incidents/{{id}}/indicators ({type_.value})",
            IndicatorResponse,
        )
        indicators[type_] = created
    check(
        indicators[IndicatorType.URL].value == "https://login-examp1e.com/sso"
        and indicators[IndicatorType.DOMAIN].value == "login-examp1e.com",
        f"normalised values: {[i.value for i in indicators.values()]}",
    )
    again = expect(
        incidents_indicators_create.sync_detailed(
            incident_id,
            client=admin,
            body=CreateIndicatorRequest(type_=IndicatorType.DOMAIN, value="login-examp1e.com"),
        ),
        409,
        "POST the same indicator twice",
        Problem,
    )
    check(again.code == "conflict", f"one value once per incident: {again!r}")
    malformed = expect(
        incidents_indicators_create.sync_detailed(
            incident_id,
            client=admin,
            body=CreateIndicatorRequest(type_=IndicatorType.SHA256, value="abc123", confidence=101),
        ),
        422,
        "POST a malformed SHA-256 with confidence 101",
        Problem,
    )
    check(sorted(e.field for e in malformed.errors) == ["confidence", "value"], f"both named: {malformed!r}")

    print("have we seen it before? the search reads a defanged value, and viewers never see TLP:RED")
    seen = expect(
        indicators_search.sync_detailed(client=admin, value="login-examp1e[.]com"), 200, "GET /indicators", Sightings
    )
    check(
        seen.matched.type_ == IndicatorType.DOMAIN
        and [i.id for i in seen.items] == [indicators[IndicatorType.DOMAIN].id],
        f"read as a domain, one sighting: {seen!r}",
    )
    hidden = expect(
        indicators_search.sync_detailed(client=viewer, value="203.0.113.66"),
        200,
        "GET /indicators as a viewer",
        Sightings,
    )
    check(hidden.items == [], f"a viewer does not see the TLP:RED address: {hidden!r}")

    print("share them as STIX 2.1: the same ids on every export, TLP:RED only when an admin asks")
    exports = []
    for include_red in (UNSET, UNSET, True):
        bundle = expect(
            incidents_stix_get.sync_detailed(incident_id, client=admin, include_red=include_red),
            200,
            "GET /incidents/{id}/stix",
            IncidentsStixGetResponse200,
        ).to_dict()
        check(bundle["type"] == "bundle", f"a STIX bundle: {bundle['type']!r}")
        exports.append({o["id"]: o for o in bundle["objects"]})
    check(set(exports[0]) == set(exports[1]), "a second export has the same ids")
    patterns = lambda export: sorted(o["pattern"] for o in export.values() if o["type"] == "indicator")  # noqa: E731
    check(
        patterns(exports[0])
        == ["[domain-name:value = 'login-examp1e.com']", "[url:value = 'https://login-examp1e.com/sso']"],
        f"indicator patterns without the red one: {patterns(exports[0])}",
    )
    check(len(patterns(exports[2])) == 3, f"with include_red: {patterns(exports[2])}")

    print("evidence: its chain of custody starts with the collection and is appended to")
    item = expect(
        incidents_evidence_create.sync_detailed(
            incident_id,
            client=admin,
            body=CreateEvidenceRequest(
                description="Proxy logs of the three finance users",
                kind=EvidenceKind.LOG,
                location="s3://forensics/sec-1234/proxy-logs.tar.gz",
                sha256="3A6EB0790F39AC87C94F3856B2DD2C5D110E6811602261A9A923D3BB23ADC8B7",
                collected_by="Sam Okafor",
                collected_at=datetime.datetime(2026, 11, 2, 10, 30, tzinfo=datetime.timezone.utc),
            ),
        ),
        201,
        "POST /incidents/{id}/evidence",
        EvidenceResponse,
    )
    check(item.sha256 == item.sha256.lower() and item.current_holder == "Sam Okafor", f"collected: {item!r}")
    handed = expect(
        evidence_custody_create.sync_detailed(
            item.id,
            client=admin,
            body=CreateCustodyEntryRequest(
                from_="Sam Okafor",
                to="Legal hold vault",
                at=datetime.datetime(2026, 11, 3, 9, 0, tzinfo=datetime.timezone.utc),
                purpose="legal hold",
            ),
        ),
        201,
        "POST /evidence/{id}/custody",
        EvidenceResponse,
    )
    check(
        handed.current_holder == "Legal hold vault"
        and [c.purpose for c in handed.custody] == ["collected", "legal hold"],
        f"the chain of custody: {handed.custody!r}",
    )

    print("time spent, per person and phase, summed by the incident's log")
    for person, phase, minutes in [
        ("dana@example.com", EffortPhase.ANALYSIS, 150),
        ("sam@example.com", EffortPhase.CONTAINMENT, 90),
        ("dana@example.com", EffortPhase.RECOVERY, 240),
    ]:
        expect(
            incidents_effort_create.sync_detailed(
                incident_id, client=admin, body=CreateEffortEntryRequest(person=person, phase=phase, minutes=minutes)
            ),
            201,
            "POST /incidents/{id}/effort",
            EffortEntryResponse,
        )
    refused = expect(
        incidents_effort_create.sync_detailed(
            incident_id,
            client=admin,
            body=CreateEffortEntryRequest(person="dana@example.com", phase=EffortPhase.ANALYSIS, minutes=-30),
        ),
        422,
        "POST negative minutes",
        Problem,
    )
    check([e.field for e in refused.errors] == ["minutes"], f"the 422 names minutes: {refused!r}")
    log = expect(
        incidents_effort_list.sync_detailed(incident_id, client=admin), 200, "GET /incidents/{id}/effort", EffortLog
    )
    check(
        log.total_minutes == 480 and log.by_phase.analysis == 150 and log.by_phase.detection == 0,
        f"the sums: {log.total_minutes}, {log.by_phase!r}",
    )
    check(
        [(p.person, p.minutes) for p in log.by_person] == [("dana@example.com", 390), ("sam@example.com", 90)],
        f"{log.by_person!r}",
    )

    print("the report shows all of it, indicators defanged")
    report = incidents_report_get.sync_detailed(incident_id, client=admin)
    check(report.status_code == 200, f"GET /incidents/{{id}}/report: {report.status_code}")
    markdown = report.content.decode()
    for expected in [
        "## Indicators of compromise",
        "hxxps\\[\\://\\]login-examp1e\\[.\\]com/sso",
        "| Total | 8 h |",
        "| dana@example.com | 6 h 30 min |",
        "#### Custody of E1",
        "| Sam Okafor | Legal hold vault | legal hold |",
    ]:
        check(expected in markdown, f"{expected!r} missing from the report:\n{markdown}")


def main():
    admin = client(os.environ["CLIENT_ADMIN_TOKEN"])
    dana = client(os.environ["CLIENT_OWNER_TOKEN"])
    viewer = client(os.environ["CLIENT_VIEWER_TOKEN"])
    try:
        incident_id = walk(admin, dana)
        record(admin, viewer, incident_id)
    except WalkthroughFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("the walk-through passed with the generated client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
