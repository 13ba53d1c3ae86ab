"""Server-side randomness committed before the draw (docs/adr/0093).

At task registration the server draws a secret ``s`` and builds a hash chain
``k_MAX = s``, ``k_{i-1} = sha256(k_i)``; only the commitment ``c = k_0`` is published (in the task
and the audit chain). Draw ``n`` (1 = the official draw, 2… = redraws) reveals ``k_n`` and uses
the seed ``HMAC-SHA256(k_n, "creditrisk-draw/1" NUL task_id NUL frame_digest NUL n)``.

Anyone can check ``sha256^n(k_n) == c``, so the seed was fixed when the task was registered, before
the caller could see it; revealing ``k_n`` discloses ``k_1 … k_{n-1}`` (already used) but not
``k_{n+1}``, so a revealed draw never tells the caller what a redraw would give.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MAX_DRAWS = 16  # the official draw and up to 15 redraws per task
_DOMAIN = b"creditrisk-draw/1"


def _h(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def new_secret() -> str:
    """256 bits from ``secrets``: ``k_MAX``, kept server-side until its keys are revealed."""
    return secrets.token_hex(32)


def key_for(secret: str, draw_no: int) -> str:
    """``k_draw_no`` (hex) of the chain rooted at ``secret``."""
    if not 0 <= draw_no <= MAX_DRAWS:
        raise ValueError(f"draw number must be within [0, {MAX_DRAWS}]")
    k = bytes.fromhex(secret)
    for _ in range(MAX_DRAWS - draw_no):
        k = _h(k)
    return k.hex()


def commitment(secret: str) -> str:
    """``k_0``: published at registration."""
    return key_for(secret, 0)


def opens(reveal: str, draw_no: int, committed: str) -> bool:
    """Whether ``reveal`` is ``k_draw_no`` of the chain whose commitment is ``committed``."""
    try:
        k = bytes.fromhex(reveal)
    except ValueError:
        return False
    if len(k) != 32 or not 1 <= draw_no <= MAX_DRAWS:
        return False
    for _ in range(draw_no):
        k = _h(k)
    return hmac.compare_digest(k.hex(), committed)


def seed_of(reveal: str, task_id: str, frame_digest: str, draw_no: int) -> str:
    """The draw's seed: bound to the task, the frame fixed at registration and the draw number."""
    msg = b"\0".join((_DOMAIN, task_id.encode(), frame_digest.encode(), str(draw_no).encode()))
    return hmac.new(bytes.fromhex(reveal), msg, hashlib.sha256).hexdigest()
