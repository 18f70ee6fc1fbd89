"""The community camera portal: camera owners, their clips, agencies' footage requests, consent, access.

:class:`PortalService` is the one object the surfaces (REST, web pages, CLI) and ``Services.portal`` use.
It is put together from the portal's parts, one module each:

* :mod:`~glasshouse.portal.owners`: owners' sign-up, cameras, clips, settings, inbox (share or decline);
* :mod:`~glasshouse.portal.requests`: agencies' requests (filing, matching), access to shared clips,
  downloads, evidence, closing;
* :mod:`~glasshouse.portal.redaction`: owners' redacted previews, agencies' unredaction requests;
* :mod:`~glasshouse.portal.public`: the public feed and agency profiles;
* :mod:`~glasshouse.portal.emergency`: emergency disclosure by two operators;
* :mod:`~glasshouse.portal.retention`: the retention sweep.

What the parts share (configuration, errors, helpers) is in :mod:`~glasshouse.portal.common`; the request
rules in :mod:`~glasshouse.portal.rules`; what the service hands back in :mod:`~glasshouse.portal.views`.
"""

from __future__ import annotations

from glasshouse.portal.common import ClipHeldError, NotAnAgencyError, PortalForbiddenError, RequestClosedError
from glasshouse.portal.emergency import EmergencyPortal
from glasshouse.portal.public import PublicPortal
from glasshouse.portal.redaction import RedactionPortal
from glasshouse.portal.retention import RetentionPortal

__all__ = [
    "ClipHeldError",
    "NotAnAgencyError",
    "PortalForbiddenError",
    "PortalService",
    "RequestClosedError",
]


class PortalService(RedactionPortal, PublicPortal, EmergencyPortal, RetentionPortal):
    """The portal (constructor: :class:`~glasshouse.portal.common.PortalBase`)."""
