"""What a province-month costs to scan on Athena, from sizes measured on a generated province
(docs/deploy.md "Costs to expect", docs/adr/0154).

The curated Parquet and the classification results of the reference province
(``functions.analysis.calibration.REFERENCE``, the one the calibration checks build) are
measured, divided by its entities and scaled linearly: the table in the deploy guide is this
module's output, and ``tests/functional/test_calibration.py`` fails when it is stale, so no
hand-written count can drift from what the generator and ingestion produce today.
``python -m functions.costs docs`` rebuilds the province and rewrites the block.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from functions import layout
from functions.errors import ConfigError
from schemas.datasets import DATASETS
from schemas.fields import FIELDS

if TYPE_CHECKING:
    from functions.lake import Lake

BEGIN = "<!-- cost-table:begin (generated: python -m functions.costs docs) -->"
END = "<!-- cost-table:end -->"
USD_PER_TB = 5.0  # Athena, global regions (the deploy guide tells readers to check theirs)
MIN_BILLED = 10 * 10**6  # Athena bills at least 10 MB per query
# (label, entities) of the scaled rows; the measured province comes first
SCALES = (
    ("1 M entities", 1_000_000),
    ("10 M entities (a large province)", 10_000_000),
    ("all 31 provinces (≈ 185 M entities)", 185_000_000),
)


@dataclass(frozen=True)
class Sizes:
    """Bytes and records of one generated province and one classified month."""

    entities: int
    records: int  # rows over the curated datasets
    curated_bytes: int  # every curated dataset, every column
    results_bytes: int  # the month's general and field classifications
    warning_rules: int

    def per_entity(self, value: int) -> float:
        return value / self.entities


def measure(lake: Lake, province: str, month: str, entities: int) -> Sizes:
    """The sizes of ``province`` in ``lake`` (Parquet footers only: no data is read)."""
    import pyarrow.parquet as pq

    from functions.warnings.config import load_rules

    curated = [f for name in DATASETS for f in lake.list_files(layout.curated_prefix(name, province))]
    records = 0
    for f in curated:
        with lake.open_input_file(f.key) as fh:
            records += pq.ParquetFile(fh).metadata.num_rows
    keys = [layout.classification_key(month, province)]
    keys += [layout.field_classification_key(field, month, province) for field in FIELDS]
    results = [info for info in map(lake.info, keys) if info is not None]
    return Sizes(
        entities=entities,
        records=records,
        curated_bytes=sum(f.size for f in curated),
        results_bytes=sum(f.size for f in results),
        warning_rules=len(load_rules().rules),
    )


def _bytes(n: float) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 10**3:.3g} kB"


def _usd(scanned: float) -> str:
    cost = max(scanned, MIN_BILLED) / 10**12 * USD_PER_TB
    return "< USD 0.001" if cost < 0.001 else f"≈ USD {cost:.2g}"


def cost_table(s: Sizes, params: dict[str, object]) -> str:
    """The Markdown block of docs/deploy.md (markers included)."""
    curated, results = s.per_entity(s.curated_bytes), s.per_entity(s.results_bytes)
    lines = [
        BEGIN,
        f"Measured on the synthetic province ({int(str(params['entities'])):,} entities, "
        f"{params['months']} months, seed {params['seed']}: {s.records:,} curated records): the curated "
        f"lake is {_bytes(s.curated_bytes)} of Parquet, **{curated:,.0f} bytes per entity with all "
        f"{len(DATASETS)} datasets and every column**; a month's results (general and "
        f"{len(FIELDS)} fields) are {results:,.0f} bytes per entity. Scaled linearly, one "
        "province-month scans at most:",
        "",
        "| province size | curated (all columns) | last month's results | scanned per run, upper bound "
        f"| Athena cost at USD {USD_PER_TB:g}/TB |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = [(f"{s.entities:,} entities (the synthetic province)", s.entities), *SCALES]
    for label, n in rows:
        c, r = curated * n, results * n
        lines.append(f"| {label} | {_bytes(c)} | {_bytes(r)} | {_bytes(c + r)} | {_usd(c + r)} |")
    lines += [
        "",
        f"Each upload runs one query per warning rule ({s.warning_rules} rules) over the datasets that "
        f"rule reads for the province (at least {_bytes(MIN_BILLED)} billed per query).",
        END,
    ]
    return "\n".join(lines)


def sync(text: str, block: str) -> str:
    """``text`` with its cost block replaced by ``block`` (the text must hold the markers)."""
    head, found, rest = text.partition(BEGIN)
    if not found or END not in rest:
        raise ConfigError("the document has no cost-table markers", field="doc")
    return head + block + rest.partition(END)[2]


def doc_path() -> Path:
    return Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def main(argv: Sequence[str] | None = None) -> int:
    from functions.analysis import calibration as cal

    parser = argparse.ArgumentParser(prog="python -m functions.costs")
    parser.add_argument("command", choices=["docs"], help="rewrite the cost table of docs/deploy.md")
    parser.parse_args(argv)
    params, province = cal.REFERENCE, str(cal.REFERENCE["province"])
    with tempfile.TemporaryDirectory(prefix="creditrisk-costs-") as tmp:
        lake = cal.build_province(Path(tmp), params, cal.REFERENCE_MONTH)
        sizes = measure(lake, province, cal.REFERENCE_MONTH, int(str(params["entities"])))
    path = doc_path()
    path.write_text(sync(path.read_text(encoding="utf-8"), cost_table(sizes, params)), encoding="utf-8")
    print(f"{path}: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
