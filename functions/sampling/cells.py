"""The sampling copy: a run's classification laid out by stratum cell, plus a cell index (ADR 0100).

A *cell* is one ``(risk_class, region_code, section, entity_type)``. The copy
(``_sampling/<run_id>/frame.parquet`` beside the published partition) holds the columns a plan
needs, sorted by cell then ``uscc``, in row groups of :data:`ROW_GROUP_SIZE` rows; the index
(``cells.parquet``, one row per cell) holds each cell's key, first row, row count and the SHA-256
of its ``uscc`` lines. A plan request reads the pointer, the index and the copy's footer, picks
positions per class from the cell counts, and reads only the row groups that hold the drawn rows:
its cost follows the scope and the sample, never the province (the index is kilobytes).

Same object on S3: ``pq.ParquetFile`` over ``Lake.open_input_file`` issues range reads of the
chosen row groups' column chunks. Nothing here imports pandas, awswrangler, duckdb or sqlglot.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
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
from functions.sampling import frame as frames
from functions.sampling import rowcache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from functions.lake import Lake

logger = logging.getLogger(__name__)

LAYOUT = "cells-v2"
DIGEST_PREFIX = f"{LAYOUT}:"  # a v2 frame digest names its definition; a bare hex digest is v1
CELL_KEY = ("risk_class", "region_code", "section", "entity_type")
COPY_COLUMNS = (*CELL_KEY, "uscc", "name", "industry_code")
ROW_GROUP_SIZE = 4_096
# Dictionary pages only where values repeat, as DuckDB's writer (publish) does: pyarrow would also
# try them on the unique uscc and name, fall back to plain pages mid-chunk, and decoding that mix
# costs ~1.6x the CPU (and ~40 % more bytes) of plain pages.
DICTIONARY_COLUMNS = (*CELL_KEY, "industry_code")
# Read as dictionaries where the file has them: the few hundred industry codes are then decoded
# for the drawn rows only, not for every row of a dense draw's row groups (ADR 0148).
DICTIONARY_READ = ("industry_code",)
# A copy written by Athena (ADR 0147) is stored in position chunks: chunk k holds the positions
# [k * chunk_rows, (k + 1) * chunk_rows), each row with its ``pos``, in one or more files, each
# sorted by pos (all Athena guarantees of an UNLOAD's order). A request reads whole chunks.
CHUNK_ROWS = 32_768
CHUNKS_STORAGE = "chunks"
_FETCH_GROUPS = 128  # row groups decoded at a time when fetching drawn rows (bounds memory)
_CACHE_SIZE = 8
INDEX_SCHEMA = pa.schema(
    [
        pa.field("risk_class", pa.string(), nullable=False),
        pa.field("region_code", pa.string(), nullable=False),
        pa.field("section", pa.string(), nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
    ]
)


def _ints(col: Any) -> Any:
    """An int64 column without nulls as numpy (``to_numpy`` probes for pandas and imports it)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not len(arr):
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)


def _bools(col: Any) -> Any:
    """A boolean column as numpy (nulls are false), see :func:`_ints`."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not len(arr):
        return np.zeros(0, dtype=bool)
    arr = pc.fill_null(arr, frames._FALSE)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[1], dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)].astype(bool)


# -- building the index (publish time, verification) -------------------------------------------
class IndexBuilder:
    """The cell index of a copy's rows fed in copy order, one table at a time (bounded memory).

    Checks the order as it goes: cells strictly ascending, ``uscc`` strictly ascending inside a
    cell, no nulls in the key. A cell's digest is SHA-256 over ``uscc LF`` per row."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, ...]] = []
        self.starts: list[int] = []
        self.counts: list[int] = []
        self.hashers: list[Any] = []
        self.pos = 0
        self.last_uscc = ""

    def add(self, t: pa.Table, where: str) -> None:
        n = t.num_rows
        if n == 0:
            return
        cols = [t[c].combine_chunks() for c in CELL_KEY]
        uscc = t["uscc"].combine_chunks()
        if any(a.null_count for a in cols) or uscc.null_count:
            raise StorageError(f"sampling copy {where} has nulls in its cell key or uscc")
        change = np.zeros(n, dtype=bool)
        change[0] = True
        if n > 1:
            for a in cols:
                change[1:] |= _bools(pc.not_equal(a.slice(1), a.slice(0, n - 1)))
            rising = _bools(pc.less(uscc.slice(0, n - 1), uscc.slice(1)))
            if not bool(np.all(rising | change[1:])):
                raise StorageError(f"sampling copy {where} is not sorted by uscc inside a cell")
        lines = pc.binary_join_element_wise(uscc, frames.string_scalar("\n"), frames.string_scalar(""))
        lines = lines.cast(pa.large_string())
        _, offsets, data = lines.buffers()
        offs = memoryview(offsets).cast("q")
        view = memoryview(data)
        bounds = [*np.flatnonzero(change).tolist(), n]
        keys, counts = self.keys, self.counts
        for s, e in itertools.pairwise(bounds):
            key = tuple(str(a[s].as_py()) for a in cols)
            first = str(uscc[s].as_py())
            if keys and key == keys[-1]:
                if not self.last_uscc < first:
                    raise StorageError(f"sampling copy is not sorted by uscc inside cell {key}")
                counts[-1] += e - s
            else:
                if keys and not key > keys[-1]:
                    raise StorageError(f"sampling copy is not sorted by cell at {key}")
                keys.append(key)
                self.starts.append(self.pos + s)
                counts.append(e - s)
                self.hashers.append(hashlib.sha256())
            self.hashers[-1].update(view[offs[lines.offset + s] : offs[lines.offset + e]])
            self.last_uscc = str(uscc[e - 1].as_py())
        self.pos += n

    def index(self, meta: dict[str, str]) -> pa.Table:
        """The index table, ``meta`` (plus the row count) as its schema's metadata."""
        keys = self.keys
        columns: list[pa.Array] = [frames.string_array([k[i] for k in keys]) for i in range(len(CELL_KEY))]
        columns += [
            frames.int64_array(self.starts),
            frames.int64_array(self.counts),
            frames.string_array([h.hexdigest() for h in self.hashers]),
        ]
        meta = {**meta, "rows": str(self.pos)}
        return pa.Table.from_arrays(columns, schema=INDEX_SCHEMA.with_metadata(meta))


