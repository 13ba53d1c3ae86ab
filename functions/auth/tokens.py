"""Bearer tokens ``crk_<id>_<secret>``: issued, listed, revoked, verified (docs/adr/0043).

Only a salted scrypt hash of the secret is stored (``_auth/tokens/<id>.json``, a hidden prefix
of the lake; on AWS the bucket is SSE-KMS encrypted). The secret is shown once, at issue time.
Verification is constant-time. Verified tokens are cached per process for a short time so warm
requests do not pay for scrypt; a revocation therefore takes effect within that time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import InvalidInput, NotFound, Unauthenticated

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

PREFIX = "crk"
TOKEN_RE = re.compile(r"^crk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
TOKEN_ID_RE = re.compile(r"^[0-9a-f]{12}$")
# scrypt cost: 16 MiB, ~40 ms; the secret has 256 bits of entropy, the cost only slows a thief
# who copied the token store.
SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2**14, 8, 1, 32
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id and name (never its secret) and its provinces."""

    token_id: str
    name: str
    provinces: frozenset[str]

    def caller(self) -> dict[str, str]:
        return {"token_id": self.token_id, "name": self.name}


def _hash(secret: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=64 * 2**20)


def _check_provinces(provinces: Iterable[str]) -> tuple[str, ...]:
    out = sorted({p.strip() for p in provinces if p.strip()})
    bad = [p for p in out if p not in layout.PROVINCES]
    if not out or bad:
        raise InvalidInput(
            f"provinces must be GB/T 2260 province codes (e.g. 42,23); bad: {', '.join(bad) or 'none given'}",
            field="provinces",
        )
    return tuple(out)


def issue_token(
    lake: Lake, *, name: str, provinces: Iterable[str], now: dt.datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """Create a token; returns ``(token_string, stored_record)``. The string is shown once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name must be 1–100 characters", field="name")
    provs = _check_provinces(provinces)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record: dict[str, Any] = {
        "token_id": token_id,
        "name": name,
        "provinces": list(provs),
        "created_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "revoked_at": None,
        "kdf": {"alg": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": salt.hex(),
        "hash": _hash(secret, salt).hex(),
    }
    lake.write_json(layout.token_key(token_id), record)
    return f"{PREFIX}_{token_id}_{secret}", record


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its salt and hash (for listings)."""
    return {k: v for k, v in record.items() if k not in ("salt", "hash", "kdf")}


def list_tokens(lake: Lake) -> list[dict[str, Any]]:
    out = []
    for f in lake.list_files(layout.TOKENS_PREFIX, include_hidden=False):
        if f.key.endswith(".json"):
            out.append(public_view(lake.read_json(f.key)))
    return sorted(out, key=lambda r: (r.get("created_at") or "", r["token_id"]))


def revoke_token(lake: Lake, token_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    if not TOKEN_ID_RE.match(token_id):
        raise InvalidInput("a token id is 12 hex characters (see `creditrisk token list`)", field="token_id")
    key = layout.token_key(token_id)
    try:
        record: dict[str, Any] = lake.read_json(key)
    except FileNotFoundError:
        raise NotFound(f"no token {token_id}", field="token_id") from None
    if not record.get("revoked_at"):
        record["revoked_at"] = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        lake.write_json(key, record)
    _cache.clear()
    return public_view(record)


class _Cache:
    """token fingerprint → (principal, expiry); never holds the secret itself."""

    def __init__(self) -> None:
        self._d: dict[bytes, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, fp: bytes) -> Principal | None:
        with self._lock:
            hit = self._d.get(fp)
            if hit is None or hit[1] < time.monotonic():
                self._d.pop(fp, None)
                return None
            return hit[0]

    def put(self, fp: bytes, principal: Principal, ttl: float) -> None:
        with self._lock:
            if len(self._d) > 1000:
                self._d.clear()
            self._d[fp] = (principal, time.monotonic() + ttl)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_cache = _Cache()
_fp_key = secrets.token_bytes(32)  # per process: fingerprints are useless outside it


def clear_cache() -> None:
    _cache.clear()


def verify_token(lake: Lake, token: str, *, cache_seconds: float = CACHE_SECONDS) -> Principal:
    """The principal of a presented token, or ``Unauthenticated`` (same message for every failure)."""
    fp = hmac.new(_fp_key, token.encode("utf-8", "replace"), hashlib.sha256).digest()
    cached = _cache.get(fp) if cache_seconds > 0 else None
    if cached is not None:
        return cached
    m = TOKEN_RE.match(token)
    if not m:
        raise _bad()
    token_id, secret = m.groups()
    try:
        record: dict[str, Any] = lake.read_json(layout.token_key(token_id))
    except FileNotFoundError:
        _hash(secret, b"\0" * 16)  # same work as a real check: no timing hint that the id exists
        raise _bad() from None
    kdf = record.get("kdf", {})
    expected = bytes.fromhex(record["hash"])
    actual = _hash(
        secret,
        bytes.fromhex(record["salt"]),
        kdf.get("n", SCRYPT_N),
        kdf.get("r", SCRYPT_R),
        kdf.get("p", SCRYPT_P),
    )
    if not hmac.compare_digest(expected, actual) or record.get("revoked_at"):
        raise _bad()
    principal = Principal(token_id, str(record.get("name", "")), frozenset(record.get("provinces", [])))
    if cache_seconds > 0:
        _cache.put(fp, principal, cache_seconds)
    return principal


def _bad() -> Unauthenticated:
    return Unauthenticated("missing, malformed, unknown or revoked bearer token", field="Authorization")
