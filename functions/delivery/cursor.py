"""Opaque, tamper-evident cursors: a compact JSON position signed with an HMAC-SHA256 key that
only the lake holds (``_auth/signing/cursor.key``, created on first use; docs/adr/0114).

A cursor altered, truncated, or taken from another province's, month's or feed's listing is a
400; it carries no secret (only a row position and the run it was read from).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import InvalidInput

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)
_keys: dict[str, bytes] = {}
_lock = threading.Lock()
MAC_BYTES = 16


def signing_key(lake: Lake) -> bytes:
    """The lake's cursor key (32 random bytes), read once per process."""
    with _lock:
        key = _keys.get(lake.uri)
        if key is None:
            try:
                key = bytes.fromhex(lake.read_bytes(layout.SIGNING_KEY).decode("ascii").strip())
            except FileNotFoundError:
                key = secrets.token_bytes(32)
                lake.write_bytes(layout.SIGNING_KEY, key.hex().encode("ascii"))
                logger.info("created the cursor signing key")
            _keys[lake.uri] = key
        return key


def clear_cache() -> None:
    with _lock:
        _keys.clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def verify(key: bytes, text: str, expect: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``text`` if its MAC holds and it matches ``expect`` (province, month, feed)."""
    bad = InvalidInput("cursor is not one this API returned for this listing", field="cursor")
    try:
        body_text, mac_text = text.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise bad from None
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES], mac):
        raise bad
    payload: dict[str, Any] = json.loads(body)
    if any(payload.get(k) != v for k, v in expect.items()):
        raise bad
    return payload