def build_index(pf: pq.ParquetFile, *, run_id: str, model: str) -> pa.Table:
    """The cell index of a single-file sampling copy, streamed one row group at a time."""
    builder = IndexBuilder()
    for rg in range(pf.num_row_groups):
        builder.add(pf.read_row_group(rg, columns=[*CELL_KEY, "uscc"]), f"row group {rg}")
    sizes = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)], dtype="<i8")
    meta = {
        "layout": LAYOUT,
        "run_id": run_id,
        "model": model,
        "row_groups": base64.b64encode(sizes.tobytes()).decode(),
    }
    return builder.index(meta)


def sort_for_copy(table: pa.Table) -> pa.Table:
    """A results table (or its frame columns) as the sampling copy's rows (pure; tests, bench)."""
    section = pc.utf8_slice_codeunits(table["industry_code"], 0, 1)
    t = table.select(["uscc", "name", "entity_type", "region_code", "industry_code", "risk_class"])
    t = t.append_column("section", section).select(list(COPY_COLUMNS))
    order = pc.sort_indices(t, sort_keys=[(c, "ascending") for c in (*CELL_KEY, "uscc")])
    return t.take(order)


def write_copy(path: str, table: pa.Table) -> None:
    """Write sorted copy rows (:func:`sort_for_copy`) to a local Parquet file, encoded as the
    publish step's DuckDB writes it (dictionaries for the cell key only, see
    :data:`DICTIONARY_COLUMNS`)."""
    pq.write_table(
        table,
        path,
        compression="zstd",
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=list(DICTIONARY_COLUMNS),
    )


def store(lake: Lake, month: str, province: str, run_id: str, model: str, copy_path: str) -> pa.Table:
    """Index the local copy at ``copy_path`` and put both in the lake (copy first, index last:
    a reader finds the index only once the copy it describes is there)."""
    with open(copy_path, "rb") as f:
        index = build_index(pq.ParquetFile(f), run_id=run_id, model=model)
    lake.write_file(layout.sampling_frame_key(month, province, run_id), copy_path)
    lake.write_parquet(layout.sampling_cells_key(month, province, run_id), index)
    return index


def store_chunks(
    lake: Lake, month: str, province: str, run_id: str, model: str, index: pa.Table, chunks: Chunks
) -> pa.Table:
    """Put the index of a chunked copy whose chunk files are already in the lake (the index
    last: a reader finds it only once the chunks it describes are there); the stored index."""
    rows = int(_ints(index["count"]).sum()) if index.num_rows else 0
    meta = {"layout": LAYOUT, "run_id": run_id, "model": model, "rows": str(rows), **chunks.meta()}
    index = index.cast(INDEX_SCHEMA).replace_schema_metadata(meta)
    lake.write_parquet(layout.sampling_cells_key(month, province, run_id), index)
    return index


