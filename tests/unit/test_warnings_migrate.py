"""``creditrisk migrate partition-columns``: old warnings/tasks files that repeat their partition
keys as columns are rewritten without them, once; a disagreeing file is reported, not touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads

from functions.lake import Lake

OLD = "results/warnings/month=2026-10/province=42/part-old.parquet"
NEW = "results/warnings/month=2026-10/province=42/part-new.parquet"
BAD = "results/tasks/month=2026-10/province=13/part-bad.parquet"


def _cli(lake_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "functions.cli", "--lake", str(lake_dir), "migrate", "partition-columns"]
    return subprocess.run([*cmd, *args, "--json"], capture_output=True, text=True, check=False)


def test_old_files_lose_the_repeated_keys_once_and_read_whole(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    lake.write_parquet(OLD, pa.table({"warning_key": ["k1", "k2"], "province": ["42", "42"]}))
    lake.write_parquet(NEW, pa.table({"warning_key": ["k3"]}))
    dry = _cli(tmp_path / "lake", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["rewritten"] == [OLD]
    assert "province" in lake.read_parquet(OLD).column_names  # a dry run changes nothing

    first = _cli(tmp_path / "lake")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"rewritten": [OLD], "unchanged": 1, "conflicts": [], "dry_run": False}
    assert lake.read_parquet(OLD).to_pydict() == {"warning_key": ["k1", "k2"]}  # rows kept
    t = pads.dataset(lake.path("results/warnings"), format="parquet", partitioning="hive").to_table()
    assert sorted(t["warning_key"].to_pylist()) == ["k1", "k2", "k3"] and set(t["province"].to_pylist()) == {
        42
    }

    again = _cli(tmp_path / "lake")  # idempotent
    assert again.returncode == 0 and json.loads(again.stdout)["rewritten"] == []


def test_a_column_that_disagrees_with_its_path_is_reported_not_rewritten(tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    lake.write_parquet(BAD, pa.table({"task_id": ["t1"], "province": ["42"]}))
    before = lake.read_bytes(BAD)
    done = _cli(tmp_path / "lake")
    assert done.returncode == 1
    assert json.loads(done.stdout)["conflicts"] == [BAD]
    assert lake.read_bytes(BAD) == before
    bad = subprocess.run(
        [sys.executable, "-m", "functions.cli", "--lake", str(tmp_path / "lake"), "migrate",
         "partition-columns", "--province", "4x"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "province" in bad.stderr
