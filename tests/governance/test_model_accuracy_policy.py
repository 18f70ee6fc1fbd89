"""A policy may require a minimum model accuracy for a capability: a search of a collection whose face
model's card shows too few true matches at FMR 1e-6 is refused (typed, audited, naming the rule); the same
search of a collection on a model that meets it goes ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability, Rule, default_policy, dump_policy, load_policy
from glasshouse.services import Services

RULE = "accurate-models-only"
EXTRA_RULE = f"""
id: {RULE}
description: Searches only on face models that do not silently fail at strict thresholds.
effect: allow
capabilities: [face.search, user.search]
sectors: ["*"]
obligations:
  min_model_tar_at_fmr_1e_6: 0.75
reason: Searches need a face model measured at 75% true matches or more at FMR 1e-6.
"""


def test_search_needs_a_model_accurate_enough(
    settings: Settings, tmp_path: Path, mobilefacenet_tarball: Path, shared_data: Path
) -> None:
    base = default_policy()
    document = base.model_copy(
        update={"rules": [*base.rules, Rule.model_validate(yaml.safe_load(EXTRA_RULE))]}
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(dump_policy(document))
    assert load_policy(policy).rule(RULE).obligations.min_model_tar_at_fmr_1e_6 == 0.75  # type: ignore[union-attr]
    svc = Services(settings.model_copy(update={"policy_file": policy}))
    try:
        actor = svc.cli_actor()
        svc.model_packs.install("mobilefacenet", actor, source=mobilefacenet_tarball, accepted=True)
        svc.collections.create(actor.org_id, "weak")  # dlib: TAR at FMR 1e-6 28.3% on its card
        svc.collections.create(actor.org_id, "strong", model="mobilefacenet")  # 80.8%
        probe = (shared_data / "lfw/lfw-deepfunneled/Colin_Powell/Colin_Powell_0001.jpg").read_bytes()
        with svc.gate.guard(actor, Capability.FACE_INDEX):
            svc.collections.index_image(actor.org_id, "weak", probe)  # indexing is not restricted
        denied = pytest.raises(PolicyDenied, match=f"at least 75%.*dlib.*28.3%.*rule '{RULE}'")
        with denied, svc.gate.guard(actor, Capability.FACE_SEARCH, RequestContext()):
            svc.collections.search_by_image(actor.org_id, "weak", probe)
        vector = _vector(svc, probe)
        weak = svc.collections.get(actor.org_id, "weak")
        with pytest.raises(PolicyDenied, match=RULE), svc.gate.guard(actor, Capability.USER_SEARCH):
            svc.users.search(weak, vector, threshold=80.0, max_users=5)
        with svc.gate.guard(actor, Capability.FACE_SEARCH, RequestContext()):
            found = svc.collections.search_by_image(actor.org_id, "strong", probe)
        assert found.probe is not None and found.matches == []  # allowed (the collection is empty)
        entries = svc.audit.search(AuditFilter(action="face.search"))
        refusals = [e for e in entries if e.decision == "deny"]
        assert len(refusals) == 1 and refusals[0].rule == RULE
        assert refusals[0].details["model"] == "dlib"
        assert [e.details["outcome"] for e in entries if e.decision == "allow"] == ["ok"]
    finally:
        svc.close()


def _vector(svc: Services, probe: bytes) -> np.ndarray:
    with svc.gate.guard(svc.cli_actor(), Capability.FACE_DETECT):
        embedding = svc.face_models.analyser("dlib").analyse(probe).faces[0].embedding
    assert embedding is not None
    return embedding
