"""``glasshouse transparency report``: the public transparency report, as JSON or CSV on stdout."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from glasshouse.cli.common import print_json, services

transparency_app = typer.Typer(
    help="Public transparency reports: what organisations did, counted from the audit log.",
    no_args_is_help=True,
)


class PeriodOption(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class FormatOption(StrEnum):
    JSON = "json"
    CSV = "csv"


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {text!r}", param_hint=option) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@transparency_app.command("report")
def report(
    period: Annotated[PeriodOption, typer.Option(help="Bucket size.")] = PeriodOption.MONTH,
    since: Annotated[
        str | None, typer.Option(help="From this ISO date or time (inclusive; UTC if no zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO date or time (exclusive).")] = None,
    sector: Annotated[str | None, typer.Option(help="Only organisations of this sector.")] = None,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="Only this organisation (name).")
    ] = None,
    output_format: Annotated[
        FormatOption, typer.Option("--format", help="Output format.")
    ] = FormatOption.JSON,
) -> None:
    """Counts per period and organisation: calls by capability, denials by rule, reviews, footage
    requests, shares and emergency disclosures, policy changes. Never names people, keys or cases."""
    start, end = _moment(since, "--since"), _moment(until, "--until")
    with services() as svc:
        result = svc.transparency.report(
            period.value, since=start, until=end, sector=sector, org=organisation
        )
    if output_format is FormatOption.CSV:
        sys.stdout.write(result.to_csv())
    else:
        print_json(result.to_json())
