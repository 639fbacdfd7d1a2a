"""Password hashing with Argon2id; plain passwords never leave this module's callers."""

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))

MIN_LENGTH = 10
MAX_LENGTH = 200


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """False for an account that has no password yet (a staff account awaiting its set-up link)."""
    if not password_hash:
        # Spend the same time as a real check so timing does not reveal which emails exist.
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.strip() != password:
        return "A password may not start or end with a space."
    return None


_DUMMY_HASH = _hasher.hash("not-a-real-password")
