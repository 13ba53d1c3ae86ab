"""Bulk read of a month's classification (``GET /v1/classifications``, the change feed): page
latency and the function's peak memory on a 20M-entity province (issue 14, docs/adr/0114).

``python -m bench classifications [--entities=20000000] [--walks=10] [--walk-pages=20]
[--limit=5000] [--fields=4] [--keep=DIR --reuse]``. The partition is generated straight into
Parquet in the published layout (sorted by uscc, 200k-row row groups as the DuckDB engine writes
them, zstd; reasons empty: the bulk read never decodes them), and so are the first ``fields``
professional fields' results (uscc and class of a random share of the entities, sorted, with
their pointers), which every page shows beside the general class (docs/adr/0156). The requests
then run in a fresh interpreter through the Chalice handler (token check, cursor verification,
JSON) the way a platform reads: ``walks`` times, from a random position (a valid signed cursor),
``walk-pages`` consecutive pages following ``next_cursor``. The very first request (cold
imports) is reported apart, and so is the first page of each walk (its row group is not decoded
yet: the warm function keeps the last row groups it decoded, ADR 0114). Peak memory is that
process's ``VmHWM``. Targets: p95 <= 200 ms per page, peak <= 1 GB.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MONTH, PROVINCE, RUN = "2026-10", "42", "2026-10-42-bench"
ROW_GROUP = 200_000

_CHILD = """
import json, os, random, statistics, sys, time
sys.path.insert(0, {root!r})
os.environ["CREDITRISK_LAKE_URI"] = {lake!r}
import app
from chalice.test import Client
from functions.delivery.cursor import cursor_signer, sign
from functions.settings import get_settings
lake = app.lake()
key = cursor_signer(get_settings(), lake)
rng = random.Random(1)
headers = {{"Authorization": "Bearer {token}"}}
out = {{}}
def p95(xs):
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))]
import pyarrow.parquet as pq
from functions import layout
from functions.delivery import bulk
from functions.delivery.field_classes import published_pointers
# a cursor binds the walk's field runs (ADR 0161)
pointers = published_pointers(lake, "{month}", "{province}")
fr = bulk.runs_digest({{f: str(p["run_id"]) for f, p in pointers.items()}})
changes = lake.path(layout.changes_key("{month}", "{province}", "{run}"))
n_changes = pq.ParquetFile(changes).metadata.num_rows
with Client(app.app) as c:
    # "changes" pages through the changed rows written at publish (ADR 0121); "changes_scan" is
    # the same feed without that file (the partition scanned, as before), measured in this run
    for feed, path in (("all", "/v1/classifications"), ("changes", "/v1/classifications/changes"),
                       ("changes_scan", "/v1/classifications/changes")):
        if feed == "changes_scan":
            os.rename(changes, changes + ".off")
            bulk.clear_cache()
        times, walk_first, sizes, rows, cpus, first_s = [], [], [], [], [], None
        for walk in range({walks}):
            state = {{"v": 1, "p": "{province}", "m": "{month}", "f": feed.split("_")[0], "r": "{run}",
                      "o": rng.randrange(n_changes if feed == "changes" else {entities}), "fr": fr}}
            if feed == "changes":
                state["s"] = "file"
            cur = sign(key, state)
            for i in range({walk_pages}):
                q = "month={month}&province={province}&limit={limit}"
                if first_s is not None:
                    q += "&cursor=" + cur
                s, cpu = time.perf_counter(), time.process_time()
                r = c.http.get(path + "?" + q, headers=headers)
                took = time.perf_counter() - s
                cpus.append(time.process_time() - cpu)
                assert r.status_code == 200, r.body[:300]
                body = json.loads(r.body)
                if first_s is None:
                    first_s = took
                else:
                    times.append(took)
                    if i == 0:
                        walk_first.append(took)
                sizes.append(len(json.dumps(r.body.decode())))
                rows.append(len(body["rows"]))
                cur = body["next_cursor"]
                if cur is None:
                    break
        out[feed] = {{"first_s": first_s, "p50_s": statistics.median(times), "p95_s": p95(times),
                      "max_s": max(times), "walk_first_p95_s": p95(walk_first), "pages": len(times),
                      "rows_per_page_min": min(rows), "max_answer_bytes": max(sizes),
                      "cpu_p50_s": statistics.median(cpus[1:]), "cpu_p95_s": p95(cpus[1:])}}
with open("/proc/self/status") as st:
    out["peak_mb"] = next(int(l.split()[1]) / 1024 for l in st if l.startswith("VmHWM:"))
