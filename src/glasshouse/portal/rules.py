"""The rules a footage request must keep (the limits Ring's Neighbors Public Safety Service enforced), as
pure functions: areas in square miles, point-in-area, the time window, and the text of a request.

Areas are a circle ``{"type": "circle", "center": [lat, lon], "radius_m": r}`` or a polygon
``{"type": "polygon", "points": [[lat, lon], ...]}``. A polygon is measured on a local equirectangular
projection around its first point (error well under 0.1% at the half-square-mile scale of a request);
distances to a circle's centre are great-circle (haversine). Each broken rule raises
:class:`RequestRuleError` naming the rule, so a caller can show which limit was crossed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from glasshouse.errors import InvalidInputError

EARTH_RADIUS_M: Final = 6_371_008.8
SQ_M_PER_SQ_MI: Final = 1609.344**2
MIN_AREA_SQ_MI: Final = 0.025
MAX_AREA_SQ_MI: Final = 0.5
MIN_WINDOW: Final = timedelta(minutes=15)
MAX_WINDOW: Final = timedelta(hours=12)
#: The window must have ended within this long before the request is filed.
MAX_WINDOW_AGE: Final = timedelta(days=30)
#: The response deadline lies at most this far ahead.
MAX_RESPONSE_TIME: Final = timedelta(days=30)
MAX_CASE_NUMBER: Final = 64
MAX_DESCRIPTION: Final = 2000
MAX_CONTACT: Final = 255
MAX_POLYGON_POINTS: Final = 100
INCIDENT_TYPES: Final[tuple[str, ...]] = (
    "assault",
    "burglary",
    "fraud",
    "hit_and_run",
    "homicide",
    "missing_person",
    "robbery",
    "theft",
    "vandalism",
    "vehicle_theft",
    "other",
)


class RequestRuleError(InvalidInputError):
    """A footage request breaks one of the portal's rules; ``rule`` names it (e.g. ``area-too-small``)."""

    code = "RequestRuleViolation"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} (rule: {rule})")
        self.rule = rule


# -- areas --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def to_json(self) -> dict[str, Any]:
        return {"type": "circle", "center": [self.lat, self.lon], "radius_m": self.radius_m}


@dataclass(frozen=True, slots=True)
class Polygon:
    points: tuple[tuple[float, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": "polygon", "points": [[lat, lon] for lat, lon in self.points]}


Area = Circle | Polygon


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestRuleError("area-invalid", f"{what} must be a finite number")
    return float(value)


def _point(value: object, what: str) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise RequestRuleError("area-invalid", f"{what} must be [latitude, longitude]")
    lat, lon = _number(value[0], f"{what} latitude"), _number(value[1], f"{what} longitude")
    check_coordinates(lat, lon, rule="area-invalid")
    return lat, lon


def check_coordinates(lat: float, lon: float, *, rule: str = "coordinates-invalid") -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise RequestRuleError(rule, "latitude must be in [-90, 90] and longitude in [-180, 180]")


def parse_area(data: object) -> Area:
    """An area from its JSON form; :class:`RequestRuleError` (``area-invalid``) if malformed."""
    if not isinstance(data, Mapping):
        raise RequestRuleError("area-invalid", "an area is an object with a 'type' of circle or polygon")
    kind = data.get("type")
    if kind == "circle":
        lat, lon = _point(data.get("center"), "the circle's center")
        radius = _number(data.get("radius_m"), "radius_m")
        if radius <= 0:
            raise RequestRuleError("area-invalid", "radius_m must be positive")
        return Circle(lat, lon, radius)
    if kind == "polygon":
        raw = data.get("points")
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise RequestRuleError("area-invalid", "a polygon's points are a list of [latitude, longitude]")
        points = tuple(_point(p, f"point {i + 1}") for i, p in enumerate(raw))
        if len(points) > 1 and points[0] == points[-1]:
            points = points[:-1]  # a closed ring repeats its first point
        if not 3 <= len(points) <= MAX_POLYGON_POINTS:
            raise RequestRuleError("area-invalid", f"a polygon has 3 to {MAX_POLYGON_POINTS} distinct points")
        polygon = Polygon(points)
        if _self_intersects(_project(polygon.points, polygon.points[0])):
            raise RequestRuleError("area-invalid", "a polygon's edges must not cross each other")
        return polygon
    raise RequestRuleError("area-invalid", "an area's type is 'circle' or 'polygon'")


def _project(points: Sequence[tuple[float, float]], origin: tuple[float, float]) -> list[tuple[float, float]]:
    """Metres east and north of ``origin`` on an equirectangular projection at the origin's latitude."""
    lat0, lon0 = origin
    k = math.cos(math.radians(lat0))
    out = []
    for lat, lon in points:
        dlon = (lon - lon0 + 180.0) % 360.0 - 180.0  # across the antimeridian too
        out.append((EARTH_RADIUS_M * math.radians(dlon) * k, EARTH_RADIUS_M * math.radians(lat - lat0)))
    return out


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(
    p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float], q2: tuple[float, float]
) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4)


