"""No surface can skip the gate: every Rekognition operation, REST route and CLI command is classified
as biometric (and then refused for a denied actor) or not biometric. A new surface that nobody
classified fails here, and a biometric service called outside the gate raises."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from botocore.exceptions import ClientError
from typer.main import get_command
from typer.testing import CliRunner

from aws_clients import make_client
from glasshouse.bench.live_server import live_server
from glasshouse.cli.main import app as cli_app
from glasshouse.config import Settings
from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import UngatedAccessError
from glasshouse.http.app import create_app
from glasshouse.rekognition.operations import CAPABILITIES, NOT_BIOMETRIC, OPERATIONS
from glasshouse.s3api.app import OPERATIONS as S3_OPERATIONS
from glasshouse.services import Services

#: CLI commands that process biometric data; every other command is listed as not biometric.
BIOMETRIC_COMMANDS = {
    "detect", "compare", "index", "search", "video detect", "video search", "redact",
    # Independent testing (SB 6280): aggregate figures on the tester's own pairs, which a crafted pair list
    # could turn into a face comparison, so the policy decides it (testing.run) like the others.
    "testing run",
    # Re-enrols a collection's people from their source images on another model (face.index).
    "collection migrate",
}  # fmt: skip
NOT_BIOMETRIC_COMMANDS = {
    "serve", "version", "collection create", "collection list", "collection delete",
    "keys create", "keys list", "keys revoke", "org create", "org list", "org update", "org approve",
    "policy show", "policy versions", "policy lift", "policy reimpose", "policy extend",
    "retention sweep", "retention forget", "audit verify", "audit export", "audit checkpoint",
    "people create", "people list", "people roles",
    "transparency report",  # counts from the audit log: organisations and numbers, no biometric data
    # The engine on the operator's own labelled data sets, not on people's images in a collection:
    "evaluate lfw", "evaluate pairs", "evaluate calibrate", "evaluate int8", "evaluate int8-ranges",
    "evaluate close-ups", "bench engine", "bench api", "bench video",
    "bench search", "bench index", "bench reconcile", "bench redact",
    "media put", "media list", "media rm",  # media storage: see "/v1/media" below
    # Where video job notifications go (webhooks per SNS topic ARN): operator configuration, audited.
    "notify add", "notify list", "notify remove",
    # Runs background jobs that a gated surface accepted (the gate decided at submission, and audited).
    "worker",
    # Face model packs: cards, installs (terms accepted, audited), anchors measured on the operator's own
    # labelled set (like evaluate calibrate).
    "models list", "models show", "models install", "models calibrate",
}  # fmt: skip
#: REST routes that touch no biometric data (all others must declare x-glasshouse-capability).
NOT_BIOMETRIC_ROUTES = {
    "/v1/organisations", "/v1/organisations/{name}", "/v1/organisations/{name}/approvals",
    "/v1/policy", "/v1/policy/versions", "/v1/policy/rules/{rule_id}/lift",
    "/v1/policy/rules/{rule_id}/reimpose", "/v1/policy/rules/{rule_id}/extend",
    # Reviews of leads: four-eyes steps, decided by separation of duties (governance.duties), not the gate.
    "/v1/leads", "/v1/leads/{lead_id}", "/v1/leads/{lead_id}/candidates/{candidate_id}/review",
    "/v1/leads/{lead_id}/export", "/v1/collections/{collection}/subject-deletions", "/v1/audit/verify",
    # Media storage: bytes in and out, audited; the jobs that analyse a clip's faces are gated themselves.
    "/v1/media", "/v1/media/{name}",
    # Reading one's own video job and its results; the gate decided (and audited) when the job started.
    "/v1/video/jobs/{job_id}", "/v1/video/jobs/{job_id}/results",
    # Community camera portal: footage, not biometric processing. Filing a request (POST
    # /v1/portal/requests) is gated below; GET on the same path is the public feed. Sharing
    # (/inbox/{request_id}/share) passes the gate as footage.share inside the service, but answers owner
    # sessions, not keys; downloads, evidence, emergency disclosures are audited (glasshouse.portal).
    "/v1/portal/requests", "/v1/portal/agencies/{name}", "/v1/portal/agency/requests",
    "/v1/portal/requests/{request_id}/clips", "/v1/portal/requests/{request_id}/clips/{clip_id}/download",
    "/v1/portal/requests/{request_id}/clips/{clip_id}/evidence", "/v1/portal/requests/{request_id}/close",
    "/v1/portal/signup", "/v1/portal/session", "/v1/portal/cameras", "/v1/portal/cameras/{camera_id}",
    "/v1/portal/clips", "/v1/portal/clips/{clip_id}", "/v1/portal/inbox",
    "/v1/portal/inbox/{request_id}/share", "/v1/portal/inbox/{request_id}/decline", "/v1/portal/settings",
    "/v1/portal/emergency", "/v1/portal/emergency/{disclosure_id}/approve",
}  # fmt: skip

#: The S3-compatible endpoint (glasshouse.s3api) is media storage, like /v1/media: bytes in and out, every
#: write audited (media.upload / media.delete) with the S3 caller's key; the video jobs that analyse an
#: object pass the gate themselves (StartFaceDetection / StartFaceSearch above).
NOT_BIOMETRIC_S3_OPERATIONS = {
    "ListBuckets", "HeadBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "PutObject",
    "GetObject", "HeadObject", "DeleteObject", "CreateMultipartUpload", "UploadPart",
    "CompleteMultipartUpload", "AbortMultipartUpload",
}  # fmt: skip


def _cli_commands(group: Any, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from _cli_commands(command, full + " ")
        else:
            yield full


@pytest.fixture(scope="module")
def denied_world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[dict[str, Any]]:
    """A server whose policy denies everything to organisations flagged ``blocked``."""
    data = tmp_path_factory.mktemp("gated") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    blocked = svc.organisations.create(setup, "blocked", sector="commercial", flags=["blocked"])
    key = svc.keys.create(blocked.id)
    _, document = svc.policies.active()
    deny_all = pol.Rule(
        id="deny-blocked",
        description="test: deny every capability to blocked organisations",
        effect="deny",
        capabilities=["*"],
        sectors=["*"],
        require_flags=["blocked"],
        reason="blocked for this test",
    )
    svc.policies.change(setup, document.model_copy(update={"rules": [*document.rules, deny_all]}), "test")
    svc.collections.create(blocked.id, "c")
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield {"server": server, "key": key, "data": data}


def _image(shared_data: Path) -> bytes:
    return (shared_data / "face_recognition/examples/obama.jpg").read_bytes()


def _footage_request() -> dict[str, Any]:
    """A footage request that keeps every portal rule, so only the policy can refuse it."""
    now = datetime.now(UTC)
    return {
        "incident_type": "burglary",
        "case_number": "C-1",
        "description": "Break-in; suspect wore a red jacket.",
        "contact": "desk@example.org",
        "area": {"type": "circle", "center": [43.25, -79.87], "radius_m": 300},
        "window_start": (now - timedelta(hours=3)).isoformat(),
        "window_end": (now - timedelta(hours=1)).isoformat(),
        "respond_by": (now + timedelta(days=3)).isoformat(),
        "purpose": "criminal_investigation",
    }


def test_every_s3_operation_is_classified() -> None:
    assert set(S3_OPERATIONS) == NOT_BIOMETRIC_S3_OPERATIONS


def test_every_rekognition_operation_is_classified() -> None:
    assert set(OPERATIONS) == set(CAPABILITIES) | NOT_BIOMETRIC
    assert not set(CAPABILITIES) & NOT_BIOMETRIC


def test_every_biometric_rekognition_operation_is_refused(
    denied_world: dict[str, Any], shared_data: Path
) -> None:
    key = denied_world["key"]
    # The collection was made outside the API: it lives in the default region.
    rek = make_client(denied_world["server"].url, key.access_key_id, key.secret, region="us-east-1")
    image = {"Bytes": _image(shared_data)}
    face_id = str(uuid.uuid4())
    calls = {
        "DetectFaces": lambda: rek.detect_faces(Image=image),
        "CompareFaces": lambda: rek.compare_faces(SourceImage=image, TargetImage=image),
        "IndexFaces": lambda: rek.index_faces(CollectionId="c", Image=image),
        "AssociateFaces": lambda: rek.associate_faces(CollectionId="c", UserId="u", FaceIds=[face_id]),
        "SearchFaces": lambda: rek.search_faces(CollectionId="c", FaceId=face_id),
        "SearchFacesByImage": lambda: rek.search_faces_by_image(CollectionId="c", Image=image),
        "SearchUsers": lambda: rek.search_users(CollectionId="c", UserId="u"),
        "SearchUsersByImage": lambda: rek.search_users_by_image(CollectionId="c", Image=image),
        "StartFaceDetection": lambda: rek.start_face_detection(
            Video={"S3Object": {"Bucket": "blocked", "Name": "v.mp4"}}
        ),
        "StartFaceSearch": lambda: rek.start_face_search(
            Video={"S3Object": {"Bucket": "blocked", "Name": "v.mp4"}}, CollectionId="c"
        ),
    }
    assert set(calls) == set(CAPABILITIES)
    for operation, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "AccessDeniedException", operation
        assert "deny-blocked" in exc.value.response["Error"]["Message"], operation
    assert rek.describe_collection(CollectionId="c")["FaceCount"] == 0  # nothing was enrolled


def test_every_rest_route_is_classified_and_biometric_ones_refused(
    denied_world: dict[str, Any], shared_data: Path
) -> None:
    spec = create_app(Settings(data_dir=denied_world["data"])).openapi()
    gated = {}
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1"):
            continue
        for operation in operations.values():
            capability = operation.get("x-glasshouse-capability")
            if capability:
                gated[path] = capability
            else:
                assert path in NOT_BIOMETRIC_ROUTES, f"{path} is not classified"
    assert set(gated) == {
        "/v1/faces/detect",
        "/v1/faces/compare",
        "/v1/collections/{collection}/search",
        "/v1/video/face-detection",
        "/v1/video/face-search",
        "/v1/portal/requests",
        "/v1/testing/runs",
    }
    key = denied_world["key"]
    image = base64.b64encode(_image(shared_data)).decode()
    bodies = {
        "/v1/faces/detect": {"image": image},
        "/v1/faces/compare": {"source": image, "target": image},
        "/v1/collections/{collection}/search": {"image": image},
        "/v1/video/face-detection": {"video": "v.mp4"},
        "/v1/video/face-search": {"video": "v.mp4", "collection": "c"},
        "/v1/portal/requests": _footage_request(),
        "/v1/testing/runs": {},  # refused before the upload is read
    }
    for path, body in bodies.items():
        url = denied_world["server"].url + path.replace("{collection}", "c")
        response = httpx.post(
            url, json=body, headers={"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
        )
        assert response.status_code == 403, (path, response.text)
        assert "deny-blocked" in response.json()["error"]["message"]


def test_every_cli_command_is_classified_and_biometric_ones_refused(
    denied_world: dict[str, Any], shared_data: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = set(_cli_commands(get_command(cli_app)))
    classified = BIOMETRIC_COMMANDS | NOT_BIOMETRIC_COMMANDS
    assert commands == classified, f"unclassified or missing: {commands ^ classified}"
    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(denied_world["data"]))
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))
    photo = str(shared_data / "face_recognition/examples/obama.jpg")
    pairs = denied_world["data"] / "pairs.csv"
    pairs.write_text("path_a,path_b,same\n" + f"{photo},{photo},1\n" * 50)
    runs = {
        "detect": ["detect", photo],
        "compare": ["compare", photo, photo],
        "index": ["index", "c", photo],
        "search": ["search", "c", photo],
        "video detect": ["video", "detect", photo],
        "video search": ["video", "search", "c", photo],
        "testing run": ["testing", "run", str(pairs)],
        "collection migrate": ["collection", "migrate", "c", "--model", "dlib", "--from", photo],
        "redact": ["redact", photo, "--out", str(denied_world["data"] / "redacted.jpg")],
    }
    assert set(runs) == BIOMETRIC_COMMANDS
    runner = CliRunner()
    for name, args in runs.items():
        result = runner.invoke(cli_app, ["--org", "blocked", *args])
        assert result.exit_code == 1, (name, result.output)
        assert "AccessDenied" in result.output and "deny-blocked" in result.output, (name, result.output)


def test_biometric_services_refuse_to_run_outside_the_gate(settings: Settings, shared_data: Path) -> None:
    svc = Services(settings)
    org = svc.org_id()
    svc.collections.create(org, "c")
    with pytest.raises(UngatedAccessError):
        svc.analyser.analyse(_image(shared_data))
    with pytest.raises(UngatedAccessError):
        svc.collections.index_image(org, "c", _image(shared_data))
    with pytest.raises(UngatedAccessError):
        svc.collections.search_by_image(org, "c", _image(shared_data))
    svc.close()


def test_typer_app_is_a_click_group() -> None:
    assert isinstance(cli_app, typer.Typer)
