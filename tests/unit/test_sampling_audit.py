"""The audit chain and its signers (docs/adr/0095)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.errors import ConfigError, Conflict, StorageError
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


def test_concurrent_appends_keep_the_chain_linear(local_lake: Lake) -> None:
    """Eight writers at once (ADR 0126): every append lands exactly once, in one line, signed."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> dict[str, Any]:
        return audit.append(local_lake, KEY, "42", "plan", f"42-{i:020x}", f"{i:064x}", AT)

    with ThreadPoolExecutor(8) as pool:
        recs = list(pool.map(one, range(24)))
    assert sorted(r["seq"] for r in recs) == list(range(1, 25))
    check = audit.check_chain(local_lake, KEY, "42")
    assert check.ok, check.problems
    assert sorted(r["ref"] for r in check.records) == sorted(f"42-{i:020x}" for i in range(24))


def test_a_record_nobody_sealed_blocks_appends_until_an_operator_looks(local_lake: Lake) -> None:
    """Beyond the head without the key's seal: never signed on someone else's word (ADR 0140)."""
    _chain(local_lake, 1)
    local_lake.write_bytes(layout.audit_record_key("42", 2), b"{}")
    with pytest.raises(Conflict, match="creditrisk audit repair --province 42"):
        audit.append(local_lake, KEY, "42", "plan", "42-" + "0" * 20, "0" * 64, AT)


def test_locate_reads_a_bounded_part_of_the_chain(local_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """One record is proved by the walk to the next signed checkpoint, not by the whole chain."""
    n = 3 * audit.CHECKPOINT_EVERY + 5
    _chain(local_lake, n)
    assert [f.key for f in local_lake.list_files(layout.audit_checkpoints_prefix("42"))] == [
        layout.audit_checkpoint_key("42", k * audit.CHECKPOINT_EVERY) for k in (1, 2, 3)
    ]
    reads: list[str] = []
    original = Lake.read_bytes

    def counting(self: Lake, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(Lake, "read_bytes", counting)
    found = audit.locate(local_lake, KEY, "42", ("task",), f"42-t{4:020d}")
    assert found.ok and [r["seq"] for r in found.records] == [5]
    chain_reads = [k for k in reads if "/chain/" in k]
    assert len(chain_reads) <= audit.CHECKPOINT_EVERY + 2  # record 5 … 32, and the head's own
    assert layout.audit_checkpoint_key("42", audit.CHECKPOINT_EVERY) in reads
    assert audit.locate(local_lake, KEY, "42", ("plan",), f"42-t{4:020d}").records == []


def test_locate_reports_a_broken_link_or_checkpoint(local_lake: Lake) -> None:
    _chain(local_lake, audit.CHECKPOINT_EVERY + 2)
    key = layout.audit_record_key("42", 7)
    rec = json.loads(local_lake.read_bytes(key))
    local_lake.write_bytes(key, audit.canonical({**rec, "prev": "1" * 64}))
    found = audit.locate(local_lake, KEY, "42", ("task",), f"42-t{2:020d}")
    assert found.problems == ["record 7: does not link to record 6"]
    local_lake.write_bytes(key, audit.canonical(rec))
    cp_key = layout.audit_checkpoint_key("42", audit.CHECKPOINT_EVERY)
    cp = json.loads(local_lake.read_bytes(cp_key))
    local_lake.write_bytes(cp_key, audit.canonical({**cp, "signature": "0" * 64}))
    # a forged checkpoint is no proof: the walk goes on to the signed head, which still holds
    assert audit.locate(local_lake, KEY, "42", ("task",), f"42-t{2:020d}").ok
    assert "does not vouch" in " ".join(audit.check_chain(local_lake, KEY, "42").problems)