def _self_intersects(xy: Sequence[tuple[float, float]]) -> bool:
    n = len(xy)
    edges = [(xy[i], xy[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


def area_sq_mi(area: Area) -> float:
    """The area's size in square miles (circle: pi r^2; polygon: shoelace on the local projection)."""
    if isinstance(area, Circle):
        return math.pi * area.radius_m**2 / SQ_M_PER_SQ_MI
    xy = _project(area.points, area.points[0])
    twice = sum(
        xy[i][0] * xy[(i + 1) % len(xy)][1] - xy[(i + 1) % len(xy)][0] * xy[i][1] for i in range(len(xy))
    )
    return abs(twice) / 2.0 / SQ_M_PER_SQ_MI


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def contains(area: Area, lat: float, lon: float) -> bool:
    """Whether the point lies inside the area (its boundary counts as inside for circles)."""
    if isinstance(area, Circle):
        return distance_m((area.lat, area.lon), (lat, lon)) <= area.radius_m
    xy = _project(area.points, area.points[0])
    x, y = _project([(lat, lon)], area.points[0])[0]
    inside = False
    n = len(xy)
    for i in range(n):
        (x1, y1), (x2, y2) = xy[i], xy[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


#: Side of the grid cell that stands for a camera's position in public (about 4x the smallest request area).
DISCLOSURE_CELL_M: Final = 500.0


def _grid_step(degrees_per_cell: float, span: float) -> float:
    """A step that divides ``span`` degrees into whole cells at least ``degrees_per_cell`` wide (at least
    four: the rows at the poles are cut into quarters rather than one degenerate ring)."""
    return span / max(4, math.floor(span / degrees_per_cell))


def grid_cell(lat: float, lon: float) -> tuple[float, float, float, float]:
    """The fixed grid cell holding a point: ``(south, west, north, east)`` in degrees.

    Rows are ``DISCLOSURE_CELL_M`` tall; each row is cut into whole cells at least that wide at the row's
    poleward edge, so every cell covers at least ``DISCLOSURE_CELL_M`` squared and the grid never depends on
    where inside a cell a point lies: every disclosure of the same camera shows the same cell, and
    intersecting many of them reveals nothing finer than one cell.
    """
    check_coordinates(lat, lon)
    metres_per_degree = EARTH_RADIUS_M * math.pi / 180
    lat_step = _grid_step(DISCLOSURE_CELL_M / metres_per_degree, 180.0)
    row = min(math.floor((lat + 90.0) / lat_step), round(180.0 / lat_step) - 1)
    south = -90.0 + row * lat_step
    north = min(90.0, south + lat_step)
    narrowest = math.cos(math.radians(max(abs(south), abs(north))))
    lon_step = _grid_step(DISCLOSURE_CELL_M / (metres_per_degree * max(narrowest, 1e-9)), 360.0)
    column = min(math.floor((lon + 180.0) / lon_step), round(360.0 / lon_step) - 1)
    west = -180.0 + column * lon_step
    return south, west, north, min(180.0, west + lon_step)


def disclosure_area(points: Sequence[tuple[float, float]]) -> Polygon:
    """What the public (and the agency) see of where disclosed cameras are: the smallest box of whole grid
    cells (:func:`grid_cell`) holding every point, never a shape centred on a camera. Each cell is larger
    than the smallest area a request may cover."""
    if not points:
        raise ValueError("a disclosure area needs at least one point")
    cells = [grid_cell(lat, lon) for lat, lon in points]
    south, west = min(c[0] for c in cells), min(c[1] for c in cells)
    north, east = max(c[2] for c in cells), max(c[3] for c in cells)
    return Polygon(((south, west), (south, east), (north, east), (north, west)))


def check_area_size(area: Area) -> float:
    """The area's size, or ``area-too-small`` / ``area-too-large``."""
    size = area_sq_mi(area)
    if size < MIN_AREA_SQ_MI:
        raise RequestRuleError(
            "area-too-small", f"the area of {size:.3f} sq mi is below the {MIN_AREA_SQ_MI} sq mi minimum"
        )
    if size > MAX_AREA_SQ_MI:
        raise RequestRuleError(
            "area-too-large", f"the area of {size:.3f} sq mi is above the {MAX_AREA_SQ_MI} sq mi maximum"
        )
    return size


# -- time ---------------------------------------------------------------------------------------------


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RequestRuleError("time-invalid", f"{what} must carry a time zone (e.g. 2026-01-01T10:00:00Z)")


def check_window(start: datetime, end: datetime, now: datetime) -> None:
    """The incident window: 15 minutes to 12 hours, over, and ended within the past 30 days."""
    _aware(start, "window_start")
    _aware(end, "window_end")
    length = end - start
    if length < MIN_WINDOW:
        minutes = length.total_seconds() / 60
        raise RequestRuleError(
            "window-too-short", f"the window lasts {minutes:.0f} minutes; the minimum is 15 minutes"
        )
    if length > MAX_WINDOW:
        hours = length.total_seconds() / 3600
        raise RequestRuleError(
            "window-too-long", f"the window lasts {hours:.1f} hours; the maximum is 12 hours"
        )
    if end > now:
        raise RequestRuleError("window-not-ended", "the window must have ended before the request is filed")
    if end < now - MAX_WINDOW_AGE:
        raise RequestRuleError("window-too-old", "the window must have ended within the past 30 days")


def check_respond_by(respond_by: datetime, now: datetime) -> None:
    _aware(respond_by, "respond_by")
    if respond_by <= now:
        raise RequestRuleError("respond-by-past", "the response deadline must lie in the future")
    if respond_by > now + MAX_RESPONSE_TIME:
        raise RequestRuleError("respond-by-too-far", "the response deadline is at most 30 days ahead")


# -- text ---------------------------------------------------------------------------------------------

_RACE = (
    r"black|white|asian|hispanic|latino|latina|latinx|arab|arabic|african[- ]american|african|caucasian"
    r"|native[- ]american|indian|middle[- ]eastern|mexican|chinese|somali|roma|gypsy|brown|indigenous"
)
_PERSON = (
    r"m[ae]n|male|males|wom[ae]n|female|females|guy|guys|person|people|persons|individual|individuals"
    r"|suspect|suspects|teen|teens|teenager|teenagers|kid|kids|boy|boys|girl|girls|youth|youths|subject"
)
#: A person described by a race or ethnicity word ("a black male", "two hispanic guys").
_RACIAL_PERSON = re.compile(rf"\b({_RACE})\s+(?:(?:young|old|older|adult)\s+)?({_PERSON})\b", re.IGNORECASE)
#: Words that describe a person by something other than race: clothing, build, age, marks, vehicles.
_DESCRIPTOR = re.compile(
    r"\b(wearing|wore|shirt|t-shirt|hoodie|hood|jacket|coat|jeans|pants|trousers|shorts|dress|skirt|hat"
    r"|cap|beanie|mask|glasses|backpack|bag|shoes|sneakers|boots|gloves|tall|short|height|\d+\s?(?:ft|cm|')"
    r"|feet|build|heavy|slim|thin|stocky|muscular|hair|bald|beard|moustache|mustache|tattoo|tattoos|scar"
    r"|aged?|years?\s+old|\d{2}s|car|truck|van|suv|sedan|bike|bicycle|motorcycle|scooter|vehicle|plate"
    r"|license|licence|carrying|limp)\b",
    re.IGNORECASE,
)
#: Lawful protest or assembly. "march" only in lower case or a derived form, so the month does not match.
_PROTEST = re.compile(
    r"\b(?i:protests?|protesters?|protestors?|protesting|demonstrations?|demonstrators?|rally|rallies"
    r"|picket(?:s|ing|ers?)?|sit-ins?|marchers|marching)\b|\bmarch(?:es)?\b"
)


def check_text(
    case_number: str, incident_type: str, description: str, contact: str
) -> tuple[str, str, str, str]:
    """The request's text fields, stripped; each broken rule named."""
    case_number, description, contact = case_number.strip(), description.strip(), contact.strip()
    if not case_number:
        raise RequestRuleError("case-number-required", "a footage request needs the case number it is for")
    if len(case_number) > MAX_CASE_NUMBER or not case_number.isprintable():
        raise RequestRuleError(
            "case-number-invalid", f"a case number is at most {MAX_CASE_NUMBER} printable characters"
        )
    if incident_type not in INCIDENT_TYPES:
        raise RequestRuleError(
            "incident-type-unknown", f"the incident type must be one of {', '.join(INCIDENT_TYPES)}"
        )
    if not description:
        raise RequestRuleError("description-required", "describe the incident and what footage could show")
    if len(description) > MAX_DESCRIPTION:
        raise RequestRuleError(
            "description-too-long", f"a description is at most {MAX_DESCRIPTION} characters"
        )
    if not contact or len(contact) > MAX_CONTACT:
        raise RequestRuleError("contact-required", f"give a contact of 1 to {MAX_CONTACT} characters")
    check_description(description)
    return case_number, incident_type, description, contact


def check_description(description: str) -> None:
    """Refuse a description that singles a person out by race alone, or that asks about lawful protest."""
    if _PROTEST.search(description):
        raise RequestRuleError(
            "protest-activity", "footage may not be requested about lawful protest, demonstration or assembly"
        )
    if _RACIAL_PERSON.search(description):
        rest = _RACIAL_PERSON.sub(" ", description)
        if not _DESCRIPTOR.search(rest):
            raise RequestRuleError(
                "race-only-description",
                "a person may not be described by race or ethnicity alone: describe clothing, build, "
                "age, marks or a vehicle",
            )
