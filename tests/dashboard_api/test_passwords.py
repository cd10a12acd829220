"""Django pbkdf2_sha256 verification against a reference PBKDF2 (RFC 8018) written with hmac."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from services.dashboard_api.passwords import make_django_hash, verify_django_hash


def reference_django_hash(password: str, salt: str, iterations: int) -> str:
    """PBKDF2-HMAC-SHA256, one 32-byte block, as Django encodes it."""
    prf = hmac.new(password.encode(), digestmod=hashlib.sha256)

    def mac(data: bytes) -> bytes:
        h = prf.copy()
        h.update(data)
        return h.digest()

    u = mac(salt.encode() + (1).to_bytes(4, "big"))
    block = int.from_bytes(u, "big")
    for _ in range(iterations - 1):
        u = mac(u)
        block ^= int.from_bytes(u, "big")
    digest = base64.b64encode(block.to_bytes(32, "big")).decode()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


@pytest.mark.parametrize(
    ("password", "salt", "iterations"),
    [("forklift-acme", "abc123", 1000), ("pässwörd", "s", 1), ("", "x" * 22, 50)],
)
def test_reference_hashes_verify(password: str, salt: str, iterations: int) -> None:
    encoded = reference_django_hash(password, salt, iterations)
    assert make_django_hash(password, salt, iterations) == encoded
    assert verify_django_hash(password, encoded, max_iterations=10_000)
    assert not verify_django_hash(password + "x", encoded, max_iterations=10_000)


@pytest.mark.parametrize(
    "encoded",
    [
        "bcrypt_sha256$$2b$12$abc",
        "md5$salt$0123456789abcdef",
        "pbkdf2_sha1$1000$salt$abc",
        "pbkdf2_sha256$notanumber$salt$abc",
        "pbkdf2_sha256$0$salt$abc",
        "pbkdf2_sha256$1000$salt",
        "!unusable",
        "",
    ],
)
def test_other_hashers_and_malformed_are_rejected(encoded: str) -> None:
    assert not verify_django_hash("secret", encoded, max_iterations=10_000)


def test_too_many_iterations_rejected_without_hashing() -> None:
    encoded = make_django_hash("pw", "salt", 1000)
    assert not verify_django_hash("pw", encoded, max_iterations=999)
