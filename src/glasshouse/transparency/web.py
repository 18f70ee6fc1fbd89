"""The public transparency report: ``/transparency`` (HTML), ``.json`` and ``.csv``. No sign-in.

All three take the same query parameters: ``period`` (month, quarter, year), ``sector``, ``org``
(an organisation's name), ``from`` and ``to`` (ISO dates, both inclusive, or ISO times, ``to``
exclusive; UTC when no zone is given). A bad parameter answers 400.

``/transparency/checkpoint.json`` is the latest signed checkpoint of the audit chain
(:mod:`glasshouse.audit.checkpoints`), also shown on the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from markupsafe import Markup

from glasshouse.audit.checkpoints import Checkpoint, CheckpointError
from glasshouse.errors import InvalidParameterError
from glasshouse.transparency.charts import Group, grouped_bar_chart
from glasshouse.transparency.report import PERIODS, SECTORS, Period, Report
from glasshouse.web.deps import Svc, render

router = APIRouter(tags=["transparency"])

MAX_ORG_NAME = 255
#: What each figure means, in the order the page explains them.
FIGURES: tuple[tuple[str, str], ...] = (
    (
        "Allowed calls",
        "biometric operations (detect, compare, index, search…) the policy allowed, by capability.",
    ),
    ("Denied calls", "operations the policy refused, counted by the rule that refused them."),
    ("Reviews confirmed", "candidate matches that a human reviewer confirmed as a lead worth investigating."),
    ("Reviews rejected", "candidate matches that a human reviewer rejected."),
    ("Footage requests", "requests by law-enforcement organisations to camera owners for footage."),
    ("Footage shares", "clips camera owners chose to share with an agency, answering its request."),
    (
        "Emergency disclosures without consent",
        "footage two operators handed to an agency without asking its owners, because of an emergency "
        "(never counted as a share).",
    ),
    (
        "Policy changes",
        "new versions of the responsible-use policy (including lifting or re-imposing a moratorium).",
    ),
)


@dataclass(frozen=True)
class Query:
    """The parsed query parameters, and their raw values to refill the form."""

    period: Period
    sector: str | None
    org: str | None
    since: datetime | None
    until: datetime | None
    raw: dict[str, str]


def _moment(text: str, name: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:  # a date: from its start; "to" includes the whole day
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise InvalidParameterError(
            f"{name} must be an ISO date (2026-01-31) or time, not {text!r}"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def parse_query(params: Mapping[str, str]) -> Query:
    raw = {k: params.get(k, "").strip() for k in ("period", "sector", "org", "from", "to")}
    period = raw["period"] or "month"
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be one of {', '.join(PERIODS)}")
    if raw["sector"] and raw["sector"] not in SECTORS:
        raise InvalidParameterError(f"sector must be one of {', '.join(SECTORS)}")
    if len(raw["org"]) > MAX_ORG_NAME:
        raise InvalidParameterError(f"an organisation name has at most {MAX_ORG_NAME} characters")
    since = _moment(raw["from"], "from", end=False)
    until = _moment(raw["to"], "to", end=True)
    if since is not None and until is not None and since >= until:
        raise InvalidParameterError("'from' must be before 'to'")
    return Query(cast(Period, period), raw["sector"] or None, raw["org"] or None, since, until, raw)


def _report(svc: Svc, query: Query) -> Report:
    return svc.transparency.report(
        query.period, since=query.since, until=query.until, sector=query.sector, org=query.org
    )


def _groups(report: Report, which: str) -> list[Group]:
    out: list[Group] = []
    for bucket in report.periods:
        counts: dict[str, int] = getattr(bucket.totals, which)
        out.append((bucket.bucket.label, sorted(counts.items())))
    return out


def _charts(report: Report) -> dict[str, Markup]:
    scope = report.period
    calls = grouped_bar_chart(
        f"Allowed calls by capability, per {scope}",
        _groups(report, "calls"),
        chart_id="chart-calls",
        description=f"For each {scope}, the number of calls the policy allowed, one bar per capability.",
        empty="No allowed calls.",
    )
    denials = grouped_bar_chart(
        f"Denied calls by rule, per {scope}",
        _groups(report, "denials"),
        chart_id="chart-denials",
        description=f"For each {scope}, the number of calls the policy refused, one bar per refusing rule.",
        empty="No denied calls.",
    )
    # Built by charts.py, which escapes every text it places in the SVG.
    return {"calls": Markup(calls), "denials": Markup(denials)}


def _page(request: Request, svc: Svc, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    orgs = svc.transparency.organisations()
    base = {
        "periods": PERIODS,
        "sectors": SECTORS,
        "organisations": orgs,
        "figures": FIGURES,
        "checkpoint": _latest_checkpoint(svc),
        "checkpoint_key": {"public_key": svc.checkpoints.public_key, "key_id": svc.checkpoints.key_id},
    }
    return render(request, "transparency/report.html", {**base, **context}, status)


@router.get("/transparency", response_class=HTMLResponse)
def transparency_page(request: Request, svc: Svc) -> HTMLResponse:
    """The report as a page with a filter form and charts."""
    try:
        query = parse_query(request.query_params)
        report = _report(svc, query)
    except InvalidParameterError as exc:
        raw = {k: request.query_params.get(k, "") for k in ("period", "sector", "org", "from", "to")}
        return _page(request, svc, {"error": exc.message, "form": raw, "report": None}, 400)
    qs = request.url.query
    links = {fmt: f"/transparency.{fmt}" + (f"?{qs}" if qs else "") for fmt in ("json", "csv")}
    context = {
        "form": query.raw | {"period": query.period},
        "report": report,
        "totals": report.totals,
        "charts": _charts(report),
        "links": links,
    }
    return _page(request, svc, context)


def _bad(exc: InvalidParameterError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message}}


@router.get("/transparency.json")
def transparency_json(request: Request, svc: Svc) -> Response:
    """The report as JSON (the same figures as the page)."""
    try:
        report = _report(svc, parse_query(request.query_params))
    except InvalidParameterError as exc:
        return JSONResponse(_bad(exc), status_code=400)
    return JSONResponse(report.to_json())


@router.get("/transparency.csv")
def transparency_csv(request: Request, svc: Svc) -> Response:
    """The report as CSV: one row per period × organisation × metric."""
    try:
        report = _report(svc, parse_query(request.query_params))
    except InvalidParameterError as exc:
        return PlainTextResponse(f"{exc.code}: {exc.message}\n", status_code=400)
    return Response(
        report.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="glasshouse-transparency.csv"'},
    )


def _latest_checkpoint(svc: Svc) -> Checkpoint | None:
    try:
        return svc.checkpoints.latest()
    except CheckpointError:  # an unreadable file is the operator's problem; the page still renders
        return None


@router.get("/transparency/checkpoint.json")
def audit_checkpoint(svc: Svc) -> Response:
    """The latest signed checkpoint of the audit chain (entries, head hash, time, Ed25519 signature and
    public key), one line of JSON: poll it and keep every answer (see the README), then check the log
    with ``glasshouse audit verify --checkpoint FILE``."""
    latest = _latest_checkpoint(svc)
    if latest is None:
        error = {"code": "NotFound", "message": "no audit checkpoint has been published yet"}
        return JSONResponse({"error": error}, status_code=404)
    body = json.dumps(latest.to_json(), separators=(",", ":")) + "\n"
    return Response(body, media_type="application/json", headers={"cache-control": "no-cache"})
