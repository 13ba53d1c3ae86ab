"""``python -m bench report [--entities=20000000] [--cache=DIR] [--rebuild] [--memory-limit=512MB]
[--only=report|county]``

The monthly report over a large province (issue 16): two published months of ``--entities``
entities each (2 % exits, 2 % new entrants, every class moving), the month's warnings and
tasks, and its inspections in the curated lake; then ``write_report(refresh=True)`` (analysis
aggregates, effectiveness, render) and one county page, each measured in its own spawned child
process: wall time, CPU time and peak RSS (``VmHWM``). Target: peak ≤ 1 GB at 20M entities.

The data are built vectorised with numpy/pyarrow (not the generator), chunk by chunk straight
into Parquet, and cached in ``--cache`` (default: a folder under the temp dir named after the
size) so repeated runs only measure; ``--rebuild`` regenerates.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.classify import CUTOFF, MONTH, PROVINCE, _choice, _cpu_s, _measure, _peak_mb, _write
from functions import layout
from functions.generate.regions import regions_for
from functions.lake import Lake
from functions.months import previous_month
from schemas.results import CLASSIFICATION_SCHEMA, DIMENSIONS

PREVIOUS = previous_month(MONTH)
CHUNK = 1_000_000
TARGET_MB = 1024.0
SECTIONS = tuple("ABCEFGHIKLMO")
REASONS = (
    ("PENALTIES_24M", "行政处罚 / penalties (24 months)"),
    ("UNFILED_REPORTS", "未按时年报 / unfiled annual reports"),
    ("COMPLAINTS_12M", "投诉举报 / complaints (12 months)"),
    ("ABNORMAL_NOW", "经营异常名录 / abnormal-operations list"),
)
RULES = (
    ("annual_report_overdue", "年报逾期", "low"),
    ("complaint_surge", "投诉激增", "high"),
    ("frequent_changes", "频繁变更", "medium"),
    ("class_jump", "风险分类跨级上升", "high"),
    ("new_serious_dishonesty", "新列入严重失信名单", "critical"),
)


def _pick(values: Any, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as a plain string array (``take``: no numpy strings)."""
    return pc.take(pa.array(list(values), pa.string()), pa.array(idx.astype(np.int32), pa.int32()))


def _const(value: str, n: int) -> pa.Array:
    return _pick((value,), np.zeros(n, np.int32))


