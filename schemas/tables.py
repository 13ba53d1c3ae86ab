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
from pydantic import BaseModel

from schemas.analysis import ANALYSIS_KINDS
from schemas.arrow import arrow_schema
from schemas.fields import FIELD_NAMES
from schemas.ingest import IngestReport
from schemas.results import CLASSIFICATION_SCHEMA, Classification
from schemas.warnings import CoverageRecord, TaskRecord, WarningRecord


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
    # the row contract the schema comes from (its field descriptions go into the docs)
    model: type[BaseModel] | None = None

    @property
    def files_glob(self) -> str:
        """The dataset's files at the depth of its partitions (``month=*/province=*/*.parquet``):
        hidden sidecars sit deeper beside a partition (``_changes/``, ``_sampling/``: ADR 0100,
        0121), and a ``**`` glob, or a reader that does not skip ``_`` names, would take them
        for rows of the dataset."""
        return "/".join([self.prefix, *(f"{k}=*" for k in self.partitions), f"*.{self.format}"])


INGEST_REPORT_SCHEMA = arrow_schema(IngestReport)
_ANALYSIS_TEXT = {
    "regions": "Regional risk of the month per province, city and county: counts per class, C+D share, "
    "change, z, Benjamini-Hochberg q-value, flag, GB/T 2260 name",
    "industries": "Industry risk of the month per GB/T 4754 section: the same figures as analysis_regions",
    "migration": "Class migration matrix of the month: entities from last month's class (or new) to "
    "this month's (or exited)",
}


def _analysis_table(kind: str, model: type[BaseModel]) -> ResultsTable:
    return ResultsTable(
        f"analysis_{kind}",
        f"results/analysis_{kind}",  # functions/layout.py analysis_dataset
        arrow_schema(model),
        ("month", "province"),
        "parquet",
        _ANALYSIS_TEXT[kind],
        model=model,
    )


RESULTS_TABLES: tuple[ResultsTable, ...] = (
    ResultsTable(
        "field_classifications",
        "results/field_classifications",
        CLASSIFICATION_SCHEMA,
        ("field", "month", "province"),
        "parquet",
        "Published monthly classifications of the professional fields, the field's population only",
        (("field", FIELD_NAMES),),
        model=Classification,
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
        model=Classification,
    ),
    ResultsTable(
        "warnings",
        "results/warnings",
        arrow_schema(WarningRecord),
        ("month", "province"),
        "parquet",
        "Early warnings and data-gap alerts, one row per state change (latest state_at = current state)",
        model=WarningRecord,
    ),
    ResultsTable(
        "tasks",
        "results/tasks",
        arrow_schema(TaskRecord),
        ("month", "province"),
        "parquet",
        "Inspection tasks, one per entity and month (latest updated_at = current version)",
        model=TaskRecord,
    ),
    ResultsTable(
        "coverage",
        "results/coverage",
        arrow_schema(CoverageRecord),
        ("province",),
        "parquet",
        "What each accepted ingest delivered: dataset, event dates, report years",
        model=CoverageRecord,
    ),
    ResultsTable(
        "ingest_reports",
        "reports/ingest",
        INGEST_REPORT_SCHEMA,
        (),
        "json",
        "One ingest report per upload (the commit marker; province and dataset are columns)",
        model=IngestReport,
    ),
    *(_analysis_table(kind, model) for kind, model in ANALYSIS_KINDS.items()),
)
# Parquet datasets under ``results/`` that are deliberately not tables of this list, and why.
# tests/functional/test_results_readers.py fails on any other dataset without a table.
NOT_RESULTS_TABLES: dict[str, str] = {
    "results/classifications": "the classifications table (infra/platform.py, docs/results-contract.md)",
    "results/warnings-state": "the warnings' compacted current state, rebuilt by each run: the warnings "
    "table holds every state row",
    "results/runs": "every run's own copy (`runs/<run_id>/classifications.parquet`, no partition keys), "
    "kept for audit and plan verification: the published months are the classifications table",
}
