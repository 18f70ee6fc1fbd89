"""The server key: seals stored secrets (AES-256-GCM) and derives keys for other purposes (HKDF-SHA256).

Access-key secrets must be recoverable to verify SigV4 signatures, so they are encrypted, never hashed.
The 32-byte master key comes from ``GLASSHOUSE_SECRET_KEY`` (base64) or from ``<data_dir>/secret.key``,
created on first use with mode 0600. The master key is never used directly: sealing and every
:meth:`SecretBox.derive` purpose get their own HKDF subkey.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from glasshouse.errors import GlasshouseError

if TYPE_CHECKING:
    from glasshouse.config import Settings

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
KEY_BYTES = 32
_VERSION = b"\x01"  # token layout: version (1) | nonce (12) | ciphertext+tag
_NONCE_BYTES = 12
_SEAL_INFO = b"glasshouse/seal/aes-256-gcm/v1"
_DERIVE_PREFIX = b"glasshouse/derive/v1/"


class SecretKeyError(GlasshouseError):
    """The configured or stored server key is unusable."""

    code = "SecretKeyInvalid"


class UnsealError(GlasshouseError):
    """A sealed token could not be opened: wrong server key, tampered or truncated token."""

    code = "UnsealFailed"


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


def encode_key(key: bytes) -> str:
    """The text form of a master key (URL-safe base64), as stored in ``secret.key``."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """A 32-byte master key from its base64 text (standard or URL-safe, padding optional)."""
    cleaned = "".join(text.split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        key = base64.urlsafe_b64decode(cleaned.replace("+", "-").replace("/", "_").encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"{source} must be {KEY_BYTES} random bytes in base64; generate one with `python -c "
            '"import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"`'
        )
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """The master key stored at ``path``, created (mode 0600) if absent.

    Creation writes a private temporary file and hard-links it into place: ``link`` never replaces an
    existing file, so when processes race on first use exactly one key wins and every one of them reads it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (encode_key(secrets.token_bytes(KEY_BYTES)) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("server key file %s is readable by others (mode %o); chmod 600 it", path, mode & 0o777)
    text = path.read_text(encoding="ascii")
    return decode_key(text, source=str(path))


class SecretBox:
    """Seals short secrets with the server key; opening checks integrity and the bound context."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise SecretKeyError(f"the server key must be {KEY_BYTES} bytes")
        self._master = master_key
        self._aead = AESGCM(_hkdf(master_key, _SEAL_INFO))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """``settings.secret_key`` when configured, else ``<data_dir>/secret.key`` (created on first use)."""
        if settings.secret_key is not None:
            return cls(decode_key(settings.secret_key.get_secret_value(), source="GLASSHOUSE_SECRET_KEY"))
        return cls(load_or_create_key_file(settings.data_dir / KEY_FILE_NAME))

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def seal(self, plaintext: str, context: str = "") -> bytes:
        """Encrypt ``plaintext``; ``context`` (e.g. the row's id) must be given again to open it."""
        return self.seal_bytes(plaintext.encode("utf-8"), context)

    def open(self, token: bytes, context: str = "") -> str:
        """Decrypt a token from :meth:`seal`; raises :class:`UnsealError` if anything does not match."""
        return self.open_bytes(token, context).decode("utf-8")

    def seal_bytes(self, plaintext: bytes, context: str = "") -> bytes:
        """:meth:`seal` for binary data (e.g. a face crop kept for reviewers)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def open_bytes(self, token: bytes, context: str = "") -> bytes:
        """:meth:`open` for binary data."""
        if len(token) < 1 + _NONCE_BYTES + 16 or token[:1] != _VERSION:
            raise UnsealError("sealed value is malformed")
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag as exc:
            message = "sealed value does not open with this server key (wrong key or tampered)"
            raise UnsealError(message) from exc
        return plain

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (e.g. ``"audit-chain"``), independent of the sealing key."""
        if not purpose:
            raise ValueError("purpose must be non-empty")
        return _hkdf(self._master, _DERIVE_PREFIX + purpose.encode("utf-8"))