def write_chunked(
    lake: Lake,
    month: str,
    province: str,
    run_id: str,
    model: str,
    rows: pa.Table,
    *,
    chunk_rows: int = CHUNK_ROWS,
    files_per_chunk: int = 1,
) -> pa.Table:
    """Store sorted copy rows (:func:`sort_for_copy`) as a chunked copy, as Athena writes it
    (ADR 0147): each chunk's rows with their ``pos``, dealt round-robin over ``files_per_chunk``
    files (each sorted by pos, interleaved with the others), and its index. Tests and bench."""
    import io

    builder = IndexBuilder()
    builder.add(rows, "rows")
    index = builder.index({})
    prefix = layout.sampling_prefix(month, province, run_id)
    files: list[tuple[str, ...]] = []
    pos = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    every = rows.select(list(COPY_COLUMNS)).append_column("pos", pos)
    for k, start in enumerate(range(0, rows.num_rows, chunk_rows)):
        part = every.slice(start, chunk_rows)
        names = []
        for i in range(min(files_per_chunk, part.num_rows)):
            picked = part.take(pa.array(np.arange(i, part.num_rows, files_per_chunk, dtype=np.int64)))
            buf = io.BytesIO()
            pq.write_table(picked, buf, compression="zstd", use_dictionary=list(DICTIONARY_COLUMNS))
            names.append(chunk_file_name(k, i))
            lake.write_bytes(f"{prefix}/{names[-1]}", buf.getvalue())
        files.append(tuple(names))
    return store_chunks(lake, month, province, run_id, model, index, Chunks(chunk_rows, tuple(files)))


# -- reading (plan requests, verification) ------------------------------------------------------
@dataclass(frozen=True)
class Chunks:
    """Where a chunked copy's rows are (ADR 0147): chunk ``k`` holds the positions
    ``[k * rows, (k + 1) * rows)`` in the files ``files[k]`` (names under the copy's prefix)."""

    rows: int
    files: tuple[tuple[str, ...], ...]

    def meta(self) -> dict[str, str]:
        """As the index's schema metadata records it."""
        files = json.dumps(self.files)
        return {"storage": CHUNKS_STORAGE, "chunk_rows": str(self.rows), "chunk_files": files}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> Chunks | None:
        if meta.get("storage") != CHUNKS_STORAGE:
            return None
        try:
            files = tuple(tuple(str(n) for n in names) for names in json.loads(meta["chunk_files"]))
            return cls(int(meta["chunk_rows"]), files)
        except (KeyError, ValueError, TypeError) as exc:
            raise StorageError(f"the sampling index names its chunks unreadably: {exc}") from exc


def chunk_file_name(chunk: int, i: int) -> str:
    return f"chunks/{chunk:06d}-{i}.parquet"


@dataclass(frozen=True, eq=False)
class CellFrame:
    """A run's sampling copy as a plan sees it: the index in memory, the rows left in the lake."""

    lake: Lake
    month: str
    province: str
    run_id: str
    model: str
    index: pa.Table
    metadata: Any  # the single-file copy's pq.FileMetaData (its footer, read once); None if chunked
    rg_starts: Any  # int64 numpy: first row of each row group (or chunk), plus the total
    lines: pa.Array  # each cell's line in the frame digest (with its LF)
    starts: Any  # int64 numpy: each cell's first row (ascending)
    memo: dict[str, Any]  # built on first use, shared by the copies that carry a pointer
    pointer: dict[str, Any] = field(default_factory=dict)
    chunks: Chunks | None = None  # a chunked copy (ADR 0147); None: one sorted frame.parquet

    def cell_of(self, key: tuple[str, ...]) -> int | None:
        """The index row of a cell key (the map is built on the first exclusion)."""
        found = self.memo.get("cell_of")
        if found is None:
            keys = zip(*(self.index[c].to_pylist() for c in CELL_KEY), strict=True)
            found = self.memo["cell_of"] = {k: i for i, k in enumerate(keys)}
        hit: int | None = found.get(key)
        return hit

    @property
    def copy_key(self) -> str:
        return layout.sampling_frame_key(self.month, self.province, self.run_id)

    @property
    def size(self) -> int:
        return int(self.rg_starts[-1])

    @property
    def source_key(self) -> str:
        return layout.run_classifications_key(self.run_id)


_cache: OrderedDict[tuple[Any, ...], CellFrame] = OrderedDict()
_selections: OrderedDict[tuple[int, frames.Scope], tuple[CellFrame, Selection]] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _selections.clear()
    rowcache.reset()


def load_published(lake: Lake, month: str, province: str) -> CellFrame | frames.Frame:
    """The published classification as a plan reads it: the run's sampling copy when the run
    has one, else (runs published before ADR 0100) the whole partition in memory."""
    pointer: Any = None
    try:
        pointer = lake.read_json(layout.classification_pointer_key(month, province))
    except FileNotFoundError:
        pointer = None
    except ValueError:
        logger.warning("unreadable pointer for %s %s", month, province)
    if isinstance(pointer, dict) and isinstance(pointer.get("run_id"), str):
        found = load_run(lake, month, province, pointer["run_id"], pointer=pointer)
        if found is not None:
            return found
    return frames.load_published(lake, month, province)


