"""The professional fields' classes beside the general class in the bulk read (docs/adr/0156).

A page's rows are a run of uscc codes in order; each field's published result is read for just
those codes (``functions.sampling.frame.rows_of``: only the row groups whose uscc statistics
bracket one of them), never a whole field partition. The field's sampling class is the
combination rule (``schemas.fields.combine``) of the row's class to use (the adjusted one where
approved) and its field class — what the field draw samples it in (docs/adr/0145). An entity
outside a field's population gets ``null`` for that field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

ReadGroup = Callable[[pq.ParquetFile, tuple[str, str], list[str]], Callable[[int], pa.Table]]


@dataclass(frozen=True)
class FieldSource:
    """One field's published result for the month, open for pruned reads."""

    field: str
    run_id: str
    display: str
    pf: pq.ParquetFile
    read: Callable[[int], pa.Table]  # row group → its two columns (cached by the caller)


def open_fields(
    lake: Lake, month: str, province: str, stack: ExitStack, cached: ReadGroup
) -> list[FieldSource]:
    """The fields published for ``province`` and ``month`` (by their pointers), their immutable run
    results opened in ``stack``; ``cached`` makes the row-group reader (the caller's cache)."""
    out: list[FieldSource] = []
    for field in FIELD_NAMES:
        try:
            pointer = lake.read_json(layout.field_classification_pointer_key(field, month, province))
        except FileNotFoundError:
            continue  # the field is not classified for this month
        run_id = str(pointer.get("run_id") or "")
        if not run_id:
            continue
        key = layout.field_result_key(run_id)
        display = lake.display(key)
        try:
            pf = pq.ParquetFile(stack.enter_context(lake.open_input_file(key)))
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot read field {field}'s result {display}: {exc}") from exc
        out.append(FieldSource(field, run_id, display, pf, cached(pf, (display, run_id), COLUMNS)))
    return out


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
            t = rows_of(src.pf, wanted, COLUMNS, src.read)
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
