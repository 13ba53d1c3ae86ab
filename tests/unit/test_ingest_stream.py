"""Streamed ingest (docs/adr/0084): files read in many small batches give exactly what one read of
the whole file gives; duplicate keys are found across batches; memory does not grow with the file."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.ingest import ingest_bytes, ingest_object
from functions.ingest import pipeline as pipeline_module
from functions.ingest.quarantine import quarantine_jsonl
from functions.ingest.readers import StreamReader, read, read_stream
from functions.ingest.validate import validate
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.ingest import IngestReport
from tests.ingest_data import PENALTY_HEADER, penalty_rows, resident_id, to_csv

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 2)
KEY = "incoming/42/penalties/2026-10处罚.csv"
SPEC = DATASETS["penalties"]
SMALL = 2048  # bytes per batch: a 300-row file is read in about twenty batches
ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, name: str, **kw: object) -> Settings:
    return Settings(lake_uri=str(tmp_path / name), **kw)  # type: ignore[arg-type]


def _ingest(
    tmp_path: Path, name: str, data: bytes, key: str = KEY, **kw: object
) -> tuple[Lake, IngestReport]:
    settings = _settings(tmp_path, name, **kw)
    lake = Lake.from_uri(settings.lake_uri)
    return lake, ingest_bytes(lake, key, data, settings=settings, now=NOW)


def _rows_with_faults(n: int = 300) -> list[dict[str, str]]:
    rows = penalty_rows(n)
    rows[5]["domain"] = "nowhere"
    rows[150]["decided_on"] = "2025-02-30"
    rows[200]["authority"] = "联系人" + resident_id()
    rows[250]["decision_no"] = rows[3]["decision_no"]  # the same key, batches apart
    return rows


def _quarantine(lake: Lake, r: IngestReport) -> bytes:
    return lake.read_bytes(r.quarantine_key or "")


def test_small_batches_give_what_the_whole_file_gives(tmp_path: Path) -> None:
    data = to_csv(_rows_with_faults()).encode()
    lake_s, small = _ingest(tmp_path, "small", data, ingest_chunk_bytes=SMALL)
    lake_w, whole = _ingest(tmp_path, "whole", data, ingest_chunk_bytes=1 << 24)
    assert small.timings["passes"] == 3 and whole.timings["passes"] == 3  # hashed, confirmed, rewritten
    assert (small.rows_read, small.rows_accepted, small.rows_rejected) == (300, 295, 5)
    assert small.reasons == {"bad_date": 1, "bad_enum": 1, "duplicate_key": 2, "personal_data": 1}
    assert [(e.line, e.code) for e in small.errors] == [
        (5, "duplicate_key"),
        (7, "bad_enum"),
        (152, "bad_date"),
        (202, "personal_data"),
        (252, "duplicate_key"),
    ]
    for field in ("rows_read", "rows_accepted", "reasons", "errors", "curated_sha256", "curated_bytes"):
        assert getattr(small, field) == getattr(whole, field), field
    # the oracle: the whole file read, validated and quarantined in one piece
    rr = read(data, "csv", SPEC)
    v = validate(rr.table, SPEC, province="42", today=TODAY, display_names=rr.original_names)
    assert _quarantine(lake_s, small) == quarantine_jsonl(rr.table, v, rr.lines, rr.original_names)
    assert _quarantine(lake_w, whole) == _quarantine(lake_s, small)
    first = json.loads(_quarantine(lake_s, small).splitlines()[0])
    assert first["line"] == 5 and first["values"]["decision_no"] == "鄂市监罚〔2025〕3号"


def test_curated_row_groups_as_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.ingest import curate

    monkeypatch.setattr(curate, "ROW_GROUP_ROWS", 100)
    lake, r = _ingest(tmp_path, "lake", to_csv(penalty_rows(250)).encode(), ingest_chunk_bytes=SMALL)
    meta = pq.ParquetFile(io.BytesIO(lake.read_bytes(r.curated_key or ""))).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100, 100, 50]
    lines = lake.read_parquet(r.curated_key or "").column("_source_line").to_pylist()
    assert lines == list(range(2, 252))


def test_curated_encodings(tmp_path: Path) -> None:
    """USCCs (one per entity) and the key are written plain; few-valued columns keep their
    dictionary, and ``_ingest_id`` its statistics (ADR 0015, 0116)."""
    lake, r = _ingest(tmp_path, "lake", to_csv(penalty_rows(250)).encode(), ingest_chunk_bytes=SMALL)
    meta = pq.ParquetFile(io.BytesIO(lake.read_bytes(r.curated_key or ""))).metadata
    group = meta.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(meta.num_columns)}
    plain = {c for c, e in encodings.items() if "RLE_DICTIONARY" not in e}
    # (Parquet never dictionary-encodes booleans: ``withdrawn``)
    assert plain == {"uscc", "decision_no", "amount", "withdrawn", "_source_line"}
    ingest_column = next(i for i in range(meta.num_columns) if group.column(i).path_in_schema == "_ingest_id")
    assert group.column(ingest_column).statistics.min == r.ingest_id


def test_batches_without_rejects_are_curated_as_they_are() -> None:
    """A batch with no rejected row is taken without a filter; one with a rejected row loses it."""
    from functions.ingest.curate import curated_table

    rows = penalty_rows(6)
    rr = read(to_csv(rows).encode(), "csv", SPEC)
    clean = validate(rr.table, SPEC, province="42", today=TODAY, display_names=rr.original_names)
    got = curated_table(SPEC, clean, rr.lines, ingest_id="i1", ingested_at=NOW)
    assert got.column("decision_no").to_pylist() == [r["decision_no"] for r in rows]
    assert got.column("_source_line").to_pylist() == [2, 3, 4, 5, 6, 7]
    rows[2]["domain"] = "nowhere"
    rr = read(to_csv(rows).encode(), "csv", SPEC)
    bad = validate(rr.table, SPEC, province="42", today=TODAY, display_names=rr.original_names)
    got = curated_table(SPEC, bad, rr.lines, ingest_id="i1", ingested_at=NOW)
    assert got.column("decision_no").to_pylist() == [r["decision_no"] for i, r in enumerate(rows) if i != 2]
    assert got.column("_source_line").to_pylist() == [2, 3, 5, 6, 7]
    assert got.schema == SPEC.curated_schema


def test_hash_collisions_never_reject_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key hashes alike: all rows are candidates, and the exact comparison clears them."""
    monkeypatch.setattr(pipeline_module, "key_hashes", lambda keys: np.ones(len(keys[0]), dtype=np.uint64))
    _, r = _ingest(tmp_path, "lake", to_csv(penalty_rows(120)).encode(), ingest_chunk_bytes=SMALL)
    assert (r.status, r.rows_accepted, r.rows_rejected, r.timings["passes"]) == ("accepted", 120, 0, 2)


