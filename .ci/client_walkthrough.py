"""The README's walk-through, run with the Python client that openapi-python-client generates from
openapi/openapi.json (see .ci/client): its typed models and API functions only, no HTTP by hand. Each
step checks what the README says it gets; any surprise ends the run with a non-zero exit.

Environment: CLIENT_BASE_URL (the running server), CLIENT_ADMIN_TOKEN (an admin's token) and
CLIENT_OWNER_TOKEN (a token for dana@example.com with no role: the owner of the actions).
"""

import datetime
import os
import sys
import uuid

from action_tracker_client import AuthenticatedClient
from action_tracker_client.api.actions import actions_get, actions_list, actions_update, create_for_incident
from action_tracker_client.api.comments import actions_comments_create
from action_tracker_client.api.history import action_history
from action_tracker_client.api.incidents import incidents_create, incidents_update
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
    CreateIncidentRequest,
    DataCategory,
    EventKind,
    EventList,
    ImpactInput,
    IncidentResponse,
    IncidentStatus,
    MoneyText,
    Priority,
    Problem,
    RootCauseCategory,
    RootCauseInput,
    Severity,
    SystemKind,
    TechniqueInput,
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
                            name="sso.example.com", kind=SystemKind.APPLICATION, role="impersonated by the phishing page"
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


def main():
    admin = client(os.environ["CLIENT_ADMIN_TOKEN"])
    dana = client(os.environ["CLIENT_OWNER_TOKEN"])
    try:
        walk(admin, dana)
    except WalkthroughFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("the walk-through passed with the generated client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
