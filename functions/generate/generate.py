"""``generate_province``: a realistic synthetic province for all ten datasets, streamed to disk.

Entities are generated in fixed blocks of ``BLOCK`` (random numbers seeded per block), batched
into chunks for writing; every dataset's rows go straight to their per-month files. Memory is
bounded by the chunk size, not the province size. Faults and other formats are later passes
over finished files. See docs/synthetic-data.md and docs/adr/0020-0023.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from functions.errors import InvalidInput
from functions.generate import faults as faults_mod
from functions.generate.arrowutil import days_of
from functions.generate.events import block_tables, decision_numbers, penalty_table
from functions.generate.formats import FORMATS, convert, csv_bytes, plan_formats, read_strings
from functions.generate.national import LAYOUTS, NATIONAL_DATASETS, rewrite_national
from functions.generate.population import BLOCK, Window, entity_block, make_usccs
from functions.generate.regions import regions_for
from functions.generate.writer import CsvSink
from functions.layout import MONTH_RE
from functions.progress import ProgressFn, no_progress
from schemas.datasets import DATASETS, ENTITY_DATASETS

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 200_000
MANIFEST = "_generator.json"
CHINA = zoneinfo.ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # relative to the output folder
    dataset: str
    rows: int
    format: str  # csv | csv.gz | jsonl | parquet
    encoding: str
    faults: dict[str, int] = field(default_factory=dict)
    out_of_scope: int = 0  # rows ingest counts apart (natural persons in national penalties)


@dataclass(frozen=True)
class GenerateSummary:
    out_dir: Path
    province: str
    entities: int
    months: tuple[str, ...]
    seed: int
    rows: dict[str, int]  # per dataset, including injected rows
    files: tuple[GeneratedFile, ...]
    faults: dict[str, int]  # per reason, all files
    seconds: float

    def describe(self) -> str:
        lines = [
            f"generated province {self.province}: {self.entities:,} entities, "
            f"{self.months[0]} … {self.months[-1]} ({len(self.months)} months), seed {self.seed}, "
            f"{len(self.files)} files in {self.out_dir} ({self.seconds:.1f} s)"
        ]
        for ds in DATASETS:
            n_files = sum(1 for f in self.files if f.dataset == ds)
            lines.append(f"  {ds:<24} {self.rows.get(ds, 0):>12,} rows in {n_files} files")
        if self.faults:
            total = sum(self.faults.values())
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(self.faults.items()))
            lines.append(f"  injected bad rows: {total:,} ({detail})")
        return "\n".join(lines)


def default_end_month(today: dt.date | None = None) -> str:
    """The month before the current month in China time."""
    today = today or dt.datetime.now(CHINA).date()
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def make_window(end_month: str, months: int) -> Window:
    if not MONTH_RE.match(end_month):
        raise InvalidInput(f"end month must be YYYY-MM, got {end_month!r}", field="end_month")
    if not 1 <= months <= 240:
        raise InvalidInput("months must be between 1 and 240", field="months")
    y, m = int(end_month[:4]), int(end_month[5:])
    idx = y * 12 + m - 1
    names = tuple(f"{(i // 12):04d}-{(i % 12) + 1:02d}" for i in range(idx - months + 1, idx + 1))
    end_next = f"{(idx + 1) // 12:04d}-{(idx + 1) % 12 + 1:02d}-01"
    return Window(days_of(names[0] + "-01"), days_of(end_next) - 1, names)


def generate_province(
    out_dir: Path,
    *,
    province: str,
    entities: int,
    months: int,
    seed: int,
    end_month: str | None = None,
    faults: float = 0.0,
    formats: str = "plain",
    progress: ProgressFn = no_progress,
    chunk_size: int = DEFAULT_CHUNK,
    layout: str = "contract",
) -> GenerateSummary:
    """Write ``out_dir/incoming/<PP>/<dataset>/<file>`` and ``out_dir/_generator.json``."""
    t0 = time.monotonic()
    if entities < 1:
        raise InvalidInput("entities must be at least 1", field="entities")
    if not 0.0 <= faults < 1.0:
        raise InvalidInput("faults must be a share in [0, 1)", field="faults")
    if formats not in FORMATS:
        raise InvalidInput(f"formats must be one of {', '.join(FORMATS)}", field="formats")
    if layout not in LAYOUTS:
        raise InvalidInput(f"layout must be one of {', '.join(LAYOUTS)}", field="layout")
    regions = regions_for(province)
    end_month = end_month or default_end_month()
    window = make_window(end_month, months)
    out_dir = Path(out_dir)
    target = out_dir / "incoming" / province
    if target.exists() and any(target.rglob("*")):
        raise InvalidInput(f"{target} already holds files; choose an empty output folder", field="out")
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = CsvSink(out_dir, province)
    n_blocks = -(-entities // BLOCK)
    per_chunk = max(1, -(-chunk_size // BLOCK))
    conflict_codes: list[str] = []
    listed: pa.Table | None = None
    try:
        for first in range(0, n_blocks, per_chunk):
            parts: dict[str, list[pa.Table]] = {ds: [] for ds in ENTITY_DATASETS}
            for b in range(first, min(first + per_chunk, n_blocks)):
                n = min(BLOCK, entities - b * BLOCK)
                eb = entity_block(b, n, seed, regions, window)
                for ds, t in block_tables(eb, b, seed, regions, window).items():
                    parts[ds].append(t)
            for ds in ENTITY_DATASETS:
                sink.write(ds, pa.concat_tables(parts[ds]))
            if not conflict_codes:
                conflict_codes = parts["entities"][0].column("uscc").slice(0, 200).to_pylist()
            if listed is None:
                listed = _lists(parts["entities"][0], seed, window)
            progress("generate entities", min((first + per_chunk) * BLOCK, entities), entities)
        sink.write("inspectors", _roster(province, entities, seed, regions.codes, conflict_codes, window))
        if listed is not None and listed.num_rows:
            sink.write("supervision_lists", listed)
    finally:
        sink.close()
    files = _post_process(out_dir, sink, seed, faults, formats, regions.codes, province, progress, layout)
    rows: dict[str, int] = {}
    totals: dict[str, int] = {}
    for f in files:
        rows[f.dataset] = rows.get(f.dataset, 0) + f.rows
        for k, v in f.faults.items():
            totals[k] = totals.get(k, 0) + v
    summary = GenerateSummary(
        out_dir, province, entities, window.months, seed, rows, tuple(files), dict(sorted(totals.items())),
        time.monotonic() - t0,
    )  # fmt: skip
    _write_manifest(out_dir, summary, end_month, faults, formats, chunk_size, layout)
    log.info("generated %s entities for province %s in %.1f s", entities, province, summary.seconds)
    return summary


def roster_size(entities: int) -> int:
    """About one inspector per 5,000 entities, 50 to 2,000 (200 for a 1M-entity province)."""
    return max(50, min(2000, entities // 5000))


def _roster(
    province: str,
    entities: int,
    seed: int,
    counties: tuple[str, ...],
    conflict_codes: list[str],
    window: Window,
) -> pa.Table:
    """The province's inspector roster (``inspectors``), one file ``roster``."""
    from functions.roster.synthetic import roster_table

    end = dt.date(1970, 1, 1) + dt.timedelta(days=int(window.end))
    t = roster_table(
        province,
        roster_size(entities),
        counties=counties,
        seed=seed,
        conflict_codes=conflict_codes,
        today=end,
    )
    return t.append_column("_file", pa.repeat(pa.scalar("roster"), t.num_rows))


