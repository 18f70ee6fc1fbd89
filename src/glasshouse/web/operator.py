"""The operator console: organisations, people, access keys, and the policy with its moratorium.

Every change goes through the same audited domain services as the REST API and the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from glasshouse.errors import InvalidParameterError
from glasshouse.governance import policy as pol
from glasshouse.governance.decision import obligations_in_words
from glasshouse.organisations.models import APPROVAL_KINDS
from glasshouse.people.models import ROLES
from glasshouse.web.deps import CsrfForm, OperatorUser, Svc, field, render

router = APIRouter(prefix="/ui/operator", include_in_schema=False)

#: Notices after a change: fixed texts picked by code, so a link cannot put words on the page.
NOTICES = {
    "org-created": "Organisation created.",
    "org-updated": "Organisation updated.",
    "approval-added": "Approval recorded.",
    "person-created": "Person created.",
    "roles-changed": "Roles changed.",
    "key-revoked": "Key revoked.",
}
SECTORS = [s.value for s in pol.Sector]


def _redirect(path: str, notice: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({**query, 'notice': notice})}", status_code=303)


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


def parse_when(text: str, name: str = "date") -> datetime | None:
    """An ISO date (midnight UTC) or date-time (UTC unless it names a zone); empty means none."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterError(f"{name} {text!r} is not a date (YYYY-MM-DD) or date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _list(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.replace(",", " ").split()) if part]


# -- overview ----------------------------------------------------------------------------------------------
@router.get("/")
def overview(request: Request, _: OperatorUser, svc: Svc) -> Response:
    version, document = svc.policies.active()
    now = svc.clock()
    moratoria = [r for r in document.rules if r.kind == "moratorium"]
    context = {
        "organisations": len(svc.organisations.get_all()),
        "people": len(svc.people.list()),
        "keys": sum(1 for k in svc.keys.list() if k.active),
        "version": version,
        "moratoria": [(r.id, r.in_force(now)) for r in moratoria],
    }
    return render(request, "operator/index.html", context)


# -- organisations -----------------------------------------------------------------------------------------
@router.get("/organisations")
def organisations(request: Request, _: OperatorUser, svc: Svc) -> Response:
    context = {"orgs": svc.organisations.get_all(), "sectors": SECTORS, "notice": _notice(request)}
    return render(request, "operator/organisations.html", context)


