"""Shipped system versions side by side (docs/adr/0107) and what samr-general 1.2 changes."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest

from functions.classify.load import SHIPPED_PACKAGE, load_system, shipped_versions
from functions.errors import ConfigError
from functions.lake import Lake
from tests.classify_data import code, entity, write_curated

CUT = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
# content hash of samr-general 1.1 when 1.2 was published: 1.1 is never edited in place
HASH_1_1 = "c7240dd684bf2b10964903d165c14b9788ad172c2f5367e4eecac0fe551c8a03"


def test_bare_id_is_the_newest_version_and_each_version_loads_by_ref() -> None:
    assert list(shipped_versions("samr-general")) == ["1.1", "1.2"]
    assert load_system("samr-general").model_ref == "samr-general@1.2"
    assert load_system("samr-general@1.1").model_ref == "samr-general@1.1"
    assert load_system("langfang-public-credit@1.0").model_ref == "langfang-public-credit@1.0"
    with pytest.raises(ConfigError, match=r"no version '9\.9'"):
        load_system("samr-general@9.9")
    with pytest.raises(ConfigError, match="unknown indicator system"):
        load_system("nope@1.0")


def test_version_1_1_is_unchanged() -> None:
    text = resources.files(SHIPPED_PACKAGE).joinpath("samr-general.yaml").read_text(encoding="utf-8")
    assert 'version: "1.1"' in text
    assert "          where: NOT coalesce(withdrawn, false)\n          window_months: 24" in text
    assert load_system("samr-general@1.1").content_hash() == HASH_1_1


def test_1_2_differs_from_1_1_only_in_fines_24m() -> None:
    old = {ind.code: ind for ind, _, _ in load_system("samr-general@1.1").leaves()}
    new = {ind.code: ind for ind, _, _ in load_system("samr-general@1.2").leaves()}
    changed = sorted(c for c in old if old[c].definition != new[c].definition)
    assert changed == ["FINES_24M"]
    assert "repaired_on IS NULL OR repaired_on > period_end" in (new["FINES_24M"].definition.where or "")
    s11, s12 = load_system("samr-general@1.1"), load_system("samr-general@1.2")
    assert s11.classes == s12.classes and s11.rules == s12.rules


def test_a_repaired_fine_counts_under_1_1_and_not_under_1_2(local_lake: Lake) -> None:
    from functions.classify.compile import compile_system
    from functions.classify.engine_duckdb import run_duckdb

    write_curated(local_lake, "entities", [entity(1), entity(2)], ingested_at=CUT - dt.timedelta(days=1))
    penalty = {
        "uscc": code(1), "decided_on": dt.date(2026, 1, 10), "authority": "某市市场监督管理局",
        "domain": "food", "kind": "fine", "amount": 500_000.0,
    }  # fmt: skip
    write_curated(
        local_lake,
        "penalties",
        [
            {**penalty, "decision_no": "P-1", "repaired_on": dt.date(2026, 3, 1)},  # repaired
            {**penalty, "decision_no": "P-2", "uscc": code(2)},  # not repaired
        ],
        ingested_at=CUT - dt.timedelta(days=1),
    )

    def fines(ref: str) -> dict[str, float]:
        compiled = compile_system(load_system(ref), month="2026-06", province="13", cutoff=CUT, run_id="r")
        out = {}
        for row in run_duckdb(local_lake, compiled).to_pylist():
            out[row["uscc"]] = sum(r["points"] for r in row["reasons"] if r["code"] == "FINES_24M")
        return out

    old, new = fines("samr-general@1.1"), fines("samr-general@1.2")
    assert old[code(1)] == pytest.approx(2.8) and new[code(1)] == 0  # 70 points × 0.04
    assert old[code(2)] == new[code(2)] == pytest.approx(2.8)


def test_generated_docs_state_the_reason_order_and_undated_records() -> None:
    from functions.classify.doc import indicator_table

    table = indicator_table(load_system("samr-general"))
    assert "equal points are ordered by indicator code" in table
    assert "`PARTIES_JOINED_12M` (`relationships.since`)" in table
    assert "≥ 5 → B, ≥ 12 → C, ≥ 25 → D" in table and "samr-general@1.2" in table
