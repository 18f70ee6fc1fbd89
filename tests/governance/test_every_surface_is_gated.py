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
from glasshouse.cli import common as cli_common
from glasshouse.cli.main import app as cli_app
from glasshouse.config import Settings
from glasshouse.governance import policy as pol
from glasshouse.governance.gate import UngatedAccessError
from glasshouse.http.app import create_app
from glasshouse.organisations.models import Organisation
from glasshouse.rekognition.registry import CAPABILITIES, NOT_BIOMETRIC, OPERATIONS
from glasshouse.s3api.app import OPERATIONS as S3_OPERATIONS
from glasshouse.services import Services
from policy_support import add_rule
from web_support import SETUP

#: CLI commands that process biometric data; every other command is listed as not biometric.
BIOMETRIC_COMMANDS = {
    "detect", "compare", "index", "search", "video detect", "video search", "redact", "media redact",
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
    # Creating a collection stores no biometric data (as CreateCollection); opting in to keeping enrolled
    # faces' crops is audited there (collection.face_crops), and the crops are made by gated enrolment.
    "/v1/collections",
    # Media storage: bytes in and out, audited; the jobs that analyse a clip's faces are gated themselves.
    "/v1/media", "/v1/media/{name}",
    # Reading one's own video job and its results; the gate decided (and audited) when the job started.
    "/v1/video/jobs/{job_id}", "/v1/video/jobs/{job_id}/results",
    # Reading one's own redaction export job (the gate decided when it started; the copy's routes are gated).
    "/v1/redaction/exports/{job_id}",
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
    # Redacted sharing (issue 17): watching or cancelling one's own preview, and unredaction requests and
    # answers, are footage access and consent, audited; making a preview is gated (below). Accepting an
    # unredaction request passes the gate as footage.share inside the service, like sharing.
    "/v1/portal/previews/{copy_id}", "/v1/portal/unredactions", "/v1/portal/unredactions/{unredaction_id}/accept",
    "/v1/portal/unredactions/{unredaction_id}/refuse",
    "/v1/portal/requests/{request_id}/clips/{clip_id}/unredaction",
}  # fmt: skip
#: Gated routes that answer camera owners' sessions, not organisation keys: the loop below cannot call
#: them with the blocked organisation's key; each names the test proving a denial refuses it.
OWNER_SESSION_GATED = {
    "/v1/portal/inbox/{request_id}/previews": "tests/portal/test_portal_redaction.py::test_making_a_preview_passes_the_gate",
}

#: The S3-compatible endpoint (glasshouse.s3api) is media storage, like /v1/media: bytes in and out, every
#: write audited (media.upload / media.delete) with the S3 caller's key; the video jobs that analyse an
#: object pass the gate themselves (StartFaceDetection / StartFaceSearch above).
NOT_BIOMETRIC_S3_OPERATIONS = {
    "ListBuckets", "HeadBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "PutObject",
    "GetObject", "HeadObject", "DeleteObject", "CreateMultipartUpload", "UploadPart",
    "CompleteMultipartUpload", "AbortMultipartUpload",
}  # fmt: skip


#: Web UI routes that serve an image of an enrolled face. Like the reviews they belong to, they are four-eyes
#: steps decided by separation of duties (governance.duties: a reviewer of the lead's organisation, not the
#: searcher), each view audited; any other request is one 404 that names nothing.
FACE_IMAGE_UI_ROUTES = {"/ui/review/leads/{lead_id}/candidates/{candidate_id}/crop"}


def _cli_commands(group: Any, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from _cli_commands(command, full + " ")
        else:
            yield full


def _blocked_organisation(svc: Services) -> Organisation:
    """Organisation ``blocked`` (commercial) with collection ``c``, under a policy rule that denies it every
    capability (``deny-blocked``)."""
    blocked = svc.organisations.create(SETUP, "blocked", sector="commercial", flags=["blocked"])
    deny_all = pol.Rule(
        id="deny-blocked",
        description="test: deny every capability to blocked organisations",
        effect="deny",
        capabilities=["*"],
        sectors=["*"],
        require_flags=["blocked"],
        reason="blocked for this test",
    )
    add_rule(svc, SETUP, deny_all)
    svc.collections.create(blocked.id, "c")
    return blocked


@pytest.fixture(scope="module")
def denied_world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[dict[str, Any]]:
    """A server whose policy denies everything to organisations flagged ``blocked``."""
    data = tmp_path_factory.mktemp("gated") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    key = svc.keys.create(_blocked_organisation(svc).id)
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
        "/v1/redaction/exports",
        "/v1/redaction/copies",
        "/v1/redaction/copies/{copy_id}",
        "/v1/redaction/copies/{copy_id}/content",
        *OWNER_SESSION_GATED,
    }
    assert gated["/v1/portal/inbox/{request_id}/previews"] == "media.redact"
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
        "/v1/redaction/exports": {"source": {"name": "v.mp4"}},
    }
    reads = {
        "/v1/redaction/copies",
        "/v1/redaction/copies/{copy_id}",
        "/v1/redaction/copies/{copy_id}/content",
    }
    assert set(bodies) | reads | set(OWNER_SESSION_GATED) == set(gated)
    auth = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
    for path in [*bodies, *reads]:
        url = denied_world["server"].url + path.replace("{collection}", "c").replace("{copy_id}", "x")
        if path in reads:
            response = httpx.get(url, headers=auth)
        else:
            response = httpx.post(url, json=bodies[path], headers=auth)
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
    # ``--org blocked`` sets a module global that a later in-process sub-app (people_app) would inherit.
    monkeypatch.setattr(cli_common, "acting_org", None)
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
        "media redact": ["media", "redact", "v.mp4"],
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


