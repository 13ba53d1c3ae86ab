"""Who signs the audit chain's head: a small interface, chosen by the settings (docs/adr/0095).

In AWS a KMS HMAC key (``GenerateMac``/``VerifyMac``): the key never leaves KMS, so whoever can
write the lake still cannot re-sign a rewritten chain. Locally and in tests an HMAC key from a
file (``audit_key_file``); a local lake without one gets a key file of its own under ``_auth/``
(development only: whoever can write that folder can re-sign).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from functions.errors import ConfigError

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

LOCAL_KEY_KEY = "_auth/audit-hmac.key"


class Signer(Protocol):
    """Signs and checks a chain head's bytes; ``key_id`` is recorded next to each signature."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> str: ...

    def verify(self, message: bytes, signature: str) -> bool: ...


@dataclass(frozen=True)
class HmacSigner:
    """HMAC-SHA256 with a local key (the key id is a fingerprint, never the key)."""

    key: bytes

    @property
    def key_id(self) -> str:
        return "hmac-sha256:" + hashlib.sha256(b"creditrisk-audit-key\0" + self.key).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def verify(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


@dataclass(frozen=True)
class KmsSigner:
    """A KMS HMAC key (``HMAC_SHA_256``): ``kms:GenerateMac`` to sign, ``kms:VerifyMac`` to check."""

    client: Any
    kms_key_id: str

    @property
    def key_id(self) -> str:
        return "kms:" + self.kms_key_id

    def sign(self, message: bytes) -> str:
        out = self.client.generate_mac(Message=message, KeyId=self.kms_key_id, MacAlgorithm="HMAC_SHA_256")
        return base64.b64encode(out["Mac"]).decode("ascii")

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            mac = base64.b64decode(signature, validate=True)
            out = self.client.verify_mac(
                Message=message, KeyId=self.kms_key_id, MacAlgorithm="HMAC_SHA_256", Mac=mac
            )
        except Exception:  # KMSInvalidMacException, a malformed signature: not verified either way
            return False
        return bool(out.get("MacValid"))


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the audit key file {path}: {exc}", field="audit_key_file") from None
    if len(key) < 32:
        raise ConfigError(f"the audit key in {path} is shorter than 32 bytes", field="audit_key_file")
    return key


def local_key_file(lake: Lake) -> Path:
    """A local lake's own key file, made (0600) on first use."""
    path = Path(lake.path(LOCAL_KEY_KEY))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32))
    return path


def signer_from_settings(settings: Settings, lake: Lake) -> Signer:
    """KMS when ``audit_kms_key_id`` is set, else the key file, else (local lake) the lake's own key."""
    if settings.audit_kms_key_id:
        return KmsSigner(settings.aws_client("kms"), settings.audit_kms_key_id)
    if settings.audit_key_file:
        return HmacSigner(_read_key(Path(settings.audit_key_file)))
    if lake.is_local:
        return HmacSigner(_read_key(local_key_file(lake)))
    raise ConfigError(
        "no audit signer: set CREDITRISK_AUDIT_KMS_KEY_ID (AWS) or CREDITRISK_AUDIT_KEY_FILE",
        field="audit_kms_key_id",
    )
