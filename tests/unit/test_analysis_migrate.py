"""``creditrisk migrate analysis-tables``: the tables analysed before ADR 0149 move from
``results/analysis/`` to their own datasets, once; the JSON documents stay; nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads

from functions import layout
from functions.analysis import regional
from functions.lake import Lake
from schemas.analysis import MIGRATION_SCHEMA, REGION_SCHEMA

M, P = "2026-10", "42"


def _cli(lake_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "functions.cli", "--lake", str(lake_dir), "migrate", "analysis-tables"]
    return subprocess.run([*cmd, *args, "--json"], capture_output=True, text=True, check=False)


def _legacy_regions() -> pa.Table:
    """As written before: ``level, code`` first and every column nullable."""
    t = regional.regions_from_counts({"420102": {"A": 5, "D": 1}}, None, regional.FlagTest())
    order = ["level", "code", *[n for n in t.column_names if n not in ("level", "code")]]
    return t.select(order).cast(pa.schema([pa.field(f.name, f.type) for f in t.select(order).schema]))


def _legacy(lake: Lake) -> dict[str, str]:
    keys = {k: layout.legacy_analysis_table_key(k, M, P) for k in ("regions", "migration")}
    lake.write_parquet(keys["regions"], _legacy_regions())
    lake.write_parquet(keys["migration"], regional.migration_from_counts({("A", "B"): 3}))
    lake.write_json(layout.analysis_key(M, P, "summary.json"), {"month": M})
    return keys


def test_legacy_tables_move_once_to_their_own_datasets(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    keys = _legacy(lake)
    dry = _cli(tmp_path / "lake", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert sorted(json.loads(dry.stdout)["moved"]) == sorted(keys.values())
    assert all(lake.exists(k) for k in keys.values())  # a dry run changes nothing
    assert not lake.exists(layout.analysis_table_key("regions", M, P))

    first = _cli(tmp_path / "lake")
    assert first.returncode == 0, first.stderr
    assert sorted(json.loads(first.stdout)["moved"]) == sorted(keys.values())
    assert not any(lake.exists(k) for k in keys.values())
    assert lake.read_json(layout.analysis_key(M, P, "summary.json")) == {"month": M}  # documents stay
    regions = lake.read_parquet(layout.analysis_table_key("regions", M, P))
    assert regions.schema == REGION_SCHEMA  # the contract's order and nullability
    assert {(r["level"], r["code"], r["d"]) for r in regions.to_pylist()} == {
        ("province", "42", 1),
        ("city", "4201", 1),
        ("county", "420102", 1),
    }
    moved = pads.dataset(
        lake.path(layout.analysis_dataset("migration")), format="parquet", partitioning="hive"
    ).to_table()
    assert moved.schema.field("entities").type == MIGRATION_SCHEMA.field("entities").type
    assert [r for r in moved.to_pylist() if r["entities"]] == [
        {"from_class": "A", "to_class": "B", "entities": 3, "month": M, "province": 42}
    ]

    again = _cli(tmp_path / "lake")  # idempotent
    assert again.returncode == 0
    assert json.loads(again.stdout) == {"moved": [], "superseded": [], "conflicts": [], "dry_run": False}


def test_a_newer_table_at_the_new_key_is_kept(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    keys = _legacy(lake)
    newer = regional.migration_from_counts({("B", "C"): 7})
    lake.write_parquet(layout.analysis_table_key("migration", M, P), newer)
    done = _cli(tmp_path / "lake")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["superseded"] == [keys["migration"]]
    assert lake.read_parquet(layout.analysis_table_key("migration", M, P)).equals(newer)
    assert not lake.exists(keys["migration"])


def test_a_legacy_file_off_contract_is_reported_and_left(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    bad = layout.legacy_analysis_table_key("industries", M, "13")
    lake.write_parquet(bad, pa.table({"section": ["C"]}))
    before = lake.read_bytes(bad)
    done = _cli(tmp_path / "lake")
    assert done.returncode == 1
    assert json.loads(done.stdout)["conflicts"] == [bad]
    assert lake.read_bytes(bad) == before
    assert not lake.exists(layout.analysis_table_key("industries", M, "13"))
    usage = _cli(tmp_path / "lake", "--province", "4x")
    assert usage.returncode == 2 and "province" in usage.stderr
