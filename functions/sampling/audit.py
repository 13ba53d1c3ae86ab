"""The audit chain of a province's sampling: task registrations, plans and supersessions.

Each record carries the SHA-256 of the stored object it is about (``subject``) and the previous
record's digest (``prev``); the head (last sequence number and digest) is signed by a
:class:`~functions.sampling.signing.Signer`. Changing any stored task or plan breaks its
``subject``; rewriting a record breaks the next one's ``prev``; rewriting everything up to the
head breaks the head's signature (docs/adr/0095).

Appends race safely (docs/adr/0126): a record is created once (``If-None-Match: *``) and the
head replaced only if unchanged since read (``If-Match``), so two writers can never fork the
chain; the loser retries from the new head. Every :data:`CHECKPOINT_EVERY` records the head is
also kept as a signed checkpoint, and each record's sequence number is indexed by its subject's
ref, so one plan is verified from its record to the next checkpoint (docs/adr/0127).

A writer that dies between its steps never blocks the chain (docs/adr/0140): each record carries
a ``seal``, its writer's signature over "record N+1 is pending after N", so the next writer (or
``creditrisk audit repair``) finishes a sealed record's append instead of refusing; a record
without a valid seal was not written with the key and is only ever set aside by the operator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import Conflict, StorageError, WriteConflict

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.signing import Signer

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
# ``test_plan``: a plan drawn with a caller's seed in test mode; never an official kind, so no
# lookup of a task's plans (``plan``/``supersession``) can ever return it (docs/adr/0126).
# ``repair``: what ``creditrisk audit repair`` did, who ran it and when (docs/adr/0140).
KINDS = ("task", "plan", "supersession", "test_plan", "repair")
OFFICIAL_KINDS = ("plan", "supersession")
CHECKPOINT_EVERY = 32
APPEND_TRIES = 12


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_digest(record: dict[str, Any]) -> str:
    """Over every member but the digest and the seal (the seal signs the digest)."""
    return sha256(canonical({k: v for k, v in record.items() if k not in ("digest", "seal")}))


def head_message(province: str, seq: int, digest: str) -> bytes:
    return canonical(
        {"chain": "creditrisk-sampling-audit/1", "province": province, "seq": seq, "digest": digest}
    )


def seal_message(province: str, seq: int, digest: str) -> bytes:
    """What a record's ``seal`` signs: not a head (a seal never vouches that a record is the last),
    only that the key's holder wrote this record as number ``seq`` (docs/adr/0140)."""
    return canonical(
        {"chain": "creditrisk-sampling-audit/1", "pending": True, "province": province, "seq": seq,
         "digest": digest}
    )  # fmt: skip


def read_object(lake: Lake, key: str, what: str = "audit object") -> dict[str, Any] | None:
    """A JSON object written once (chain record, head, task, draw, secret); ``None`` if absent."""
    try:
        data: dict[str, Any] = json.loads(lake.read_bytes(key))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StorageError(f"unreadable {what} {lake.display(key)}: {exc}") from exc
    return data


