"""Synthetic inspector rosters: ``creditrisk generate`` writes one per province, tests and the
sampling bench build one in the lake (``write_curated``) the way ingestion would."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from functions import layout
from schemas.datasets import DATASETS, LIST_SEPARATOR

if TYPE_CHECKING:
    from functions.lake import Lake

# Share of inspectors qualified for each special field (every inspector is also ``general``).
FIELD_SHARES = (
    ("food", 0.40),
    ("industrial_product", 0.25),
    ("special_equipment", 0.15),
    ("drug", 0.15),
    ("advertising", 0.10),
    ("metrology", 0.10),
)


def roster_table(
    province: str,
    n: int = 200,
    *,
    counties: Sequence[str] | None = None,
    seed: int = 0,
    conflict_codes: Sequence[str] = (),
    today: dt.date = dt.date(2026, 1, 1),
) -> pa.Table:
    """``n`` inspectors of ``province`` as contract text columns (deterministic).

    10 % sit in the provincial office (``PP0000``), 30 % in city offices, 60 % in county offices
    of ``counties`` (default: the generator's real counties); 5 % left the roster before
    ``today``; 10 % must recuse from one to three of ``conflict_codes``."""
    if counties is None:
        from functions.generate.regions import regions_for

        counties = regions_for(province).codes
    rng = random.Random(f"roster/{province}/{seed}")
    cities = sorted({c[:4] + "00" for c in counties})
    cols: dict[str, list[str | None]] = {c: [] for c in DATASETS["inspectors"].columns}
    for k in range(n):
        r = rng.random()
        office = province + "0000" if r < 0.10 else rng.choice(cities) if r < 0.40 else rng.choice(counties)
        fields = ["general", *(f for f, share in FIELD_SHARES if rng.random() < share)]
        start = today - dt.timedelta(days=rng.randint(30, 3650))
        end = today - dt.timedelta(days=rng.randint(1, 29)) if rng.random() < 0.05 else None
        conflicts = (
            rng.sample(list(conflict_codes), min(len(conflict_codes), rng.randint(1, 3)))
            if conflict_codes and rng.random() < 0.10
            else []
        )
        cols["inspector_id"].append(f"{province}-INS-{k:05d}")
        cols["name"].append(f"检查员{province}{k:05d}")
        cols["region_code"].append(office)
        cols["fields"].append(LIST_SEPARATOR.join(fields))
        cols["active_from"].append(start.isoformat())
        cols["active_to"].append(end.isoformat() if end else None)
        cols["conflicts"].append(LIST_SEPARATOR.join(sorted(conflicts)) or None)
    return pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})


def write_curated(
    lake: Lake,
    province: str,
    table: pa.Table,
    *,
    ingest_id: str = "roster-0001",
    ingested_at: dt.datetime | None = None,
) -> str:
    """Validate ``table`` (contract text columns) and write it as one curated ingest of the
    roster, as ``creditrisk ingest`` would; returns the curated key. Fails on any bad row."""
    from functions.ingest.curate import curated_table, parquet_bytes
    from functions.ingest.validate import validate

    spec = DATASETS["inspectors"]
    at = ingested_at or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    v = validate(table, spec, province=province, today=at.date())
    if v.checks:
        raise ValueError(f"roster rows fail the contract: {v.counts()}")
    lines = pa.array(range(2, table.num_rows + 2), pa.int64())
    curated = curated_table(spec, v, lines, ingest_id=ingest_id, ingested_at=at)
    key = layout.curated_key("inspectors", province, ingest_id)
    lake.write_bytes(key, parquet_bytes(spec, curated))
    return key
