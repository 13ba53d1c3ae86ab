"""Approved manual adjustments applied to a draw at once, as an overlay on the sampling copy
(issue 14, docs/adr/0142).

A run's sampling copy (ADR 0100) is immutable: plans drawn from it must stay verifiable. An
adjustment approved after the copy was written is therefore not written into it; instead every
approval stores a *snapshot* of the month's approved adjustments, content-addressed
(``…/_adjustments/<sha256>.json``, never rewritten), and names it in ``_adjustments.json``. A draw
reads the snapshot named there (a task: the one fixed at registration), moves each adjusted
entity from its cell in the copy to the stratum of its adjusted class, and records the snapshot's
digest in the plan; ``plan verify`` reads that snapshot back, checks its bytes against the
digest, and re-applies exactly it.

In a stratum the copy's entities come first (cell order, as before), then the entities moved
into the class, in uscc order. An entity already in its adjusted class in the copy (the copy was
written after the approval) is not moved. Nothing here imports pandas or duckdb.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from functions import layout
from functions.errors import StorageError, WriteConflict
from functions.sampling import cells
from functions.sampling import frame as frames
from schemas.fields import combine

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from functions.lake import Lake

logger = logging.getLogger(__name__)

DIGEST_RE = r"^[0-9a-f]{64}$"


@dataclass(frozen=True)
class Overlay:
    """One snapshot of a month's approved adjustments: uscc → (adjustment id, adjusted class)."""

    month: str
    province: str
    digest: str  # SHA-256 of the snapshot's stored bytes
    classes: Mapping[str, str]  # uscc → adjusted class
    ids: Mapping[str, str]  # uscc → adjustment id

    def record(self, applied: int) -> dict[str, Any]:
        """What a plan or task keeps: the snapshot and how many entities it moved in the scope."""
        return {"digest": self.digest, "adjustments": len(self.classes), "applied": applied}


def snapshot_bytes(month: str, province: str, approved: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The canonical bytes of a snapshot (sorted keys, no spaces): what the digest covers."""
    doc = {
        "month": month,
        "province": province,
        "adjustments": {
            code: {
                "adjustment_id": a["adjustment_id"],
                "adjusted_class": a["adjusted_class"],
                "approved_at": a["approved_at"],
            }
            for code, a in sorted(approved.items())
        },
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def store_snapshot(lake: Lake, month: str, province: str, approved: Mapping[str, Mapping[str, Any]]) -> str:
    """Write the snapshot once under its digest (an identical one may exist: nothing to do)."""
    data = snapshot_bytes(month, province, approved)
    digest = hashlib.sha256(data).hexdigest()
    key = layout.adjustments_snapshot_key(month, province, digest)
    if not lake.exists(key):
        with contextlib.suppress(WriteConflict):  # a concurrent approval wrote the same bytes
            lake.write_bytes(key, data, if_none_match=True)
    return digest


def load(lake: Lake, month: str, province: str, digest: str) -> Overlay:
    """The snapshot ``digest`` names; its bytes must hash to it (StorageError otherwise)."""
    key = layout.adjustments_snapshot_key(month, province, digest)
    try:
        data = lake.read_bytes(key)
    except FileNotFoundError:
        raise StorageError(f"adjustments snapshot {digest[:12]}… of {month} {province} is missing") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise StorageError(f"the adjustments snapshot {digest[:12]}… does not match its digest")
    doc = json.loads(data)
    if doc.get("month") != month or doc.get("province") != province:
        raise StorageError(f"the adjustments snapshot {digest[:12]}… is of another month or province")
    found: dict[str, dict[str, Any]] = doc["adjustments"]
    return Overlay(
        month,
        province,
        digest,
        {c: str(a["adjusted_class"]) for c, a in found.items()},
        {c: str(a["adjustment_id"]) for c, a in found.items()},
    )


def current(lake: Lake, month: str, province: str) -> Overlay | None:
    """The snapshot the month's approved index names now; ``None`` without one (no approval
    yet, or an index written before snapshots: its adjustments are in the copies since)."""
    try:
        doc = lake.read_json(layout.adjustments_index_key(month, province))
    except FileNotFoundError:
        return None
    digest = doc.get("digest") if isinstance(doc, dict) else None
    if not isinstance(digest, str):
        return None
    return load(lake, month, province, digest)


def for_field(frame: cells.CellFrame, general: Overlay) -> Overlay:
    """The snapshot as a field frame sees it (docs/adr/0145): an adjusted entity of the field's
    population is sampled in the combination (``schemas/fields.yaml``: the stricter) of its
    adjusted general class and its field class, read from the field run's own result; entities
    outside the population are not in the frame and drop out. Digest and ids stay the
    snapshot's: the plan names the same snapshot, and ``plan verify`` derives the same classes
    from it and the field run (both immutable)."""
    field = _field_classes(frame.lake, frame.run_id, sorted(general.classes))
    classes = {c: combine(general.classes[c], f) for c, f in field.items()}
    return Overlay(general.month, general.province, general.digest, classes,
                   {c: general.ids[c] for c in classes})  # fmt: skip


def _field_classes(lake: Lake, run_id: str, codes: Sequence[str]) -> dict[str, str]:
    """``uscc → field class`` in a field run's result for ``codes`` (a handful: only the row
    groups whose uscc statistics bracket one of them are read)."""
    import pyarrow.parquet as pq

    if not codes:
        return {}
    key = layout.field_result_key(run_id)
    try:
        with lake.open_input_file(key) as f:
            t = frames.rows_of(pq.ParquetFile(f), codes, ["uscc", "risk_class"])
        out = dict(zip(t["uscc"].to_pylist(), t["risk_class"].to_pylist(), strict=True))
    except FileNotFoundError as exc:
        raise StorageError(f"field run {run_id} has no field result ({key})") from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read {lake.display(key)}: {exc}") from exc
    return out


@dataclass(frozen=True)
class Moves:
    """The overlay inside one scope: who leaves which cell, and each class's entrants."""

    out: list[tuple[str, int, int]]  # (copy class, index row of the cell, rank in the cell)
    into: dict[str, Any]  # class → copy row numbers of the entrants (uscc order), int64 numpy

    @property
    def applied(self) -> int:
        return len(self.out)


