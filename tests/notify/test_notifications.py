"""Video job notifications: written with the job's final status, posted to a real local receiver, retried
with backoff across a restart, signed; refused targets; operators' CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from glasshouse.bench.live_server import free_port
from glasshouse.cli.main import app as cli_app
from glasshouse.config import Settings
from glasshouse.errors import AlreadyExistsError, InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.jobs.runner import JobExecutor, Outcome
from glasshouse.notify.models import Notification
from glasshouse.notify.service import sign
from glasshouse.services import Services
from glasshouse.video.jobs import FACE_DETECTION
from glasshouse.video.submit import submit_video_job
from s3api.receiver import receiver

TOPIC = "arn:aws:sns:us-east-1:123456789012:AmazonRekognitionDone"
CHANNEL = {"SNSTopicArn": TOPIC, "RoleArn": "arn:aws:iam::123456789012:role/r", "API": "StartFaceDetection"}


def _outbox(svc: Services) -> list[Notification]:
    with svc.sessions() as session:
        rows = list(session.scalars(select(Notification)))
        session.expunge_all()
        return rows


def test_a_finished_job_is_notified_after_retries_and_a_restart(settings: Settings) -> None:
    settings = settings.model_copy(update={"notify_backoff_seconds": 0.3})
    svc = Services(settings)
    org = svc.org_id("studio")
    actor = Actor(org_id=org, org_name="studio", surface="cli")
    svc.media.upload(actor, "notes.mp4", iter([b"this is not a video at all" * 10]), "video/mp4")
    port = free_port()  # nothing listens there yet: the first delivery is refused
    _, secret = svc.notifications.add(actor, org, TOPIC, f"http://127.0.0.1:{port}/hook")
    with svc.gate.guard(actor, Capability.VIDEO_FACE_DETECTION) as grant:
        job = submit_video_job(svc, grant, FACE_DETECTION, "notes.mp4", tag="t1", notification=CHANNEL)
    executor = JobExecutor.from_services(svc)
    assert executor.run(job.id) == Outcome.FAILED
    [queued] = _outbox(svc)  # written with the FAILED status, before any delivery
    assert queued.job_id == job.id and queued.attempts == 0
    assert executor.deliver() == 0
    [refused] = _outbox(svc)
    assert refused.attempts == 1 and refused.delivered_at is None and refused.last_error
    svc.close()

    restarted = Services(settings)  # a restart: the outbox is in the database
    executor = JobExecutor.from_services(restarted)
    with receiver(fail_first=1, port=port) as hook:
        deadline = time.monotonic() + 30
        while not _outbox(restarted)[0].delivered_at:
            assert time.monotonic() < deadline, _outbox(restarted)[0].last_error
            executor.deliver()
            time.sleep(0.1)
        assert hook.answered == [500, 200]  # retried after the receiver's error
        executor.deliver()
        assert len(hook.posts) == 2  # delivered once, never again
    (_, first), (headers, body) = hook.posts
    assert first == body  # every attempt posts the same message (same MessageId)
    envelope = json.loads(body)
    message = json.loads(envelope["Message"])
    assert envelope["TopicArn"] == TOPIC and envelope["Type"] == "Notification"
    assert message["JobId"] == job.id and message["Status"] == "FAILED"
    assert message["API"] == "StartFaceDetection" and message["JobTag"] == "t1"
    assert message["Video"] == {"S3ObjectName": "notes.mp4", "S3Bucket": "studio"}
    stamp = int(headers["x-glasshouse-signature"].split(",")[0][2:])
    assert headers["x-glasshouse-signature"] == sign(secret, stamp, body)
    assert headers["x-glasshouse-signature"] != sign("another secret", stamp, body)
    restarted.close()


def test_targets_are_checked_and_belong_to_one_organisation(settings: Settings) -> None:
    svc = Services(settings)
    studio, other = svc.org_id("studio"), svc.org_id("other")
    actor = Actor(org_id=studio, org_name="studio", surface="cli")
    svc.notifications.add(actor, studio, TOPIC, "https://hooks.example.org/rekognition")
    svc.notifications.require_target(studio, TOPIC)
    with pytest.raises(InvalidParameterError, match="no notification target"):
        svc.notifications.require_target(other, TOPIC)
    with pytest.raises(AlreadyExistsError):
        svc.notifications.add(actor, studio, TOPIC, "https://elsewhere.example.org/")
    for arn, url in (
        (TOPIC + "x", "file:///etc/passwd"),
        ("arn:aws:sqs:x:123456789012:q", "https://a.example"),
    ):
        with pytest.raises(InvalidParameterError):
            svc.notifications.add(actor, other, arn, url)
    assert [t.topic_arn for t in svc.notifications.list(studio)] == [TOPIC]
    assert svc.notifications.list(other) == []
    svc.close()


def test_a_removed_target_fails_its_pending_notification(settings: Settings) -> None:
    svc = Services(settings)
    org = svc.org_id("studio")
    actor = Actor(org_id=org, org_name="studio", surface="cli")
    svc.media.upload(actor, "n.mp4", iter([b"nope" * 10]), "video/mp4")
    svc.notifications.add(actor, org, TOPIC, "http://127.0.0.1:9/never")
    with svc.gate.guard(actor, Capability.VIDEO_FACE_DETECTION) as grant:
        job = submit_video_job(svc, grant, FACE_DETECTION, "n.mp4", notification=CHANNEL)
    svc.notifications.remove(actor, org, TOPIC)
    executor = JobExecutor.from_services(svc)
    assert executor.run(job.id) == Outcome.FAILED
    executor.deliver()
    [row] = _outbox(svc)
    assert row.failed_at is not None and "no notification target" in (row.last_error or "")
    svc.close()


def test_notify_cli_adds_lists_and_removes(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli_app, ["--org", "local", "notify", "add", TOPIC, "https://hooks.example.org/x"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["secret"]
    listed = runner.invoke(cli_app, ["notify", "list"])
    assert [t["topic_arn"] for t in json.loads(listed.stdout)] == [TOPIC]
    assert "secret" not in listed.stdout
    assert runner.invoke(cli_app, ["notify", "remove", TOPIC]).exit_code == 0
    assert json.loads(runner.invoke(cli_app, ["notify", "list"]).stdout) == []
