"""Auditor pages: search the audit log, verify its chain, export the current filter as JSON lines.

An auditor sees only their own organisation's entries, whatever the query string says; an operator
sees every organisation's and may filter by one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from glasshouse.audit.service import ALLOW, DENY, MAX_LIMIT, RECORD, AuditFilter
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.policy import Capability
from glasshouse.services import Services
from glasshouse.web import areas
from glasshouse.web.deps import CsrfForm, Svc, WebUser, render, require_roles

router = APIRouter(prefix="/ui/audit", include_in_schema=False)

Auditor = Annotated[WebUser, Depends(require_roles(*areas.AUDIT.roles))]
PAGE_SIZE = 50
#: The query parameters of a search (kept in paging and export links).
FIELDS = ("org", "action", "decision", "case", "since", "until")
DECISIONS = (ALLOW, DENY, RECORD)


def sees_all(user: WebUser) -> bool:
    """Operators (the operator role, in an operators' organisation) see every organisation's entries."""
    return user.actor.is_operator


def _time(value: str, name: str) -> datetime | None:
    """An ISO date or date-time; without a zone it is read as UTC (the page says so)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameterError(f"{name} must be a date or date-time (YYYY-MM-DDTHH:MM)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def audit_filter(user: WebUser, query: Mapping[str, str]) -> AuditFilter:
    """The filter of a query; an organisation's auditor is held to their own organisation."""
    org = query.get("org", "").strip()
    action = query.get("action", "").strip()
    decision = query.get("decision", "").strip()
    if decision and decision not in DECISIONS:
        raise InvalidParameterError(f"decision must be one of {', '.join(DECISIONS)}")
    prefix = action[:-1] if action.endswith("*") else None
    return AuditFilter(
        org_id=(org or None) if sees_all(user) else user.org_id,
        action=None if prefix is not None or not action else action,
        action_prefix=prefix or None,
        decision=decision or None,
        case_number=query.get("case", "").strip() or None,
        since=_time(query.get("since", "").strip(), "since"),
        until=_time(query.get("until", "").strip(), "until"),
    )


def _query(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "") for k in FIELDS}


def _link(path: str, query: Mapping[str, str], **extra: Any) -> str:
    params = {k: v for k, v in {**query, **extra}.items() if v not in ("", None)}
    return f"{path}?{urlencode(params)}" if params else path


def _page(
    request: Request, svc: Services, user: WebUser, query: dict[str, str], verdict: Any = None
) -> Response:
    filters = audit_filter(user, query)
    try:
        page = max(0, int(request.query_params.get("page", "0") or 0))
    except ValueError:
        page = 0
    rows = svc.audit.search(replace(filters, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE))
    organisations = (
        [(o.id, o.name) for o in svc.organisations.get_all()]
        if sees_all(user)
        else [(user.org_id, user.org_name)]
    )
    context = {
        "entries": rows[:PAGE_SIZE],
        "query": query,
        "page": page,
        "previous": _link("/ui/audit", query, page=page - 1) if page > 0 else None,
        "next": _link("/ui/audit", query, page=page + 1) if len(rows) > PAGE_SIZE else None,
        "export": _link("/ui/audit/export.jsonl", query),
        "sees_all": sees_all(user),
        "organisations": organisations,
        "actions": sorted(
            {c.value for c in Capability} | {"review.confirm", "review.reject", "review.export"}
        ),
        "decisions": DECISIONS,
        "verdict": verdict,
        "details": detail_items,
    }
    return render(request, "audit/index.html", context)


def detail_items(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An entry's details as (key, value) lines: strings as they are, anything else as compact JSON."""
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))
        for key, value in sorted((details or {}).items())
    ]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def audit_search(request: Request, svc: Svc, user: Auditor) -> Response:
    return _page(request, svc, user, _query(request))


@router.post("/verify", response_class=HTMLResponse)
def verify(request: Request, svc: Svc, user: Auditor, form: CsrfForm) -> Response:
    """Recompute the whole chain (every organisation's entries: the chain is one) against the published
    checkpoints and show the verdict."""
    report = svc.checkpoints.verify().report
    query = {k: str(form.get(k) or "") for k in FIELDS}
    return _page(request, svc, user, query, verdict=report)


@router.get("/export.jsonl")
def export(request: Request, svc: Svc, user: Auditor) -> Response:
    """Every entry of the current filter, oldest first, one JSON object a line (a download)."""
    filters = audit_filter(user, _query(request))

    def lines() -> Iterator[str]:
        page = replace(filters, limit=MAX_LIMIT)
        while True:
            entries = svc.audit.search(page)
            for entry in entries:
                yield json.dumps(entry.to_json(), ensure_ascii=False) + "\n"
            if len(entries) < MAX_LIMIT:
                return
            page = replace(page, after_seq=entries[-1].seq)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="glasshouse-audit-{stamp}.jsonl"',
            "Cache-Control": "no-store",
        },
    )
