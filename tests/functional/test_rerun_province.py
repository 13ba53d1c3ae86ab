"""Re-running one province's month (issue 12 "Re-running safely"): ``creditrisk classify
--province PP --month M [--follow-ups]`` in a real subprocess writes only that province's
partition and a new run, records which run it supersedes, and leaves every other province's
results byte for byte."""

from __future__ import annotations

from collections.abc import Callable

from functions import layout
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated

Run = Callable[..., tuple[int, str, str]]
MONTH = "2026-06"
CUT = "2026-07-05T00:00:00"


def _snapshot(lake: Lake) -> dict[str, bytes]:
    return {f.key: lake.read_bytes(f.key) for f in lake.list_files("", include_hidden=True)}


def test_rerun_of_one_province_touches_nothing_else(local_lake: Lake, run_cli: Run) -> None:
    write_curated(local_lake, "entities", [entity(1), entity(2, status="revoked")])
    hubei = [entity(n, uscc=code(n, "420102"), region_code="420102") for n in (1, 2, 3)]
    write_curated(local_lake, "entities", hubei, province="42")
    base = ("--lake", local_lake.uri, "classify", "--month", MONTH, "--cutoff", CUT, "--follow-ups")
    code_, out, err = run_cli(*base)
    assert code_ == 0, err
    first = local_lake.read_json(layout.classification_pointer_key(MONTH, "13"))["run_id"]
    assert first in out and "supersedes" not in out
    before = _snapshot(local_lake)

    code_, out, err = run_cli(*base, "--province", "13")
    assert code_ == 0, err
    pointer = local_lake.read_json(layout.classification_pointer_key(MONTH, "13"))
    second = pointer["run_id"]
    assert second != first and pointer["supersedes"] == first
    assert f"province 13: published run {second} (supersedes {first})" in out
    assert "province 42" not in out
    manifest = local_lake.read_json(f"{layout.run_prefix(second)}/manifest.json")
    assert manifest["supersedes"] == first

    after = _snapshot(local_lake)
    changed = {k for k in after if before.get(k) != after[k]}
    # the province's field runs follow its general run (ADR 0117): their run folders are its own too
    field_runs = [
        local_lake.read_json(layout.field_classification_pointer_key(f, MONTH, "13"))["run_id"]
        for f in Settings().field_systems
        if local_lake.exists(layout.field_classification_pointer_key(f, MONTH, "13"))
    ]
    assert field_runs  # the re-run re-classified the fields too
    runs = tuple(layout.run_prefix(r) + "/" for r in [second, *field_runs])
    own = (*runs, "province=13/", "province=13.", "/13/")
    assert changed and all(any(p in k for p in own) for k in changed), sorted(changed)
    assert layout.classification_key(MONTH, "13") in changed and layout.report_key(MONTH, "13") in changed
    untouched = {k: v for k, v in before.items() if "province=42" in k or "/42/" in k}
    assert untouched and all(after[k] == v for k, v in untouched.items())
    assert all(k in after for k in before)  # nothing deleted: the first run is kept for audit
    assert local_lake.exists(f"{layout.run_prefix(first)}/manifest.json")


def test_rerun_of_a_province_without_data_exits_1_and_writes_nothing(local_lake: Lake, run_cli: Run) -> None:
    write_curated(local_lake, "entities", [entity(1)])
    before = _snapshot(local_lake)
    code_, _, err = run_cli("--lake", local_lake.uri, "classify", "--month", MONTH, "--province", "44")
    assert code_ == 1 and "no curated entities for province 44" in err  # a domain failure (ADR 0089)
    assert _snapshot(local_lake) == before
