"""The curated roster as of a moment: latest upload per inspector wins; none is a 422."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from functions import uscc
from functions.errors import Unprocessable
from functions.lake import Lake
from functions.roster.load import clear_cache, load_roster
from functions.roster.synthetic import roster_table, write_curated

T1 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _rows(**cols: list[str | None]) -> pa.Table:
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def test_latest_upload_wins_as_of(local_lake: Lake) -> None:
    clear_cache()
    code = uscc.make("420102", "MA000001")
    write_curated(
        local_lake, "42",
        _rows(inspector_id=["a", "b"], name=["p-a", "p-b"], region_code=["420102", "420100"],
              fields=["general", "general;food"], active_from=["2025-01-01", "2025-01-01"],
              active_to=[None, None], conflicts=[None, code]),
        ingest_id="r1", ingested_at=T1,
    )  # fmt: skip
    write_curated(
        local_lake, "42",
        _rows(inspector_id=["a"], name=["p-a"], region_code=["420102"], fields=["general"],
              active_from=["2025-01-01"], active_to=["2026-05-31"], conflicts=[None]),
        ingest_id="r2", ingested_at=T2,
    )  # fmt: skip
    before = load_roster(local_lake, "42", T2 - dt.timedelta(seconds=1))
    after = load_roster(local_lake, "42", T2)
    assert [i.id for i in after.inspectors] == ["a", "b"]
    assert before.inspectors[0].active_to is None
    assert after.inspectors[0].active_to == dt.date(2026, 5, 31)
    assert after.inspectors[1].fields == frozenset({"general", "food"})
    assert after.inspectors[1].conflicts == frozenset({code})
    assert before.digest() != after.digest()
    assert load_roster(local_lake, "42", T2).digest() == after.digest()
    with pytest.raises(Unprocessable) as err:
        load_roster(local_lake, "42", T1 - dt.timedelta(days=1))
    assert err.value.field == "inspectors" and "no inspector roster" in err.value.message


def test_no_roster_is_422(local_lake: Lake) -> None:
    with pytest.raises(Unprocessable):
        load_roster(local_lake, "23", T2)


def test_synthetic_roster_is_valid_and_deterministic(local_lake: Lake) -> None:
    codes = [uscc.make("420102", f"MA{k:06d}") for k in range(50)]
    t = roster_table("42", 200, seed=3, conflict_codes=codes)
    assert t.equals(roster_table("42", 200, seed=3, conflict_codes=codes))
    assert t.num_rows == 200 and len(set(t["inspector_id"].to_pylist())) == 200
    write_curated(local_lake, "42", t)  # validates every row against the contract
    r = load_roster(local_lake, "42", T2)
    assert len(r.inspectors) == 200
    assert any(i.conflicts for i in r.inspectors)
    assert all("general" in i.fields for i in r.inspectors)
    offices = {i.region_code for i in r.inspectors}
    assert "420000" in offices and any(o.endswith("00") and o != "420000" for o in offices)
