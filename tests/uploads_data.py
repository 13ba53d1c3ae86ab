"""Ingest reports for the uploads API and notification tests: three outcomes in province 42
(accepted, partial with a personal-data row, rejected whole) and one accepted upload in 23."""

from __future__ import annotations

import datetime as dt
import os
import time

from functions.ingest import IngestReport, ingest_bytes
from functions.lake import Lake
from functions.settings import Settings
from tests.ingest_data import code, penalty_rows, resident_id, to_csv

T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)  # in the past: report files are newer


def accepted_csv(n: int = 20, start: int = 0) -> bytes:
    rows = penalty_rows(n + start)[start:]
    return to_csv(rows).encode("utf-8")


def partial_csv() -> bytes:
    rows = penalty_rows(100)
    rows[1]["kind"] = "jail"  # line 3: bad_enum
    rows[4]["decided_on"] = "2025-02-30"  # line 6: bad_date
    rows[9]["authority"] = f"经办人{resident_id()}"  # line 11: personal_data
    return to_csv(rows).encode("utf-8")


def rejected_csv() -> bytes:
    """No ``uscc`` column: rejected whole (missing_column), the message names a resident ID."""
    rows = [{k: v for k, v in r.items() if k != "uscc"} for r in penalty_rows(5)]
    return to_csv(rows, names={"authority": f"authority{resident_id()}"}).encode("utf-8")


def ingest_examples(lake: Lake, settings: Settings) -> dict[str, IngestReport]:
    """accepted, partial, rejected in 42 (in that order, an hour apart) and other in 23."""
    out = {
        "accepted": ingest_bytes(
            lake, "incoming/42/penalties/a.csv", accepted_csv(), settings=settings, now=T0, etag='"e1"'
        ),
        "partial": ingest_bytes(
            lake,
            "incoming/42/penalties/b.csv",
            partial_csv(),
            settings=settings,
            now=T0 + dt.timedelta(hours=1),
        ),
        "rejected": ingest_bytes(
            lake,
            "incoming/42/penalties/c.csv",
            rejected_csv(),
            settings=settings,
            now=T0 + dt.timedelta(hours=2),
        ),
    }
    rows23 = [{**r, "uscc": code(i, region="230102")} for i, r in enumerate(penalty_rows(5))]
    out["other"] = ingest_bytes(
        lake, "incoming/23/penalties/a.csv", to_csv(rows23).encode(), settings=settings, now=T0
    )
    if lake.is_local:  # one second apart, as S3 would see ingests that are (its times are seconds)
        start = int(time.time()) - 60
        for i, r in enumerate(out.values()):
            os.utime(lake.path(r.report_key or ""), (start + i, start + i))
    return out