def load_published_for(lake: Lake, month: str, province: str, field: str | None) -> CellFrame | frames.Frame:
    """The frame a plan draws from: the general one, or, with a professional ``field`` named,
    the sampling copy of the field's published run (its population by sampling class,
    docs/adr/0118). It sits beside the general copies, keyed by the field run's id."""
    if field is None:
        return load_published(lake, month, province)
    pointer: Any = None
    try:
        pointer = lake.read_json(layout.field_classification_pointer_key(field, month, province))
    except FileNotFoundError:
        pointer = None
    except ValueError:
        logger.warning("unreadable %s pointer for %s %s", field, month, province)
    if not (isinstance(pointer, dict) and isinstance(pointer.get("run_id"), str)):
        raise NotFound(
            f"no published {field} classification for province {province} in {month}", field="frame_field"
        )
    found = load_run(lake, month, province, pointer["run_id"], pointer=pointer)
    if found is None:
        raise StorageError(f"the {field} run {pointer['run_id']} has no sampling copy")
    return found


def load_run(
    lake: Lake, month: str, province: str, run_id: str, *, pointer: dict[str, Any] | None = None
) -> CellFrame | None:
    """A run's sampling copy (cached by the index object's identity); ``None`` if it has none."""
    ckey = layout.sampling_cells_key(month, province, run_id)
    info = lake.info(ckey)
    if info is None:
        return None
    ident = (lake.uri, ckey, info.size, info.mtime_ns)
    with _lock:
        hit = _cache.get(ident)
        if hit is not None:
            _cache.move_to_end(ident)
    if hit is None:
        try:
            with lake.open_input_file(ckey) as f:
                index = pq.ParquetFile(f).read()
            metadata = None
            if Chunks.from_meta(_meta(index)) is None:  # a single file: its footer, read once
                with lake.open_input_file(layout.sampling_frame_key(month, province, run_id)) as f:
                    metadata = pq.ParquetFile(f).metadata
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot read the sampling copy of run {run_id}: {exc}") from exc
        hit = with_index(lake, month, province, run_id, index, metadata)
        with _lock:
            _cache[ident] = hit
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    if pointer:
        return CellFrame(**{**hit.__dict__, "pointer": pointer})
    return hit


def _meta(index: pa.Table) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (index.schema.metadata or {}).items()}


def with_index(
    lake: Lake, month: str, province: str, run_id: str, index: pa.Table, metadata: Any
) -> CellFrame:
    """A frame over the copy described by ``metadata`` (the single file's footer; ``None`` for a
    chunked copy, described by the index's metadata) with ``index`` (stored or rebuilt)."""
    meta = _meta(index)
    if meta.get("layout") != LAYOUT or meta.get("run_id") != run_id:
        raise StorageError(
            f"the sampling index of run {run_id} is of {meta.get('layout')}/{meta.get('run_id')}"
        )
    count = _ints(index["count"])
    chunks = Chunks.from_meta(meta)
    if chunks is not None:
        total = int(meta.get("rows", -1))
        rg_starts = np.minimum(np.arange(len(chunks.files) + 1, dtype=np.int64) * chunks.rows, total)
        if total < 0 or -(-total // chunks.rows) != len(chunks.files) or int(count.sum()) != total:
            raise StorageError(f"the sampling index of run {run_id} does not describe its chunks")
    else:
        sizes = _row_group_sizes(meta, metadata)
        rg_starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)])
        if int(count.sum()) != int(rg_starts[-1]) or int(rg_starts[-1]) != metadata.num_rows:
            raise StorageError(f"the sampling index of run {run_id} does not describe its copy")
    tab, lf = frames.string_scalar("\t"), frames.string_scalar("\n")
    counts = pc.cast(index["count"].combine_chunks(), pa.string())
    parts = [index[c].combine_chunks() for c in CELL_KEY]
    joined = pc.binary_join_element_wise(*parts, counts, index["digest"].combine_chunks(), tab)
    lines = pc.binary_join_element_wise(joined, lf, frames.string_scalar(""))
    starts = _ints(index["start"]).copy()
    model = meta.get("model", "")
    return CellFrame(
        lake, month, province, run_id, model, index, metadata, rg_starts, lines, starts, {}, {}, chunks
    )


def _row_group_sizes(meta: dict[str, str], metadata: Any) -> Any:
    """Rows per row group of the copy: recorded in the index (a footer walk costs ~0.3 s at 5k
    row groups), checked against the footer's count of groups."""
    recorded = meta.get("row_groups")
    if recorded:
        sizes = np.frombuffer(base64.b64decode(recorded), dtype="<i8").astype(np.int64)
        if len(sizes) == metadata.num_row_groups:
            return sizes
    return np.array([metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)], dtype=np.int64)


