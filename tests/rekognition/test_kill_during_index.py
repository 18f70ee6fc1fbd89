"""kill -9 of a live server during a bulk IndexFaces loop over boto3: after a restart every acknowledged
face is present and searchable, every acknowledged user association holds, and nothing is half-written
(every face has its embedding, the database and ListFaces agree, the audit chain verifies).

The server runs with a tiny ``approximate_above`` so that, on the embedded default, its persisted
approximate index is also left stale by the kill and must be reconciled on restart."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from sqlalchemy import select

from aws_clients import make_client
from glasshouse.bench.live_server import live_server
from glasshouse.collections.models import Face, FaceUser
from glasshouse.config import Settings
from glasshouse.services import Services

PEOPLE = 30
KILL_AFTER = 24  # acknowledged IndexFaces before the kill
DEAD = (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, ConnectionError)


def _server_settings(settings: Settings) -> dict[str, str]:
    extra = {"throttle_rate": "0", "approximate_above": "8", "approximate_save_seconds": "3600"}
    if settings.database_url:
        extra["database_url"] = settings.database_url
    return extra


def _all_faces(rek: Any, collection: str, **filters: str) -> list[dict[str, Any]]:
    faces, token = [], None
    while True:
        page = rek.list_faces(
            CollectionId=collection, MaxResults=100, **filters, **({"NextToken": token} if token else {})
        )
        faces += page["Faces"]
        token = page.get("NextToken")
        if not token:
            return faces


def test_kill_9_during_index_faces_loses_no_acknowledged_face(
    settings: Settings, shared_data: Path, model_cache_dir: Path
) -> None:
    root = shared_data / "lfw" / "lfw-deepfunneled"
    people = [sorted(d.glob("*.jpg"))[:2] for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 2]
    people = people[:PEOPLE]
    svc = Services(settings)
    key = svc.keys.create(svc.org_id("acme"))
    svc.close()

    faces: dict[str, tuple[str, Path]] = {}  # acknowledged FaceId -> (person, image)
    users: dict[str, set[str]] = {}  # acknowledged associations: UserId -> FaceIds
    interrupted = False
    with live_server(settings.data_dir, model_cache_dir, **_server_settings(settings)) as srv:
        rek = make_client(srv.url, key.access_key_id, key.secret)
        rek.create_collection(CollectionId="crash")
        kill = threading.Timer(0.02, lambda: srv.process.send_signal(signal.SIGKILL))
        try:
            for images in people:
                person = images[0].parent.name
                for image in images:
                    got = rek.index_faces(
                        CollectionId="crash",
                        Image={"Bytes": image.read_bytes()},
                        ExternalImageId=image.stem,
                        MaxFaces=1,
                    )
                    for record in got["FaceRecords"]:
                        if not faces:  # loads the collection's index: from now on kept and saved in memory
                            rek.search_faces(CollectionId="crash", FaceId=record["Face"]["FaceId"])
                        faces[record["Face"]["FaceId"]] = (person, image)
                        if person not in users:
                            rek.create_user(CollectionId="crash", UserId=person)
                            users[person] = set()
                        done = rek.associate_faces(
                            CollectionId="crash", UserId=person, FaceIds=[record["Face"]["FaceId"]]
                        )
                        users[person] |= {f["FaceId"] for f in done["AssociatedFaces"]}
                    if len(faces) >= KILL_AFTER and kill.ident is None:
                        kill.start()  # lands during the next requests: an IndexFaces mid-flight
        except DEAD:
            interrupted = True
        finally:
            kill.cancel()
        srv.process.wait(timeout=30)
        assert srv.process.returncode == -signal.SIGKILL
    assert interrupted and KILL_AFTER <= len(faces) < 2 * PEOPLE

    with live_server(settings.data_dir, model_cache_dir, **_server_settings(settings)) as srv:
        rek = make_client(srv.url, key.access_key_id, key.secret)
        listed = {f["FaceId"]: f for f in _all_faces(rek, "crash")}
        assert set(faces) <= set(listed), "an acknowledged face was lost"
        for face_id, (_person, image) in faces.items():  # searchable, through the restarted index
            found = rek.search_faces_by_image(
                CollectionId="crash", Image={"Bytes": image.read_bytes()}, MaxFaces=1, FaceMatchThreshold=95
            )["FaceMatches"]
            assert [m["Face"]["FaceId"] for m in found] == [face_id]
            assert listed[face_id]["ExternalImageId"] == image.stem
        listed_users = {u["UserId"]: u["UserStatus"] for u in rek.list_users(CollectionId="crash")["Users"]}
        assert set(users) <= set(listed_users)
        for user, face_ids in users.items():
            assert face_ids <= {f["FaceId"] for f in _all_faces(rek, "crash", UserId=user)}
            assert listed_users[user] == ("ACTIVE" if face_ids else listed_users[user])

    svc = Services(settings)
    try:
        collection = svc.collections.get(svc.org_id("acme"), "crash", region="eu-west-2")  # made by boto3
        with svc.sessions() as session:
            rows = session.execute(
                select(Face.id, Face.embedding, Face.face_user_id).where(Face.collection_id == collection.id)
            ).all()
            owners = dict(
                session.execute(
                    select(FaceUser.id, FaceUser.user_id).where(FaceUser.collection_id == collection.id)
                ).all()
            )
        assert {r.id for r in rows} == set(listed)  # the database holds exactly what ListFaces shows
        for row in rows:  # every face whole: its embedding is there, 128 finite values of unit length
            vector = np.frombuffer(bytes(row.embedding), dtype="<f4")
            assert vector.shape == (128,) and np.isfinite(vector).all()
            assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
            assert row.face_user_id is None or row.face_user_id in owners
        for user, face_ids in users.items():
            assert {r.id for r in rows if owners.get(r.face_user_id) == user} >= face_ids
        report = svc.audit.verify()
        assert report.ok, report.problem
    finally:
        svc.close()