def _lists(entities: pa.Table, seed: int, window: Window) -> pa.Table:
    """The province's tolerance lists (``supervision_lists``), one file ``lists``."""
    from functions.generate.lists import lists_table

    end = dt.date(1970, 1, 1) + dt.timedelta(days=int(window.end))
    t = lists_table(entities, end, seed=seed)
    return t.append_column("_file", pa.repeat(pa.scalar("lists"), t.num_rows))


def _post_process(
    out_dir: Path,
    sink: CsvSink,
    seed: int,
    rate: float,
    formats: str,
    county_codes: tuple[str, ...],
    province: str,
    progress: ProgressFn,
    layout: str = "contract",
) -> list[GeneratedFile]:
    rels = sorted(sink.rows)
    by_ds: dict[str, list[str]] = {}
    for rel in rels:
        by_ds.setdefault(sink.dataset_of[rel], []).append(rel)
    entity_files = {ds: r for ds, r in by_ds.items() if DATASETS[ds].entity_data}  # the roster stays CSV
    fmt_of = plan_formats(entity_files) if formats == "mixed" else {}
    out = []
    for i, rel in enumerate(rels):
        ds = sink.dataset_of[rel]
        rows, counts = sink.rows[rel], dict[str, int]()
        if rate > 0 and DATASETS[ds].entity_data:
            table = read_strings(out_dir / rel, list(DATASETS[ds].columns))
            table, counts = faults_mod.inject(table, ds, rate, seed, rel, list(county_codes), province)
            if counts:
                (out_dir / rel).write_bytes(csv_bytes(table))
            rows = table.num_rows
        fmt = fmt_of.get(rel, "csv")
        persons = 0
        if layout == "national" and ds in NATIONAL_DATASETS:
            persons = rewrite_national(out_dir, rel, ds)  # the export layout, in GB18030 (ADR 0082)
            new_rel, encoding, fmt = rel, "gb18030", "csv"
        else:
            new_rel, encoding = convert(out_dir, rel, ds, fmt)
        fmt = "csv" if fmt == "gb18030" else fmt
        out.append(GeneratedFile(new_rel, ds, rows + persons, fmt, encoding, counts, persons))
        if rate > 0 or formats == "mixed" or layout == "national":
            progress("post-process files", i + 1, len(rels))
    return out


