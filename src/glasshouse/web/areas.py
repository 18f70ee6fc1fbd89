"""The UI's areas and who may open each: one table behind the pages' role checks, the navigation and
the home page, so that nobody is shown a link that ends in a 403."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from glasshouse.people.models import AUDITOR, CAMERA_OWNER, INVESTIGATOR, OPERATOR, ORG_ADMIN, REVIEWER


@dataclass(frozen=True, slots=True)
class Area:
    href: str
    nav: str  #: its label in the navigation bar
    title: str  #: its card's title on the home page
    text: str  #: what it is for
    roles: tuple[str, ...]  #: any one of these opens it

    def open_to(self, roles: Collection[str]) -> bool:
        return any(role in roles for role in self.roles)


OPERATOR_CONSOLE = Area(
    "/ui/operator/",
    "Operator",
    "Operator console",
    "Organisations, people, access keys, and the responsible-use policy and its moratorium.",
    (OPERATOR,),
)
CONSOLE = Area(
    "/ui/console/",
    "Console",
    "Console",
    "Your organisation's collections and searches, through the policy gate.",
    (INVESTIGATOR, ORG_ADMIN),
)
COLLECTIONS = Area(
    "/ui/collections/",
    "Collections",
    "Collections",
    "Create collections, enrol faces from images, and manage the people (users) they belong to.",
    (INVESTIGATOR, ORG_ADMIN),
)
VIDEO = Area(
    "/ui/video/",
    "Video",
    "Video",
    "Face detection and face search in your organisation's stored videos, through the policy gate.",
    (INVESTIGATOR, ORG_ADMIN),
)
REDACTION = Area(
    "/ui/redaction/",
    "Redaction",
    "Redaction",
    "Release exports: copies of your stored videos with faces blurred or boxed, each with its "
    "chain-of-custody record.",
    (INVESTIGATOR, ORG_ADMIN, OPERATOR),
)
REVIEW = Area(
    "/ui/review/",
    "Review",
    "Review queue",
    "Confirm or reject candidate matches before anyone acts on them.",
    (REVIEWER, ORG_ADMIN),
)
AUDIT = Area(
    "/ui/audit/",
    "Audit",
    "Audit log",
    "Search, verify and export the tamper-evident audit log.",
    (AUDITOR, OPERATOR),
)
CAMERA_PORTAL = Area(
    "/ui/portal/inbox",
    "Camera portal",
    "Your cameras and footage requests",
    "Register cameras, upload clips, and decide request by request what to share.",
    (CAMERA_OWNER,),
)
FOOTAGE_REQUESTS = Area(
    "/ui/portal/requests",
    "Footage requests",
    "Footage requests",
    "File a public, bounded request for community footage in a case; download what residents shared.",
    (INVESTIGATOR,),
)
EMERGENCY_DISCLOSURE = Area(
    "/ui/portal/emergency",
    "Emergency disclosure",
    "Emergency disclosure",
    "Disclose clips without consent in an emergency: two operators and a written reason.",
    (OPERATOR,),
)

AREAS: tuple[Area, ...] = (
    OPERATOR_CONSOLE,
    CONSOLE,
    COLLECTIONS,
    VIDEO,
    REDACTION,
    REVIEW,
    AUDIT,
    CAMERA_PORTAL,
    FOOTAGE_REQUESTS,
    EMERGENCY_DISCLOSURE,
)


def open_to(roles: Collection[str]) -> list[Area]:
    """The areas a person holding ``roles`` may open, in navigation order."""
    return [area for area in AREAS if area.open_to(roles)]
