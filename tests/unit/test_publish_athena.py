"""A run on Athena publishes with nothing of the province passing through the function (ADR
0152): the class counts, the change feed, the field frames and their sampling copies are
written by Athena (the stand-in plays every statement on DuckDB) from the runs' tables. A lake
that fails any read or download of a run's or a published classification proves it; the
outputs are those of the DuckDB path."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

import pytest

from functions import layout
from functions.classify.run import classify_month
from functions.delivery import changes
from functions.lake import Lake
from functions.sampling import cells
from functions.settings import Settings
from tests.athena_fake import TableAthena
from tests.classify_data import write_curated
from tests.guarded_lake import GuardedLake
from tests.unit.test_classify_fields import DATA, ENTITIES, MONTH

CUT = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
# the province's Parquet: a run's files, the published partitions (hidden ``_`` folders hold
# what Athena wrote for the feed and the copies: their footers are read, never the province)
PROVINCE_FILE = re.compile(r"^results/(runs/[^/]+/[^/]+|(field_)?classifications/[^_]*/part-0)\.parquet$")


def test_guard_matches_the_province_files() -> None:
    assert PROVINCE_FILE.match(layout.run_classifications_key("run-1"))
    assert PROVINCE_FILE.match("results/runs/run-1-food/field_classifications.parquet")
    assert PROVINCE_FILE.match(layout.classification_key(MONTH, "13"))
    assert PROVINCE_FILE.match(layout.field_classification_key("food", MONTH, "13"))
    assert not PROVINCE_FILE.match(f"{layout.changes_chunks_prefix(MONTH, '13', 'r')}/0-0.parquet")
    assert not PROVINCE_FILE.match(f"{layout.sampling_prefix(MONTH, '13', 'r')}/cells.parquet")


def test_a_run_on_athena_reads_nothing_of_the_province(s3_lake: Lake, s3_settings: Settings) -> None:
    write_curated(s3_lake, "entities", ENTITIES)
    for dataset, rows in DATA.items():
        write_curated(s3_lake, dataset, rows)
    args: dict[str, Any] = {"month": MONTH, "province": "13", "cutoff": CUT, "settings": s3_settings}
    duck = classify_month(s3_lake, **args, fields=("food", "drug"))

    fake = TableAthena(s3_lake, files_per_partition=2)
    guarded = GuardedLake(s3_lake, lambda key: PROVINCE_FILE.match(key) is not None)
    run = classify_month(cast(Lake, guarded), **args, fields=("food", "drug"), engine="athena",
                         athena_runner=fake)  # fmt: skip
    assert not guarded.refused
    assert run.counts == duck.counts and run.fields is not None and duck.fields is not None
    for name in ("food", "drug"):
        assert run.fields[name]["counts"] == duck.fields[name]["counts"]
        assert run.fields[name]["sampling_counts"] == duck.fields[name]["sampling_counts"]
        a = cells.load_run(s3_lake, MONTH, "13", run.fields[name]["run_id"])
        d = cells.load_run(s3_lake, MONTH, "13", duck.fields[name]["run_id"])
        assert a is not None and d is not None and a.chunks is not None and d.chunks is None
        assert a.index.to_pylist() == d.index.to_pylist()  # cells, starts, counts, digests
        every = list(range(int(sum(d.index["count"].to_pylist()))))
        columns = list(cells.COPY_COLUMNS)
        assert cells.fetch(a, every, columns).equals(cells.fetch(d, every, columns))
        frame = s3_lake.read_parquet(layout.run_classifications_key(run.fields[name]["run_id"]))
        want = s3_lake.read_parquet(layout.run_classifications_key(duck.fields[name]["run_id"]))
        assert (
            frame.sort_by("uscc").select(["uscc", "risk_class"]).to_pylist()
            == want.select(["uscc", "risk_class"]).to_pylist()
        )

    # the change feed: what the DuckDB path writes from the same run's rows
    listing = changes.ChunkedChanges.open(s3_lake, MONTH, "13", run.run_id)
    assert listing is not None
    got = [listing.read_row_group(i, changes.COLUMNS) for i in range(listing.num_row_groups)]
    changes.write_changes(s3_lake, MONTH, "13", run.run_id)
    want_rows = s3_lake.read_parquet(layout.changes_key(MONTH, "13", run.run_id))
    assert sum(t.num_rows for t in got) == want_rows.num_rows > 0
    assert [r for t in got for r in t.to_pylist()] == want_rows.to_pylist()  # uscc order, both
    # every temporary table dropped, every scratch emptied
    assert not fake.tables
    assert not s3_lake.list_files(layout.athena_unload_prefix(""), include_hidden=True)
    assert any("_frame" in s for s in fake.statements("CREATE TABLE"))


@pytest.mark.parametrize("bad", ["2026-06'", "13 OR 1=1"])
def test_values_inlined_in_the_frame_statement_are_checked(bad: str) -> None:
    from functions.classify.fields import write_frame_athena
    from functions.classify.run import RunResult
    from functions.errors import InvalidInput

    general = RunResult("run-1", bad, "13", {}, {})
    with pytest.raises(InvalidInput):
        write_frame_athena(cast(Lake, None), "run-1-food", "db.t", general, settings=Settings(), runner=None)
