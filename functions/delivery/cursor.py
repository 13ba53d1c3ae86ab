"""Opaque, tamper-evident cursors: a compact JSON position and its MAC (docs/adr/0114, 0121).

The MAC comes from the same signer as the sampling audit chain (``functions.sampling.signing``):
in AWS the KMS HMAC key (``kms:GenerateMac``/``kms:VerifyMac``: the key never leaves KMS, so
whoever can write the lake cannot mint cursors); locally the key file or the local lake's own
key. The message is prefixed with a domain tag, so a cursor MAC never equals a chain-head MAC.

A cursor altered, truncated, or taken from another province's, month's or feed's listing is a
400; it carries no secret (only a row position and the run it was read from).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import TYPE_CHECKING, Any

from functions.errors import InvalidInput

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.signing import Signer
    from functions.settings import Settings

DOMAIN = b"creditrisk-cursor-v2\0"
_signers: dict[tuple[str, str | None, str | None], Signer] = {}
_lock = threading.Lock()


def cursor_signer(settings: Settings, lake: Lake) -> Signer:
    """The settings' signer (KMS in AWS), made once per process (one KMS client, not one a page)."""
    from functions.sampling.signing import signer_from_settings

    ident = (lake.uri, settings.audit_kms_key_id, settings.audit_key_file)
    with _lock:
        found = _signers.get(ident)
        if found is None:
            found = _signers[ident] = signer_from_settings(settings, lake)
        return found


def clear_cache() -> None:
    with _lock:
        _signers.clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(signer: Signer, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(signer.sign(DOMAIN + body).encode('ascii'))}"


def verify(signer: Signer, text: str, expect: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``text`` if its MAC holds and it matches ``expect`` (province, month, feed)."""
    bad = InvalidInput("cursor is not one this API returned for this listing", field="cursor")
    try:
        body_text, mac_text = text.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise bad from None
    if not mac or not signer.verify(DOMAIN + body, mac):
        raise bad
    try:
        payload: dict[str, Any] = json.loads(body)
    except ValueError:
        raise bad from None
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expect.items()):
        raise bad
    return payload
