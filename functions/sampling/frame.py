"""The sampling frame: one published classification partition, read with ``pyarrow.parquet`` only.

Warm requests must not re-read a million rows, so frames are cached per process, keyed by the
object's identity (lake, key, size, modification time): a newly published run has a new
identity and is read afresh. Nothing here imports pandas, awswrangler, duckdb or sqlglot.
"""

from __future__ import annotations

import array
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.errors import NotFound, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from functions.lake import Lake

logger = logging.getLogger(__name__)

FRAME_COLUMNS = (
    "uscc",
    "name",
    "entity_type",
    "region_code",
    "industry_code",
    "risk_class",
    "run_id",
    "model",
)
DIGEST_VERSION = "uscc-class-v1"
_CACHE_SIZE = 4


@dataclass(frozen=True)
class Frame:
    """A classification partition sorted by uscc, plus where it came from."""

    table: pa.Table  # FRAME_COLUMNS minus run_id/model, plus "section" (industry letter)
    run_id: str
    model: str
    source_key: str
    pointer: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.table.num_rows)


@dataclass(frozen=True)
class Scope:
    """What a request narrows the frame to (everything optional but the partition)."""

    region_prefix: str | None = None
    industries: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


_cache: OrderedDict[tuple[str, str, int, int | None], Frame] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget cached frames (tests; a long-lived process after a lake switch)."""
    with _lock:
        _cache.clear()
        _scoped_cache.clear()
        _plain_cache.clear()


def load_published(lake: Lake, month: str, province: str) -> Frame:
    """The frame of the published classification of ``province`` for ``month`` (404 if none)."""
    key = layout.classification_key(month, province)
    info = lake.info(key)
    if info is None:
        raise NotFound(f"no published classification for month {month}", field="month", month=month)
    pointer: dict[str, Any] = {}
    pkey = layout.classification_pointer_key(month, province)
    frame = _load(lake, key, info.size, info.mtime_ns)
    try:
        raw = lake.read_json(pkey)
        if isinstance(raw, dict) and raw.get("run_id") == frame.run_id:
            pointer = raw
    except FileNotFoundError:
        logger.debug("no pointer at %s", pkey)
    except ValueError:
        logger.warning("unreadable pointer at %s", pkey)
    return Frame(frame.table, frame.run_id, frame.model, frame.source_key, pointer) if pointer else frame


def load_run(lake: Lake, run_id: str) -> Frame:
    """The frame of a kept run (``results/runs/<run_id>/classifications.parquet``)."""
    key = layout.run_classifications_key(run_id)
    info = lake.info(key)
    if info is None:
        raise NotFound(f"run {run_id} is no longer in the lake", field="run_id", run_id=run_id)
    return _load(lake, key, info.size, info.mtime_ns)


def _load(lake: Lake, key: str, size: int, mtime_ns: int | None) -> Frame:
    ident = (lake.uri, key, size, mtime_ns)
    with _lock:
        hit = _cache.get(ident)
        if hit is not None:
            _cache.move_to_end(ident)
            return hit
    frame = read_frame(lake, key)
    with _lock:
        _cache[ident] = frame
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return frame


def read_frame(lake: Lake, key: str) -> Frame:
    """Read the frame columns of one Parquet object; sort by uscc if the writer did not."""
    try:
        with lake.open_input_file(key) as f:
            table = pq.ParquetFile(f).read(columns=list(FRAME_COLUMNS))
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise StorageError(f"cannot read the classification at {lake.display(key)}: {exc}") from exc
    return frame_from_table(table, key)


def frame_from_table(table: pa.Table, source_key: str = "<memory>") -> Frame:
    """Build a frame from a results table (pure; used by tests and the bench too)."""
    if table.num_rows == 0:
        raise NotFound("the classification has no rows", field="month")
    runs = pc.unique(table["run_id"]).to_pylist()
    models = pc.unique(table["model"]).to_pylist()
    if len(runs) != 1 or len(models) != 1:
        raise StorageError(f"{source_key} mixes runs or models: {runs[:3]} {models[:3]}")
    uscc = table["uscc"]
    if not _is_sorted(uscc):
        table = table.take(pc.sort_indices(table, sort_keys=[("uscc", "ascending")]))
    table = table.drop_columns(["run_id", "model"]).combine_chunks()
    section = pc.utf8_slice_codeunits(table["industry_code"], 0, 1)
    table = table.append_column("section", section)
    return Frame(table=table, run_id=str(runs[0]), model=str(models[0]), source_key=source_key)


def _is_sorted(col: pa.ChunkedArray) -> bool:
    arr = col.combine_chunks()
    if len(arr) < 2:
        return True
    return bool(pc.all(pc.less(arr.slice(0, len(arr) - 1), arr.slice(1))).as_py())


def rows_of(
    pf: pq.ParquetFile,
    codes: Sequence[str],
    columns: Sequence[str],
    read: Callable[[int], pa.Table] | None = None,
) -> pa.Table:
    """``columns`` of the rows of ``codes`` (sorted) in a file with a ``uscc`` column: only the row
    groups whose uscc statistics bracket one of the codes are read, so the cost follows the
    number of codes, not the province (read errors are the caller's to name). ``read`` (row
    group → its ``columns``) lets a caller that asks again and again serve row groups from a
    cache (the bulk read's field classes)."""
    import bisect

    wanted = string_array(codes)
    col = pf.schema_arrow.get_field_index("uscc")
    found = []
    for rg in range(pf.metadata.num_row_groups):
        stats = pf.metadata.row_group(rg).column(col).statistics
        if stats is not None and stats.has_min_max:
            lo = bisect.bisect_left(codes, stats.min)
            if lo >= len(codes) or codes[lo] > stats.max:
                continue
        t = read(rg) if read is not None else pf.read_row_group(rg, columns=list(columns))
        found.append(t.filter(pc.is_in(t["uscc"], value_set=wanted)))
    if not found:
        return pa.schema([pf.schema_arrow.field(c) for c in columns]).empty_table()
    return pa.concat_tables(found)


def string_array(values: Sequence[str]) -> pa.Array:
    """A string array built from buffers: ``pa.array(list)`` probes for pandas and imports it."""
    data = "".join(values).encode("utf-8")
    offsets = array.array("i", [0])
    pos = 0
    for v in values:
        pos += len(v.encode("utf-8"))
        offsets.append(pos)
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def int64_array(values: Sequence[int]) -> pa.Array:
    """An int64 array built from a buffer (no pandas probe, see :func:`string_array`)."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(array.array("q", values))])


def int64_numpy(values: Any) -> pa.Array:
    """An int64 Arrow array over a contiguous int64 numpy array (zero copy, no pandas probe)."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def string_scalar(value: str) -> pa.Scalar:
    """A string scalar without ``pa.scalar`` (which probes for pandas too)."""
    return string_array([value])[0]


_FALSE = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x00")])[0]


def scope_mask(frame: Frame, scope: Scope) -> Any:
    """Rows of the frame inside the requested scope (vectorised); ``None`` means every row."""
    t = frame.table
    parts: list[Any] = []
    if scope.region_prefix:
        parts.append(pc.starts_with(t["region_code"], pattern=scope.region_prefix))
    if scope.industries:
        parts.append(pc.is_in(t["section"], value_set=string_array(sorted(scope.industries))))
    if scope.entity_types:
        parts.append(pc.is_in(t["entity_type"], value_set=string_array(sorted(scope.entity_types))))
    if scope.exclude:
        excluded = string_array(sorted(set(scope.exclude)))
        parts.append(pc.invert(pc.is_in(t["uscc"], value_set=excluded)))
    mask: Any = None
    for p in parts:
        mask = p if mask is None else pc.and_(mask, p)
    return None if mask is None else pc.fill_null(mask, _FALSE)


def scoped(frame: Frame, scope: Scope) -> pa.Table:
    """The scoped frame (still sorted by uscc)."""
    mask = scope_mask(frame, scope)
    return frame.table if mask is None else frame.table.filter(mask)


def digest(table: pa.Table) -> str:
    """SHA-256 over ``uscc TAB class TAB`` for every row of a uscc-sorted table (docs/adr/0041)."""
    h = hashlib.sha256(DIGEST_VERSION.encode() + b"\n")
    if table.num_rows:
        lines = pc.binary_join_element_wise(
            table["uscc"], table["risk_class"], string_scalar(""), string_scalar("\t")
        ).combine_chunks()
        _, offsets, data = lines.cast(pa.large_string()).buffers()
        offs = memoryview(offsets).cast("q")
        h.update(memoryview(data)[offs[lines.offset] : offs[lines.offset + len(lines)]])
    return h.hexdigest()


def stratum_indices(table: pa.Table, classes: Sequence[str]) -> dict[str, pa.Array]:
    """Row indices of each class in a scoped table (ascending, i.e. uscc order)."""
    out: dict[str, pa.Array] = {}
    # An Array, never a ChunkedArray: pyarrow 25 segfaults in indices_nonzero on zero chunks
    # (an empty scope), found by the API fuzz test.
    cls = table["risk_class"].combine_chunks()
    for c in classes:
        out[c] = pc.indices_nonzero(pc.fill_null(pc.equal(cls, string_scalar(c)), _FALSE))
    return out


def _json_safe(col: pa.ChunkedArray) -> bool:
    """No value holds a character JSON escapes (``"``, ``\\``, U+0000–U+001F). A scan of the data
    buffers, exact for UTF-8 (every byte of a multi-byte character is ≥ 0x80), in place of a
    regex per value (ADR 0129)."""
    for chunk in col.chunks:
        if not len(chunk):
            continue
        _, offsets, data = chunk.buffers()
        offs = np.frombuffer(offsets, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
        lo, hi = int(offs[0]), int(offs[-1])
        if hi <= lo:
            continue
        octets = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
        # vectorised compares (~15x the speed of a lookup-table gather over the bytes)
        if int(octets.min()) < 0x20 or bool((octets == 0x22).any()) or bool((octets == 0x5C).any()):
            return False
    return True


_plain_cache: OrderedDict[tuple[int, tuple[str, ...]], tuple[pa.Table, frozenset[str]]] = OrderedDict()


def json_plain_columns(table: pa.Table, columns: Sequence[str] | None = None) -> frozenset[str]:
    """Those of ``columns`` (default: all) that are strings with no nulls and nothing JSON must
    escape (``"``, ``\\``, U+0000–U+001F), found once per cached frame: targets drawn from them
    are quoted without an escaping pass."""
    names = tuple(table.column_names if columns is None else columns)
    key = (id(table), names)
    with _lock:
        hit = _plain_cache.get(key)
        if hit is not None and hit[0] is table:
            return hit[1]
    plain = plain_columns(table, names)
    with _lock:
        _plain_cache[key] = (table, plain)
        while len(_plain_cache) > _CACHE_SIZE:
            _plain_cache.popitem(last=False)
    return plain


def plain_columns(table: pa.Table, columns: Sequence[str]) -> frozenset[str]:
    """:func:`json_plain_columns` of a table used once (a draw's targets): not cached, since the
    cache would keep the table, and a province-wide draw's targets are 65 MB (docs/adr/0153)."""
    return frozenset(
        name
        for name in columns
        if pa.types.is_string(table.schema.field(name).type)
        and table[name].null_count == 0
        and _json_safe(table[name])
    )


@dataclass(frozen=True)
class ScopedFrame:
    """A scope of a frame with what every draw over it needs (cached: warm requests reuse it)."""

    table: pa.Table
    indices: dict[str, pa.Array]
    digest: str


_scoped_cache: OrderedDict[tuple[int, Scope], tuple[pa.Table, ScopedFrame]] = OrderedDict()
_SCOPED_CACHE_SIZE = 16


def scoped_frame(frame: Frame, scope: Scope, classes: Sequence[str]) -> ScopedFrame:
    """The scoped table, its per-class row indices and its digest, cached per (frame, scope)."""
    key = (id(frame.table), scope)
    with _lock:
        hit = _scoped_cache.get(key)
        if hit is not None and hit[0] is frame.table and tuple(hit[1].indices) == tuple(classes):
            _scoped_cache.move_to_end(key)
            return hit[1]
    table = scoped(frame, scope)
    out = ScopedFrame(table, stratum_indices(table, classes), digest(table))
    with _lock:
        _scoped_cache[key] = (frame.table, out)  # holding the table keeps its id() unique
        while len(_scoped_cache) > _SCOPED_CACHE_SIZE:
            _scoped_cache.popitem(last=False)
    return out
