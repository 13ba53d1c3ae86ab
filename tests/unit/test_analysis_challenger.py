"""Champion/challenger scratch retention (``backtests/``): pruned after the retention period."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa

from functions.analysis.challenger import prune_scratch, scratch_prefix
from functions.lake import Lake


def test_old_backtest_scratch_is_pruned_and_recent_kept(local_lake: Lake) -> None:
    """Scratch of comparisons older than the retention goes (as the bucket's lifecycle rule
    does in AWS); a recent comparison's stays."""
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    old = f"{scratch_prefix('old-job')}/month=2026-09/province=42/part-0.parquet"
    new = f"{scratch_prefix('new-job')}/month=2026-09/province=42/part-0.parquet"
    for key in (old, new):
        local_lake.write_parquet(key, pa.table({"uscc": ["x"]}))
    stamp = (now - dt.timedelta(days=31)).timestamp()
    os.utime(local_lake.path(old), (stamp, stamp))
    recent = (now - dt.timedelta(days=2)).timestamp()
    os.utime(local_lake.path(new), (recent, recent))
    assert prune_scratch(local_lake, now) == [old]
    assert not local_lake.exists(old) and local_lake.exists(new)
    assert prune_scratch(local_lake, now) == []  # idempotent