@dataclass(frozen=True)
class Selection:
    """The cells of a scope, per class, with what a draw over them needs (cached per scope)."""

    cells: dict[str, Any]  # class -> index rows (int64 numpy, index order)
    cum: dict[str, Any]  # class -> cumulative counts of those cells (len + 1)
    excluded: dict[str, Any]  # class -> sorted positions (before exclusion) of excluded entities
    populations: dict[str, int]
    digest: str

    @property
    def size(self) -> int:
        return sum(self.populations.values())


def selection(frame: CellFrame, scope: frames.Scope, classes: Sequence[str]) -> Selection:
    key = (id(frame.index), scope)
    with _lock:
        hit = _selections.get(key)
        if hit is not None and hit[0].index is frame.index:
            _selections.move_to_end(key)
            return hit[1]
    out = _select(frame, scope, classes)
    with _lock:
        _selections[key] = (frame, out)
        while len(_selections) > 4 * _CACHE_SIZE:
            _selections.popitem(last=False)
    return out


def _select(frame: CellFrame, scope: frames.Scope, classes: Sequence[str]) -> Selection:
    ix = frame.index
    mask = np.ones(ix.num_rows, dtype=bool)
    if scope.region_prefix:
        mask &= _bools(pc.starts_with(ix["region_code"], pattern=scope.region_prefix))
    if scope.industries:
        vs = frames.string_array(sorted(scope.industries))
        mask &= _bools(pc.is_in(ix["section"], value_set=vs))
    if scope.entity_types:
        vs = frames.string_array(sorted(scope.entity_types))
        mask &= _bools(pc.is_in(ix["entity_type"], value_set=vs))
    cls = np.asarray(ix["risk_class"].to_pylist(), dtype=object)
    count = _ints(ix["count"])
    cells: dict[str, Any] = {}
    cum: dict[str, Any] = {}
    for c in classes:
        rows = np.flatnonzero(mask & (cls == c)).astype(np.int64)
        cells[c] = rows
        cum[c] = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(count[rows])])
    gone = _locate_excluded(frame, sorted(set(scope.exclude)), mask) if scope.exclude else []
    excluded: dict[str, Any] = {}
    for c in classes:
        pos = []
        for cell, rank, _ in gone:
            if cls[cell] == c:
                j = int(np.searchsorted(cells[c], cell))
                pos.append(int(cum[c][j]) + rank)
        excluded[c] = np.array(sorted(pos), dtype=np.int64)
    populations = {c: int(cum[c][-1]) - len(excluded[c]) for c in classes}
    h = hashlib.sha256(f"creditrisk-frame/{LAYOUT}\n".encode())
    chosen = np.concatenate([cells[c] for c in sorted(classes)])
    h.update("".join(frame.lines.take(frames.int64_numpy(chosen)).to_pylist()).encode())
    lines = sorted(f"-\t{cls[cell]}\t{code}\n" for cell, _, code in gone)
    h.update("".join(lines).encode())
    return Selection(cells, cum, excluded, populations, DIGEST_PREFIX + h.hexdigest())


def with_excluded(sel: Selection, located: Sequence[tuple[str, int, int]]) -> Selection:
    """``sel`` less the entities at ``(class, index row of the cell, rank in the cell)``, located
    by the query engine (the supervision set, ADR 0123): no read of the copy or its source. The
    digest stays the scope's; cells outside the scope are ignored, a second exclusion is one."""
    excluded: dict[str, Any] = {}
    populations: dict[str, int] = {}
    for c, rows in sel.cells.items():
        mine = [(cell, rank) for k, cell, rank in located if k == c]
        extra = []
        if mine and len(rows):
            cells_of = np.array([cell for cell, _ in mine], dtype=np.int64)
            j = np.searchsorted(rows, cells_of)
            hit = (j < len(rows)) & (rows[np.minimum(j, len(rows) - 1)] == cells_of)
            ranks = np.array([rank for _, rank in mine], dtype=np.int64)
            extra = (sel.cum[c][j[hit]] + ranks[hit]).tolist()
        excluded[c] = np.union1d(sel.excluded[c], np.array(extra, dtype=np.int64)).astype(np.int64)
        populations[c] = int(sel.cum[c][-1]) - len(excluded[c])
    return Selection(sel.cells, sel.cum, excluded, populations, sel.digest)


def _locate_excluded(frame: CellFrame, codes: list[str], in_scope: Any) -> list[tuple[int, int, str]]:
    """``(cell, rank in cell, uscc)`` of each excluded code inside the scope (see :func:`locate`)."""
    found = locate(frame, codes, in_scope)
    return sorted((cell, rank, code) for code, (cell, rank) in found.items())