def moves(
    frame: cells.CellFrame, overlay: Overlay, sel: cells.Selection, leaving: Sequence[str] = ()
) -> Moves:
    """Where each adjusted entity of the scope is in the copy and which stratum it enters.

    In the scope means: its cell is one of the selection's and it is not ``leaving`` the class
    strata (the request's exclusions, supervision lists: ADR 0123)."""
    gone = set(leaving)
    mask = np.zeros(frame.index.num_rows, dtype=bool)
    for rows in sel.cells.values():
        mask[rows] = True
    found = cells.locate(frame, sorted(overlay.classes), mask)
    out: list[tuple[str, int, int]] = []
    entrants: dict[str, list[tuple[str, int]]] = {}  # class → (uscc, copy row), uscc order
    for code, (cell, rank) in sorted(found.items()):
        was, now = str(frame.index["risk_class"][cell].as_py()), overlay.classes[code]
        if was == now or not mask[cell] or code in gone:
            continue
        out.append((was, cell, rank))
        entrants.setdefault(now, []).append((code, int(frame.starts[cell]) + rank))
    into = {c: np.array([r for _, r in v], dtype=np.int64) for c, v in entrants.items()}
    return Moves(out, into)


def populations(sel: cells.Selection, mv: Moves) -> dict[str, int]:
    return {c: n + len(mv.into.get(c, ())) for c, n in sel.populations.items()}


def rows_of(
    frame: cells.CellFrame, sel: cells.Selection, mv: Moves, positions: dict[str, Any], classes: Sequence[str]
) -> tuple[Any, pa.Array]:
    """Copy row numbers of the drawn positions (class by class, in position order) and the class
    each was drawn in: positions past the copy's entities of a class are its entrants."""
    parts: list[Any] = []
    labels: list[str] = []
    for c in classes:
        p = np.asarray(positions.get(c, np.zeros(0, dtype=np.int64)), dtype=np.int64)
        if not len(p):
            continue
        n = sel.populations[c]
        rows = np.empty(len(p), dtype=np.int64)
        mine = p < n
        rows[mine] = cells.rows_of(frame, sel, {c: p[mine]}, [c])
        if not bool(mine.all()):
            rows[~mine] = mv.into[c][p[~mine] - n]
        parts.append(rows)
        labels += [c] * len(p)
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return got, frames.string_array(labels)
