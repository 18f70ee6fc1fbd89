"""REST authentication: ``Authorization: Bearer <access key id>:<secret>`` with a Glasshouse key.
(The Rekognition-compatible API uses SigV4 with the same keys.)

Authentication comes before the body: FastAPI reads and parses a route's body before it solves the route's
dependencies, so routers are built with ``route_class=HeadersFirstRoute``, which runs every dependency marked
:func:`from_headers` that the route needs before FastAPI touches the body. An unauthenticated caller is
answered 401 without a byte of its body read.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from glasshouse.governance.actor import Actor
from glasshouse.rest.errors import Forbidden, Unauthenticated
from glasshouse.services import Services


def services(request: Request) -> Services:
    svc = request.app.state.services
    assert isinstance(svc, Services)
    return svc


HeaderCheck = Callable[[Request, Services], Any]
C = TypeVar("C", bound=HeaderCheck)
#: Dependencies that authenticate from the request's headers alone (see the module docstring).
_FROM_HEADERS: list[HeaderCheck] = []


def from_headers(check: C) -> C:
    """Marks a dependency ``(request, svc)`` that authenticates from headers alone, so that
    :class:`HeadersFirstRoute` runs it before the body is read. It must memoise its answer on
    ``request.state`` (FastAPI calls it again while solving the route's dependencies)."""
    _FROM_HEADERS.append(check)
    return check


def header_checks(dependant: Dependant) -> list[HeaderCheck]:
    """The :func:`from_headers` dependencies anywhere in a route's dependency tree, outermost first."""
    found: list[HeaderCheck] = []
    stack = [dependant]
    while stack:
        for sub in stack.pop().dependencies:
            if sub.call in _FROM_HEADERS and sub.call not in found:
                found.append(sub.call)
            stack.append(sub)
    return found


class HeadersFirstRoute(APIRoute):
    """A route whose header authentication runs before FastAPI reads its body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = header_checks(self.dependant)
        if not checks:
            return handler

        async def authenticated_first(request: Request) -> Response:
            svc = services(request)
            for check in checks:
                await run_in_threadpool(check, request, svc)
            return await handler(request)

        return authenticated_first


@from_headers
def current_actor(request: Request, svc: Annotated[Services, Depends(services)]) -> Actor:
    known = getattr(request.state, "rest_actor", None)
    if isinstance(known, Actor):
        return known
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
    actor = Actor(
        org_id=org.id,
        org_name=org.name,
        surface="rest",
        key_id=key.access_key_id,
        person=key.person_id,
        is_operator=org.is_operator,
    )
    request.state.rest_actor = actor
    return actor


def operator(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not actor.is_operator:
        raise Forbidden("this needs an operator's key")
    return actor


Svc = Annotated[Services, Depends(services)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
Operator = Annotated[Actor, Depends(operator)]
