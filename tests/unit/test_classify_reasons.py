"""Decoding the reasons' ranked keys in Arrow (ADR 0069): the statement's own arithmetic."""

from __future__ import annotations

import pyarrow as pa
import pytest

from functions.classify.compile import RANK_BASE
from functions.classify.reasons import WIRE_SCHEMA, decode_reasons
from functions.errors import EngineError

TABLE = (("AGE_YEARS", "成立年限 / Years"), ("FINES_24M", "罚没金额 / Fines"), ("REVOKED", "吊销 / Revoked"))


def key(points: float, rank: int) -> int:
    """As the compiled statement builds it: -(round(points × 10^4) × RANK_BASE + (RANK_BASE − rank))."""
    return -(round(points * 10000) * RANK_BASE + (RANK_BASE - rank))


def test_keys_decode_to_code_label_and_points() -> None:
    keys = pa.array([[key(40.0, 3), key(12.3456, 1)], [], [key(0.0001, 2)]], pa.list_(pa.int64()))
    got = decode_reasons(keys, TABLE)
    assert got.type == WIRE_SCHEMA.field("reasons").type
    assert got.to_pylist() == [
        [
            {"code": "REVOKED", "label": "吊销 / Revoked", "points": 40.0},
            {"code": "AGE_YEARS", "label": "成立年限 / Years", "points": 12.3456},
        ],
        [],
        [{"code": "FINES_24M", "label": "罚没金额 / Fines", "points": 0.0001}],
    ]
    # a slice keeps its own rows
    assert decode_reasons(keys.slice(2), TABLE).to_pylist() == [
        [{"code": "FINES_24M", "label": "罚没金额 / Fines", "points": 0.0001}]
    ]
    assert decode_reasons(pa.array([], pa.list_(pa.int64())), TABLE).to_pylist() == []


@pytest.mark.parametrize(
    "keys",
    [
        pa.array([[key(1.0, 4)]], pa.list_(pa.int64())),  # a rank past the run's table
        pa.array([[-5]], pa.list_(pa.int64())),  # no points: never a reason
        pa.array([[None]], pa.list_(pa.int64())),
        pa.array([None], pa.list_(pa.int64())),
        pa.array([["x"]], pa.list_(pa.string())),
    ],
)
def test_keys_that_no_statement_builds_are_refused(keys: pa.Array) -> None:
    with pytest.raises(EngineError):
        decode_reasons(keys, TABLE)
