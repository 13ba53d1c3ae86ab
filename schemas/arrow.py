"""Arrow schemas derived from pydantic models, so each contract is written once."""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import pyarrow as pa
from pydantic import BaseModel

# Columns the curated lake adds to every dataset (lineage; "latest ingest wins").
LINEAGE_FIELDS = [
    pa.field("_ingest_id", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_source_line", pa.int64(), nullable=False),
]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def arrow_type(tp: Any) -> pa.DataType:
    """The Arrow type of a Python/pydantic annotation."""
    tp, _ = _unwrap_optional(tp)
    if get_origin(tp) is typing.Annotated:
        return arrow_type(get_args(tp)[0])
    if get_origin(tp) is Literal:
        return pa.string()
    if get_origin(tp) in (list, tuple):
        return pa.list_(arrow_type(get_args(tp)[0]))
    if get_origin(tp) is dict:
        key, value = get_args(tp)
        return pa.map_(arrow_type(key), arrow_type(value))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return pa.struct(_fields(tp))
    mapping: dict[Any, pa.DataType] = {
        str: pa.string(),
        int: pa.int64(),
        float: pa.float64(),
        bool: pa.bool_(),
        dt.date: pa.date32(),
        dt.datetime: pa.timestamp("us", tz="UTC"),
    }
    if tp in mapping:
        return mapping[tp]
    raise TypeError(f"no Arrow type for annotation {tp!r}")


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        _, optional = _unwrap_optional(info.annotation)
        out.append(pa.field(name, arrow_type(info.annotation), nullable=optional or not info.is_required()))
    return out


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    return pa.schema(_fields(model))


def curated_schema(model: type[BaseModel]) -> pa.Schema:
    """The schema of curated Parquet files: the contract's fields plus lineage columns."""
    return pa.schema(_fields(model) + LINEAGE_FIELDS)