def _write_manifest(
    out_dir: Path,
    s: GenerateSummary,
    end_month: str,
    rate: float,
    formats: str,
    chunk_size: int,
    layout: str = "contract",
) -> None:
    doc = {
        "generator": "creditrisk generate",
        "province": s.province,
        "entities": s.entities,
        "months": len(s.months),
        "end_month": end_month,
        "first_month": s.months[0],
        "seed": s.seed,
        "faults": rate,
        "formats": formats,
        "layout": layout,
        "block": BLOCK,
        "rows": dict(sorted(s.rows.items())),
        "faults_by_reason": s.faults,
        "files": {f.path: {k: v for k, v in asdict(f).items() if k != "path"} for f in s.files},
    }
    (out_dir / MANIFEST).write_text(
        json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8"
    )


def write_penalties_csv(path: Path | str, rows: int, *, province: str = "42", seed: int = 0) -> None:
    """A valid ``penalties`` CSV of exactly ``rows`` rows, fast (for benchmarks)."""
    import pyarrow.csv as pacsv

    from functions.generate.arrowutil import join, strs
    from functions.generate.writer import WRITE_OPTIONS, header_line

    regions = regions_for(province)
    window = make_window("2026-09", 24)
    schema = pa.schema([(c, pa.string()) for c in DATASETS["penalties"].columns])
    with (
        pa.OSFile(str(path), "wb") as sink,
        pacsv.CSVWriter(sink, schema, write_options=WRITE_OPTIONS) as writer,
    ):
        sink.write(header_line(schema.names))
        for first in range(0, rows, 250_000):
            n = min(250_000, rows - first)
            rng = np.random.default_rng([seed, first // 250_000, 99])
            county = rng.choice(len(regions.codes), size=n, p=regions.weights)
            codes = np.frombuffer("".join(regions.codes).encode(), dtype=np.uint8).reshape(-1, 6)[county]
            etype = rng.choice(3, size=n, p=[0.55, 0.42, 0.03]).astype(np.int64)
            uscc = make_usccs(rng, etype, codes, rng.random(n) < 0.5)
            days = rng.integers(window.start, window.end + 1, size=n)
            rr = np.exp(1.1 * rng.standard_normal(n) - 0.605)
            serial = first + np.arange(n, dtype=np.int64)
            table = penalty_table(
                rng,
                decision_numbers(regions.abbreviation, days, serial, np.zeros(n, np.int64)),
                uscc,
                days,
                rr,
                join(strs(regions.names, county), "市场监督管理局"),
                window.end,
            )
            writer.write_table(table.select(list(schema.names)))
