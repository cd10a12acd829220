"""Django ``pbkdf2_sha256`` password hashes: verification (constant time) and creation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["make_django_hash", "verify_django_hash", "DUMMY_HASH"]

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000


def make_django_hash(
    password: str, salt: str | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """A Django-compatible ``pbkdf2_sha256$<iterations>$<salt>$<b64>`` hash of ``password``."""
    salt = salt or secrets.token_urlsafe(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{ALGORITHM}${iterations}${salt}${base64.b64encode(digest).decode()}"


# Verified against when the user does not exist, so both cases cost the same time.
DUMMY_HASH = make_django_hash("not-a-password", "forkliftdummysalt", 100_000)


def verify_django_hash(password: str, encoded: str, max_iterations: int) -> bool:
    """True when ``password`` matches ``encoded``; False for other hashers or malformed hashes."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        return False
    iterations = int(parts[1])
    if not 0 < iterations <= max_iterations:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), parts[2].encode(), iterations)
    return hmac.compare_digest(base64.b64encode(digest).decode().encode(), parts[3].encode())
