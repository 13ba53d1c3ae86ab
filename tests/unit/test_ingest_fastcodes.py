"""The numpy byte-matrix check digits agree with the reference (scalar and Arrow) code."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from functions import uscc
from functions.ingest.fastcodes import resident_id_check, uscc_check
from functions.ingest.personal_data import id_check_char

_CHARS = uscc.ALPHABET + "IOSVZa-"


_REGION = st.text(alphabet="0123456789" * 5 + "AX", min_size=6, max_size=6)  # mostly digits
_CODE = st.builds(
    lambda a, b, c: a + b + c,
    st.text(alphabet=_CHARS, min_size=2, max_size=2),
    _REGION,
    st.text(alphabet=_CHARS, min_size=10, max_size=10),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CODE, min_size=1, max_size=30), st.data())
def test_uscc_fast_path_agrees_with_reference(values: list[str], data: st.DataObject) -> None:
    # Mix in valid codes so both verdicts occur.
    k = data.draw(st.integers(0, len(values)))
    values[:k] = [uscc.make("420102", f"MA{data.draw(st.integers(0, 999999)):06d}") for _ in range(k)]
    arr = pa.array(values)
    well, ok = uscc_check(arr)
    ref_well, ref_ok = uscc.check_array(arr)
    assert well.to_pylist() == ref_well.to_pylist()
    assert ok.to_pylist() == ref_ok.to_pylist() == [uscc.is_valid(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_CODE, st.none(), st.text(alphabet=_CHARS + "中 ", max_size=20)), max_size=30))
def test_uscc_mixed_lengths_and_nulls_agree_with_reference(values: list[str | None]) -> None:
    """Nulls, other lengths and multi-byte text beside 18-byte codes: the 18-byte values still
    take the byte-matrix path (taken out of the column), the rest are not well formed."""
    values = [*values, uscc.make("420102", "MA000001"), None, "91420102MA00000"]
    arr = pa.array(values, pa.string())
    well, ok = uscc_check(arr)
    ref_well, ref_ok = uscc.check_array(arr)
    assert well.to_pylist() == ref_well.to_pylist()
    assert ok.to_pylist() == ref_ok.to_pylist() == [v is not None and uscc.is_valid(v) for v in values]
    sliced = arr.slice(1)
    assert uscc_check(sliced)[1].to_pylist() == ref_ok.to_pylist()[1:]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=17, max_size=17), min_size=1, max_size=30))
def test_resident_id_fast_path_agrees_with_scalar(bodies: list[str]) -> None:
    good = [b + id_check_char(b) for b in bodies]
    bad = [b + ("0" if id_check_char(b) != "0" else "1") for b in bodies]
    got = resident_id_check(pa.array(good + bad))
    assert got is not None
    assert got.to_pylist() == [True] * len(good) + [False] * len(bad)