def _digits(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width=width, padding="0")


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _mix(ids: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic uniform [0, 1) per entity id (the same entity keeps region and industry)."""
    x = (ids.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(2**32)
    return x.astype(np.float64) / 2**32


def _uscc(ids: np.ndarray, regions: pa.Array) -> pa.Array:
    return _join("91", regions, _digits(ids, 9), "X")


def _region_idx(ids: np.ndarray) -> np.ndarray:
    reg = regions_for(PROVINCE)
    idx = np.searchsorted(np.cumsum(reg.weights), _mix(ids, 11), side="right")
    return np.asarray(idx.clip(0, len(reg.codes) - 1))


def _classification_chunk(ids: np.ndarray, rng: np.random.Generator, month: str) -> pa.Table:
    n = len(ids)
    regions = _pick(regions_for(PROVINCE).codes, _region_idx(ids))
    sections = _pick(SECTIONS, (_mix(ids, 23) * len(SECTIONS)).astype(np.int32))
    industry = _join(sections, _digits(((_mix(ids, 37) * 90) + 10).astype(np.int64), 2))
    score = np.minimum(rng.gamma(1.3, 6.0, n), 100.0)
    cls_idx = (score >= 5).astype(np.int32) + (score >= 12) + (score >= 25)
    per = np.where(cls_idx > 0, 2, 0)
    offsets = np.concatenate([[0], np.cumsum(per)]).astype(np.int32)
    m = int(offsets[-1])
    pick = rng.integers(0, len(REASONS), m)
    reasons = pa.ListArray.from_arrays(
        pa.array(offsets),
        pa.StructArray.from_arrays(
            [
                _pick([r[0] for r in REASONS], pick),
                _pick([r[1] for r in REASONS], pick),
                pa.array(np.round(rng.uniform(1, 20, m), 1)),
            ],
            names=["code", "label", "points"],
        ),
    )
    dims = pa.StructArray.from_arrays([pa.array(score / 5)] * len(DIMENSIONS), names=list(DIMENSIONS))
    cols = {
        "uscc": _uscc(ids, regions),
        "name": _join("湖北测试企业", pc.cast(pa.array(ids), pa.string()), "有限公司"),
        "entity_type": _pick(
            ("enterprise", "enterprise", "individual", "cooperative"), rng.integers(0, 4, n)
        ),
        "region_code": regions,
        "industry_code": industry,
        "risk_score": pa.array(score),
        "risk_class": _pick("ABCD", cls_idx),
        "previous_class": pa.nulls(n, pa.string()),
        "dimension_scores": dims,
        "reasons": reasons,
        "rules": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string())),
        "model": _const("samr-general@1.1", n),
        "run_id": _const(f"bench-{month}", n),
    }
    arrays = [cols[f.name].cast(f.type) for f in CLASSIFICATION_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=CLASSIFICATION_SCHEMA)


def _publish(lake: Lake, month: str, first: int, count: int, seed: int) -> None:
    key = layout.classification_key(month, PROVINCE)
    path = Path(lake.path(key))
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, CLASSIFICATION_SCHEMA, compression="zstd") as w:
        for start in range(first, first + count, CHUNK):
            ids = np.arange(start, min(start + CHUNK, first + count), dtype=np.int64)
            w.write_table(_classification_chunk(ids, rng, month), row_group_size=256_000)
    lake.write_json(layout.classification_pointer_key(month, PROVINCE), {"run_id": f"bench-{month}"})


def _signals(lake: Lake, entities: int, first: int, rng: np.random.Generator) -> dict[str, int]:
    """The month's warnings (1.5 % of entities) and tasks (0.1 %), its inspections (0.3 %)."""
    from functions.warnings.store import TASK_SCHEMA, WARNING_SCHEMA

    def usccs(ids: np.ndarray) -> pa.Array:
        return _uscc(ids, _pick(regions_for(PROVINCE).codes, _region_idx(ids)))

    def ids(prefix: str, n: int) -> pa.Array:
        return _join(prefix, pc.cast(pa.array(np.arange(n)), pa.string()))

    def table(schema: pa.Schema, n: int, values: dict[str, pa.Array]) -> pa.Table:
        cols = []
        for f in schema:
            if f.name in values:
                cols.append(values[f.name].cast(f.type))
            elif pa.types.is_boolean(f.type):
                cols.append(pa.array(np.zeros(n, bool)))
            elif pa.types.is_timestamp(f.type):
                cols.append(pa.array(np.full(n, np.datetime64("2026-06-30T00:00:00", "us")), f.type))
            elif pa.types.is_date(f.type):
                cols.append(pa.nulls(n, f.type))
            else:
                cols.append(_const("{}", n).cast(f.type))
        return pa.Table.from_arrays(cols, schema=schema)

    n_w, n_t, n_i = entities * 15 // 1000, entities // 1000, entities * 3 // 1000
    rule = rng.integers(0, len(RULES), n_w)
    w_ids = rng.integers(first, first + entities, n_w)
    warnings = table(
        WARNING_SCHEMA,
        n_w,
        {
            "warning_key": ids("w", n_w),
            "rule": _pick([f"{r[0]}@1" for r in RULES], rule),
            "rule_id": _pick([r[0] for r in RULES], rule),
            "rule_name": _pick([r[1] for r in RULES], rule),
            "severity": _pick([r[2] for r in RULES], rule),
            "uscc": usccs(w_ids),
            "province": _const(PROVINCE, n_w),
            "month": _const(MONTH, n_w),
            "trigger": _const("monthly", n_w),
        },
    )
    lake.write_parquet(layout.warnings_key(MONTH, PROVINCE, "bench"), warnings)
    t_ids = rng.choice(w_ids, n_t, replace=False)
    tasks = table(
        TASK_SCHEMA,
        n_t,
        {
            "task_id": ids("t", n_t),
            "warning_key": ids("w", n_t),
            "rule": _const("complaint_surge@1", n_t),
            "rule_name": _const("投诉激增", n_t),
            "severity": _const("high", n_t),
            "uscc": usccs(t_ids),
            "province": _const(PROVINCE, n_t),
            "month": _const(MONTH, n_t),
            "status": _const("open", n_t),
            "risk_class": _choice(rng, ("C", "D"), n_t),
            "risk_score": pa.array(rng.uniform(25, 90, n_t)),
            "reasons": pa.array(
                [
                    [
                        {
                            "rule": "complaint_surge@1",
                            "rule_name": "投诉激增",
                            "severity": "high",
                            "warning_key": f"w{i}",
                            "evidence": "{}",
                        }
                    ]
                    for i in range(n_t)
                ],
                TASK_SCHEMA.field("reasons").type,
            ),
        },
    )
    lake.write_parquet(layout.tasks_key(MONTH, PROVINCE, "bench"), tasks)
    days = np.datetime64(f"{MONTH}-01") + rng.integers(0, 30, n_i).astype("timedelta64[D]")
    inspections = {
        "inspection_id": ids("i", n_i),
        "uscc": usccs(rng.integers(first, first + entities, n_i)),
        "inspected_on": pa.array(days, pa.date32()),
        "plan_id": pa.nulls(n_i, pa.string()),
        "domain": _choice(rng, ("food", "consumer", "registration", "price"), n_i),
        "result": _choice(rng, ("no_problem", "no_problem", "no_problem", "problem_found", "corrected"), n_i),
    }
    _write(lake, "inspections", inspections, n_i)
    return {"warnings": n_w, "tasks": n_t, "inspections": n_i}


def generate(lake: Lake, entities: int, seed: int = 16) -> dict[str, int]:
    """Last month: ids [0, n); this month: ids [n/50, n + n/50) (2 % exits, 2 % new entrants)."""
    shift = entities // 50
    _publish(lake, PREVIOUS, 0, entities, seed)
    _publish(lake, MONTH, shift, entities, seed + 1)
    return {"entities": entities, **_signals(lake, entities, shift, np.random.default_rng(seed + 2))}


def _report(root: str, limit: str, out: Any) -> None:
    import duckdb  # noqa: F401 - imported before the clock starts

    from functions.report.html import write_report
    from functions.settings import Settings

    t, cpu = time.perf_counter(), _cpu_s()
    settings = Settings(lake_uri=root, analysis_memory_limit=limit, duckdb_threads=2)
    key = write_report(
        Lake.from_uri(root), month=MONTH, province=PROVINCE, settings=settings, refresh=True, now=CUTOFF
    )
    out.put({"wall_s": time.perf_counter() - t, "cpu_s": _cpu_s() - cpu, "peak_mb": _peak_mb(), "key": key})


def _county(root: str, limit: str, county: str, out: Any) -> None:
    import duckdb  # noqa: F401

    from functions.report.county import write_county_pages
    from functions.settings import Settings

    t, cpu = time.perf_counter(), _cpu_s()
    settings = Settings(lake_uri=root, analysis_memory_limit=limit, duckdb_threads=2)
    pages = write_county_pages(
        Lake.from_uri(root), month=MONTH, province=PROVINCE, counties=[county], settings=settings
    )
    out.put(
        {
            "wall_s": time.perf_counter() - t,
            "cpu_s": _cpu_s() - cpu,
            "peak_mb": _peak_mb(),
            "rows": pages[0]["rows"],
        }
    )


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench report")
    ap.add_argument("--entities", type=int, default=20_000_000)
    ap.add_argument("--cache", help="where the generated lake is kept (default: under the temp dir)")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the cached data")
    ap.add_argument("--memory-limit", default="512MB", help="analysis_memory_limit (DuckDB) for the run")
    ap.add_argument("--only", choices=("report", "county"), help="measure only this one")
    args = ap.parse_args(argv)
    root = Path(args.cache or Path(tempfile.gettempdir()) / f"creditrisk-bench-report-{args.entities}")
    marker = root / "bench-report.json"
    lake = Lake.from_uri(str(root))
    if marker.is_file() and not args.rebuild:
        counts = json.loads(marker.read_text())
        print(f"reusing the data in {root}")
    else:
        t = time.perf_counter()
        counts = generate(lake, args.entities)
        marker.write_text(json.dumps(counts))
        print(f"generated {counts} in {time.perf_counter() - t:.1f}s into {root}")
    county = regions_for(PROVINCE).codes[0]
    skipped: dict[str, Any] = {"wall_s": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "rows": 0, "skipped": True}
    report = skipped if args.only == "county" else _measure(_report, str(root), args.memory_limit)
    page = skipped if args.only == "report" else _measure(_county, str(root), args.memory_limit, county)
    ok = report["peak_mb"] <= TARGET_MB and page["peak_mb"] <= TARGET_MB
    print(
        f"report: {report['wall_s']:.1f}s (cpu {report['cpu_s']:.1f}s)  peak {report['peak_mb']:.0f} MB "
        f"(target ≤ {TARGET_MB:.0f} MB)"
    )
    print(
        f"county page {county}: {page['wall_s']:.1f}s (cpu {page['cpu_s']:.1f}s)  "
        f"peak {page['peak_mb']:.0f} MB  {page['rows']:,} rows"
    )
    print("within target" if ok else "OVER TARGET")
    return {
        **counts,
        "months": [PREVIOUS, MONTH],
        "memory_limit": args.memory_limit,
        "report": report,
        "county_page": {"county": county, **page},
        "target_peak_mb": TARGET_MB,
        "within_target": ok,
    }