def test_gb18030_across_batch_boundaries(tmp_path: Path) -> None:
    rows = penalty_rows(200)
    for i, r in enumerate(rows):
        r["authority"] = f"武汉市第{i}市场监督管理局𠀀"  # a 4-byte GB18030 character too
    data = to_csv(rows).encode("gb18030")
    lake, r = _ingest(tmp_path, "lake", data, ingest_chunk_bytes=1031)  # odd size: cuts inside characters
    assert (r.encoding, r.rows_accepted) == ("gb18030", 200)
    got = lake.read_parquet(r.curated_key or "").column("authority").to_pylist()
    assert got == [f"武汉市第{i}市场监督管理局𠀀" for i in range(200)]


def test_utf8_prefix_then_gbk_restarts_as_gb18030(tmp_path: Path) -> None:
    """The first 64 KiB are ASCII (valid UTF-8); Chinese in GBK follows: read again as GB18030."""
    rows = penalty_rows(1200)
    for i, r in enumerate(rows[:1000]):
        r.update(decision_no=f"WH-{i}", authority="Wuhan AMR", withdrawn="no")
    data = to_csv(rows).encode("gbk")
    assert data[: 1 << 16].isascii() and len(data) > 1 << 16
    lake, r = _ingest(tmp_path, "lake", data, ingest_chunk_bytes=4096)
    assert (r.encoding, r.rows_accepted) == ("gb18030", 1200)
    got = lake.read_parquet(r.curated_key or "").column("authority").to_pylist()
    assert got[999:1001] == ["Wuhan AMR", "武汉市市场监督管理局"]


def test_invalid_bytes_late_in_a_gb18030_file_reject_it(tmp_path: Path) -> None:
    rows = penalty_rows(900)
    data = to_csv(rows).encode("gbk") + "武汉".encode("gbk") + b"\xff\xff\n"
    _, r = _ingest(tmp_path, "lake", data, ingest_chunk_bytes=4096)
    assert (r.status, r.file_reason, r.curated_key) == ("rejected_file", "bad_encoding", None)


