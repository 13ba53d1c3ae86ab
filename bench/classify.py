"""``python -m bench classify [--entities=N] [--records-per-entity=K] [--system=ID] [--keep=DIR [--reuse]]
[--repeat=N] [--memory-limit=6GB] [--by-type] [--corrections=0.02]``

Classifies a synthetic province on DuckDB and compares it with the floor: a bare DuckDB
scan-and-group-by (count per uscc) of the same curated records, measured in the same run.
Reports wall time, CPU time, peak RSS (``VmHWM``; each measurement in its own child process,
so the peaks do not mix) and the ratios, best of ``--repeat``. Target: within 2× of the floor.

Default size (100k entities / 1M records) runs in well under a minute on 2 cores; the issue's
size is ``--entities=1000000`` (10M records), the full province ``--entities=10000000`` (100M
records; ~1.3 GB of curated Parquet, several minutes to generate: keep it with ``--keep=DIR``
and measure again with ``--reuse``). Measurements and the extrapolation: docs/results-contract.md
"Performance".

Data are generated vectorised with numpy/pyarrow straight into curated Parquet (USCCs are
well-formed but their check digits are not computed: the classification never checks them);
keys are unique within an ingest, as ingestion guarantees.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa

from functions import layout
from functions.lake import Lake
from schemas.datasets import DATASETS
from schemas.ingest import IngestReport

PROVINCE = "13"
CUTOFF = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
MONTH = "2026-06"
# share of the records per dataset (sums to 1)
RECORD_MIX = {
    "penalties": 0.15,
    "abnormal_list": 0.05,
    "serious_dishonesty_list": 0.01,
    "inspections": 0.14,
    "complaints": 0.15,
    "registration_changes": 0.15,
    "other_dishonesty": 0.10,
    "relationships": 0.15,
    "annual_reports": 0.10,
}
EPOCH = np.datetime64("2016-01-01")


def _days(rng: np.random.Generator, n: int, lo: int = 0, hi: int = 3800) -> pa.Array:
    return pa.array(EPOCH + rng.integers(lo, hi, n).astype("timedelta64[D]"), pa.date32())


def _choice(rng: np.random.Generator, values: tuple[str, ...], n: int) -> pa.Array:
    idx = rng.integers(0, len(values), n)
    return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(values)).cast(pa.string())


def _ids(prefix: str, n: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.arange(n).astype(str)))


def _optional_days(rng: np.random.Generator, n: int, share: float) -> pa.Array:
    days = _days(rng, n)
    return pa.array(days.to_numpy(zero_copy_only=False), pa.date32(), mask=rng.random(n) >= share)


def generate(
    lake: Lake, entities: int, records_per_entity: int, *, corrections: float = 0.0, seed: int = 7
) -> dict[str, int]:
    """Write a curated province: ``entities`` entities and ``entities × records_per_entity`` records;
    ``corrections`` > 0 adds a second ingest re-sending that share of each dataset's rows (so the
    latest-per-key dedup has work to do, as in production after the first month)."""
    rng = np.random.default_rng(seed)
    codes = pa.array(np.char.add("9113100000", np.char.zfill(np.arange(entities).astype(str), 8)))
    n_records = entities * records_per_entity
    counts: dict[str, int] = {"entities": entities}
    cols: dict[str, Any] = {
        "uscc": codes,
        "name": _ids("企业", entities),
        "entity_type": _choice(rng, ("enterprise", "enterprise", "individual", "cooperative"), entities),
        "region_code": _choice(rng, ("131000", "130100", "130200"), entities),
        "industry_code": _choice(rng, ("C13", "F52", "I65", "L72"), entities),
        "established_on": _days(rng, entities, -3000, 3800),
        "registered_capital": pa.array(rng.gamma(1.5, 200.0, entities)),
        "status": _choice(rng, ("active",) * 45 + ("revoked", "cancelled", "moved_out"), entities),
        "status_changed_on": _optional_days(rng, entities, 0.1),
    }
    _write(lake, "entities", cols, entities)
    for name, share in RECORD_MIX.items():
        n = int(n_records * share)
        counts[name] = n
        spec = DATASETS[name]
        # keys are unique within an ingest (ingestion rejects in-file duplicates): a key made of
        # (uscc, year) takes every entity once per year instead of random owners
        per_year = "year" in spec.key
        who = np.arange(n) % entities if per_year else rng.integers(0, entities, n)
        owner = pa.array(codes.to_numpy(zero_copy_only=False)[who])
        c: dict[str, Any] = {"uscc": owner}
        for f in spec.fields:
            if f.name == "uscc":
                continue
            if f.name in spec.key and f.type == "string":
                c[f.name] = _ids(f"{name[:2]}", n)
            elif f.enum:
                c[f.name] = _choice(rng, f.enum, n)
            elif f.type == "date":
                c[f.name] = _days(rng, n) if f.required else _optional_days(rng, n, 0.2)
            elif f.type == "bool":
                c[f.name] = pa.array(rng.random(n) < 0.1)
            elif f.type == "float":
                c[f.name] = pa.array(rng.gamma(1.2, 20000.0, n))
            elif f.name == "year" and per_year:
                c[f.name] = pa.array(2025 - np.arange(n) // entities)
            elif f.type == "int":
                c[f.name] = pa.array(rng.integers(2019, 2026, n))
            else:
                c[f.name] = _choice(rng, ("a", "b", "c"), n)
        _write(lake, name, c, n)
        if corrections > 0:
            table = pa.table(c)
            picked = np.sort(rng.choice(n, max(1, int(n * corrections)), replace=False))
            again = table.take(pa.array(picked))
            _write(lake, name, {k: again.column(k) for k in again.column_names}, again.num_rows, second=True)
    return counts


def _write(lake: Lake, dataset: str, cols: dict[str, Any], n: int, *, second: bool = False) -> None:
    """Write one ingest's curated file with ingestion's own encoding (``parquet_bytes``: codec,
    dictionaries, which columns carry statistics), so the run reads what production reads."""
    from functions.ingest.curate import parquet_bytes

    spec = DATASETS[dataset]
    schema = spec.curated_schema
    cols = dict(cols)
    ingest_id = "20260702T000000Z-fix" if second else "20260701T000000Z-bench"
    cols["_ingest_id"] = pa.array([ingest_id] * n)
    when = np.datetime64("2026-07-02T00:00:00" if second else "2026-07-01T00:00:00", "us")
    cols["_ingested_at"] = pa.array(np.full(n, when), pa.timestamp("us", tz="UTC"))
    cols["_source_line"] = pa.array(np.arange(2, n + 2))
    table = pa.table({f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in schema}).cast(schema)
    data = parquet_bytes(spec, table)
    key = layout.curated_key(dataset, PROVINCE, ingest_id)
    lake.write_bytes(key, data)
    # the ingest report as ingestion leaves it: the runs take the curated file's digest from it
    report = IngestReport(
        ingest_id=ingest_id,
        source_key=f"incoming/{PROVINCE}/{dataset}/bench.csv",
        province=PROVINCE,
        dataset=dataset,
        size=0,
        sha256="0" * 64,
        status="accepted",
        ingested_at=str(when) + "Z",
        rows_read=n,
        rows_accepted=n,
        curated_key=key,
        curated_sha256=hashlib.sha256(data).hexdigest(),
        curated_bytes=len(data),
    )
    lake.write_json(layout.ingest_report_key(PROVINCE, dataset, ingest_id), report.model_dump(mode="json"))


def _existing_counts(lake: Lake) -> dict[str, int]:
    """Rows per dataset of an already generated province (first ingest only, as ``generate``)."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for name in DATASETS:
        files = lake.list_files(layout.curated_prefix(name, PROVINCE))
        first = [f for f in files if "bench" in f.key] or files[:1]
        counts[name] = sum(pq.ParquetFile(lake.path(f.key)).metadata.num_rows for f in first)
    return counts


