"""Access keys: migration matches the model; create/list/revoke/lookup/touch; one organisation never sees
another's keys."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from clock import ManualClock
from glasshouse import db
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.keys.crypto import SecretBox
from glasshouse.keys.models import AccessKey
from glasshouse.keys.service import ACCESS_KEY_ID_PATTERN, SECRET_LENGTH, KeyService
from glasshouse.organisations import service as organisations
from glasshouse.organisations.models import Organisation


@pytest.fixture
def engine(migrated_engine: Callable[[], Engine]) -> Engine:
    return migrated_engine()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.make_sessionmaker(engine)


@pytest.fixture
def orgs(sessions: sessionmaker[Session]) -> tuple[str, str]:
    with db.transaction(sessions) as session:
        acme = organisations.get_or_create(session, "acme")
        other = organisations.get_or_create(session, "other")
        return acme.id, other.id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(secrets.token_bytes(32))


@pytest.fixture
def keys(sessions: sessionmaker[Session], box: SecretBox, clock: ManualClock) -> KeyService:
    return KeyService(sessions, box, clock=clock)


def test_migrations_match_the_models(engine: Engine) -> None:
    from glasshouse.schema import metadata  # every model, as the migration environment sees them

    assert "access_keys" in metadata.tables

    def declared(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
        # PostgreSQL's per-dimension HNSW indexes are made by migration 0014 and, for a new dimension, when
        # its first collection is created (collections.vector_type): the ORM cannot declare them.
        return not (kind == "index" and (name or "").startswith("ix_faces_embedding_hnsw_"))

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": declared})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_create_returns_secret_once_and_stores_it_sealed(
    keys: KeyService, sessions: sessionmaker[Session], orgs: tuple[str, str]
) -> None:
    key_id, secret = keys.create(orgs[0], label="laptop")
    assert ACCESS_KEY_ID_PATTERN.match(key_id) and len(key_id) == 20 and key_id.startswith("GH")
    assert len(secret) == SECRET_LENGTH and secret.isalnum()
    with sessions() as session:
        row = session.get(AccessKey, key_id)
        assert row is not None
        assert secret.encode() not in row.secret_sealed
    assert secret not in repr(keys.create(orgs[0]))
    found = keys.lookup(key_id)
    assert found is not None
    assert (found.access_key_id, found.org_id, found.person_id) == (key_id, orgs[0], None)
    assert found.secret == secret
    assert secret not in repr(found)


def test_ids_and_secrets_are_distinct(keys: KeyService, orgs: tuple[str, str]) -> None:
    made = [keys.create(orgs[0]) for _ in range(20)]
    assert len({k.access_key_id for k in made}) == 20
    assert len({k.secret for k in made}) == 20


def test_create_checks_org_and_label(keys: KeyService, orgs: tuple[str, str]) -> None:
    with pytest.raises(NotFoundError):
        keys.create("no-such-org")
    with pytest.raises(InvalidParameterError):
        keys.create(orgs[0], label="x" * 256)


def test_list_is_per_org_and_never_shows_secrets(
    keys: KeyService, orgs: tuple[str, str], clock: ManualClock
) -> None:
    a1, s1 = keys.create(orgs[0], label="one")
    clock.now += timedelta(seconds=1)
    a2, _ = keys.create(orgs[0])
    b1, _ = keys.create(orgs[1])
    listed = keys.list(orgs[0])
    assert [k.access_key_id for k in listed] == [a1, a2]  # oldest first
    assert listed[0].label == "one" and listed[0].active and listed[0].created_at.tzinfo is not None
    assert not hasattr(listed[0], "secret") and s1 not in repr(listed)
    assert {k.access_key_id for k in keys.list()} == {a1, a2, b1}
    assert [k.access_key_id for k in keys.list(orgs[1])] == [b1]


def test_revoke_and_tenancy(keys: KeyService, orgs: tuple[str, str], clock: ManualClock) -> None:
    mine, _ = keys.create(orgs[0])
    theirs, _ = keys.create(orgs[1])
    with pytest.raises(NotFoundError) as foreign:
        keys.revoke(orgs[0], theirs)
    with pytest.raises(NotFoundError) as missing:
        keys.revoke(orgs[0], "GH" + "Z" * 18)
    assert foreign.value.message.replace(theirs, "ID") == missing.value.message.replace("GH" + "Z" * 18, "ID")
    assert keys.lookup(theirs) is not None

    info = keys.revoke(orgs[0], mine)
    assert info.revoked_at == clock.now and not info.active
    assert keys.lookup(mine) is None
    clock.now += timedelta(hours=1)
    assert keys.revoke(orgs[0], mine).revoked_at == info.revoked_at  # idempotent, first time kept
    assert [k.revoked_at for k in keys.list(orgs[0])] == [info.revoked_at]


def test_lookup_unknown_or_malformed_is_none(keys: KeyService) -> None:
    assert keys.lookup("GH" + "A" * 18) is None
    assert keys.lookup("AKIAIOSFODNN7EXAMPLE") is None
    assert keys.lookup("") is None
    assert keys.lookup("gh" + "a" * 18) is None


def test_touch_writes_at_most_once_a_minute(
    keys: KeyService,
    sessions: sessionmaker[Session],
    box: SecretBox,
    clock: ManualClock,
    orgs: tuple[str, str],
) -> None:
    key_id, _ = keys.create(orgs[0])
    assert keys.list(orgs[0])[0].last_used_at is None
    first = clock.now
    keys.touch(key_id)
    assert keys.list(orgs[0])[0].last_used_at == first

    clock.now = first + timedelta(seconds=30)
    keys.touch(key_id)
    other_process = KeyService(sessions, box, clock=clock)  # no in-memory memory of the first touch
    other_process.touch(key_id)
    assert keys.list(orgs[0])[0].last_used_at == first

    clock.now = first + timedelta(seconds=61)
    other_process.touch(key_id)
    assert keys.list(orgs[0])[0].last_used_at == clock.now
    keys.touch("GH" + "Q" * 18)  # unknown key: nothing to do, no error


def test_deleting_an_org_deletes_its_keys(
    keys: KeyService, sessions: sessionmaker[Session], orgs: tuple[str, str]
) -> None:
    key_id, _ = keys.create(orgs[0])
    with db.transaction(sessions) as session:
        session.execute(delete(Organisation).where(Organisation.id == orgs[0]))
    with sessions() as session:
        assert session.scalars(select(AccessKey)).all() == []
    assert keys.lookup(key_id) is None


def test_key_from_another_server_key_does_not_open(
    sessions: sessionmaker[Session], orgs: tuple[str, str], keys: KeyService
) -> None:
    from glasshouse.keys.crypto import UnsealError

    key_id, _ = keys.create(orgs[0])
    stranger = KeyService(sessions, SecretBox(secrets.token_bytes(32)))
    with pytest.raises(UnsealError):
        stranger.lookup(key_id)
