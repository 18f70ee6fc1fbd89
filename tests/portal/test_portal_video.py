"""Shared clips in the Rekognition ``S3Object`` namespace: ``Bucket="portal-shared"``,
``Name="<request id>/<clip id>"`` names a clip shared into the caller's request, while the agency may read
it; the video capabilities still pass the gate, and a queued job checks the share again when it runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.jobs import InProcessRunner, JobExecutor, JobStatus
from glasshouse.media.service import MediaInfo
from glasshouse.portal.common import PORTAL_SHARED_BUCKET
from glasshouse.portal.models import Clip
from glasshouse.services import Services
from glasshouse.video.jobs import FACE_DETECTION
from glasshouse.video.submit import submit_video_job
from portal.conftest import HOME, PortalWorld

LAT, LON = HOME


def _shared_clip(world: PortalWorld) -> tuple[str, str, str]:
    """(request id, shared clip id, unshared clip id) of one owner near HOME."""
    _, headers = world.owner("alice")
    camera = world.camera(headers, LAT, LON)
    shared = world.clip(headers, camera, world.clock.now - timedelta(hours=2))
    kept = world.clip(headers, camera, world.clock.now - timedelta(hours=2, minutes=30))
    request = world.file().json()
    r = world.client.post(
        f"/v1/portal/inbox/{request['id']}/share", json={"clip_ids": [shared]}, headers=headers
    )
    assert r.status_code == 200, r.text
    return request["id"], shared, kept


def _shared_object(world: PortalWorld) -> tuple[str, dict[str, str], MediaInfo]:
    """(request id, the shared clip's S3Object, what it resolves to for the agency)."""
    rid, shared, _ = _shared_clip(world)
    s3 = {"Bucket": PORTAL_SHARED_BUCKET, "Name": f"{rid}/{shared}"}
    return rid, s3, world.svc.media.resolve_s3_object(world.agency.org_id, s3["Bucket"], s3["Name"])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app's own job runner polls only hourly here and is never woken: jobs submitted through the
    ``jobs`` node wait until the test runs them, after whatever it changes in between."""
    return settings.model_copy(update={"job_poll_seconds": 3600.0})


@pytest.fixture
def jobs(world: PortalWorld) -> Iterator[Services]:
    """A second node on the same database whose submissions do not wake the app's runner."""
    node = Services(world.svc.settings, clock=world.clock)
    yield node
    node.close()


def _run(node: Services) -> None:
    assert InProcessRunner(JobExecutor.from_services(node)).run_pending() == 1


def test_a_shared_clip_resolves_only_for_its_agency_and_only_while_shared(world: PortalWorld) -> None:
    svc, agency = world.svc, world.agency
    rid, shared, kept = _shared_clip(world)
    info = svc.media.resolve_s3_object(agency.org_id, PORTAL_SHARED_BUCKET, f"{rid}/{shared}")
    with svc.sessions() as session:
        clip = session.get(Clip, shared)
        assert clip is not None and info.sha256 == clip.sha256 and info.name == f"portal/{shared}"
    answers = set()
    for org_id, name in [
        (agency.org_id, f"{rid}/{kept}"),  # not shared
        (world.other_agency.org_id, f"{rid}/{shared}"),  # another agency
        (agency.org_id, f"{rid}"),  # malformed
        (agency.org_id, f"00000000-0000-0000-0000-000000000000/{shared}"),
    ]:
        with pytest.raises(NotFoundError) as exc:
            svc.media.resolve_s3_object(org_id, PORTAL_SHARED_BUCKET, name)
        answers.add((exc.value.code, exc.value.message.replace(name, "<n>")))
    assert len(answers) == 1, answers  # indistinguishable from a missing object


def test_face_detection_on_shared_footage_runs_and_face_search_stays_under_the_moratorium(
    world: PortalWorld, jobs: Services
) -> None:
    svc, agency = world.svc, world.agency
    _, s3, info = _shared_object(world)
    context = RequestContext(purpose="criminal_investigation", case_number="HPS-2026-0412")
    with svc.gate.guard(agency, Capability.VIDEO_FACE_DETECTION, context) as grant:
        job = submit_video_job(jobs, grant, FACE_DETECTION, info, s3_object=s3)
    _run(jobs)
    done = svc.jobs.get(agency.org_id, job.id)
    assert done.status == JobStatus.SUCCEEDED, done.status_message
    with (
        pytest.raises(PolicyDenied, match="police-moratorium-2020"),
        svc.gate.guard(agency, Capability.VIDEO_FACE_SEARCH, context),
    ):
        pass


def test_a_queued_job_fails_when_the_agency_lost_access_before_it_ran(
    world: PortalWorld, jobs: Services
) -> None:
    svc, agency = world.svc, world.agency
    rid, s3, info = _shared_object(world)
    with svc.gate.guard(agency, Capability.VIDEO_FACE_DETECTION, RequestContext()) as grant:
        job = submit_video_job(jobs, grant, FACE_DETECTION, info, s3_object=s3)
    svc.portal.close_request(agency, rid)
    world.clock.now += timedelta(days=svc.portal.access_days + 1)
    _run(jobs)
    done = svc.jobs.get(agency.org_id, job.id)
    assert done.status == JobStatus.FAILED and "not found" in (done.status_message or "").lower(), done


def test_another_organisations_media_needs_a_shared_bucket(world: PortalWorld) -> None:
    svc, agency = world.svc, world.agency
    _, _, info = _shared_object(world)
    with (
        svc.gate.guard(agency, Capability.VIDEO_FACE_DETECTION, RequestContext()) as grant,
        pytest.raises(InvalidParameterError, match="caller's own media or media shared with it"),
    ):
        submit_video_job(svc, grant, FACE_DETECTION, info)