def _classify(root: str, system_id: str, memory_limit: str, systems: dict[str, str], out: Any) -> None:
    import duckdb  # noqa: F401 - imported before the clock starts, as in _floor

    from functions.classify.run import classify_month
    from functions.settings import Settings

    t, cpu = time.perf_counter(), _cpu_s()
    result = classify_month(
        Lake.from_uri(root),
        month=MONTH,
        province=PROVINCE,
        system_id=system_id,
        cutoff=CUTOFF,
        settings=Settings(lake_uri=root, duckdb_memory_limit=memory_limit, class_systems=systems),
    )
    wall = time.perf_counter() - t
    out.put(
        {
            "wall_s": wall,
            "cpu_s": _cpu_s() - cpu,
            "peak_mb": _peak_mb(),
            "counts": result.counts,
            "timings": result.manifest["timings"],
        }
    )


def _floor(root: str, out: Any) -> None:
    import duckdb  # noqa: F401 - imported before the clock starts, as in _classify

    from functions.classify.engine_duckdb import connect, register_lake_tables

    t, cpu = time.perf_counter(), _cpu_s()
    con = connect()
    register_lake_tables(con, Lake.from_uri(root), province=PROVINCE)
    union = " UNION ALL ".join(
        f"SELECT uscc FROM curated_{name} WHERE province = '{PROVINCE}'" for name in DATASETS
    )
    rows = con.sql(f"SELECT uscc, count(*) AS n FROM ({union}) GROUP BY uscc").to_arrow_table().num_rows
    out.put(
        {"wall_s": time.perf_counter() - t, "cpu_s": _cpu_s() - cpu, "peak_mb": _peak_mb(), "groups": rows}
    )


