"""The professional fields' classes beside the general class in the bulk read (docs/adr/0156).

A page's rows are a run of uscc codes in order; each field's published result is read for just
those codes (``functions.sampling.frame.rows_of``: only the row groups whose uscc statistics
bracket one of them), never a whole field partition. The field's sampling class is the
combination rule (``schemas.fields.combine``) of the row's class to use (the adjusted one where
approved) and its field class — what the field draw samples it in (docs/adr/0145). An entity
outside a field's population gets ``null`` for that field. The monthly export joins the same
runs with the same rule in SQL (``sampling_class_sql``, docs/adr/0160).

Pointers move and are read on every request; run results never change, so their footers are
kept per process (``FooterCache``) and a result is opened only for a row group the caller's
cache lacks (docs/adr/0161).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.errors import StorageError
from functions.sampling.frame import rows_of
from schemas.fields import FIELD_NAMES, combine
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake

COLUMNS = ["uscc", "risk_class"]
_CLASSES = pa.array(RISK_CLASSES, pa.string())
# combine(general, field) for every pair, at index general * n + field: the rule stays the data's
_PAIRS = pa.array([combine(g, f) for g in RISK_CLASSES for f in RISK_CLASSES], pa.string())

ReadGroup = Callable[[Any, tuple[str, str], list[str]], Callable[[int], pa.Table]]
FOOTERS = 64  # field results whose footer a process keeps (4 fields x many months and provinces)


class FooterCache:
    """Field run results' footers (metadata, Arrow schema), per process, keyed by the result's
    full address; bounded by count (``limit``), least recently used first out. Run results are
    immutable (docs/adr/0161), so a walk over pages does not GET a footer again on every page."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._d: OrderedDict[str, tuple[Any, pa.Schema]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, lake: Lake, key: str, field: str) -> tuple[Any, pa.Schema]:
        ident = lake.display(key)
        with self._lock:
            hit = self._d.get(ident)
            if hit is not None:
                self._d.move_to_end(ident)
                return hit
        try:
            with lake.open_input_file(key) as f:
                pf = pq.ParquetFile(f)
                found = (pf.metadata, pf.schema_arrow)
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot read field {field}'s result {lake.display(key)}: {exc}") from exc
        with self._lock:
            self._d[ident] = found
            while len(self._d) > self.limit:
                self._d.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_footers = FooterCache(FOOTERS)


def clear_cache() -> None:
    _footers.clear()


def published_pointers(lake: Lake, month: str, province: str) -> dict[str, dict[str, Any]]:
    """The pointer of each field published for ``province`` and ``month`` (those naming a run),
    in the order of ``FIELD_NAMES``: what the bulk read and the monthly export both show."""
    out: dict[str, dict[str, Any]] = {}
    for field in FIELD_NAMES:
        try:
            pointer = lake.read_json(layout.field_classification_pointer_key(field, month, province))
        except FileNotFoundError:
            continue  # the field is not classified for this month
        if pointer.get("run_id"):
            out[field] = pointer
    return out


@dataclass(frozen=True)
class FieldSource:
    """One field's published result for the month: its footer (``metadata``, ``schema_arrow``:
    what ``rows_of`` prunes by) and a row-group reader that opens the file only on a cache miss."""

    field: str
    run_id: str
    display: str
    metadata: Any  # pq.FileMetaData
    schema_arrow: pa.Schema
    read: Callable[[int], pa.Table]  # row group → its two columns (cached by the caller)


class _LazyResult:
    """A field result whose footer is known: opened (in the request's ``stack``, with the known
    footer, so it is not read again) only when a row group must be decoded."""

    def __init__(self, lake: Lake, key: str, field: str, stack: ExitStack, metadata: Any) -> None:
        self._lake, self._key, self._field, self._stack, self._md = lake, key, field, stack, metadata
        self._pf: pq.ParquetFile | None = None

    def read_row_group(self, rg: int, columns: list[str]) -> pa.Table:
        if self._pf is None:
            try:
                f = self._stack.enter_context(self._lake.open_input_file(self._key))
                self._pf = pq.ParquetFile(f, metadata=self._md)
            except (OSError, pa.ArrowInvalid) as exc:
                raise StorageError(
                    f"cannot read field {self._field}'s result {self._lake.display(self._key)}: {exc}"
                ) from exc
        return self._pf.read_row_group(rg, columns=columns)


def open_fields(
    lake: Lake, month: str, province: str, stack: ExitStack, cached: ReadGroup
) -> list[FieldSource]:
    """The fields published for ``province`` and ``month`` (their pointers, read on every call:
    they change); each immutable run result's footer from the process's cache, the file opened in
    ``stack`` only for a row group ``cached`` (the caller's row-group cache) does not hold."""
    out: list[FieldSource] = []
    for field, pointer in published_pointers(lake, month, province).items():
        run_id = str(pointer["run_id"])
        key = layout.field_result_key(run_id)
        metadata, schema = _footers.get(lake, key, field)
        lazy = _LazyResult(lake, key, field, stack, metadata)
        display = lake.display(key)
        out.append(
            FieldSource(field, run_id, display, metadata, schema, cached(lazy, (display, run_id), COLUMNS))
        )
    return out


def sampling_class_sql(general: str, field: str) -> str:
    """``combine(general, field)`` as SQL (DuckDB and Trino), tabulated from
    ``schemas.fields.combine`` so the rule stays in one place; null where ``field`` is null
    (outside the field's population)."""
    pairs = [((g or "") + f, combine(g, f)) for g in (None, *RISK_CLASSES) for f in RISK_CLASSES]
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in pairs)
    return f"CASE coalesce({general}, '') || {field} {whens} END"


def fields_json(sources: Sequence[FieldSource], codes: pa.Array, general: pa.Array) -> pa.Array:
    """Per row, the JSON object ``{"<field>": {"class": …, "sampling_class": …} | null, …}``;
    ``general`` is each row's class to use."""
    if not sources:
        return pa.array(["{}"] * len(codes), pa.string())
    wanted = sorted(codes.to_pylist())
    gi = pc.index_in(general, value_set=_CLASSES)
    parts: list[object] = ["{"]
    for n, src in enumerate(sources):
        try:
            t = rows_of(src, wanted, COLUMNS, src.read)  # the footer is enough to prune
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot read field {src.field}'s result {src.display}: {exc}") from exc
        at = pc.index_in(codes, value_set=t["uscc"].combine_chunks())
        cls = t["risk_class"].combine_chunks().take(at)  # null outside the population
        idx = pc.add(pc.multiply(gi, len(RISK_CLASSES)), pc.index_in(cls, value_set=_CLASSES))
        sampling = _PAIRS.take(idx)
        one = pc.binary_join_element_wise('{"class":"', cls, '","sampling_class":"', sampling, '"}', "")
        parts += [("," if n else "") + f'"{src.field}":', pc.fill_null(one, "null")]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")