def locate(frame: CellFrame, codes: Sequence[str], in_scope: Any = None) -> dict[str, tuple[int, int]]:
    """``uscc → (index row of its cell, rank in the cell)`` in the copy, for the codes it holds
    (with ``in_scope``, a mask over the index rows: only those in a scope's cells).

    The run's uscc-sorted classification tells each code's region, section and entity type (only
    the row groups whose uscc statistics bracket a code are read); the copy's rows of the cell
    tell its rank. The class of the cell is the copy's, which is the model's unless an approved
    adjustment was joined when the copy was written (ADR 0120): the model's class is tried first.
    The cost follows the number of codes, not the province."""
    lake = frame.lake
    codes = sorted(set(codes))
    if not codes:
        return {}
    cols = ["uscc", "risk_class", "region_code", "industry_code", "entity_type"]
    try:
        with lake.open_input_file(frame.source_key) as f:
            rows = frames.rows_of(pq.ParquetFile(f), codes, cols).to_pylist()
    except FileNotFoundError as exc:
        raise NotFound(f"run {frame.run_id} is no longer in the lake", field="run_id") from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read {lake.display(frame.source_key)}: {exc}") from exc
    start, count = frame.starts, _ints(frame.index["count"])
    members: dict[int, pa.Array] = {}
    out: dict[str, tuple[int, int]] = {}
    every = sorted(set(frame.index["risk_class"].to_pylist()))
    for r in rows:
        tail = (r["region_code"], r["industry_code"][:1], r["entity_type"])
        classes = dict.fromkeys([r["risk_class"], *every])
        cands = [cell for c in classes if (cell := frame.cell_of((c, *tail))) is not None]
        if not cands:
            raise StorageError(f"run {frame.run_id}: a row's cell is missing from the sampling index")
        if in_scope is not None and not in_scope[cands[0]]:
            continue  # the scope is by region, section and type: the same for every class's cell
        for cell in cands:
            if cell not in members:
                span = np.arange(start[cell], start[cell] + count[cell], dtype=np.int64)
                members[cell] = fetch(frame, span, ["uscc"])["uscc"].combine_chunks()
            rank = int(pc.index(members[cell], frames.string_scalar(r["uscc"])).as_py())
            if rank >= 0:
                out[r["uscc"]] = (cell, rank)
                break
        else:
            raise StorageError(f"run {frame.run_id}: the sampling copy lacks an entity of its source")
    return out


def rows_of(frame: CellFrame, sel: Selection, positions: dict[str, Any], classes: Sequence[str]) -> Any:
    """Copy row numbers of the drawn positions (class by class, in position order)."""
    return drawn_rows(frame, sel, positions, classes)[0]


def drawn_rows(
    frame: CellFrame, sel: Selection, positions: dict[str, Any], classes: Sequence[str]
) -> tuple[Any, Any]:
    """:func:`rows_of` and the cell (index position) of each row: what :func:`fetch` takes the
    cell-key columns from, found here without a search over the copy's cells."""
    start = frame.starts
    parts, at = [], []
    for c in classes:
        p = np.asarray(positions.get(c, np.zeros(0, dtype=np.int64)), dtype=np.int64)
        if not len(p):
            continue
        e = sel.excluded[c]
        if len(e):  # the p-th entity that is not excluded
            p = p + np.searchsorted(e - np.arange(len(e), dtype=np.int64), p, side="right")
        j = np.searchsorted(sel.cum[c], p, side="right") - 1
        cell = sel.cells[c][j]
        parts.append(start[cell] + (p - sel.cum[c][j]))
        at.append(cell)
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(at).astype(np.int64, copy=False)


def fetch(frame: CellFrame, rows: Any, columns: Sequence[str], cells: Any = None) -> pa.Table:
    """The copy's ``rows`` (any order, returned in that order), reading only their row groups,
    :data:`_FETCH_GROUPS` at a time. Cell-key columns are not read: every row of a cell has the
    cell's values, so they come from the index (at ``cells``, each row's cell, when the caller
    knows them: :func:`drawn_rows`)."""
    rows = np.asarray(rows, dtype=np.int64)
    read = [c for c in columns if c not in CELL_KEY]
    got = _read_rows(frame, rows, read)
    if len(read) == len(columns):
        return got
    if cells is None:
        cells = np.searchsorted(frame.starts, rows, side="right") - 1
    cell = frames.int64_numpy(np.ascontiguousarray(cells, dtype=np.int64))
    out = [got[c] if c in read else frame.index[c].take(cell) for c in columns]
    return pa.Table.from_arrays(out, names=list(columns))


def _as_dictionary(metadata: Any, columns: Sequence[str]) -> list[str] | None:
    """The columns of :data:`DICTIONARY_READ` among ``columns`` that the file stores with
    dictionary pages (as read from its first row group); ``None`` if none."""
    if not metadata.num_row_groups:
        return None
    rg = metadata.row_group(0)
    chunks = {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}
    found = [c for c in columns if c in DICTIONARY_READ and c in chunks and chunks[c].has_dictionary_page]
    return found or None


