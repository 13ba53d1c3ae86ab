"""Builders for classification results the sampling API reads (tests and bench share them).

Rows follow ``schemas.results.CLASSIFICATION_SCHEMA`` and are published the way the monthly
classification publishes them: the partition file, the hidden ``_current.json`` pointer and
the kept run copy.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pyarrow as pa

from functions import layout, uscc
from functions.auth.tokens import Principal
from functions.lake import Lake
from functions.sampling.signing import HmacSigner
from schemas.api import DrawRequest, PlanRequest, TaskRequest
from schemas.results import CLASSIFICATION_SCHEMA, DIMENSIONS

REGIONS = {"42": ("420100", "420102", "420500", "421000"), "23": ("230100", "230200"), "13": ("131000",)}
CLASS_SHARES = (("A", 0.55), ("B", 0.30), ("C", 0.10), ("D", 0.05))
ENTITY_TYPES = ("enterprise", "enterprise", "individual", "cooperative")
AUDIT_KEY = HmacSigner(b"\xab" * 32)  # signs the audit chain of plans tests draw


def results_table(
    province: str, n: int, *, run_id: str = "run-1", model: str = "samr-general@1", seed: int = 7
) -> pa.Table:
    """``n`` classified entities of ``province`` (deterministic, sorted by uscc)."""
    rng = random.Random(seed)
    regions = REGIONS.get(province, (province + "0100",))
    codes: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    while len(rows) < n:
        region = rng.choice(regions)
        etype = rng.choice(ENTITY_TYPES)
        body = "".join(rng.choice("0123456789") for _ in range(8))
        code = uscc.make(region, body, category=uscc.CATEGORY_OF_ENTITY_TYPE[etype])
        if code not in codes:
            codes.add(code)
            rows.append((code, region, etype))
    rows.sort()
    classes: list[str] = []
    for _ in rows:
        r, acc = rng.random(), 0.0
        for c, share in CLASS_SHARES:
            acc += share
            if r < acc:
                classes.append(c)
                break
        else:
            classes.append("D")
    score = {"A": 10.0, "B": 35.0, "C": 60.0, "D": 90.0}
    data: dict[str, Any] = {
        "uscc": [r[0] for r in rows],
        "name": [f"测试企业{i:07d}有限公司" for i in range(n)],
        "entity_type": [r[2] for r in rows],
        "region_code": [r[1] for r in rows],
        "industry_code": [rng.choice("ACFGIM") + f"{rng.randint(10, 99)}" for _ in rows],
        "risk_score": [score[c] for c in classes],
        "risk_class": classes,
        "previous_class": [None] * n,
        "dimension_scores": [dict.fromkeys(DIMENSIONS, 1.0)] * n,
        "reasons": [
            [{"code": "R1", "label": "行政处罚 / penalties", "points": 5.0}] if c != "A" else []
            for c in classes
        ],
        "rules": [["revoked→D"] if c == "D" else [] for c in classes],
        "model": [model] * n,
        "run_id": [run_id] * n,
    }
    return pa.table(data, schema=CLASSIFICATION_SCHEMA)


def roster(lake: Lake, province: str, n: int = 40, *, conflict_codes: list[str] | None = None) -> str:
    """Write ``n`` inspectors of ``province`` as one curated roster ingest (the generator's
    synthetic roster over the regions above); returns the curated key."""
    from functions.roster.synthetic import roster_table, write_curated

    counties = REGIONS.get(province, (province + "0100",))
    table = roster_table(province, n, counties=counties, conflict_codes=conflict_codes or [])
    return write_curated(lake, province, table)


def publish(
    lake: Lake,
    table: pa.Table,
    month: str,
    province: str,
    *,
    row_group_size: int | None = None,
    sampling_copy: bool = True,
    with_roster: bool = True,
    chunks: tuple[int, int] | None = None,
) -> str:
    """Publish like the classification does: run copy, sampling copy (unless ``sampling_copy``
    is off: a run published before ADR 0100), partition, pointer. Returns the run id.
    ``chunks``: (rows per chunk, files per chunk) to store the copy in chunks as Athena writes
    it (ADR 0147) instead of the single file the DuckDB path writes.
    ``with_roster``: also give the province an inspector roster when it has none (plans need one)."""
    import io
    import tempfile

    import pyarrow.parquet as pq

    from functions.sampling import cells

    run_id = str(table["run_id"][0].as_py())
    if sampling_copy and chunks:
        model = str(table["model"][0].as_py())
        rows = cells.sort_for_copy(table)
        cells.write_chunked(
            lake, month, province, run_id, model, rows, chunk_rows=chunks[0], files_per_chunk=chunks[1]
        )
    elif sampling_copy:
        with tempfile.TemporaryDirectory(prefix="sampling-copy-") as tmp:
            path = f"{tmp}/frame.parquet"
            cells.write_copy(path, cells.sort_for_copy(table))
            cells.store(lake, month, province, run_id, str(table["model"][0].as_py()), path)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=row_group_size)
    lake.write_bytes(layout.run_classifications_key(run_id), buf.getvalue())
    lake.write_bytes(layout.classification_key(month, province), buf.getvalue())
    if sampling_copy:  # a run published before the change file (ADR 0121) has neither
        from functions.delivery.changes import write_changes

        write_changes(lake, month, province, run_id)
    lake.write_json(
        layout.classification_pointer_key(month, province),
        {
            "run_id": run_id,
            "model": str(table["model"][0].as_py()),
            "model_hash": "sha256:" + "0" * 64,
            "cutoff": dt.datetime(2026, 11, 1, tzinfo=dt.UTC).isoformat(),
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
            "rows": table.num_rows,
        },
    )
    if with_roster and not lake.list_files(layout.curated_prefix("inspectors", province)):
        roster(lake, province)
    return run_id


def publish_cold(lake: Lake, table: pa.Table, month: str, province: str, **kw: Any) -> Lake:
    """:func:`publish` with the process's frame caches emptied first: they are keyed by the lake
    object's identity, which a new test's lake can reuse. Returns ``lake`` (fixtures' set-up)."""
    from functions.sampling import cells
    from functions.sampling import frame as frames

    cells.clear_cache()
    frames.clear_cache()
    publish(lake, table, month, province, **kw)
    return lake


def inspections(
    lake: Lake,
    province: str,
    rows: list[dict[str, str | None]],
    *,
    ingest_id: str = "insp-0001",
    ingested_at: dt.datetime | None = None,
) -> str:
    """Curate ``inspections`` rows (contract text values) as one ingest; returns the curated key."""
    return curate(lake, "inspections", province, rows, ingest_id=ingest_id, ingested_at=ingested_at)


def classed_inspections(day: dt.date) -> list[dict[str, Any]]:
    """Inspections joined to their class, as ``analysis.effectiveness.evaluate`` takes them:
    40 A (4 problems), 1 D (a problem: too few for a D/A lift), 2 without a class."""
    return [
        {"inspection_id": f"a{i}", "inspected_on": day + dt.timedelta(days=i % 28), "risk_class": "A",
         "risk_score": float(i % 5), "problem": i < 4, "class_source": "plan"}
        for i in range(40)
    ] + [
        {"inspection_id": "d1", "inspected_on": day, "risk_class": "D", "risk_score": 60.0, "problem": True,
         "class_source": "plan"},
        *({"inspection_id": f"n{i}", "inspected_on": day, "risk_class": None, "risk_score": None,
           "problem": False, "class_source": "none"} for i in range(2)),
    ]  # fmt: skip


def curate(
    lake: Lake,
    dataset: str,
    province: str,
    rows: list[dict[str, str | None]],
    *,
    ingest_id: str = "ingest-0001",
    ingested_at: dt.datetime | None = None,
) -> str:
    """Curate rows of ``dataset`` (contract text values) as one ingest; returns the curated key."""
    from functions.ingest.curate import curated_table, parquet_bytes
    from functions.ingest.validate import validate
    from schemas.datasets import DATASETS

    spec = DATASETS[dataset]
    table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in spec.columns})
    at = ingested_at or dt.datetime.now(dt.UTC)
    v = validate(table, spec, province=province, today=at.date())
    assert not v.checks, v.counts()
    lines = pa.array(range(2, table.num_rows + 2), pa.int64())
    curated = curated_table(spec, v, lines, ingest_id=ingest_id, ingested_at=at)
    key = layout.curated_key(dataset, province, ingest_id)
    lake.write_bytes(key, parquet_bytes(spec, curated))
    return key


