"""The reasons' ranked keys → the contract's ``reasons`` (code, label, points), in Arrow.

The compiled statement ranks each entity's scored leaves as BIGINT keys,
``-(round(points × 10^4) × RANK_BASE + (RANK_BASE − rank))``, keeps the top ones and decodes them
in SQL (Athena writes that). DuckDB runs the same statement without that last step
(``Compiled.keyed_sql``) and the keys are decoded here with the same arithmetic: codes and
labels become dictionary arrays over the run's (code, label) table, so a million rows do not
carry five copies of bilingual labels through DuckDB's result and the Parquet writer does not
hash them again (ADR 0069).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from functions.classify.compile import RANK_BASE
from functions.errors import EngineError
from schemas.results import CLASSIFICATION_SCHEMA

_REASONS = CLASSIFICATION_SCHEMA.field("reasons")
_ITEM = _REASONS.type.value_field
_LABELS = pa.dictionary(pa.int16(), pa.string())
REASON_TYPE = pa.struct(
    [
        pa.field("code", _LABELS, nullable=False),
        pa.field("label", _LABELS, nullable=False),
        _ITEM.type.field("points"),
    ]
)
# Columns with a handful of values per province: handed to the writer as dictionaries, encoded
# off the writer's thread (it is the last phase's critical path).
FEW_VALUES = (
    "entity_type",
    "region_code",
    "industry_code",
    "risk_class",
    "previous_class",
    "model",
    "run_id",
)


def _wire(f: pa.Field) -> pa.Field:
    if f.name == "reasons":
        return pa.field(f.name, pa.list_(pa.field(_ITEM.name, REASON_TYPE, _ITEM.nullable)), f.nullable)
    if f.name in FEW_VALUES:
        return pa.field(f.name, pa.dictionary(pa.int32(), pa.string()), f.nullable)
    return f


# The contract with code, label and the few-valued strings as dictionaries: what the DuckDB engine
# hands the Parquet writer (which stores the plain contract types, as it would for strings).
WIRE_SCHEMA = pa.schema([_wire(f) for f in CLASSIFICATION_SCHEMA])


def decode_reasons(keys: pa.Array, table: tuple[tuple[str, str], ...]) -> pa.ListArray:
    """``keys``: a list<int64> array of ranked keys; ``table``: (code, label) of rank r at r − 1."""
    if not pa.types.is_list(keys.type) or not pa.types.is_integer(keys.type.value_type):
        raise EngineError("the engine returned reasons that are not ranked keys", type=str(keys.type))
    child = keys.values
    if keys.null_count or child.null_count:
        raise EngineError("the engine returned a missing reason key")
    neg = -child.to_numpy(zero_copy_only=False).astype(np.int64)
    rest = neg % RANK_BASE
    idx = RANK_BASE - rest - 1
    if len(idx) and (idx.min() < 0 or idx.max() >= len(table) or neg.min() < RANK_BASE):
        raise EngineError("the engine returned a reason key outside the run's indicators")
    positions = pa.array(idx.astype(np.int16))
    codes = pa.array([code for code, _ in table], pa.string())
    labels = pa.array([label for _, label in table], pa.string())
    points = pa.array((neg - rest).astype(np.float64) / float(RANK_BASE * 10000))
    reasons = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(positions, codes),
            pa.DictionaryArray.from_arrays(positions, labels),
            points,
        ],
        fields=list(REASON_TYPE),
    )
    return pa.ListArray.from_arrays(keys.offsets, reasons, type=WIRE_SCHEMA.field("reasons").type)
