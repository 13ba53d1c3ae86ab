"""Backtest at province scale: ``creditrisk evaluate`` over N entities × M months.

Builds a synthetic lake straight in Parquet (published classifications with the columns the
backtest reads; about 0.4 % of entities inspected a month), then runs the backtest in a fresh
interpreter and reports its wall time and peak RSS next to the size of one month's
classification read into Arrow (the baseline a Python-side computation would at least hold).
The design rule (issue 16): only aggregates reach Python, so the peak stays flat in N.
``python -m bench evaluate [--entities=2000000] [--months=3]``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MONTHS = ("2026-06", "2026-07", "2026-08", "2026-09")

_RUN = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from functions.lake import Lake
from functions.analysis.backtest import backtest
t = time.perf_counter()
r = backtest(Lake.from_uri({lake!r}), first={first!r}, last={last!r}, province="42", replicates=500)
print(json.dumps({{"seconds": time.perf_counter() - t, "inspections": r["inspections"],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_ARROW = """
import json, resource, sys
import pyarrow.parquet as pq
t = pq.read_table({path!r}, columns=["uscc", "risk_class", "risk_score"])
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def build(root: Path, entities: int, months: tuple[str, ...]) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from functions import layout
    from schemas.datasets import DATASETS

    rng = np.random.default_rng(16)
    chunk = 1_000_000
    for m in months:
        path = root / layout.classification_key(m, "42")
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = pa.schema(
            [
                ("uscc", pa.string()),
                ("risk_class", pa.string()),
                ("risk_score", pa.float64()),
                ("model", pa.string()),
            ]
        )
        with pq.ParquetWriter(path, schema) as w:
            for lo in range(0, entities, chunk):
                n = min(chunk, entities - lo)
                score = np.round(rng.gamma(1.2, 4.0, n), 2).clip(0, 100)
                cls = np.where(score >= 25, "D", np.where(score >= 12, "C", np.where(score >= 5, "B", "A")))
                w.write_table(pa.table({
                    "uscc": [f"U{i:017d}" for i in range(lo, lo + n)], "risk_class": cls,
                    "risk_score": score, "model": ["samr-general@1.1"] * n,
                }))  # fmt: skip
    spec = DATASETS["inspections"]
    rows: dict[str, list[Any]] = {f.name: [] for f in spec.curated_schema}
    for k, m in enumerate(months[1:], 1):
        start = dt.date(int(m[:4]), int(m[5:7]), 1)
        ids = rng.choice(entities, size=max(1, entities // 250), replace=False)
        for j, i in enumerate(ids.tolist()):
            rows["inspection_id"].append(f"I{k}-{j}")
            rows["uscc"].append(f"U{i:017d}")
            rows["inspected_on"].append(start + dt.timedelta(days=j % 28))
            rows["plan_id"].append(None)
            rows["domain"].append("food")
            rows["result"].append("problem_found" if rng.random() < 0.15 else "no_problem")
            rows["_ingest_id"].append("20260101T000000Z-bench")
            rows["_ingested_at"].append(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            rows["_source_line"].append(j + 2)
    key = root / layout.curated_key("inspections", "42", "20260101T000000Z-bench")
    key.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows, schema=spec.curated_schema), key)


def _py(code: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> dict[str, Any]:
    opts = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    entities = int(opts.get("entities", 2_000_000))
    months = MONTHS[: int(opts.get("months", 3)) + 1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, entities, months)
        from functions import layout

        arrow = _py(_ARROW.format(path=str(root / layout.classification_key(months[0], "42"))))
        run = _py(_RUN.format(root=str(ROOT), lake=str(root), first=months[0], last=months[-2]))
    result = {
        "entities": entities,
        "months": len(months) - 1,
        "inspections": run["inspections"],
        "backtest_s": round(run["seconds"], 2),
        "backtest_peak_rss_mb": round(run["peak_rss_mb"]),
        "one_month_in_arrow_peak_rss_mb": round(arrow["peak_rss_mb"]),
    }
    print(
        f"backtest of {entities:,} entities × {result['months']} months "
        f"({run['inspections']:,} inspections): "
        f"{result['backtest_s']} s, peak {result['backtest_peak_rss_mb']} MB "
        f"(one month's classes read into Arrow alone: {result['one_month_in_arrow_peak_rss_mb']} MB)"
    )
    return result
