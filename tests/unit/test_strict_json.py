"""Request bodies: what json.loads would quietly accept is a 400 (docs/adr/0096)."""

from __future__ import annotations

import pytest

from functions.errors import InvalidInput
from functions.strict_json import loads


def test_ordinary_json_parses() -> None:
    assert loads(b'{"a":[1,2.5,1e-5,0.0,0e-400,-0.0],"b":{"c":null}}') == {
        "a": [1, 2.5, 1e-5, 0.0, 0.0, -0.0],
        "b": {"c": None},
    }
    assert loads(b"") is None and loads(b"4.9e-324") == 5e-324


@pytest.mark.parametrize(
    ("raw", "says", "field"),
    [
        (b'{"seed":"a","seed":"b"}', "duplicate key 'seed'", "seed"),
        (b'{"x":{"D":1,"D":2}}', "duplicate key 'D'", "D"),
        (b'{"r":1e-400}', "1e-400", "body"),
        (b'{"r":-2.5E-999}', "-2.5E-999", "body"),
        (b'{"r":1e400}', "1e400", "body"),
        (b'{"r":NaN}', "NaN", "body"),
        (b'{"r":-Infinity}', "-Infinity", "body"),
        (b'{"r":', "not valid JSON", "body"),
        (b"\xff", "not valid JSON", "body"),
    ],
)
def test_refused(raw: bytes, says: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        loads(raw)
    assert says in err.value.message and err.value.field == field
