"""The audit chain and its signers (docs/adr/0095)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.errors import ConfigError, StorageError
from functions.lake import Lake
from functions.sampling import audit
from functions.sampling.signing import HmacSigner, KmsSigner, signer_from_settings
from functions.settings import Settings
from tests.sampling_data import FakeKms

KEY = HmacSigner(b"k" * 32)
AT = "2026-11-01T00:00:00.000+00:00"


def _chain(lake: Lake, n: int = 3) -> list[dict[str, Any]]:
    return [audit.append(lake, KEY, "42", "task", f"42-t{i:020d}", f"{i:064x}", AT) for i in range(n)]


def test_records_link_and_the_head_is_signed(local_lake: Lake) -> None:
    recs = _chain(local_lake)
    assert [r["seq"] for r in recs] == [1, 2, 3] and recs[0]["prev"] == audit.GENESIS
    assert recs[1]["prev"] == recs[0]["digest"] and recs[2]["prev"] == recs[1]["digest"]
    check = audit.check_chain(local_lake, KEY, "42")
    assert check.ok, check.problems
    assert check.find("task", "42-t00000000000000000001") == recs[1]
    head = json.loads(local_lake.read_bytes(layout.audit_head_key("42")))
    assert head["seq"] == 3 and head["digest"] == recs[2]["digest"] and head["key_id"] == KEY.key_id
    assert audit.check_chain(local_lake, KEY, "23").ok  # an empty chain is a valid one


def test_a_changed_record_or_another_key_is_reported(local_lake: Lake) -> None:
    _chain(local_lake)
    assert audit.check_chain(local_lake, HmacSigner(b"x" * 32), "42").problems == [
        f"the head was signed by {KEY.key_id}, not {HmacSigner(b'x' * 32).key_id}",
        "the head's signature does not verify",
    ]
    key = layout.audit_record_key("42", 2)
    rec = json.loads(local_lake.read_bytes(key))
    local_lake.write_bytes(key, audit.canonical({**rec, "ref": "42-t" + "9" * 20}))
    assert audit.check_chain(local_lake, KEY, "42").problems == [
        "record 2: digest does not match its content"
    ]


def test_appending_to_a_broken_head_is_refused(local_lake: Lake) -> None:
    _chain(local_lake, 1)
    with pytest.raises(StorageError, match="does not verify"):
        audit.append(local_lake, HmacSigner(b"x" * 32), "42", "plan", "42-" + "0" * 20, "0" * 64, AT)


def test_kms_signer(local_lake: Lake) -> None:
    kms = FakeKms()
    signer = KmsSigner(kms, "alias/creditrisk-audit")
    _chain(local_lake, 2)  # signed with KEY: the KMS signer does not accept it
    assert not audit.check_chain(local_lake, signer, "42").ok
    audit.append(local_lake, signer, "23", "task", "23-t" + "0" * 20, "0" * 64, AT)
    assert audit.check_chain(local_lake, signer, "23").ok
    assert signer.key_id == "kms:alias/creditrisk-audit" and not signer.verify(b"m", "not base64!")
    assert "generate_mac alias/creditrisk-audit HMAC_SHA_256" in kms.calls


def test_signer_from_settings(local_lake: Lake, tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("cd" * 32)
    assert signer_from_settings(Settings(audit_key_file=str(key)), local_lake) == HmacSigner(b"\xcd" * 32)
    own = signer_from_settings(Settings(), local_lake)  # a local lake makes its own key, once
    assert own == signer_from_settings(Settings(), local_lake)
    assert oct(Path(local_lake.path("_auth/audit-hmac.key")).stat().st_mode & 0o777) == "0o600"
    short = tmp_path / "short"
    short.write_text("cd")
    with pytest.raises(ConfigError, match="shorter"):
        signer_from_settings(Settings(audit_key_file=str(short)), local_lake)
    assert isinstance(signer_from_settings(Settings(audit_kms_key_id="alias/a"), local_lake), KmsSigner)
