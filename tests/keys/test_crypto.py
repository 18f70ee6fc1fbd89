"""The server key: sealing round-trips, tampering and wrong keys are caught, the key file is made once."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from pathlib import Path

import pytest

from glasshouse.config import Settings
from glasshouse.keys.crypto import (
    KEY_FILE_NAME,
    SecretBox,
    SecretKeyError,
    UnsealError,
    decode_key,
    encode_key,
    load_or_create_key_file,
)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(secrets.token_bytes(32))


def test_round_trip_and_fresh_nonce(box: SecretBox) -> None:
    token = box.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", context="GHKEY")
    assert b"wJalrXUtnFEMI" not in token
    assert box.open(token, context="GHKEY") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert box.seal("same", context="c") != box.seal("same", context="c")
    assert box.open(box.seal("ünïcode ✓")) == "ünïcode ✓"


@pytest.mark.parametrize("position", [0, 1, 12, 14, -1])
def test_any_tampered_byte_is_refused(box: SecretBox, position: int) -> None:
    token = bytearray(box.seal("secret value", context="id"))
    token[position] ^= 0x01
    with pytest.raises(UnsealError):
        box.open(bytes(token), context="id")


def test_truncated_token_wrong_context_and_wrong_key_are_refused(box: SecretBox) -> None:
    token = box.seal("secret value", context="GHAAAA")
    for bad in (b"", token[:20], token[:-1]):
        with pytest.raises(UnsealError):
            box.open(bad, context="GHAAAA")
    with pytest.raises(UnsealError):
        box.open(token, context="GHBBBB")  # a sealed secret cannot be moved to another row
    with pytest.raises(UnsealError):
        SecretBox(secrets.token_bytes(32)).open(token, context="GHAAAA")


def test_derive_is_stable_separate_and_keyed() -> None:
    master = secrets.token_bytes(32)
    a, b = SecretBox(master), SecretBox(master)
    assert a.derive("audit-chain") == b.derive("audit-chain")
    assert len(a.derive("audit-chain")) == 32
    assert a.derive("audit-chain") != a.derive("audit-chain2")
    assert a.derive("audit-chain") != master
    assert SecretBox(secrets.token_bytes(32)).derive("audit-chain") != a.derive("audit-chain")
    with pytest.raises(ValueError):
        a.derive("")


def test_key_text_forms() -> None:
    key = secrets.token_bytes(32)
    text = encode_key(key)
    assert decode_key(text, source="t") == key
    assert decode_key(text.rstrip("=") + "\n", source="t") == key  # padding optional, whitespace ignored
    std = text.replace("-", "+").replace("_", "/")
    assert decode_key(std, source="t") == key  # standard base64 too
    for bad in ("", "short", encode_key(secrets.token_bytes(16)), "!" * 44):
        with pytest.raises(SecretKeyError):
            decode_key(bad, source="t")
    with pytest.raises(SecretKeyError):
        SecretBox(b"too short")


def test_key_file_created_once_with_mode_0600(settings: Settings) -> None:
    data = settings.data_dir
    before = {p.name for p in data.iterdir()} if data.exists() else set()  # SQLite: the database file
    old_umask = os.umask(0)  # the file must be private whatever the umask
    try:
        first = SecretBox.from_settings(settings)
    finally:
        os.umask(old_umask)
    path = settings.data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    second = SecretBox.from_settings(settings)
    assert path.read_text() == text
    assert second.open(first.seal("x", context="c"), context="c") == "x"
    assert sorted({p.name for p in data.iterdir()} - before) == [KEY_FILE_NAME]  # no temp files left


def test_concurrent_first_use_yields_one_key(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / KEY_FILE_NAME
    barrier = threading.Barrier(12)
    keys: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        key = load_or_create_key_file(path)
        with lock:
            keys.append(key)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 12
    assert len(set(keys)) == 1
    assert decode_key(path.read_text(), source="file") == keys[0]
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]


def test_configured_key_wins_over_file(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_bytes(32)
    monkeypatch.setenv("GLASSHOUSE_SECRET_KEY", encode_key(key))
    configured = Settings()
    assert configured.data_dir == settings.data_dir
    box = SecretBox.from_settings(configured)
    assert SecretBox(key).open(box.seal("x")) == "x"
    assert not (settings.data_dir / KEY_FILE_NAME).exists()
    assert encode_key(key) not in repr(configured)
    monkeypatch.setenv("GLASSHOUSE_SECRET_KEY", "not-a-key")
    with pytest.raises(SecretKeyError):
        SecretBox.from_settings(Settings())


def test_secret_box_repr_hides_key() -> None:
    key = secrets.token_bytes(32)
    assert encode_key(key) not in repr(SecretBox(key))
