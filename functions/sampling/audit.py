"""The audit chain of a province's sampling: task registrations, plans and supersessions.

Each record carries the SHA-256 of the stored object it is about (``subject``) and the previous
record's digest (``prev``); the head (last sequence number and digest) is signed by a
:class:`~functions.sampling.signing.Signer`. Changing any stored task or plan breaks its
``subject``; rewriting a record breaks the next one's ``prev``; rewriting everything up to the
head breaks the head's signature (docs/adr/0095).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import Conflict, StorageError

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.signing import Signer

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
KINDS = ("task", "plan", "supersession")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_digest(record: dict[str, Any]) -> str:
    return sha256(canonical({k: v for k, v in record.items() if k != "digest"}))


def head_message(province: str, seq: int, digest: str) -> bytes:
    return canonical(
        {"chain": "creditrisk-sampling-audit/1", "province": province, "seq": seq, "digest": digest}
    )


def read_object(lake: Lake, key: str, what: str = "audit object") -> dict[str, Any] | None:
    """A JSON object written once (chain record, head, task, draw, secret); ``None`` if absent."""
    try:
        data: dict[str, Any] = json.loads(lake.read_bytes(key))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StorageError(f"unreadable {what} {lake.display(key)}: {exc}") from exc
    return data


def append(
    lake: Lake, signer: Signer, province: str, kind: str, ref: str, subject: str, at: str, **extra: Any
) -> dict[str, Any]:
    """Append one record and re-sign the head. Refuses to extend a chain whose head does not verify."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit record kind {kind!r}")
    head = read_object(lake, layout.audit_head_key(province))
    if head is None:
        seq, prev = 0, GENESIS
    else:
        seq, prev = int(head["seq"]), str(head["digest"])
        if not signer.verify(head_message(province, seq, prev), str(head.get("signature", ""))):
            raise StorageError(f"the audit chain head of province {province} does not verify; not extended")
    record: dict[str, Any] = {
        "seq": seq + 1, "province": province, "at": at, "kind": kind, "ref": ref, "subject": subject,
        "prev": prev, **extra,
    }  # fmt: skip
    record["digest"] = record_digest(record)
    key = layout.audit_record_key(province, seq + 1)
    if lake.exists(key):
        raise Conflict("the audit chain moved on concurrently; try again", field="audit")
    lake.write_bytes(key, canonical(record), metadata={"Content-Type": "application/json"})
    new_head = {
        "province": province,
        "seq": seq + 1,
        "digest": record["digest"],
        "key_id": signer.key_id,
        "signature": signer.sign(head_message(province, seq + 1, record["digest"])),
    }
    lake.write_bytes(layout.audit_head_key(province), canonical(new_head))
    logger.info("audit %s #%d: %s %s", province, seq + 1, kind, ref)
    return record


@dataclass
class ChainCheck:
    province: str
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def find(self, kind: str, ref: str) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("kind") == kind and r.get("ref") == ref), None)


def check_chain(lake: Lake, signer: Signer, province: str) -> ChainCheck:
    """Every record's digest and link, and the head's signature over the last one."""
    out = ChainCheck(province)
    files = lake.list_files(layout.audit_chain_prefix(province))
    prev = GENESIS
    for expected_seq, f in enumerate(files, start=1):
        rec = read_object(lake, f.key)
        if rec is None:
            out.problems.append(f"record {f.key} vanished")
            break
        out.records.append(rec)
        if rec.get("seq") != expected_seq or f.key != layout.audit_record_key(province, expected_seq):
            out.problems.append(f"record {f.key}: sequence {rec.get('seq')} where {expected_seq} belongs")
        if rec.get("province") != province:
            out.problems.append(f"record {expected_seq}: province {rec.get('province')}")
        if rec.get("prev") != prev:
            out.problems.append(f"record {expected_seq}: does not link to record {expected_seq - 1}")
        if rec.get("digest") != record_digest(rec):
            out.problems.append(f"record {expected_seq}: digest does not match its content")
        prev = str(rec.get("digest"))
    head = read_object(lake, layout.audit_head_key(province))
    if head is None:
        if files:
            out.problems.append("the chain has records but no signed head")
        return out
    if head.get("seq") != len(files) or head.get("digest") != prev:
        out.problems.append(f"the head (#{head.get('seq')}) is not the last record (#{len(files)})")
    if head.get("key_id") != signer.key_id:
        out.problems.append(f"the head was signed by {head.get('key_id')}, not {signer.key_id}")
    if not signer.verify(head_message(province, int(head.get("seq", -1)), str(head.get("digest"))),
                         str(head.get("signature", ""))):  # fmt: skip
        out.problems.append("the head's signature does not verify")
    return out