@router.post("/organisations")
def create_organisation(user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    org = svc.organisations.create(
        user.actor,
        field(form, "name"),
        sector=field(form, "sector"),
        jurisdiction=field(form, "jurisdiction") or None,
        flags=_list(field(form, "flags")),
        is_operator=field(form, "is_operator") == "1",
    )
    return _redirect(f"/ui/operator/organisations/{org.name}", "org-created")


@router.get("/organisations/{name}")
def organisation(request: Request, name: str, _: OperatorUser, svc: Svc) -> Response:
    org = svc.organisations.get(name)
    now = svc.clock()
    approvals = [
        {"record": a, "current": a.expires_at is None or a.expires_at.replace(tzinfo=UTC) > now}
        for a in svc.organisations.approvals(org.id)
    ]
    context = {
        "org": org,
        "sectors": SECTORS,
        "approval_kinds": APPROVAL_KINDS,
        "approvals": approvals,
        "people": svc.people.list(org.id),
        "keys": svc.keys.list(org.id),
        "notice": _notice(request),
    }
    return render(request, "operator/organisation.html", context)


@router.post("/organisations/{name}")
def update_organisation(name: str, user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    current = set(svc.organisations.get(name).flags or [])
    wanted = set(_list(field(form, "flags")))
    svc.organisations.update(
        user.actor,
        name,
        sector=field(form, "sector") or None,
        jurisdiction=field(form, "jurisdiction") or None,
        add_flags=sorted(wanted - current),
        remove_flags=sorted(current - wanted),
        verified=field(form, "verified") == "1",
        reason=field(form, "reason"),
    )
    return _redirect(f"/ui/operator/organisations/{name}", "org-updated")


@router.post("/organisations/{name}/approvals")
def add_approval(name: str, user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    reference = field(form, "reference")
    if not reference:
        raise InvalidParameterError("an approval needs a reference (the report or decision it records)")
    svc.organisations.add_approval(
        user.actor,
        name,
        kind=field(form, "kind"),
        reference=reference,
        expires_at=parse_when(field(form, "expires_at"), "expiry"),
    )
    return _redirect(f"/ui/operator/organisations/{name}", "approval-added")


# -- people ------------------------------------------------------------------------------------------------
@router.get("/people")
def people(request: Request, _: OperatorUser, svc: Svc) -> Response:
    context = {
        "people": svc.people.list(),
        "orgs": svc.organisations.get_all(),
        "roles": ROLES,
        "notice": _notice(request),
    }
    return render(request, "operator/people.html", context)


@router.post("/people")
def create_person(user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    password = form.get("password")
    person = svc.people.create(
        user.actor,
        field(form, "org"),
        field(form, "email"),
        field(form, "name"),
        password if isinstance(password, str) else "",
        [r for r in form.getlist("roles") if isinstance(r, str)],
    )
    return _redirect(f"/ui/operator/people/{person.id}", "person-created")


@router.get("/people/{person_id}")
def person(request: Request, person_id: str, _: OperatorUser, svc: Svc) -> Response:
    found = svc.people.get(person_id)
    keys = [k for k in svc.keys.list(found.org_id) if k.person_id == found.id]
    context = {"person": found, "roles": ROLES, "keys": keys, "notice": _notice(request)}
    return render(request, "operator/person.html", context)


@router.post("/people/{person_id}/roles")
def set_roles(person_id: str, user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    svc.people.set_roles(user.actor, person_id, [r for r in form.getlist("roles") if isinstance(r, str)])
    return _redirect(f"/ui/operator/people/{person_id}", "roles-changed")


# -- keys --------------------------------------------------------------------------------------------------
@router.get("/keys")
def keys(request: Request, _: OperatorUser, svc: Svc, org: str | None = None) -> Response:
    orgs = svc.organisations.get_all()
    names = {o.id: o.name for o in orgs}
    selected = svc.organisations.get(org) if org else None
    emails = {p.id: p.email for p in svc.people.list(selected.id if selected else None)}
    context = {
        "keys": svc.keys.list(selected.id if selected else None),
        "orgs": orgs,
        "org_names": names,
        "people": svc.people.list(selected.id if selected else None),
        "emails": emails,
        "selected": selected,
        "notice": _notice(request),
    }
    return render(request, "operator/keys.html", context)


@router.post("/keys")
def issue_key(request: Request, user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    """Issue a key to an organisation, or to a person in it; the secret is shown on this page only."""
    person_id = field(form, "person_id") or None
    org_name = field(form, "org")
    if person_id is not None:
        holder = svc.people.get(person_id)
        if org_name and org_name != holder.org_name:
            raise InvalidParameterError(f"{holder.email} belongs to {holder.org_name}, not {org_name}")
        org_name = holder.org_name
    if not org_name:
        raise InvalidParameterError("choose an organisation or a person")
    org = svc.organisations.get(org_name)
    new = svc.keys.create(org.id, field(form, "label") or None, by=user.actor, person_id=person_id)
    context = {"key": new, "org": org, "person": svc.people.get(person_id) if person_id else None}
    return render(request, "operator/key_issued.html", context, status_code=201)


@router.post("/keys/{access_key_id}/revoke")
def revoke_key(access_key_id: str, user: OperatorUser, form: CsrfForm, svc: Svc) -> Response:
    org = svc.organisations.get(field(form, "org"))
    svc.keys.revoke(org.id, access_key_id, by=user.actor)
    return _redirect("/ui/operator/keys", "key-revoked", org=org.name)


# -- policy ------------------------------------------------------------------------------------------------
def display_time(at: datetime) -> str:
    """``10 Jun 2021, 00:00 UTC``: how pages show a policy's times to people."""
    return at.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def period_text(period: pol.Period) -> str:
    end = "further notice" if period.end is None else display_time(period.end)
    return f"from {display_time(period.start)} until {end}"


def rule_view(rule: pol.Rule, now: datetime) -> dict[str, Any]:
    return {
        "rule": rule,
        "in_force": rule.in_force(now),
        "periods": [period_text(p) for p in rule.periods],
        "obligations": obligations_in_words(rule.obligations) if rule.obligations else [],
    }


@router.get("/policy")
def policy(request: Request, _: OperatorUser, svc: Svc) -> Response:
    version, document = svc.policies.active()
    now = svc.clock()
    context = {
        "version": version,
        "document": document,
        "rules": [rule_view(r, now) for r in document.rules],
        "versions": svc.policies.versions(),
        "now": display_time(now),
    }
    return render(request, "operator/policy.html", context)


@router.post("/policy/rules/{rule_id}/{action}")
def change_moratorium(
    request: Request, rule_id: str, action: str, user: OperatorUser, form: CsrfForm, svc: Svc
) -> Response:
    """Lift, extend or re-impose a moratorium; shows the new version and the periods before and after."""
    reason = field(form, "reason")
    if not reason:
        raise InvalidParameterError("a policy change needs a reason")
    until = field(form, "until")
    end = None if until == "further-notice" else parse_when(field(form, "end"), "end")
    if until == "date" and end is None:
        raise InvalidParameterError("give an end date, or choose 'until further notice'")
    before_version, before = svc.policies.active()
    if action == "lift":
        version = svc.policies.lift(user.actor, rule_id, reason)
    elif action == "extend":
        version = svc.policies.extend(user.actor, rule_id, reason, end)
    elif action == "reimpose":
        version = svc.policies.reimpose(user.actor, rule_id, reason, end=end)
    else:
        raise InvalidParameterError(f"unknown policy action {action!r}: lift, extend or reimpose")
    _, after = svc.policies.active()
    now = svc.clock()
    context = {
        "action": action,
        "rule_id": rule_id,
        "reason": reason,
        "before_version": before_version,
        "version": version,
        "before": rule_view(before.rule(rule_id), now),
        "after": rule_view(after.rule(rule_id), now),
    }
    return render(request, "operator/policy_changed.html", context)
