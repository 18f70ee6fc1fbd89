"""Every table, imported in one place so ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations

import glasshouse.audit.models
import glasshouse.collections.models
import glasshouse.governance.models
import glasshouse.idempotency.models
import glasshouse.jobs.models
import glasshouse.keys.models
import glasshouse.media.models
import glasshouse.notify.models
import glasshouse.organisations.models
import glasshouse.people.models
import glasshouse.portal.models
import glasshouse.redaction.copies
import glasshouse.review.images
import glasshouse.review.models
import glasshouse.tags.models  # noqa: F401
from glasshouse.db import Base

metadata = Base.metadata
__all__ = ["metadata"]