#: Web UI forms that process biometric data: each passes the gate (and is refused for a denied actor).
BIOMETRIC_UI_FORMS = {
    "/ui/console/detect", "/ui/console/compare", "/ui/console/search",
    "/ui/collections/{name}/faces",  # enrolment: face.index per image
    "/ui/collections/{name}/users/associate",  # face.index, like AssociateFaces
    "/ui/video/detect", "/ui/video/search",
    "/ui/portal/requests",  # filing a footage request: footage.request, as POST /v1/portal/requests
    "/ui/redaction/exports",  # a redacted release copy: media.redact (detects every face in the clip)
}  # fmt: skip
#: Web UI forms that touch no biometric data: sign-in, administration decided by roles and separation of
#: duties, media bytes (analysed only by the gated video forms), deletions, and the portal's owner-side
#: steps (sharing passes the gate as footage.share inside the service, for owner sessions).
NOT_BIOMETRIC_UI_FORMS = {
    "/ui/login", "/ui/logout",
    "/ui/operator/organisations", "/ui/operator/organisations/{name}",
    "/ui/operator/organisations/{name}/approvals", "/ui/operator/people",
    "/ui/operator/people/{person_id}/roles", "/ui/operator/keys", "/ui/operator/keys/{access_key_id}/revoke",
    "/ui/operator/policy/rules/{rule_id}/{action}",
    "/ui/review/leads/{lead_id}/candidates/{candidate_id}",  # four-eyes review step (governance.duties)
    "/ui/audit/verify",
    "/ui/collections/", "/ui/collections/{name}/delete", "/ui/collections/{name}/faces/delete",
    "/ui/collections/{name}/users", "/ui/collections/{name}/users/{user_id}/delete",
    "/ui/collections/{name}/users/{user_id}/disassociate",
    "/ui/video/uploads", "/ui/video/uploads/{name:path}",
    "/ui/portal/signup", "/ui/portal/cameras", "/ui/portal/cameras/{camera_id}/delete", "/ui/portal/clips",
    "/ui/portal/clips/{clip_id}/delete", "/ui/portal/inbox/{request_id}/share",
    "/ui/portal/inbox/{request_id}/decline", "/ui/portal/settings",
    "/ui/portal/requests/{request_id}/clips/{clip_id}/evidence", "/ui/portal/requests/{request_id}/close",
    "/ui/portal/emergency", "/ui/portal/emergency/{disclosure_id}/approve",
    # Redacted sharing: cancelling a preview deletes a copy; an agency's unredaction request is a request to
    # the owner, whose acceptance passes the gate as footage.share inside the service (owner sessions).
    "/ui/portal/previews/cancel", "/ui/portal/requests/{request_id}/clips/{clip_id}/unredaction",
    "/ui/portal/unredactions/{unredaction_id}/{answer}",
}  # fmt: skip


def _ui_forms(app: Any) -> set[str]:
    """Every path under /ui that accepts a write (POST/PUT/PATCH/DELETE), from the app's own routers."""
    forms = set()
    for included in app.router.routes:
        for route in getattr(getattr(included, "original_router", None), "routes", [included]):
            methods = getattr(route, "methods", None) or set()
            if route.path.startswith("/ui") and methods - {"GET", "HEAD"}:
                forms.add(route.path)
    return forms