def test_gzip_csv_streamed(tmp_path: Path) -> None:
    data = gzip.compress(to_csv(_rows_with_faults()).encode("gb18030"))
    lake, r = _ingest(tmp_path, "lake", data, key=KEY + ".gz", ingest_chunk_bytes=SMALL)
    assert (r.encoding, r.rows_accepted, r.rows_rejected) == ("gb18030", 295, 5)
    assert lake.read_bytes(r.archive_key or "") == data
    assert len(lake.read_bytes(r.quarantine_key or "").splitlines()) == 5


def test_jsonl_streamed_keeps_physical_line_numbers(tmp_path: Path) -> None:
    rows = _rows_with_faults()
    body = "\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"  # row i on line 2i + 1
    key = KEY.replace(".csv", ".jsonl")
    _, r = _ingest(tmp_path, "lake", body.encode(), key=key, ingest_chunk_bytes=SMALL)
    assert (r.rows_read, r.rows_rejected) == (300, 5)
    assert [(e.line, e.code) for e in r.errors] == [
        (7, "duplicate_key"),
        (11, "bad_enum"),
        (301, "bad_date"),
        (401, "personal_data"),
        (501, "duplicate_key"),
    ]


def test_parquet_read_in_row_batches() -> None:
    rows = penalty_rows(300)
    t = pa.table({k: [r[k] or None for r in rows] for k in PENALTY_HEADER})
    buf = io.BytesIO()
    pq.write_table(t, buf, row_group_size=70)
    reader = StreamReader(buf.getvalue(), "parquet", SPEC, parquet_rows=64)
    batches = list(reader.batches())
    assert [b.table.num_rows for b in batches][:2] == [64, 64] and sum(
        b.table.num_rows for b in batches
    ) == 300
    assert pa.concat_arrays([b.lines for b in batches]).to_pylist() == list(range(1, 301))
    whole = read_stream(StreamReader(buf.getvalue(), "parquet", SPEC))
    assert whole.table.column("decision_no").to_pylist() == [r["decision_no"] for r in rows]


def test_too_large_rejected_whole_and_left_in_place(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "lake", ingest_max_bytes=1000)
    lake, landing = Lake.from_uri(settings.lake_uri), Lake.from_uri(str(tmp_path / "landing"))
    data = to_csv(penalty_rows(50)).encode()
    landing.write_bytes(KEY, data)
    r = ingest_object(lake, landing, KEY, settings=settings, now=NOW)
    assert (r.status, r.file_reason, r.size, r.archive_key) == ("rejected_file", "too_large", len(data), None)
    assert "1,000 bytes" in (r.file_message or "")
    assert landing.read_bytes(KEY) == data  # nothing lost: the upload stays where it landed
    assert [f.key for f in lake.list_files("")] == [r.report_key]
    assert lake.read_json(r.report_key or "")["file_reason"] == "too_large"


def test_too_many_rows_rejected_whole(tmp_path: Path) -> None:
    _, r = _ingest(
        tmp_path, "lake", to_csv(penalty_rows(30)).encode(), ingest_max_rows=10, ingest_chunk_bytes=SMALL
    )
    assert (r.status, r.file_reason, r.curated_key) == ("rejected_file", "too_large", None)


def test_too_many_rejects_decided_at_the_end_publishes_nothing(tmp_path: Path) -> None:
    rows = penalty_rows(300)
    for r in rows[-40:]:  # the bad rows are all in the last batches
        r["domain"] = "nowhere"
    lake, r = _ingest(tmp_path, "lake", to_csv(rows).encode(), ingest_chunk_bytes=SMALL)
    assert (r.status, r.file_reason, r.rows_rejected) == ("rejected_file", "too_many_rejects", 300)
    assert lake.list_files("curated") == [] and lake.list_files("quarantine") == []
    assert lake.list_files("archive") != []


