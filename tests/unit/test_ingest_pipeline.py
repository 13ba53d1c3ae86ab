"""The whole ingest of one file against a local lake: accounting, outputs, idempotency."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from functions import layout
from functions.errors import StorageError
from functions.ingest import ingest_bytes, ingest_object, ingest_tree, pending_keys, summarise
from functions.ingest.pipeline import make_ingest_id
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS
from tests.ingest_data import penalty_rows, resident_id, to_csv

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
KEY = "incoming/42/penalties/2026-10处罚.csv"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake_uri=str(tmp_path / "lake"))


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return Lake.from_uri(settings.lake_uri)


def _snapshot(lake: Lake) -> dict[str, bytes]:
    return {f.key: lake.read_bytes(f.key) for f in lake.list_files("", include_hidden=True)}


def _csv(n: int, bad: int = 0) -> bytes:
    rows = penalty_rows(n)
    for r in rows[:bad]:
        r["domain"] = "nowhere"
    return to_csv(rows).encode()


def test_accepted_file_outputs(lake: Lake, settings: Settings) -> None:
    data = _csv(20, bad=1)
    r = ingest_bytes(lake, KEY, data, settings=settings, now=NOW, etag="e1", version_id="v1")
    assert (r.status, r.rows_read, r.rows_accepted, r.rows_rejected) == ("accepted", 20, 19, 1)
    assert r.reasons == {"bad_enum": 1}
    assert r.errors[0].line == 2 and r.errors[0].column == "domain"
    assert lake.read_bytes(layout.archive_key("42", "penalties", r.ingest_id, "2026-10处罚.csv")) == data
    import hashlib

    assert r.sha256 == hashlib.sha256(data).hexdigest()
    curated = lake.read_parquet(layout.curated_key("penalties", "42", r.ingest_id))
    assert curated.schema.equals(DATASETS["penalties"].curated_schema)
    assert curated.num_rows == 19
    assert curated.column("_source_line").to_pylist() == list(range(3, 22))
    assert set(curated.column("_ingest_id").to_pylist()) == {r.ingest_id}
    assert set(curated.column("_ingested_at").to_pylist()) == {NOW}
    q = lake.read_bytes(layout.quarantine_key("42", "penalties", r.ingest_id)).decode().splitlines()
    assert len(q) == 1 and '"line": 2' in q[0] and '"bad_enum"' in q[0]
    stored = lake.read_json(layout.ingest_report_key("42", "penalties", r.ingest_id))
    assert stored["rows_read"] == stored["rows_accepted"] + stored["rows_rejected"]
    assert stored["etag"] == "e1" and stored["version_id"] == "v1"
    written = lake.read_bytes(r.curated_key or "")
    assert stored["curated_sha256"] == hashlib.sha256(written).hexdigest()
    assert stored["curated_bytes"] == len(written)


@pytest.mark.parametrize(("bad", "status"), [(5, "accepted"), (6, "rejected_file")])
def test_reject_share_boundary(lake: Lake, settings: Settings, bad: int, status: str) -> None:
    r = ingest_bytes(lake, KEY, _csv(100, bad=bad), settings=settings, now=NOW)
    assert r.status == status
    assert r.rows_read == r.rows_accepted + r.rows_rejected == 100
    curated = lake.list_files("curated")
    if status == "accepted":
        assert r.rows_rejected == 5 and len(curated) == 1
    else:
        assert (r.rows_accepted, r.rows_rejected, r.file_reason) == (0, 100, "too_many_rejects")
        assert curated == [] and lake.list_files("quarantine") == []
        assert r.reasons == {"bad_enum": 6}
        assert lake.exists(r.archive_key or "")


def test_configurable_share(lake: Lake, tmp_path: Path) -> None:
    strict = Settings(lake_uri=str(tmp_path / "lake"), max_reject_share=0.0)
    assert ingest_bytes(lake, KEY, _csv(10, bad=1), settings=strict, now=NOW).status == "rejected_file"


def test_personal_data_never_leaves_the_archive(lake: Lake, settings: Settings) -> None:
    rid = resident_id()
    rows = penalty_rows(80)
    rows[3]["authority"] = f"经办人{rid}"
    rows[7]["decision_no"] = rid
    data = (to_csv([{**r, "备注": rid if i == 9 else ""} for i, r in enumerate(rows)])).encode()
    r = ingest_bytes(lake, KEY, data, settings=settings, now=NOW)
    assert r.status == "accepted" and r.rows_rejected == 3 and r.reasons == {"personal_data": 3}
    for key, blob in _snapshot(lake).items():
        if not key.startswith("archive/"):
            assert rid.encode() not in blob, key
            assert rid[:17].encode() not in blob, key
    assert rid.encode() in lake.read_bytes(r.archive_key or "")  # byte-for-byte archive
    q = lake.read_bytes(r.quarantine_key or "").decode()
    assert q.count("<resident-id masked>") == 3


def test_rejected_file_still_accounts_for_every_row_and_masks_messages(
    lake: Lake, settings: Settings
) -> None:
    rid = resident_id()
    data = f"decision_no,uscc,decided_on,authority,domain,kind\nD1,{rid}\n".encode()
    r = ingest_bytes(lake, KEY, data, settings=settings, now=NOW)
    assert r.status == "rejected_file" and r.file_reason == "bad_format"
    assert rid.encode() not in lake.read_bytes(r.report_key or "")
    assert r.rows_read == r.rows_accepted + r.rows_rejected == 0


@pytest.mark.parametrize(
    ("key", "reason", "area"),
    [
        ("incoming/99/penalties/a.csv", "bad_province", "reports/ingest/99/penalties/"),
        ("incoming/42/fines/a.csv", "unknown_dataset", "reports/ingest/42/fines/"),
        ("incoming/42/penalties/a.ods", "unsupported_format", "reports/ingest/42/penalties/"),
        ("incoming/42/a.csv", "bad_path", "reports/ingest/"),
        ("incoming/4 2/../penalties/a.csv", "bad_path", "reports/ingest/"),
    ],
)
def test_path_rejections(lake: Lake, settings: Settings, key: str, reason: str, area: str) -> None:
    r = ingest_bytes(lake, key, _csv(3), settings=settings, now=NOW)
    assert (r.status, r.file_reason) == ("rejected_file", reason)
    assert r.report_key and r.report_key.startswith(area) and ".." not in r.report_key
    assert lake.exists(r.archive_key or "") and lake.list_files("curated") == []


def test_duplicate_delivery_changes_nothing(lake: Lake, settings: Settings) -> None:
    data = _csv(10, bad=1)
    first = ingest_bytes(lake, KEY, data, settings=settings, now=NOW)
    before = _snapshot(lake)
    again = ingest_bytes(lake, KEY, data, settings=settings, now=NOW + dt.timedelta(hours=1))
    assert again.status == "duplicate" and again.ingest_id == first.ingest_id
    assert _snapshot(lake) == before


@pytest.mark.parametrize("rows", [300, 0])
def test_local_redelivery_found_while_hashing_beside_the_reading(
    lake: Lake, tmp_path: Path, rows: int
) -> None:
    """A local landed file is hashed beside its first batches (docs/adr/0136): its ingest id,
    archive metadata and curated digest are still the content's, and a second delivery of the
    same content is a duplicate that writes nothing, accepted or rejected whole (no rows)."""
    settings = Settings(lake_uri=lake.uri, ingest_chunk_bytes=2048)
    landing = Lake.from_uri(str(tmp_path / "landing"))
    data = _csv(rows, bad=1) if rows else b""
    landing.write_bytes(KEY, data)
    first = ingest_object(lake, landing, KEY, settings=settings, now=NOW)
    sha = hashlib.sha256(data).hexdigest()
    assert (first.sha256, first.ingest_id) == (sha, make_ingest_id(KEY, sha))
    assert lake.info(first.archive_key or "") is not None
    if rows:
        assert first.status == "accepted" and first.rows_accepted == rows - 1
        stored = lake.read_bytes(first.curated_key or "")
        assert first.curated_sha256 == hashlib.sha256(stored).hexdigest()
        assert first.curated_bytes == len(stored)
    else:
        assert (first.status, first.file_reason) == ("rejected_file", "empty_file")
    before = _snapshot(lake)
    again = ingest_object(lake, landing, KEY, settings=settings, now=NOW + dt.timedelta(hours=1))
    assert (again.status, again.ingest_id) == ("duplicate", first.ingest_id)
    assert _snapshot(lake) == before


def test_correction_is_a_new_ingest_and_older_files_are_kept(lake: Lake, settings: Settings) -> None:
    rows = penalty_rows(3)
    a = ingest_bytes(lake, KEY, to_csv(rows).encode(), settings=settings, now=NOW)
    rows[0]["amount"] = "2000"
    b = ingest_bytes(lake, KEY, to_csv(rows).encode(), settings=settings, now=NOW + dt.timedelta(days=1))
    assert a.ingest_id != b.ingest_id
    assert len(lake.list_files("curated/penalties")) == 2


class _CrashBeforeReport(Lake):
    """Writes everything but the report (the commit marker), like a Lambda killed mid-way."""

    def write_bytes(self, key: str, data: bytes, *, metadata: dict[str, str] | None = None) -> None:
        if key.startswith("reports/"):
            raise StorageError("injected crash before the report")
        super().write_bytes(key, data, metadata=metadata)


def test_crash_between_curated_and_report_then_retry(lake: Lake, settings: Settings) -> None:
    crashing = _CrashBeforeReport(lake.fs, lake.root, lake.uri)
    data = _csv(20, bad=1)
    with pytest.raises(StorageError):
        ingest_bytes(crashing, KEY, data, settings=settings, now=NOW)
    assert lake.list_files("reports") == []
    assert not [f for f in lake.list_files("", include_hidden=True) if "_tmp-" in f.key]
    r = ingest_bytes(lake, KEY, data, settings=settings, now=NOW)
    assert r.status == "accepted"
    curated = lake.list_files("curated")
    assert len(curated) == 1
    assert lake.read_parquet(curated[0].key).num_rows == 19  # never duplicated rows


def test_pending_and_tree(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    landing = Lake.from_uri(str(tmp_path / "landing"))
    landing.write_bytes(KEY, _csv(5))
    landing.write_bytes("incoming/42/annual_reports/r.csv", b"uscc,year,filed_on\n")
    assert [f.key for f in pending_keys(lake, landing)] == ["incoming/42/annual_reports/r.csv", KEY]
    reports = ingest_tree(lake, landing, settings=settings, now=NOW)
    assert [r.status for r in reports] == ["accepted", "accepted"]
    assert pending_keys(lake, landing) == [] and ingest_tree(lake, landing, settings=settings) == []
    landing.write_bytes(KEY, _csv(6))  # a corrected upload under the same key
    assert [f.key for f in pending_keys(lake, landing)] == [KEY]
    text = summarise([*reports, ingest_object(lake, landing, KEY, settings=settings, now=NOW)])
    assert "3 file(s)" in text and "rows read 11" in text


def test_summary_lists_reasons(lake: Lake, settings: Settings) -> None:
    r = ingest_bytes(lake, KEY, _csv(40, bad=2), settings=settings, now=NOW)
    text = summarise([r])
    assert "bad_enum 2" in text and "accepted 38" in text


def test_empty_data_file_with_header_is_accepted_with_zero_rows(lake: Lake, settings: Settings) -> None:
    r = ingest_bytes(
        lake, KEY, b"decision_no,uscc,decided_on,authority,domain,kind\n", settings=settings, now=NOW
    )
    assert (r.status, r.rows_read) == ("accepted", 0)
    assert lake.read_parquet(r.curated_key or "").num_rows == 0


def test_future_date_uses_china_day(lake: Lake, settings: Settings) -> None:
    rows = penalty_rows(30)
    rows[0]["decided_on"] = "2026-11-03"  # 2026-11-02T17:00Z is already 11-03 in Beijing
    late = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)
    assert ingest_bytes(lake, KEY, to_csv(rows).encode(), settings=settings, now=late).rows_rejected == 0
    assert ingest_bytes(lake, KEY + "x.csv", to_csv(rows).encode(), settings=settings, now=NOW).reasons == {
        "future_date": 1
    }


def test_curated_types(lake: Lake, settings: Settings) -> None:
    r = ingest_bytes(lake, KEY, _csv(3), settings=settings, now=NOW)
    t = lake.read_parquet(r.curated_key or "")
    assert t.schema.field("decided_on").type == pa.date32()
    assert t.column("withdrawn").to_pylist() == [False] * 3


def test_gz_upload_archived_byte_for_byte(lake: Lake, settings: Settings, tmp_path: Path) -> None:
    import gzip

    landing = Lake.from_uri(str(tmp_path / "landing"))
    data = gzip.compress(_csv(5))
    landing.write_bytes("incoming/42/penalties/a.csv.gz", data)
    assert landing.read_bytes("incoming/42/penalties/a.csv.gz") == data
    r = ingest_object(lake, landing, "incoming/42/penalties/a.csv.gz", settings=settings, now=NOW)
    assert (r.status, r.rows_accepted) == ("accepted", 5)
    assert lake.read_bytes(r.archive_key or "") == data