class FakeKms:
    """generate_mac / verify_mac as KMS answers them (HMAC under a key only the fake holds)."""

    def __init__(self) -> None:
        self.inner = HmacSigner(b"kms" * 11)
        self.calls: list[str] = []

    def generate_mac(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(f"generate_mac {kw['KeyId']} {kw['MacAlgorithm']}")
        return {"Mac": bytes.fromhex(self.inner.sign(kw["Message"]))}

    def verify_mac(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(f"verify_mac {kw['KeyId']}")
        if kw["Mac"].hex() != self.inner.sign(kw["Message"]):
            raise RuntimeError("KMSInvalidMacException")
        return {"MacValid": True}


# -- a sampling task's life (crash and repair tests, docs/adr/0140) -------------------------------
LIFE_MONTH = "2026-10"
LIFE_AT = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
WHO = Principal("tok1", "platform-42", frozenset({"42"}))


def publish_life(lake: Lake) -> None:
    """Province 42 published for :data:`LIFE_MONTH`: what :func:`life` registers and draws from."""
    publish(lake, results_table("42", 400, run_id="run-1"), LIFE_MONTH, "42")


def task_request(region: str) -> TaskRequest:
    """A task of province 42 for ``region`` (one slot per region), without supervision lists."""
    return TaskRequest.model_validate(
        {"month": LIFE_MONTH, "province": "42", "region_prefix": region, "ratios": {"B": 0.05, "D": 0.3},
         "window": {"start": "2026-11-01", "end": "2026-11-30"},
         "supervision": {"lists": False, "reinspection": False}}, strict=False,
    )  # fmt: skip


def life(lake: Lake, region: str) -> str:
    """A task's life: registration, official draw, a redraw, and a test plan (returns its id)."""
    from functions.sampling.tasks import draw_task, draw_test_plan, register_task

    task = register_task(lake, task_request(region), WHO, AUDIT_KEY, now=LIFE_AT)
    draw_task(lake, task["task_id"], DrawRequest(), WHO, AUDIT_KEY, now=LIFE_AT)
    draw_task(lake, task["task_id"], DrawRequest(reason="scope_error"), WHO, AUDIT_KEY, now=LIFE_AT)
    body = {"month": LIFE_MONTH, "province": "42", "region_prefix": region, "ratios": {"D": 0.2},
            "seed": region, "mode": "test"}  # fmt: skip
    return draw_test_plan(
        lake, PlanRequest.model_validate(body, strict=False), WHO, AUDIT_KEY, now=LIFE_AT
    ).plan_id


def changed_table(province: str = "42", rows: int = 503, run_id: str = "run-1") -> pa.Table:
    """A published table sorted by uscc with about 40 % changed since last month (some new: no
    previous class): what the change-feed tests page through."""
    t = results_table(province, rows, run_id=run_id)
    prev = [
        None if i % 7 == 0 else ("A" if i % 3 == 0 else c) for i, c in enumerate(t["risk_class"].to_pylist())
    ]
    return t.set_column(
        t.schema.get_field_index("previous_class"), "previous_class", pa.array(prev, pa.string())
    )


def publish_field(
    lake: Lake,
    field: str,
    month: str,
    province: str,
    classes: dict[str, str],
    *,
    run_id: str,
    row_group_size: int | None = None,
) -> None:
    """Publish a professional field's result as ``publish_field`` does (docs/adr/0117): the run's
    ``field_classifications.parquet`` (uscc order; ``classes`` = uscc → field class, the field's
    population), its copy over the published partition, then the pointer naming the run."""
    import io

    import pyarrow.parquet as pq

    codes = sorted(classes)
    n = len(codes)
    score = {"A": 10.0, "B": 35.0, "C": 60.0, "D": 90.0}
    data: dict[str, Any] = {
        "uscc": codes,
        "name": [f"{field}企业{i:05d}" for i in range(n)],
        "entity_type": ["enterprise"] * n,
        "region_code": [c[2:8] for c in codes],
        "industry_code": ["C13"] * n,
        "risk_score": [score[classes[c]] for c in codes],
        "risk_class": [classes[c] for c in codes],
        "previous_class": [None] * n,
        "dimension_scores": [dict.fromkeys(DIMENSIONS, 1.0)] * n,
        "reasons": [[] for _ in codes],
        "rules": [[] for _ in codes],
        "model": [f"samr-{field}@1"] * n,
        "run_id": [run_id] * n,
    }
    table = pa.table(data, schema=CLASSIFICATION_SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size)
    lake.write_bytes(layout.field_result_key(run_id), buf.getvalue())
    lake.copy(layout.field_result_key(run_id), layout.field_classification_key(field, month, province))
    lake.write_json(
        layout.field_classification_pointer_key(field, month, province),
        {"run_id": run_id, "field": field, "rows": len(codes)},
    )