_CHILD = textwrap.dedent(
    """
    import json, sys
    from functions.ingest import ingest_object
    from functions.lake import Lake
    from functions.settings import Settings
    landing, lake_dir = sys.argv[1], sys.argv[2]
    s = Settings(lake_uri=lake_dir, ingest_chunk_bytes=1 << 20)
    r = ingest_object(Lake.from_uri(lake_dir), Lake.from_uri(landing), sys.argv[3], settings=s)
    peak = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    print(json.dumps({"rows": r.rows_read, "status": r.status, "peak_kb": peak}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM is Linux-only")
def test_peak_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Ten times the rows (and ~60 MB more CSV) must not cost ten times the memory: holding the
    file, as ingest did before, cost about 5× its size (here ≥ 250 MB more)."""
    sys.path.insert(0, str(ROOT))
    from bench.ingest import KEY as BENCH_KEY
    from bench.ingest import write_csv

    peaks = {}
    for rows in (50_000, 500_000):
        landing = tmp_path / f"landing-{rows}"
        path = landing / BENCH_KEY
        path.parent.mkdir(parents=True)
        size = write_csv(path, rows)
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(landing), str(tmp_path / f"lake-{rows}"), BENCH_KEY],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert (out["rows"], out["status"]) == (rows, "accepted")
        peaks[rows] = (out["peak_kb"] / 1024, size / 2**20)
    (small_mb, _), (big_mb, big_file_mb) = peaks[50_000], peaks[500_000]
    assert big_file_mb > 60
    assert big_mb - small_mb < 100, peaks


def test_report_and_archive_paths_unchanged(tmp_path: Path) -> None:
    lake, r = _ingest(tmp_path, "lake", to_csv(penalty_rows(3)).encode(), ingest_chunk_bytes=SMALL)
    assert r.report_key == layout.ingest_report_key("42", "penalties", r.ingest_id)
    assert lake.exists(r.archive_key or "") and lake.exists(r.curated_key or "")


def test_quarantine_bounded_by_the_size_limit(tmp_path: Path) -> None:
    rows = penalty_rows(300)
    for r in rows:
        r["domain"] = "nowhere"
    lake, r = _ingest(
        tmp_path, "lake", to_csv(rows).encode(), ingest_max_bytes=5000, ingest_chunk_bytes=SMALL
    )
    assert (r.status, r.file_reason) == ("rejected_file", "too_many_rejects")
    assert "quarantine alone exceeds 5,000 bytes" in (r.file_message or "")
    assert lake.list_files("quarantine") == [] and lake.list_files("curated") == []


def test_key_hashes_and_candidates_across_batches() -> None:
    from functions.ingest.keys import KeyIndex, key_hashes

    a = pa.array(["甲", "乙", None, "甲", "", ""])
    b = pa.array(["1", "1", "1", "1", None, "x"])
    h = key_hashes([a, b])
    assert h[0] == h[3] and h[0] != h[1] and h[2] == 0 and h[4] == 0 and h[5] != 0
    assert key_hashes([a.slice(3, 1), b.slice(3, 1)])[0] == h[0]  # where a value sits does not matter
    index = KeyIndex()
    index.add(h[:2])
    index.add(h[2:])
    assert index.candidates().tolist() == [0, 3]  # null keys never match


def test_candidates_from_sorted_parts_match_a_plain_count() -> None:
    """Parts sorted as they are added and merged at the end (docs/adr/0136) name exactly the rows
    whose hash occurs twice or more, in file order, whatever the part sizes."""
    from functions.ingest.keys import KeyIndex

    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 400, 5000).astype(np.uint64)  # many repeats, some 0 (no key)
    index = KeyIndex()
    cuts = [0, 1, 1, 17, 900, 2500, 4999, 5000]
    for lo, hi in itertools.pairwise(cuts):
        index.add(hashes[lo:hi])
    values, counts = np.unique(hashes, return_counts=True)
    repeated = set(values[(counts > 1) & (values != 0)].tolist())
    expected = [i for i, h in enumerate(hashes.tolist()) if h in repeated]
    assert index.candidates().tolist() == expected
    assert KeyIndex().candidates().tolist() == []


@pytest.mark.parametrize("name", ["penalties_2021.csv", "penalties_2016.csv", "abnormal_list.csv"])
def test_national_layouts_streamed_like_whole(tmp_path: Path, name: str) -> None:
    """Mapping profiles apply per batch: a national export read a row or two at a time gives the
    same report and curated file as one read (out-of-scope rows included)."""
    data = (ROOT / "tests" / "fixtures" / "national" / name).read_bytes()
    dataset = "abnormal_list" if name.startswith("abnormal") else "penalties"
    key = f"incoming/42/{dataset}/{name}"
    _, small = _ingest(tmp_path, "small", data, key=key, ingest_chunk_bytes=1024)
    _, whole = _ingest(tmp_path, "whole", data, key=key, ingest_chunk_bytes=1 << 24)
    fields = (
        "status",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "rows_out_of_scope",
        "reasons",
        "errors",
    )
    assert [getattr(small, f) for f in fields] == [getattr(whole, f) for f in fields]
    assert small.curated_sha256 == whole.curated_sha256 and small.profile == whole.profile
    assert small.rows_read == len(data.decode("utf-8-sig", errors="replace").strip().splitlines()) - 1