print(json.dumps(out))
"""


# share of the province in each field's population (bench data, not a claim about real fields)
FIELD_SHARES = {"food": 0.3, "drug": 0.05, "special_equipment": 0.1, "industrial_product": 0.15}


def generate(lake_dir: Path, entities: int, fields: int = len(FIELD_SHARES)) -> None:
    """The published partition, its pointer, the fields' results and pointers, in ``lake_dir``."""
    from contextlib import ExitStack

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from functions import layout
    from functions.lake import Lake
    from schemas.results import CLASSIFICATION_SCHEMA, DIMENSIONS

    lake = Lake.from_uri(str(lake_dir))
    path = lake_dir / layout.classification_key(MONTH, PROVINCE)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    classes = np.array(["A", "B", "C", "D"])
    reason_type = CLASSIFICATION_SCHEMA.field("reasons").type
    field_schema = pa.schema([("uscc", pa.string()), ("risk_class", pa.string())])
    shares = dict(list(FIELD_SHARES.items())[:fields])
    with ExitStack() as stack:
        w = stack.enter_context(pq.ParquetWriter(path, CLASSIFICATION_SCHEMA, compression="zstd"))
        field_writers = {}
        for field in shares:
            fpath = lake_dir / layout.field_result_key(f"{RUN}-{field}")
            fpath.parent.mkdir(parents=True, exist_ok=True)
            field_writers[field] = stack.enter_context(
                pq.ParquetWriter(fpath, field_schema, compression="zstd")
            )
        for start in range(0, entities, ROW_GROUP):
            n = min(ROW_GROUP, entities - start)
            seq = pc.cast(pa.array(np.arange(start, start + n)), pa.string())
            uscc = pc.binary_join_element_wise("9142010", pc.utf8_lpad(seq, 11, "0"), "")
            name = pc.binary_join_element_wise("湖北测试", pc.utf8_lpad(seq, 9, "0"), "商贸有限公司", "")
            cls = classes[rng.choice(4, n, p=[0.55, 0.3, 0.1, 0.05])]
            prev = np.where(rng.random(n) < 0.05, classes[rng.integers(0, 4, n)], cls)
            empty = pa.ListArray.from_arrays(
                pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], reason_type.value_type)
            )
            cols = {
                "uscc": uscc,
                "name": name,
                "entity_type": pa.array(["enterprise"] * n),
                "region_code": pa.array(["420100"] * n),
                "industry_code": pa.array(["F51"] * n),
                "risk_score": pa.array(rng.random(n) * 100),
                "risk_class": pa.array(cls),
                "previous_class": pa.array(prev),
                "dimension_scores": pa.StructArray.from_arrays(
                    [pa.array(np.zeros(n)) for _ in DIMENSIONS], names=list(DIMENSIONS)
                ),
                "reasons": empty.cast(reason_type),
                "rules": pa.ListArray.from_arrays(
                    pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string())
                ),
                "model": pa.array(["samr-general@1.1"] * n),
                "run_id": pa.array([RUN] * n),
            }
            w.write_table(pa.table(cols).cast(CLASSIFICATION_SCHEMA), row_group_size=ROW_GROUP)
            for field, share in shares.items():
                inside = pa.array(rng.random(n) < share)
                fcls = pa.array(classes[rng.choice(4, n, p=[0.4, 0.35, 0.15, 0.1])]).filter(inside)
                field_writers[field].write_table(
                    pa.table({"uscc": uscc.filter(inside), "risk_class": fcls}, schema=field_schema)
                )
    for field in shares:
        lake.write_json(
            layout.field_classification_pointer_key(field, MONTH, PROVINCE), {"run_id": f"{RUN}-{field}"}
        )
    lake.write_json(layout.classification_pointer_key(MONTH, PROVINCE), {"run_id": RUN, "rows": entities})
    from functions.delivery.changes import write_changes

    t = time.process_time()
    changed = write_changes(lake, MONTH, PROVINCE, RUN, source=layout.classification_key(MONTH, PROVINCE))
    print(f"changes file: {changed:,} rows, {time.process_time() - t:.1f} CPU s at publish")


def main(argv: list[str]) -> dict[str, Any]:
    opts = dict(a.lstrip("-").split("=", 1) if "=" in a else (a.lstrip("-"), "1") for a in argv)
    entities = int(opts.get("entities", 20_000_000))
    walks, walk_pages = int(opts.get("walks", 10)), int(opts.get("walk-pages", 20))
    limit = int(opts.get("limit", 5000))
    keep = opts.get("keep")
    lake_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-classifications-"))
    try:
        from functions.auth import tokens
        from functions.lake import Lake

        t = time.perf_counter()
        if not (opts.get("reuse") and keep and (lake_dir / "results").exists()):
            generate(lake_dir, entities, int(opts.get("fields", len(FIELD_SHARES))))
        gen_s = time.perf_counter() - t
        from functions import layout

        size = (lake_dir / layout.classification_key(MONTH, PROVINCE)).stat().st_size
        changes_size = (lake_dir / layout.changes_key(MONTH, PROVINCE, RUN)).stat().st_size
        token, _ = tokens.issue_token(Lake.from_uri(str(lake_dir)), name="bench", provinces=[PROVINCE])
        code = _CHILD.format(
            root=str(ROOT),
            lake=str(lake_dir),
            token=token,
            walks=walks,
            walk_pages=walk_pages,
            limit=limit,
            month=MONTH,
            province=PROVINCE,
            run=RUN,
            entities=entities,
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if not keep:
            shutil.rmtree(lake_dir, ignore_errors=True)
    result = {
        "entities": entities,
        "walks": walks,
        "walk_pages": walk_pages,
        "limit": limit,
        "file_mb": round(size / 2**20, 1),
        "changes_file_mb": round(changes_size / 2**20, 1),
        "generate_s": round(gen_s, 1),
        **measured,
    }
    for feed in ("all", "changes", "changes_scan"):
        m = measured[feed]
        print(
            f"{feed:8s} first {m['first_s'] * 1000:.0f} ms, p50 {m['p50_s'] * 1000:.0f} ms, "
            f"p95 {m['p95_s'] * 1000:.0f} ms (target <= 200), max {m['max_s'] * 1000:.0f} ms, "
            f"first page of a walk p95 {m['walk_first_p95_s'] * 1000:.0f} ms, "
            f"largest answer {m['max_answer_bytes'] / 2**20:.2f} MB, >= {m['rows_per_page_min']} rows/page; "
            f"CPU per page p50 {m['cpu_p50_s'] * 1000:.0f} ms, p95 {m['cpu_p95_s'] * 1000:.0f} ms"
        )
    print(
        f"peak memory {measured['peak_mb']:.0f} MB (target <= 1024); {entities:,} entities, "
        f"file {result['file_mb']} MB"
    )
    return result
