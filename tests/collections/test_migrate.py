"""Moving a collection to another face model: re-enrolled from its source images, ExternalImageIds and users
kept, the old collection untouched until the switch and kept after it, resumable, audited."""

from __future__ import annotations

import os
from pathlib import Path

from glasshouse.audit.service import AuditFilter
from glasshouse.collections.bulk import bulk_index, discover
from glasshouse.collections.migrate import migrate, staging_name
from glasshouse.config import Settings
from glasshouse.engine.models import MOBILEFACENET
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.services import Services

ON_POSTGRESQL = os.environ.get("GLASSHOUSE_TEST_DATABASE", "sqlite").strip().lower() in (
    "postgresql",
    "postgres",
    "pg",
)


def test_migrate_keeps_ids_and_users_and_switches(
    settings: Settings, shared_data: Path, mobilefacenet_tarball: Path
) -> None:
    train = shared_data / "face_recognition/examples/knn_examples/train"
    files = discover([train / "biden", train / "kit_harington", train / "alex_lacamoire"])
    svc = Services(settings)
    try:
        actor = svc.cli_actor()
        svc.model_packs.install("mobilefacenet", actor, source=mobilefacenet_tarball, accepted=True)
        org = actor.org_id
        with svc.gate.guard(actor, Capability.FACE_INDEX, RequestContext()):
            old = svc.collections.create(org, "staff")
            bulk_index(svc.collections, svc.settings, old, files, workers=1, external_id="name")
            svc.users.create(org, "staff", "joe")
            biden = [
                f.id
                for f in svc.collections.list_faces(org, "staff")
                if "biden" in (f.external_image_id or "")
            ]
            svc.users.associate(org, "staff", "joe", biden, threshold=0)
            before = {f.external_image_id: f.user_id for f in svc.collections.list_faces(org, "staff")}
            # First run without the switch: the old collection is untouched, the staging one complete.
            first = migrate(
                svc.collections,
                svc.settings,
                svc.audit,
                actor,
                "staff",
                "mobilefacenet",
                files[:2],
                workers=1,
                switch=False,
            )
            assert not first.switched and first.missing_images == len(files) - 2
            assert svc.collections.get(org, "staff").id == old.id
            # Resumed with every file: the rest is enrolled, then the names switch.
            done = migrate(
                svc.collections, svc.settings, svc.audit, actor, "staff", "mobilefacenet", files, workers=1
            )
        assert done.switched and done.missing_images == 0 and done.images_enrolled == len(files) - 2
        moved = svc.collections.get(org, "staff")
        assert moved.face_model_version == MOBILEFACENET.model_version() and moved.id != old.id
        after = {f.external_image_id: f.user_id for f in svc.collections.list_faces(org, "staff")}
        assert after == before and sorted(after) == sorted(p.name for p in files)
        kept = svc.collections.get(org, done.kept_as or "")
        assert kept.id == old.id and svc.collections.face_count(kept) == len(files)
        assert staging_name("staff", "mobilefacenet") not in {c.name for c in svc.collections.get_all(org)}
        audited = svc.audit.search(AuditFilter(action="collection.migrate"))
        assert [e.details["switched"] for e in audited] == [False, True]
    finally:
        svc.close()
