"""The results datasets auditors query, beside classifications and the curated datasets.

One entry per dataset: where it lives, its row contract (Arrow schema from ``schemas/``), its
hive partition keys (in the path only, never in the files: docs/adr/0105) and its format. Both
the Glue tables of ``infra/platform.yaml`` and the tables of ``creditrisk query`` are generated
from this list, so the catalog and the local query tool cannot drift from what the code writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.fields import FIELD_NAMES
from schemas.ingest import IngestReport
from schemas.results import CLASSIFICATION_SCHEMA
from schemas.warnings import COVERAGE_SCHEMA, TASK_RECORD_SCHEMA, WARNING_RECORD_SCHEMA


@dataclass(frozen=True)
class ResultsTable:
    name: str  # Glue / query table name
    prefix: str  # lake prefix (functions/layout.py)
    schema: pa.Schema  # the file columns
    partitions: tuple[str, ...]  # hive keys in the path, all strings
    format: Literal["parquet", "json"]
    description: str
    # partition keys with a fixed list of values (Athena projects them as an enum)
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # partition keys with open-ended values every query names (Athena's ``injected`` projection)
    injected: tuple[str, ...] = ()


INGEST_REPORT_SCHEMA = arrow_schema(IngestReport)

RESULTS_TABLES: tuple[ResultsTable, ...] = (
    ResultsTable(
        "field_classifications",
        "results/field_classifications",
        CLASSIFICATION_SCHEMA,
        ("field", "month", "province"),
        "parquet",
        "Published monthly classifications of the professional fields, the field's population only",
        (("field", FIELD_NAMES),),
    ),
    ResultsTable(
        "backtest_classifications",
        "backtests/classifications",
        CLASSIFICATION_SCHEMA,
        ("job", "month", "province"),
        "parquet",
        "Champion/challenger re-classified months (scratch, never published; expire after 30 days); "
        "every query names its job",
        injected=("job",),
    ),
    ResultsTable(
        "warnings",
        "results/warnings",
        WARNING_RECORD_SCHEMA,
        ("month", "province"),
        "parquet",
        "Early warnings and data-gap alerts, one row per state change (latest state_at = current state)",
    ),
    ResultsTable(
        "tasks",
        "results/tasks",
        TASK_RECORD_SCHEMA,
        ("month", "province"),
        "parquet",
        "Inspection tasks, one per entity and month (latest updated_at = current version)",
    ),
    ResultsTable(
        "coverage",
        "results/coverage",
        COVERAGE_SCHEMA,
        ("province",),
        "parquet",
        "What each accepted ingest delivered: dataset, event dates, report years",
    ),
    ResultsTable(
        "ingest_reports",
        "reports/ingest",
        INGEST_REPORT_SCHEMA,
        (),
        "json",
        "One ingest report per upload (the commit marker; province and dataset are columns)",
    ),
)
