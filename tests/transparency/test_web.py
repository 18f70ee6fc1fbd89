"""The public pages: no sign-in, the same figures as the service, filters, 400s, nothing private."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.transparency.report import CSV_HEADER
from transparency.world import MORATORIUM, PRIVATE, World


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, services=world.svc)) as test_client:
        yield test_client


def test_page_is_public_and_shows_the_moratorium_denials(client: TestClient) -> None:
    page = client.get("/transparency", follow_redirects=False)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Sign in" in html  # rendered for an anonymous visitor, within the shared layout
    rule = re.search(
        r"Denied by rule <code>police-moratorium-2020</code>: <strong>(\d+)</strong>([^<]*)", html
    )
    assert rule is not None and rule.group(1) == "6"
    assert "calls by law-enforcement organisations that the moratorium stopped" in rule.group(2)
    assert html.count("<svg") == 2 and 'role="img"' in html and "<title" in html
    assert "Allowed calls by capability, per month" in html and "Denied calls by rule, per month" in html
    for label in ("2026-01", "2026-02", "2026-03", "2026-04"):
        assert label in html
    assert "<script" not in html
    assert 'href="/transparency.json"' in html and 'href="/transparency.csv"' in html


def test_page_filters(client: TestClient) -> None:
    html = client.get("/transparency", params={"period": "quarter", "sector": "commercial"}).text
    assert "2026-Q1" in html and "2026-01" not in html
    assert "police-moratorium-2020" not in html  # no law-enforcement denials in the commercial sector
    assert "No call was denied in this range." in html
    assert '<option value="commercial" selected>' in html
    assert 'href="/transparency.json?period=quarter&amp;sector=commercial"' in html
    html = client.get(
        "/transparency", params={"org": "police", "from": "2026-02-01", "to": "2026-02-28"}
    ).text
    assert re.search(r"<code>police-moratorium-2020</code>: <strong>2</strong>", html)
    assert '<option value="police" selected>' in html


@pytest.mark.parametrize(
    "params",
    [
        {"period": "week"},
        {"sector": "police"},
        {"from": "yesterday"},
        {"to": "2026-13-01"},
        {"from": "2026-03-01", "to": "2026-02-01"},
        {"from": "1900-01-01"},
        {"org": "x" * 300},
    ],
)
def test_bad_parameters_answer_400_everywhere(client: TestClient, params: dict[str, str]) -> None:
    page = client.get("/transparency", params=params)
    assert page.status_code == 400
    assert 'role="alert"' in page.text and "<form" in page.text  # the form stays, with the reason
    data = client.get("/transparency.json", params=params)
    assert data.status_code == 400 and data.json()["error"]["code"] == "InvalidParameter"
    assert client.get("/transparency.csv", params=params).status_code == 400


def test_json_matches_the_service(client: TestClient, world: World) -> None:
    data = client.get("/transparency.json", params={"period": "quarter"}).json()
    expected = world.svc.transparency.report("quarter").to_json()
    data.pop("generated_at"), expected.pop("generated_at")
    for period in (*data["periods"], *expected["periods"]):
        period.pop("end")  # the open end is "now"
    assert data == expected
    assert data["totals"]["denials"][MORATORIUM] == 6
    feb = client.get("/transparency.json", params={"from": "2026-02-01", "to": "2026-02-28"}).json()
    assert [p["label"] for p in feb["periods"]] == ["2026-02"]
    assert feb["until"] == "2026-03-01T00:00:00+00:00"  # "to" is a whole day, inclusive


def test_csv_download(client: TestClient) -> None:
    response = client.get("/transparency.csv", params={"period": "year", "sector": "law_enforcement"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_HEADER
    assert {r["organisation"] for r in rows} == {"police", "icac"}
    moratorium = [r for r in rows if r["metric"] == "denials" and r["key"] == MORATORIUM]
    assert [(r["bucket"], r["organisation"], r["count"]) for r in moratorium] == [("2026", "police", "6")]


def test_nothing_private_on_any_public_output(client: TestClient) -> None:
    for params in ({}, {"period": "quarter"}, {"period": "year", "org": "icac"}):
        for path in ("/transparency", "/transparency.json", "/transparency.csv"):
            text = client.get(path, params=params).text
            for secret in PRIVATE:
                assert secret not in text, (path, params, secret)
            assert "os:root" not in text


def test_fresh_service_renders(settings: Settings) -> None:
    with TestClient(create_app(settings)) as fresh:
        page = fresh.get("/transparency")
        assert page.status_code == 200
        assert "No call was denied in this range." in page.text
        assert (
            fresh.get("/transparency.json").json()["totals"]["policy_changes"] == 1
        )  # the policy loaded at start
