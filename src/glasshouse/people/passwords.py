"""Password hashing (argon2id, argon2-cffi's RFC 9106 low-memory defaults) and the password policy."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from glasshouse.errors import InvalidParameterError

MIN_LENGTH = 12
#: Long enough for any passphrase, short enough that hashing it is no denial of service.
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id


class PasswordPolicyError(InvalidParameterError):
    code = "PasswordPolicy"


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"a password may have at most {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise PasswordPolicyError("a password needs more than three different characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("glasshouse: no such person")


def verify_dummy(password: str) -> None:
    """Spend the time a real check takes, so an unknown email answers as slowly as a wrong password."""
    verify(_dummy_hash(), password)