def _strings(t: pa.Table) -> pa.Table:
    """``t`` with its dictionary columns (as read) decoded to their values."""
    for i, f in enumerate(t.schema):
        if pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, _decoded(t.column(i)))
    return t


def _read_rows(frame: CellFrame, rows: Any, columns: list[str]) -> pa.Table:
    """``columns`` of the copy's ``rows``: what the process's :mod:`rowcache` holds, the rest
    decoded from the units (row groups, or chunks of a chunked copy) that hold them, at most
    :data:`_FETCH_GROUPS` row groups at a time. Only the drawn rows' values are materialised;
    the decoded units are kept for later requests while the cache allows (ADR 0163)."""
    if not len(rows) or not columns:  # the copy's columns are all strings
        return pa.Table.from_arrays([frames.string_array([]) for _ in columns], names=columns)
    order = np.argsort(rows, kind="stable")
    srt = rows[order]
    cache, token = rowcache.shared(), _token(frame)
    parts: dict[str, list[tuple[int, pa.Array]]] = {c: [] for c in columns}

    def use(column: str, span: rowcache.Span) -> None:
        lo = int(np.searchsorted(srt, span.first, "left"))
        hi = int(np.searchsorted(srt, span.end, "left"))
        if hi > lo:
            local = frames.int64_numpy(np.ascontiguousarray(srt[lo:hi] - span.first))
            parts[column].append((lo, _decoded(span.values.take(local))))

    missing: dict[str, Any] = {}
    for c in columns:
        hits, covered = cache.lookup(token, c, srt)
        for span in hits:
            use(c, span)
        miss = srt[~covered]
        missing[c] = np.unique(np.searchsorted(frame.rg_starts, miss, side="right") - 1)
    together: dict[bytes, list[str]] = {}  # columns missing the same units are decoded together
    for c in columns:
        if len(missing[c]):
            together.setdefault(missing[c].tobytes(), []).append(c)
    # what this request may add to the cache: nothing if its reads would not fit in it (a 20M
    # province-wide draw would flush everything else, and still not be kept whole), judged by
    # the bytes a row took in the first units decoded (footers do not say it for chunks)
    starts = frame.rg_starts
    cells_wanted = sum(
        int((starts[missing[cols[0]] + 1] - starts[missing[cols[0]]]).sum()) * len(cols)
        for cols in together.values()
    )
    allowance: int | None = None
    for cols in together.values():
        for first, decoded in _decode(frame, missing[cols[0]], cols):
            if allowance is None:
                rows_here = len(decoded[cols[0]])
                per_cell = sum(decoded[c].nbytes for c in cols) / max(1, rows_here * len(cols))
                allowance = cache.budget if per_cell * cells_wanted <= cache.budget else 0
            for c in cols:
                span = rowcache.Span(first, decoded[c])
                if cache.fits(span.values.nbytes, allowance):
                    span = rowcache.Span(first, rowcache.owned(span.values))
                    cache.put(token, c, span)
                    allowance -= span.values.nbytes
                use(c, span)
    got = []
    for c in columns:
        ordered = [a for _, a in sorted(parts[c], key=lambda p: p[0])]
        parts[c] = []
        col = pa.concat_arrays(ordered) if ordered else frames.string_array([])
        if len(col) != len(srt):
            raise StorageError(f"the sampling copy of run {frame.run_id} lacks rows it was asked for")
        got.append(col)
    out = pa.Table.from_arrays(got, names=columns)
    if bool(np.all(order[1:] > order[:-1])):  # asked in copy order (a draw without moves)
        return out
    back = np.empty_like(order)
    back[order] = np.arange(len(order), dtype=np.int64)
    return out.take(frames.int64_numpy(back))


def _token(frame: CellFrame) -> int:
    """The number naming ``frame``'s copy in the row cache (shared by the frame's copies that
    carry a pointer: they have one memo)."""
    hit = frame.memo.get("rows")
    if hit is None:
        with _lock:
            hit = frame.memo.setdefault("rows", rowcache.new_token())
    return int(hit)


