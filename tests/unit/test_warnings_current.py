"""The compacted current state of a province's warnings: a run reads it plus the files written
after it, never the whole history; it equals the state computed from the history, and a
snapshot that no longer matches its files is ignored (rebuilt from the history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from functions import layout
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from functions.warnings.store import current_warnings
from tests.unit.test_warnings_rules import NOW, M, P, build


def _spy(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the lake reads as Parquet from now on."""
    reads: list[str] = []
    real = lake.read_parquet

    def read(key: str, **kw: Any) -> pa.Table:
        reads.append(key)
        return real(key, **kw)

    monkeypatch.setattr(lake, "read_parquet", read)
    return reads


def _by_key(t: pa.Table) -> list[dict[str, Any]]:
    return t.take(pc.sort_indices(t, sort_keys=[("warning_key", "ascending")])).to_pylist()


def test_runs_read_the_snapshot_not_the_history(
    local_lake: Lake, local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(local_lake)
    run_warnings(local_lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings)
    later = NOW + dt.timedelta(days=30)
    run_warnings(
        local_lake, month="2026-11", province=P, trigger="monthly", now=later, settings=local_settings
    )
    snap = layout.warnings_current_key(P)
    assert local_lake.exists(snap)
    from_snapshot = current_warnings(local_lake, P)
    assert from_snapshot.num_rows > 10
    local_lake.delete(snap)
    from_history = current_warnings(local_lake, P)
    assert _by_key(from_snapshot) == _by_key(from_history)

    # With the snapshot, only it is read (no file of results/warnings).
    from functions.warnings.store import compact

    compact(local_lake, P)
    reads = _spy(local_lake, monkeypatch)
    assert _by_key(current_warnings(local_lake, P)) == _by_key(from_history)
    assert reads == [snap]

    # A covered file that changed: the snapshot is ignored, the history read again.
    files = [f.key for f in local_lake.list_files("results/warnings") if f.key.endswith(".parquet")]
    t = local_lake.read_parquet(files[0])
    local_lake.write_parquet(files[0], t.slice(0, 1))
    reads.clear()
    current_warnings(local_lake, P)
    assert set(files) <= set(reads)