def test_a_whole_table_served_in_batches() -> None:
    """The extension point for readers that cannot stream (spreadsheets): same batches, lines."""
    rows = penalty_rows(10)
    t = pa.table({k: [r[k] or None for r in rows] for k in PENALTY_HEADER})
    reader = StreamReader.from_table(t, SPEC, first_line=4, batch_rows=4)
    batches = list(reader.batches())
    assert [b.table.num_rows for b in batches] == [4, 4, 2]
    assert pa.concat_arrays([b.lines for b in batches]).to_pylist() == list(range(4, 14))
    assert read_stream(reader).table.column("uscc").to_pylist() == [r["uscc"] for r in rows]


@pytest.mark.parametrize("gz", [False, True])
def test_cr_only_line_ends_streamed_in_bounded_chunks(tmp_path: Path, gz: bool) -> None:
    """Old Mac exports end lines with \\r alone: read in chunks of whole lines like any other
    file (not as one chunk), with the values and line numbers of the \\n version."""
    rows = _rows_with_faults()
    lf = to_csv(rows).encode("gb18030")
    cr = lf.replace(b"\n", b"\r")
    key = KEY + (".gz" if gz else "")
    lake_lf, want = _ingest(
        tmp_path, "lf", gzip.compress(lf) if gz else lf, key=key, ingest_chunk_bytes=SMALL
    )
    lake_cr, got = _ingest(tmp_path, "cr", gzip.compress(cr) if gz else cr, key=key, ingest_chunk_bytes=SMALL)
    for field in ("rows_read", "rows_accepted", "reasons", "errors", "encoding"):
        assert getattr(got, field) == getattr(want, field), field
    curated = [
        lk.read_parquet(r.curated_key or "").drop_columns(["_ingest_id"])
        for lk, r in ((lake_lf, want), (lake_cr, got))
    ]
    assert curated[0].equals(curated[1]) and curated[1].num_rows == 295
    path = tmp_path / ("cr.csv.gz" if gz else "cr.csv")
    path.write_bytes(gzip.compress(cr) if gz else cr)
    reader = StreamReader(path, "csv.gz" if gz else "csv", SPEC, chunk_bytes=SMALL)
    sizes = [b.size for b in reader._chunks()]
    assert len(sizes) > 10 and max(sizes) <= 2 * SMALL  # bounded: a block (GB18030 → UTF-8 grows it)


def test_a_line_longer_than_a_chunk_is_read_whole(tmp_path: Path) -> None:
    rows = penalty_rows(40)
    rows[20]["authority"] = "局" * 3000  # ~9 kB: longer than four chunks
    data = to_csv(rows).encode()
    path = tmp_path / "long.csv"
    path.write_bytes(data)
    for source in (path, data):
        got = read_stream(StreamReader(source, "csv", SPEC, chunk_bytes=SMALL))
        assert got.table.column("authority").to_pylist()[20] == "局" * 3000
        assert got.lines.to_pylist() == list(range(2, 42))


def test_jsonl_key_first_seen_late_listed_in_earlier_quarantine_lines(tmp_path: Path) -> None:
    """A JSON Lines key seen first in a later batch (an extra column and a contract column):
    earlier rejected rows list it as null, as one read of the whole file does."""
    rows: list[dict[str, str | None]] = [dict(r) for r in penalty_rows(300)]
    for r in rows:
        del r["repaired_on"]
    rows[5]["domain"] = "nowhere"  # rejected in the first batch
    rows[280]["备注"] = "late extra"
    rows[290]["repaired_on"] = "2025-04-01"
    rows[295]["domain"] = "nowhere"  # rejected after both keys appeared
    body = ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode()
    key = KEY.replace(".csv", ".jsonl")
    lake, r = _ingest(tmp_path, "lake", body, key=key, ingest_chunk_bytes=SMALL)
    rr = read(body, "jsonl", SPEC)
    v = validate(rr.table, SPEC, province="42", today=TODAY, display_names=rr.original_names)
    oracle = quarantine_jsonl(rr.table, v, rr.lines, rr.original_names)
    got = _quarantine(lake, r)
    assert got == oracle
    first, last = (json.loads(x) for x in got.splitlines())
    assert list(first["values"]) == list(last["values"])
    assert first["values"]["备注"] is None and first["values"]["repaired_on"] is None
    assert last["values"]["domain"] == "nowhere" and first["line"] == 6