def _decoded(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one array, dictionary columns (as read) decoded to their values."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = pc.cast(values, values.type.value_type)
    return values


def _decode(frame: CellFrame, units: Any, columns: list[str]) -> Any:
    """``(first row, {column: values})`` of the copy's ``units`` (sorted), one run of
    consecutive units at a time: slices of the batch they were decoded in."""
    if frame.chunks is not None:
        size = frame.chunks.rows
        for k in units.tolist():
            t = chunk(frame, k, columns, trust_footer=True)
            yield k * size, {c: t[c] for c in columns}
        return
    starts = frame.rg_starts
    try:
        with frame.lake.open_input_file(frame.copy_key) as f:
            # pre_buffer: on S3 the chosen column chunks of a batch of row groups are fetched as
            # coalesced concurrent range reads; no threads: a Lambda has about one core
            dictionary = _as_dictionary(frame.metadata, columns)
            pf = pq.ParquetFile(f, metadata=frame.metadata, pre_buffer=True, read_dictionary=dictionary)
            for k in range(0, len(units), _FETCH_GROUPS):
                batch = units[k : k + _FETCH_GROUPS]
                t = pf.read_row_groups(batch.tolist(), columns=columns, use_threads=False)
                cuts = np.flatnonzero(np.diff(batch) != 1) + 1
                at = 0
                for run in np.split(batch, cuts):
                    first, end = int(starts[run[0]]), int(starts[run[-1] + 1])
                    yield first, {c: t[c].slice(at, end - first) for c in columns}
                    at += end - first
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read {frame.lake.display(frame.copy_key)}: {exc}") from exc


def chunk(frame: CellFrame, k: int, columns: Sequence[str], *, trust_footer: bool = False) -> pa.Table:
    """Chunk ``k`` of a chunked copy, ``columns`` in position order (with ``pos`` last unless
    the footer was trusted). Its files are each sorted by ``pos`` (Athena's guarantee), not
    necessarily relative to each other: they are merged here, and the positions checked to be
    exactly the chunk's. ``trust_footer`` (plan requests): a chunk of one file whose ``pos``
    statistics span exactly the chunk is read without ``pos``; verification reads every
    position (:func:`rebuilt`), as it rebuilds the index rather than trust it."""
    ch = frame.chunks
    assert ch is not None
    prefix = layout.sampling_prefix(frame.month, frame.province, frame.run_id)
    first = k * ch.rows
    want = min(ch.rows, int(frame.rg_starts[-1]) - first)
    parts = []
    for name in ch.files[k]:
        key = f"{prefix}/{name}"
        try:
            with frame.lake.open_input_file(key) as f:
                md = pq.ParquetFile(f).metadata
                pf = pq.ParquetFile(
                    f, metadata=md, pre_buffer=True, read_dictionary=_as_dictionary(md, columns)
                )
                if trust_footer and len(ch.files[k]) == 1 and _spans(md, first, want):
                    return pf.read(columns=list(columns), use_threads=False)
                parts.append(pf.read(columns=[*columns, "pos"], use_threads=False))
        except (OSError, pa.ArrowInvalid, KeyError) as exc:
            raise StorageError(f"cannot read {frame.lake.display(key)}: {exc}") from exc
    t = parts[0] if len(parts) == 1 else pa.concat_tables([_strings(p) for p in parts])
    pos = _ints(t["pos"])
    if len(pos) > 1 and not bool(np.all(pos[1:] > pos[:-1])):
        order = np.argsort(pos, kind="stable")
        t, pos = t.take(frames.int64_numpy(order)), pos[order]
    if (
        len(pos) != want
        or (want and (pos[0] != first or pos[-1] != first + want - 1))
        or (want > 1 and not bool(np.all(np.diff(pos) == 1)))
    ):
        raise StorageError(f"chunk {k} of the sampling copy of run {frame.run_id} lacks or repeats positions")
    return t


def _spans(metadata: Any, first: int, want: int) -> bool:
    """Whether a chunk file's footer says it holds ``want`` rows with ``pos`` from ``first`` to
    ``first + want - 1`` in one row group (so, sorted as Athena writes, each position once)."""
    if metadata.num_rows != want or metadata.num_row_groups != 1:
        return False
    rg = metadata.row_group(0)
    for i in range(rg.num_columns):
        c = rg.column(i)
        if c.path_in_schema == "pos":
            st = c.statistics
            return bool(st is not None and st.has_min_max and st.min == first and st.max == first + want - 1)
    return False


def rebuilt(frame: CellFrame) -> CellFrame:
    """The frame with its index rebuilt from the copy's rows (verification trusts no index)."""
    if frame.chunks is not None:
        builder = IndexBuilder()
        for k in range(len(frame.chunks.files)):
            builder.add(chunk(frame, k, [*CELL_KEY, "uscc"]), f"chunk {k}")
        meta = {"layout": LAYOUT, "run_id": frame.run_id, "model": frame.model, **frame.chunks.meta()}
        index = builder.index(meta)
        return with_index(frame.lake, frame.month, frame.province, frame.run_id, index, None)
    try:
        with frame.lake.open_input_file(frame.copy_key) as f:
            index = build_index(
                pq.ParquetFile(f, metadata=frame.metadata), run_id=frame.run_id, model=frame.model
            )
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read {frame.lake.display(frame.copy_key)}: {exc}") from exc
    return with_index(frame.lake, frame.month, frame.province, frame.run_id, index, frame.metadata)
