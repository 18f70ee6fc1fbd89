"""A release export of footage shared with an agency (``/v1/redaction/exports`` with the ``portal-shared``
bucket): for a clip shared redacted, the export is made from the copy the agency was given, never from the
original; a clip not shared with the agency (or shared with another) cannot be exported by it."""

from __future__ import annotations

import time
from typing import Any

from glasshouse.jobs import InProcessRunner, JobExecutor
from glasshouse.portal.common import PORTAL_SHARED_BUCKET
from glasshouse.services import Services
from portal.conftest import PortalWorld
from portal.test_portal_redaction import redacted_share, settings, sha  # noqa: F401


def export(world: PortalWorld, headers: dict[str, str], name: str) -> Any:
    body = {"source": {"bucket": PORTAL_SHARED_BUCKET, "name": name}, "reason": None}
    return world.client.post("/v1/redaction/exports", json=body, headers=headers)


def done(world: PortalWorld, job_id: str) -> Any:
    """The export once finished, run by a second node (or the app's own runner, if it took it first)."""
    node = Services(world.svc.settings, clock=world.clock)
    try:
        deadline = time.monotonic() + 240
        while True:
            InProcessRunner(JobExecutor.from_services(node)).run_pending()
            job = world.client.get(f"/v1/redaction/exports/{job_id}", headers=world.agency_headers)
            if job.json()["status"] != "IN_PROGRESS":
                return job
            assert time.monotonic() < deadline, "export did not finish"
            time.sleep(0.3)
    finally:
        node.close()


def test_a_redacted_share_exports_from_the_agencys_copy_only(world: PortalWorld, door_clip: bytes) -> None:
    _, rid, clip, given = redacted_share(world, door_clip)
    started = export(world, world.agency_headers, f"{rid}/{clip}")
    assert started.status_code == 202, started.text
    job = done(world, started.json()["job_id"])
    assert job.json()["status"] == "SUCCEEDED", job.text
    record = world.client.get(f"/v1/redaction/copies/{job.json()['copy_id']}", headers=world.agency_headers)
    # made from the redacted copy the owner shared (its digest), not from the owner's original
    assert record.json()["source_sha256"] == given["sha256"] != sha(door_clip)
    assert record.json()["purpose"] == "release" and record.json()["made_by"].startswith("key:")
    download = world.client.get(record.json()["download"], headers=world.agency_headers)
    assert sha(download.content) == record.json()["sha256"]

    # Another agency: the shared name is nobody's to it; the owner's copy id or clip id alone neither.
    for name in (f"{rid}/{clip}", clip, given["id"], f"{rid}/{given['id']}", f"../{rid}/{clip}"):
        response = export(world, world.other_agency_headers, name)
        assert response.status_code in (400, 404), (name, response.text)
    response = world.client.get(record.json()["download"], headers=world.other_agency_headers)
    assert response.status_code == 404
