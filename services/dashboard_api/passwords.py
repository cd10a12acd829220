"""Django ``pbkdf2_sha256`` password hashes: verification (constant time) and creation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["make_django_hash", "verify_django_hash", "usable", "dummy_hash", "DEFAULT_ITERATIONS"]

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000


def make_django_hash(
    password: str, salt: str | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """A Django-compatible ``pbkdf2_sha256$<iterations>$<salt>$<b64>`` hash of ``password``."""
    salt = salt or secrets.token_urlsafe(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{ALGORITHM}${iterations}${salt}${base64.b64encode(digest).decode()}"


def dummy_hash(iterations: int) -> str:
    """A hash no password matches, verified when the user does not exist so that an unknown
    user costs the same work as a known one: give it the source's iteration count."""
    return make_django_hash(secrets.token_urlsafe(24), secrets.token_urlsafe(16), iterations)


def usable(encoded: str, max_iterations: int) -> bool:
    """Whether ``encoded`` is a pbkdf2_sha256 hash this service verifies (not another hasher,
    not malformed, not above ``max_iterations``)."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isascii():
        return False
    return parts[1].isdigit() and 0 < int(parts[1]) <= max_iterations


def verify_django_hash(password: str, encoded: str, max_iterations: int) -> bool:
    """True when ``password`` matches ``encoded``; False for other hashers or malformed hashes."""
    if not usable(encoded, max_iterations):
        return False
    parts = encoded.split("$")
    iterations = int(parts[1])
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), parts[2].encode(), iterations)
    return hmac.compare_digest(base64.b64encode(digest).decode().encode(), parts[3].encode())