def _cpu_s() -> float:
    """CPU seconds of this process so far (user + system; each measurement subtracts its start,
    so imports do not count): less sensitive than wall time to other processes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    """Peak RSS of this process: ``VmHWM``, which starts afresh at exec. ``ru_maxrss`` does
    not — Linux carries it over from the parent that spawned us, so a parent holding the
    generated province would inflate every measurement."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    result: dict[str, Any] = q.get()
    p.join()
    return result


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench classify")
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--records-per-entity", type=int, default=10)
    ap.add_argument("--system", default="samr-general")
    ap.add_argument("--keep", help="generate into (and keep) this folder")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: reuse the data already generated there (repeat runs, best of N)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="measure N times, report the best of each")
    ap.add_argument(
        "--corrections",
        type=float,
        default=0.02,
        help="share of records re-sent in a second ingest (0 = none)",
    )
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit for the run")
    ap.add_argument(
        "--by-type",
        action="store_true",
        help="classify individual businesses with langfang-public-credit, the rest with --system",
    )
    args = ap.parse_args(argv)
    systems = {"individual": "langfang-public-credit"} if args.by_type else {}
    root = args.keep or tempfile.mkdtemp(prefix="bench-classify-")
    try:
        t = time.perf_counter()
        lake = Lake.from_uri(root)
        if args.reuse and args.keep and lake.list_files(layout.curated_prefix("entities", PROVINCE)):
            counts = _existing_counts(lake)
            print(f"reusing the data in {root}")
        else:
            counts = generate(lake, args.entities, args.records_per_entity, corrections=args.corrections)
        gen_s = time.perf_counter() - t
        records = sum(v for k, v in counts.items() if k != "entities")
        print(f"generated {counts['entities']:,} entities / {records:,} records in {gen_s:.1f}s")
        floors, runs = [], []
        for _ in range(max(1, args.repeat)):
            floors.append(_measure(_floor, root))
            runs.append(_measure(_classify, root, args.system, args.memory_limit, systems))
            print(
                f"  floor {floors[-1]['wall_s']:.2f}s (cpu {floors[-1]['cpu_s']:.1f}s)  "
                f"classify {runs[-1]['wall_s']:.2f}s (cpu {runs[-1]['cpu_s']:.1f}s)"
            )
        floor = min(floors, key=lambda r: r["wall_s"])
        run = min(runs, key=lambda r: r["wall_s"])
        floor["peak_mb"] = max(r["peak_mb"] for r in floors)
        run["peak_mb"] = max(r["peak_mb"] for r in runs)
        ratio = run["wall_s"] / floor["wall_s"]
        cpu_ratio = min(r["cpu_s"] for r in runs) / min(r["cpu_s"] for r in floors)
        print(f"floor (scan + group by):   {floor['wall_s']:.2f}s  peak {floor['peak_mb']:.0f} MB")
        print(
            f"classify ({args.system}):  {run['wall_s']:.2f}s  peak {run['peak_mb']:.0f} MB  {run['counts']}"
        )
        print(f"ratio classify/floor: {ratio:.2f}x (target ≤ 2x)  engine {run['timings']['engine_s']:.2f}s")
        print(f"cpu-time ratio classify/floor: {cpu_ratio:.2f}x (best of each)")
        return {
            "entities": args.entities,
            "records": records,
            "corrections": args.corrections,
            "system": args.system,
            "generate_s": gen_s,
            "floor": floor,
            "classify": run,
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "memory_limit": args.memory_limit,
            "engine_ratio": run["timings"]["engine_s"] / floor["wall_s"],
            "target_ratio": 2.0,
        }
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