def signed_head(lake: Lake, signer: Signer, province: str) -> tuple[int, str, str | None]:
    """``(seq, digest, etag)`` of the head (``etag`` None before the first record)."""
    found = lake.read_tagged(layout.audit_head_key(province))
    if found is None:
        return 0, GENESIS, None
    try:
        head = json.loads(found[0])
        seq, digest = int(head["seq"]), str(head["digest"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"unreadable audit chain head of province {province}: {exc}") from exc
    if not signer.verify(head_message(province, seq, digest), str(head.get("signature", ""))):
        raise StorageError(f"the audit chain head of province {province} does not verify; not extended")
    return seq, digest, found[1]


def signed(signer: Signer, province: str, seq: int, digest: str) -> dict[str, Any]:
    """A head or checkpoint: the sequence number and digest of a record, signed."""
    return {
        "province": province,
        "seq": seq,
        "digest": digest,
        "key_id": signer.key_id,
        "signature": signer.sign(head_message(province, seq, digest)),
    }


def append(
    lake: Lake, signer: Signer, province: str, kind: str, ref: str, subject: str, at: str, **extra: Any
) -> dict[str, Any]:
    """Append one record and re-sign the head. Refuses to extend a chain whose head does not verify.

    Race-safe: the record is created only if its sequence number is free and the head replaced
    only if nobody moved it; a loser re-reads and retries, and after :data:`APPEND_TRIES` gets a
    :class:`~functions.errors.Conflict` (409). A sealed record beyond the head (its writer died
    or is slow) is finished first, not waited for; one without a valid seal blocks the chain
    with a 409 until ``creditrisk audit repair`` sets it aside (docs/adr/0140)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit record kind {kind!r}")
    for attempt in range(APPEND_TRIES):
        seq, prev, etag = signed_head(lake, signer, province)
        if seq:
            ensure_indexed(lake, signer, province, seq, prev)
        record: dict[str, Any] = {
            "seq": seq + 1, "province": province, "at": at, "kind": kind, "ref": ref, "subject": subject,
            "prev": prev, **extra,
        }  # fmt: skip
        record["digest"] = record_digest(record)
        record["seal"] = signer.sign(seal_message(province, seq + 1, record["digest"]))
        try:
            lake.write_bytes(layout.audit_record_key(province, seq + 1), canonical(record),
                             metadata={"Content-Type": "application/json"}, if_none_match=True)  # fmt: skip
        except WriteConflict:
            finish_pending(lake, signer, province, seq, prev, etag)
            time.sleep(min(0.2, 0.005 * 2**attempt) * (0.5 + random.random()))
            continue
        move_head(lake, signer, province, record, etag)
        write_index(lake, signer, province, record)
        logger.info("audit %s #%d: %s %s", province, seq + 1, kind, ref)
        return record
    raise Conflict("the audit chain is busy (concurrent appends); try again", field="audit")


def sealed(signer: Signer, province: str, record: Any, seq: int, prev: str) -> bool:
    """Whether ``record`` is number ``seq``, links to ``prev`` and was sealed with our key."""
    return (
        isinstance(record, dict)
        and record.get("seq") == seq
        and record.get("province") == province
        and record.get("kind") in KINDS
        and record.get("prev") == prev
        and record.get("digest") == record_digest(record)
        and signer.verify(seal_message(province, seq, str(record["digest"])), str(record.get("seal", "")))
    )


def pending_record(lake: Lake, province: str, head_seq: int) -> tuple[bytes, str] | None:
    """The bytes and ETag of a record beyond the head (an append not finished), if any."""
    return lake.read_tagged(layout.audit_record_key(province, head_seq + 1))


def finish_pending(
    lake: Lake, signer: Signer, province: str, seq: int, prev: str, etag: str | None
) -> dict[str, Any] | None:
    """Finish the append of record ``seq + 1`` beyond the head ``seq`` (``None`` when there is
    none): sealed and linked, the head is moved to it; otherwise a 409 that asks for the operator.
    Idempotent: a writer that finishes it meanwhile (the original one, or another) is no error."""
    found = pending_record(lake, province, seq)
    if found is None:
        return None
    try:
        record: Any = json.loads(found[0])
    except ValueError:
        record = None
    if not sealed(signer, province, record, seq + 1, prev):
        raise Conflict(
            f"record #{seq + 1} of the audit chain of province {province} is beyond the head and not "
            f"sealed with the chain's key (or does not link to #{seq}); appends wait for an operator: "
            f"creditrisk audit repair --province {province}",
            field="audit",
        )
    move_head(lake, signer, province, record, etag)
    write_index(lake, signer, province, record)
    logger.warning("audit %s #%d: finished an append its writer had left", province, seq + 1)
    out: dict[str, Any] = record
    return out


def move_head(lake: Lake, signer: Signer, province: str, record: dict[str, Any], etag: str | None) -> None:
    """Sign ``record`` as the head, replacing the head read with ``etag`` (``None``: no head yet).

    Only the writer of record N+1 moves the head from N, or whoever finishes that record's
    append for it: a lost replace is fine when the head already names the record (or a later
    one); anything else means someone else wrote the head, and the chain says so."""
    seq = int(record["seq"])
    head = canonical(signed(signer, province, seq, str(record["digest"])))
    try:
        if etag is None:
            lake.write_bytes(layout.audit_head_key(province), head, if_none_match=True)
        else:
            lake.write_bytes(layout.audit_head_key(province), head, if_match=etag)
    except WriteConflict as exc:
        now = read_object(lake, layout.audit_head_key(province)) or {}
        at = now.get("seq")
        if isinstance(at, int) and (at > seq or (at == seq and now.get("digest") == record["digest"])):
            return
        raise StorageError(
            f"the audit chain head of province {province} moved while record #{seq} was "
            "written; the chain needs an operator"
        ) from exc


def ensure_indexed(lake: Lake, signer: Signer, province: str, seq: int, digest: str) -> bool:
    """Write the ref index entry (and checkpoint) of the head's record if its writer died before
    them (verification would not find the record otherwise). Returns whether anything was missing."""
    rec = read_object(lake, layout.audit_record_key(province, seq))
    if not isinstance(rec, dict) or rec.get("digest") != digest:
        return False  # the head check reports it
    missing = not lake.exists(layout.audit_ref_key(province, str(rec.get("kind")), str(rec.get("ref"))))
    if seq % CHECKPOINT_EVERY == 0:
        missing = missing or not lake.exists(layout.audit_checkpoint_key(province, seq))
    if missing:
        write_index(lake, signer, province, rec)
    return missing


def write_index(lake: Lake, signer: Signer, province: str, record: dict[str, Any]) -> None:
    """The ref index and (every :data:`CHECKPOINT_EVERY` records) a signed checkpoint; both are
    conveniences for verification, created once, and their loss only makes verification walk
    further."""
    seq = int(record["seq"])
    todo = [(layout.audit_ref_key(province, str(record["kind"]), str(record["ref"])),
             canonical({"seq": seq, "digest": record["digest"]}))]  # fmt: skip
    if seq % CHECKPOINT_EVERY == 0:
        cp = canonical(signed(signer, province, seq, str(record["digest"])))
        todo.append((layout.audit_checkpoint_key(province, seq), cp))
    for key, data in todo:
        try:
            lake.write_bytes(key, data, if_none_match=True)
        except WriteConflict:
            logger.warning("audit %s #%d: %s exists already", province, seq, key)


def indexed(lake: Lake, province: str, kinds: tuple[str, ...], ref: str) -> bool:
    """Whether ``ref`` has a record of one of ``kinds`` (its index entry; one small read each)."""
    return any(lake.exists(layout.audit_ref_key(province, kind, ref)) for kind in kinds)


def locate(lake: Lake, signer: Signer, province: str, kinds: tuple[str, ...], ref: str) -> ChainCheck:
    """The record of ``ref`` (one of ``kinds``) and its proof, without reading the whole chain.

    From the record (found by the ref index), each following record must link to it, up to the
    first record a valid signed checkpoint or the signed head vouches for: at most
    :data:`CHECKPOINT_EVERY` records read whatever the chain's length (docs/adr/0127). No index
    entry means no such record (the index is written with every record)."""
    out = ChainCheck(province)
    head = read_object(lake, layout.audit_head_key(province))
    head_seq = head.get("seq") if isinstance(head, dict) else 0
    if not isinstance(head_seq, int):
        head_seq = 0
    out.problems += _head_problems(lake, signer, province, head, head_seq)
    for kind in kinds:
        entry = read_object(lake, layout.audit_ref_key(province, kind, ref))
        if entry is None:
            continue
        seq = entry.get("seq")
        if not isinstance(seq, int) or seq < 1:
            out.problems.append(f"the index entry of {kind} {ref} is malformed")
            return out
        rec = read_object(lake, layout.audit_record_key(province, seq))
        if rec is None or rec.get("kind") != kind or rec.get("ref") != ref or rec.get("seq") != seq:
            out.problems.append(f"record {seq} is not the {kind} record of {ref}")
            return out
        out.records.append(rec)
        out.problems += _vouched(lake, signer, province, rec, head, head_seq)
        return out
    return out


def _head_problems(lake: Lake, signer: Signer, province: str, head: Any, head_seq: int) -> list[str]:
    """The head on its own (three reads): signed by our key, over the record it names, the last."""
    if head is None:
        if lake.exists(layout.audit_record_key(province, 1)):
            return ["the chain has records but no signed head"]
        return []
    out = []
    last = read_object(lake, layout.audit_record_key(province, head_seq)) if head_seq > 0 else None
    if (
        last is None
        or last.get("digest") != head.get("digest")
        or lake.exists(layout.audit_record_key(province, head_seq + 1))
    ):
        out.append(f"the head (#{head.get('seq')}) is not the last record")
    if head.get("key_id") != signer.key_id:
        out.append(f"the head was signed by {head.get('key_id')}, not {signer.key_id}")
    if not signer.verify(head_message(province, head_seq, str(head.get("digest"))),
                         str(head.get("signature", ""))):  # fmt: skip
        out.append("the head's signature does not verify")
    return out


def _vouched(
    lake: Lake, signer: Signer, province: str, rec: dict[str, Any], head: Any, head_seq: int
) -> list[str]:
    """Problems on the way from ``rec`` to the nearest signed checkpoint (or the head)."""
    seq, digest = int(rec["seq"]), str(rec.get("digest"))
    if digest != record_digest(rec):
        return [f"record {seq}: digest does not match its content"]
    while True:
        if seq % CHECKPOINT_EVERY == 0:
            cp = read_object(lake, layout.audit_checkpoint_key(province, seq))
            if cp is not None and _signature_ok(signer, province, cp, seq, digest):
                return []
        if seq >= head_seq:
            if (
                seq == head_seq
                and isinstance(head, dict)
                and _signature_ok(signer, province, head, seq, digest)
            ):
                return []
            return [f"record {seq} is not vouched for by a valid signature (the head is #{head_seq})"]
        nxt = read_object(lake, layout.audit_record_key(province, seq + 1))
        if nxt is None:
            return [f"record {seq + 1} is missing"]
        if nxt.get("prev") != digest or nxt.get("seq") != seq + 1:
            return [f"record {seq + 1}: does not link to record {seq}"]
        if nxt.get("digest") != record_digest(nxt):
            return [f"record {seq + 1}: digest does not match its content"]
        seq, digest = seq + 1, str(nxt["digest"])


def _signature_ok(signer: Signer, province: str, signed_: dict[str, Any], seq: int, digest: str) -> bool:
    return (
        signed_.get("seq") == seq
        and signed_.get("digest") == digest
        and signed_.get("key_id") == signer.key_id
        and signer.verify(head_message(province, seq, digest), str(signed_.get("signature", "")))
    )


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
    for cp_file in lake.list_files(layout.audit_checkpoints_prefix(province)):
        cp = read_object(lake, cp_file.key) or {}
        at = cp.get("seq")
        if (
            not isinstance(at, int)
            or not 0 < at <= len(out.records)
            or not _signature_ok(signer, province, cp, at, str(out.records[at - 1].get("digest")))
        ):
            out.problems.append(f"checkpoint {cp_file.key} does not vouch for its record")
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
