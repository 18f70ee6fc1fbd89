"""REST authentication: ``Authorization: Bearer <access key id>:<secret>`` with a Glasshouse key.
(The Rekognition-compatible API uses SigV4 with the same keys.)"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from glasshouse.governance.actor import Actor
from glasshouse.rest.errors import Forbidden, Unauthenticated
from glasshouse.services import Services


def services(request: Request) -> Services:
    svc = request.app.state.services
    assert isinstance(svc, Services)
    return svc


def current_actor(request: Request, svc: Annotated[Services, Depends(services)]) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    key_id, _, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not key_id or not secret:
        raise Unauthenticated("send 'Authorization: Bearer <access key id>:<secret>'")
    key = svc.keys.lookup(key_id)
    if key is None or not hmac.compare_digest(key.secret.encode(), secret.encode()):
        raise Unauthenticated("unknown access key or wrong secret")
    svc.keys.touch(key.access_key_id)
    org = svc.organisations.get_by_id(key.org_id)
    return Actor(
        org_id=org.id,
        org_name=org.name,
        surface="rest",
        key_id=key.access_key_id,
        person=key.person_id,
        is_operator=org.is_operator,
    )


def operator(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not actor.is_operator:
        raise Forbidden("this needs an operator's key")
    return actor


Svc = Annotated[Services, Depends(services)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
Operator = Annotated[Actor, Depends(operator)]
