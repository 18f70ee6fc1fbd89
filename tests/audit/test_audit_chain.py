"""Appending and verifying the chain: tampering of every kind is caught and the first bad entry named;
rolled-back appends leave nothing; concurrent writers keep seqs contiguous."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit import AuditEvent, AuditFilter, AuditLog
from glasshouse.audit.models import GENESIS_HASH
from glasshouse.schema import metadata

Chain = Callable[[int], list[str]]
MakeEvent = Callable[..., AuditEvent]
COLUMNS = (
    "id, created_at, actor_org_id, actor_org_name, actor_person, actor_key, surface, action, decision, "
    "rule, policy_version, purpose, case_number, details, prev_hash, hash"
)
#: Copy entry 6 as a new row (seq given first); ``{prev}`` picks the copied prev_hash column.
COPY_SIX = (
    f"INSERT INTO audit_entries (seq, {COLUMNS}) SELECT {{seq}}, 'new-id', created_at, actor_org_id, "
    "actor_org_name, actor_person, actor_key, surface, action, decision, rule, policy_version, purpose, "
    "case_number, details, {prev}, hash FROM audit_entries WHERE seq = {source}"
)


def sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def test_migration_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if "audit" in repr(d)] == []


def test_append_and_verify(log: AuditLog, make_event: MakeEvent, clock: Any) -> None:
    assert log.verify().ok and log.verify().entries == 0
    first = log.record(make_event(0, case_number="CASE-1"))
    second = log.record(make_event(1, decision="deny", rule="no-purpose"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert second.created_at == clock.now and second.created_at.tzinfo is not None
    assert log.search() == [first, second]  # returned exactly as stored, times included
    report = log.verify()
    assert (report.ok, report.entries, report.last_seq, report.last_hash) == (True, 2, 2, second.hash)


def test_chain_needs_the_key(chain: Chain, sessions: sessionmaker[Session]) -> None:
    chain(3)
    report = AuditLog(sessions, bytes(32)).verify()
    assert not report.ok and report.first_bad_seq == 1 and "hash" in (report.problem or "")


def test_verify_in_small_batches(log: AuditLog, chain: Chain, engine: Engine) -> None:
    chain(7)
    assert log.verify(batch=2).entries == 7
    sql(engine, "UPDATE audit_entries SET purpose = 'curiosity' WHERE seq = 6")
    report = log.verify(batch=2)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 6, 5)


TAMPERING = {
    # name: (SQL statements, first bad seq, word in the problem)
    "edit decision": (["UPDATE audit_entries SET decision = 'allow' WHERE seq = 4"], 4, "hash"),
    "edit details": (
        ["UPDATE audit_entries SET details = json_set(details, '$.faces', 0) WHERE seq = 3"],
        3,
        "hash",
    ),
    "edit time": (
        ["UPDATE audit_entries SET created_at = '2020-01-01 00:00:00.000000' WHERE seq = 2"],
        2,
        "hash",
    ),
    "edit with new hash": (
        ["UPDATE audit_entries SET rule = 'x', hash = 'f' || substr(hash, 2) WHERE seq = 5"],
        5,
        "hash",
    ),
    "delete row": (["DELETE FROM audit_entries WHERE seq = 3"], 3, "missing"),
    "delete first row": (["DELETE FROM audit_entries WHERE seq = 1"], 1, "missing"),
    "delete tail": (["DELETE FROM audit_entries WHERE seq >= 5"], 5, "tail"),
    "delete tail, rewind head": (
        [
            "DELETE FROM audit_entries WHERE seq >= 5",
            "UPDATE audit_head SET last_seq = 4, last_hash = (SELECT hash FROM audit_entries WHERE seq = 4)",
        ],
        5,
        "head",
    ),
    "insert beyond head": ([COPY_SIX.format(seq=7, prev="hash", source=6)], 7, "beyond the head"),
    "insert and bump head": (
        [
            COPY_SIX.format(seq=7, prev="hash", source=6),
            "UPDATE audit_head SET last_seq = 7, last_hash = (SELECT hash FROM audit_entries WHERE seq = 6)",
        ],
        7,
        "hash",
    ),
    "insert before first": ([COPY_SIX.format(seq=0, prev="prev_hash", source=1)], 0, "inserted"),
}
#: The same tampering in PostgreSQL's dialect, where SQLite's differs.
POSTGRESQL_TAMPERING = {
    "edit details": [
        "UPDATE audit_entries SET details = jsonb_set(details::jsonb, '{faces}', '0')::json WHERE seq = 3"
    ],
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_caught(case: str, log: AuditLog, chain: Chain, engine: Engine) -> None:
    chain(6)
    statements, first_bad, word = TAMPERING[case]
    if engine.dialect.name == "postgresql":
        statements = POSTGRESQL_TAMPERING.get(case, statements)
    for statement in statements:
        sql(engine, statement)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == first_bad, report
    assert word in (report.problem or ""), report


def test_swapped_rows_are_caught(log: AuditLog, chain: Chain, engine: Engine) -> None:
    chain(6)
    names = [c.strip() for c in COLUMNS.split(",")]
    rows = {r[0]: r[1:] for r in sql(engine, f"SELECT seq, {COLUMNS} FROM audit_entries WHERE seq IN (2, 3)")}
    # PostgreSQL's driver hands JSON back parsed: write it back as JSON text.
    rows = {seq: tuple(json.dumps(v) if isinstance(v, dict) else v for v in row) for seq, row in rows.items()}
    assignments = ", ".join(f"{name} = :{name}" for name in names)
    sql(engine, "UPDATE audit_entries SET id = 'tmp' WHERE seq = 2")  # ids are unique
    sql(
        engine,
        f"UPDATE audit_entries SET {assignments} WHERE seq = 3",
        **dict(zip(names, rows[2], strict=True)),
    )
    sql(
        engine,
        f"UPDATE audit_entries SET {assignments} WHERE seq = 2",
        **dict(zip(names, rows[3], strict=True)),
    )
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 2, 1), report


def test_forged_entry_inserted_in_the_middle_is_caught(
    log: AuditLog, chain: Chain, engine: Engine, sessions: sessionmaker[Session], make_event: MakeEvent
) -> None:
    hashes = chain(6)
    forger = AuditLog(sessions, b"x" * 32)  # knows the format, not the server key
    forged = forger.record(make_event(99))  # seq 7, then moved into a gap made at 4
    sql(engine, "UPDATE audit_entries SET seq = 1000 WHERE id = :i", i=forged.id)
    for seq in range(6, 3, -1):
        sql(engine, "UPDATE audit_entries SET seq = seq + 1 WHERE seq = :s", s=seq)
    sql(engine, "UPDATE audit_entries SET seq = 4, prev_hash = :p WHERE id = :i", p=hashes[2], i=forged.id)
    sql(engine, "UPDATE audit_head SET last_seq = 7, last_hash = :h", h=hashes[-1])
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 4, 3), report


def test_replacing_the_whole_log_needs_an_anchor(log: AuditLog, chain: Chain, engine: Engine) -> None:
    chain(6)
    before = log.verify()
    anchor = (before.last_seq, before.last_hash)
    assert log.verify(anchor=anchor).ok
    sql(engine, "DELETE FROM audit_entries")
    sql(engine, "UPDATE audit_head SET last_seq = 0, last_hash = :g, mac = NULL", g=GENESIS_HASH)
    assert log.verify().ok  # an emptied log looks like a new one...
    report = log.verify(anchor=anchor)  # ...unless its head was noted elsewhere
    assert not report.ok and report.first_bad_seq == 1 and "anchor" in (report.problem or "")


def test_rolled_back_append_leaves_nothing(
    log: AuditLog, sessions: sessionmaker[Session], make_event: MakeEvent
) -> None:
    log.record(make_event(0))
    with pytest.raises(RuntimeError), db.transaction(sessions) as session:
        log.append(session, make_event(1))
        raise RuntimeError("the audited action failed")
    assert [e.seq for e in log.search()] == [1]
    assert log.verify().ok and log.verify().last_seq == 1
    assert log.record(make_event(2)).seq == 2 and log.verify().ok


def test_concurrent_writers_keep_the_chain(
    log: AuditLog, sessions: sessionmaker[Session], make_event: MakeEvent
) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(25):
                with db.transaction(sessions) as session:
                    log.append(session, make_event(i, actor_person=f"worker-{worker}"))
        except BaseException as exc:  # re-raised by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = log.verify()
    assert report.ok and report.entries == 200 and report.last_seq == 200
    entries = log.search(AuditFilter(limit=1000))
    assert [e.seq for e in entries] == list(range(1, 201))
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(entries))