def test_every_ui_form_is_classified_and_biometric_ones_refused(
    settings: Settings, shared_data: Path
) -> None:
    from fastapi.testclient import TestClient

    from web_support import PASSWORD, csrf_of, signed_in

    app = create_app(settings)
    assert _ui_forms(app) == BIOMETRIC_UI_FORMS | NOT_BIOMETRIC_UI_FORMS
    svc: Services = app.state.services
    blocked = _blocked_organisation(svc)
    person = svc.people.create(
        SETUP, blocked.id, "inv@blocked.test", "Inv", PASSWORD, ["investigator", "org-admin"]
    )
    with TestClient(app):
        client: TestClient = signed_in(app, person.email)
        token = csrf_of(client.get("/ui/console/").text)
        photo = ("obama.jpg", _image(shared_data), "image/jpeg")
        now = datetime.now(UTC)
        request = {
            "incident_type": "burglary", "purpose": "criminal_investigation", "case_number": "C-1",
            "description": "Break-in; suspect wore a red jacket.", "contact": "desk@example.org",
            "shape": "circle", "center_lat": "43.25", "center_lon": "-79.87", "radius_m": "300",
            "window_start": (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "window_end": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "respond_by": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        }  # fmt: skip
        declared = {"purpose": "criminal_investigation", "case_number": "C-1"}
        forms: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
            "/ui/console/detect": (declared, {"image": photo}),
            "/ui/console/compare": (declared, {"source": photo, "target": photo}),
            "/ui/console/search": ({**declared, "collection": "c"}, {"image": photo}),
            "/ui/collections/{name}/faces": (declared, {"images": photo}),
            "/ui/collections/{name}/users/associate": (
                {**declared, "user_id": "u", "face_id": str(uuid.uuid4())},
                {},
            ),
            "/ui/video/detect": ({**declared, "video": "v.mp4"}, {}),
            "/ui/video/search": ({**declared, "video": "v.mp4", "collection": "c"}, {}),
            "/ui/portal/requests": (request, {}),
            "/ui/redaction/exports": ({**declared, "video": "v.mp4", "method": "blur"}, {}),
        }
        assert set(forms) == BIOMETRIC_UI_FORMS
        for path, (data, files) in forms.items():
            url = path.replace("{name}", "c")
            page = client.post(url, data={**data, "csrf_token": token}, files=files or None)
            assert page.status_code == 403, (path, page.status_code, page.text[-3000:])
            assert "blocked for this test" in page.text or "deny-blocked" in page.text, (
                path,
                page.text[-3000:],
            )
    assert svc.collections.face_count(svc.collections.get(blocked.id, "c")) == 0  # nothing was enrolled


def test_every_ui_route_serving_enrolled_faces_is_gated(settings: Settings) -> None:
    """A UI route whose path names a crop or an image is listed above; each refuses anyone signed out, a
    person without the review role, and answers a reviewer's made-up ids with the same bare 404."""
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

    from glasshouse.review.service import NO_CROP
    from glasshouse.web import auditor, auth_pages, collections, console, operator, portal, review, video
    from web_support import PASSWORD, signed_in

    app = create_app(settings)
    pages = (auth_pages, operator, review, console, collections, auditor, video, portal)
    paths = {
        r.path
        for page in pages
        for r in page.router.routes
        if isinstance(r, APIRoute) and ("crop" in r.path or "image" in r.path)
    }
    assert paths == FACE_IMAGE_UI_ROUTES
    svc: Services = app.state.services
    org = svc.organisations.create(SETUP, "agency", sector="commercial")
    svc.people.create(SETUP, org, "inv@agency.test", "Inv", PASSWORD, ["investigator"])
    svc.people.create(SETUP, org, "rev@agency.test", "Rev", PASSWORD, ["reviewer"])
    with TestClient(app) as anonymous:
        for path in paths:
            url = path.replace("{lead_id}", str(uuid.uuid4())).replace("{candidate_id}", str(uuid.uuid4()))
            assert anonymous.get(url, follow_redirects=False).status_code == 303  # to the sign-in page
            assert signed_in(app, "inv@agency.test").get(url).status_code == 403
            refused = signed_in(app, "rev@agency.test").get(url)
            assert refused.status_code == 404 and NO_CROP in refused.text


#: The redaction pages that read a copy (its chain-of-custody record and its bytes) pass the gate as
#: ``media.redact``, as ``GET /v1/redaction/copies/...`` do; the list and an export's progress show only the
#: organisation's own (the gate decided, and audited, when the export started).
GATED_REDACTION_UI_READS = {"/ui/redaction/copies/{copy_id}", "/ui/redaction/copies/{copy_id}/download"}
REDACTION_UI_LISTINGS = {"/ui/redaction", "/ui/redaction/", "/ui/redaction/jobs/{job_id}"}


def test_every_redaction_page_is_classified_and_copy_reads_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

    from web_support import PASSWORD, cheap_hashes, signed_in

    cheap_hashes(monkeypatch)
    app = create_app(settings)
    routes = [
        route
        for included in app.router.routes
        for route in getattr(getattr(included, "original_router", None), "routes", [included])
    ]
    reads = {
        r.path
        for r in routes
        if isinstance(r, APIRoute) and r.path.startswith("/ui/redaction") and "GET" in r.methods
    }
    assert reads == GATED_REDACTION_UI_READS | REDACTION_UI_LISTINGS
    svc: Services = app.state.services
    blocked = _blocked_organisation(svc)
    svc.people.create(SETUP, blocked.id, "inv@blocked.test", "Inv", PASSWORD, ["investigator"])
    with TestClient(app):
        client = signed_in(app, "inv@blocked.test")
        for path in GATED_REDACTION_UI_READS:
            page = client.get(path.replace("{copy_id}", str(uuid.uuid4())))
            assert page.status_code == 403 and "blocked for this test" in page.text, (path, page.status_code)
        assert "blocked for this test" in client.get("/ui/redaction/").text  # the form says so up front
