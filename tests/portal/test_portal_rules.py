"""The request rules as pure functions: areas, point-in-area, windows, text (with hypothesis properties)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.portal import rules
from glasshouse.portal.rules import Circle, Polygon, RequestRuleError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LAT, LON = 43.2557, -79.8711
M_PER_DEG_LAT = rules.EARTH_RADIUS_M * math.pi / 180


def _rule(exc: pytest.ExceptionInfo[RequestRuleError]) -> str:
    return exc.value.rule


def square(lat: float, lon: float, side_m: float) -> Polygon:
    dlat = side_m / M_PER_DEG_LAT
    dlon = side_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return Polygon(((lat, lon), (lat + dlat, lon), (lat + dlat, lon + dlon), (lat, lon + dlon)))


def test_circle_area_is_pi_r_squared_in_square_miles() -> None:
    assert rules.area_sq_mi(Circle(LAT, LON, 1609.344)) == pytest.approx(math.pi)
    assert rules.check_area_size(Circle(LAT, LON, 300)) == pytest.approx(0.1092, abs=1e-4)


def test_area_limits_name_their_rule() -> None:
    with pytest.raises(RequestRuleError) as small:
        rules.check_area_size(Circle(LAT, LON, 100))  # 0.012 sq mi
    assert _rule(small) == "area-too-small" and "0.012 sq mi is below the 0.025" in small.value.message
    with pytest.raises(RequestRuleError) as large:
        rules.check_area_size(Circle(LAT, LON, 800))  # 0.78 sq mi
    assert _rule(large) == "area-too-large"


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-70, 70),
    lon=st.floats(-179, 179),
    side=st.floats(50, 3000),
)
def test_square_polygon_area_matches_its_side(lat: float, lon: float, side: float) -> None:
    polygon = square(lat, lon, side)
    assert rules.area_sq_mi(polygon) * rules.SQ_M_PER_SQ_MI == pytest.approx(side * side, rel=2e-3)
    reversed_polygon = Polygon(tuple(reversed(polygon.points)))
    assert rules.area_sq_mi(reversed_polygon) == pytest.approx(rules.area_sq_mi(polygon))
    centre = (
        (polygon.points[0][0] + polygon.points[2][0]) / 2,
        (polygon.points[0][1] + polygon.points[2][1]) / 2,
    )
    assert rules.contains(polygon, *centre)
    far = polygon.points[2][0] + (polygon.points[2][0] - polygon.points[0][0]), centre[1]
    assert not rules.contains(polygon, *far)


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-70, 70),
    lon=st.floats(-179, 179),
    radius=st.floats(20, 2000),
    bearing=st.floats(0, 2 * math.pi),
    fraction=st.floats(0, 2),
)
def test_point_in_circle_is_distance_within_radius(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    d = radius * fraction
    plat = lat + d * math.cos(bearing) / M_PER_DEG_LAT
    plon = lon + d * math.sin(bearing) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    inside = rules.contains(Circle(lat, lon, radius), plat, plon)
    if fraction < 0.99:
        assert inside
    elif fraction > 1.01:
        assert not inside


def test_parse_area_accepts_both_shapes_and_names_malformed_ones() -> None:
    circle = rules.parse_area({"type": "circle", "center": [LAT, LON], "radius_m": 200})
    assert circle == Circle(LAT, LON, 200.0)
    ring = [[LAT, LON], [LAT + 0.003, LON], [LAT + 0.003, LON + 0.004], [LAT, LON + 0.004], [LAT, LON]]
    polygon = rules.parse_area({"type": "polygon", "points": ring})
    assert isinstance(polygon, Polygon) and len(polygon.points) == 4  # the closing point is dropped
    bad: list[object] = [
        None,
        {"type": "square"},
        {"type": "circle", "center": [LAT], "radius_m": 10},
        {"type": "circle", "center": [LAT, LON], "radius_m": -1},
        {"type": "circle", "center": [95, LON], "radius_m": 100},
        {"type": "circle", "center": [LAT, LON], "radius_m": float("nan")},
        {"type": "circle", "center": [LAT, LON], "radius_m": True},
        {"type": "polygon", "points": [[LAT, LON], [LAT + 0.01, LON]]},
        # a bow tie: its edges cross
        {
            "type": "polygon",
            "points": [[LAT, LON], [LAT + 0.01, LON + 0.01], [LAT + 0.01, LON], [LAT, LON + 0.01]],
        },
    ]
    for data in bad:
        with pytest.raises(RequestRuleError) as exc:
            rules.parse_area(data)
        assert _rule(exc) == "area-invalid", data


@pytest.mark.parametrize(
    ("start", "end", "rule"),
    [
        (NOW - timedelta(hours=2), NOW - timedelta(hours=2) + timedelta(minutes=14), "window-too-short"),
        (NOW - timedelta(hours=14), NOW - timedelta(hours=1), "window-too-long"),
        (NOW - timedelta(hours=1), NOW + timedelta(minutes=30), "window-not-ended"),
        (NOW - timedelta(days=31, hours=1), NOW - timedelta(days=31), "window-too-old"),
    ],
)
def test_window_rules(start: datetime, end: datetime, rule: str) -> None:
    with pytest.raises(RequestRuleError) as exc:
        rules.check_window(start, end, NOW)
    assert _rule(exc) == rule


def test_window_limits_are_inclusive() -> None:
    rules.check_window(NOW - timedelta(minutes=15), NOW, NOW)
    rules.check_window(NOW - timedelta(days=30, hours=12), NOW - timedelta(days=30), NOW)
    with pytest.raises(RequestRuleError) as exc:
        rules.check_window(datetime(2026, 6, 1, 9), datetime(2026, 6, 1, 10), NOW)
    assert _rule(exc) == "time-invalid"


@settings(max_examples=100, deadline=None)
@given(
    ago=st.integers(0, 40 * 24 * 60),
    minutes=st.integers(0, 14 * 60),
)
def test_window_accepted_exactly_when_every_limit_holds(ago: int, minutes: int) -> None:
    end = NOW - timedelta(minutes=ago)
    start = end - timedelta(minutes=minutes)
    ok = 15 <= minutes <= 12 * 60 and ago <= 30 * 24 * 60
    try:
        rules.check_window(start, end, NOW)
    except RequestRuleError:
        assert not ok
    else:
        assert ok


def test_respond_by_must_be_ahead_and_within_thirty_days() -> None:
    rules.check_respond_by(NOW + timedelta(days=30), NOW)
    for when, rule in ((NOW, "respond-by-past"), (NOW + timedelta(days=31), "respond-by-too-far")):
        with pytest.raises(RequestRuleError) as exc:
            rules.check_respond_by(when, NOW)
        assert _rule(exc) == rule


def test_text_rules() -> None:
    ok = rules.check_text(" A-1 ", "burglary", " Stolen bike ", " me@police.example ")
    assert ok == ("A-1", "burglary", "Stolen bike", "me@police.example")
    cases = [
        (("", "burglary", "x", "c"), "case-number-required"),
        (("   ", "burglary", "x", "c"), "case-number-required"),
        (("A" * 65, "burglary", "x", "c"), "case-number-invalid"),
        (("A-1", "jaywalking", "x", "c"), "incident-type-unknown"),
        (("A-1", "burglary", "", "c"), "description-required"),
        (("A-1", "burglary", "x", ""), "contact-required"),
    ]
    for args, rule in cases:
        with pytest.raises(RequestRuleError) as exc:
            rules.check_text(*args)
        assert _rule(exc) == rule, args


@pytest.mark.parametrize(
    "text",
    [
        "Looking for a black male seen in the area.",
        "Two Hispanic guys were near the store.",
        "Any footage of an Asian woman walking by?",
        "Suspect: African American man.",
    ],
)
def test_a_person_described_by_race_alone_is_refused(text: str) -> None:
    with pytest.raises(RequestRuleError) as exc:
        rules.check_description(text)
    assert _rule(exc) == "race-only-description"


@pytest.mark.parametrize(
    "text",
    [
        "Footage of the protest on Main Street.",
        "Who attended the rally at city hall?",
        "Demonstrators blocked the road; looking for faces.",
        "People marching towards the park",
        "the march downtown",
    ],
)
def test_requests_about_protest_are_refused(text: str) -> None:
    with pytest.raises(RequestRuleError) as exc:
        rules.check_description(text)
    assert _rule(exc) == "protest-activity"


@pytest.mark.parametrize(
    "text",
    [
        "A white male, about 6 feet tall, wearing a black hoodie and jeans, drove off in a silver sedan.",
        "Stolen black bicycle taken from a porch.",
        "Package theft on 12 March, suspect wore a grey cap and carried a large bag.",
        "Hit and run by a white van with a broken headlight.",
    ],
)
def test_ordinary_descriptions_pass(text: str) -> None:
    rules.check_description(text)


@pytest.mark.parametrize(
    "point",
    [
        (43.2557, -79.8711),
        (51.47847, 0.00021),
        (0.0, 0.0),
        (-33.87, 151.21),
        (64.14, -21.94),
        (89.99, 179.99),
    ],
)
def test_a_disclosure_cell_holds_the_camera_is_larger_than_any_request_and_ignores_its_position(
    point: tuple[float, float],
) -> None:
    area = rules.disclosure_area([point])
    assert rules.contains(area, *point) and rules.area_sq_mi(area) >= rules.MIN_AREA_SQ_MI
    south, west, north, east = rules.grid_cell(*point)
    # Anywhere else in the same cell gives the very same area: nothing in it depends on the camera.
    inside = (south + (north - south) * 0.9, west + (east - west) * 0.1)
    assert rules.disclosure_area([inside]) == area
