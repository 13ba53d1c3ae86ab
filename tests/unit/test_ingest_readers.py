"""Formats and encodings: every reader yields the same text table with contract names."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.errors import FileRejected
from functions.ingest.readers import read
from schemas.datasets import DATASETS
from tests.ingest_data import PENALTY_HEADER, penalty_rows, to_csv

SPEC = DATASETS["penalties"]
ZH = {f.name: f.zh for f in SPEC.fields}


def _expect_rows(data: bytes, fmt: str, encoding: str | None) -> None:
    rr = read(data, fmt, SPEC)
    assert rr.encoding == encoding
    assert rr.table.num_rows == 3
    assert rr.table.column("decision_no").to_pylist() == [r["decision_no"] for r in penalty_rows(3)]
    assert rr.table.column("authority").to_pylist() == ["武汉市市场监督管理局"] * 3
    assert rr.table.column("repaired_on").to_pylist() == [None] * 3  # empty → null


@pytest.mark.parametrize(
    ("encode", "encoding"),
    [
        (lambda s: s.encode("utf-8"), "utf-8"),
        (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), "utf-8-sig"),
        (lambda s: s.encode("gb18030"), "gb18030"),
        (lambda s: s.encode("gbk"), "gb18030"),
    ],
)
@pytest.mark.parametrize("chinese", [False, True])
def test_csv_encodings_and_chinese_headers(encode: object, encoding: str, chinese: bool) -> None:
    text = to_csv(penalty_rows(3), PENALTY_HEADER, names=ZH if chinese else None)
    data = encode(text)  # type: ignore[operator]
    _expect_rows(data, "csv", encoding)
    rr = read(data, "csv", SPEC)
    assert rr.header_mapping[ZH["uscc"] if chinese else "uscc"] == "uscc"
    assert rr.lines.to_pylist() == [2, 3, 4]


def test_csv_gz_and_extra_columns() -> None:
    text = to_csv([{**r, "备注": "x"} for r in penalty_rows(3)])
    rr = read(gzip.compress(text.encode("gb18030")), "csv.gz", SPEC)
    assert rr.ignored_columns == ["备注"]
    assert rr.encoding == "gb18030"
    _expect_rows(gzip.compress(text.encode()), "csv.gz", "utf-8")


def test_jsonl_plain_gz_and_mixed_types() -> None:
    rows = [{**r, "amount": 1000.5, "withdrawn": False} for r in penalty_rows(3)]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    _expect_rows(body.encode(), "jsonl", "utf-8")
    _expect_rows(gzip.compress(body.encode()), "jsonl.gz", "utf-8")
    rr = read(body.encode(), "jsonl", SPEC)
    assert rr.table.column("amount").to_pylist() == ["1000.5"] * 3
    assert rr.table.column("withdrawn").to_pylist() == ["false"] * 3
    rows[1]["amount"] = "12"  # a string among numbers: still readable
    mixed = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    assert read(mixed.encode(), "jsonl", SPEC).table.column("amount").to_pylist() == [
        "1000.5",
        "12",
        "1000.5",
    ]


def test_parquet_typed_columns_become_text() -> None:
    import datetime as dt

    rows = penalty_rows(3)
    t = pa.table({k: [r[k] or None for r in rows] for k in PENALTY_HEADER})
    t = t.set_column(2, "decided_on", pa.array([dt.date(2025, 3, 1)] * 3))
    t = t.set_column(6, "amount", pa.array([1000.5] * 3))
    buf = io.BytesIO()
    pq.write_table(t, buf)
    rr = read(buf.getvalue(), "parquet", SPEC)
    assert rr.table.column("decided_on").to_pylist() == ["2025-03-01"] * 3
    assert rr.lines.to_pylist() == [1, 2, 3]
    _expect_rows(buf.getvalue(), "parquet", None)


@pytest.mark.parametrize(
    ("data", "fmt", "reason"),
    [
        (b"", "csv", "empty_file"),
        (b"\n\n", "csv", "empty_file"),
        (b"\xff\xfe\x00\x81\x30", "csv", "bad_encoding"),
        (b"\xef\xbb\xbfdecision_no\xff\n", "csv", "bad_encoding"),
        (b"not gzip", "csv.gz", "bad_format"),
        (b"PAR1garbage", "parquet", "bad_format"),
        (b'{"decision_no": "x"\n', "jsonl", "bad_format"),
        (b"decision_no,uscc,decided_on\nD1,9,2025-01-01\n", "csv", "missing_column"),
        ("uscc,统一社会信用代码,decision_no\n".encode(), "csv", "duplicate_column"),
        (b"decision_no,uscc,decided_on,authority,domain,kind\nD1,x\n", "csv", "bad_format"),
    ],
)
def test_file_level_rejections(data: bytes, fmt: str, reason: str) -> None:
    with pytest.raises(FileRejected) as err:
        read(data, fmt, SPEC)
    assert err.value.details["reason"] == reason
    assert err.value.message


def test_missing_column_names_chinese_alias() -> None:
    with pytest.raises(FileRejected) as err:
        read(b"decision_no,uscc\nD1,x\n", "csv", SPEC)
    assert "处罚决定日期" in err.value.message
    assert set(err.value.details["columns"]) == {"decided_on", "authority", "domain", "kind"}


@pytest.mark.parametrize("pad", [" ", "\t", "\u3000", "\u00a0", "\u2003", "\x1f"])
def test_whitespace_trimmed_including_wide_spaces(pad: str) -> None:
    rows = penalty_rows(3)
    rows[1]["authority"] = f"{pad}武汉市市场监督管理局{pad}"
    rows[2]["domain"] = f"food{pad}"
    rows[0]["amount"] = pad
    rr = read(to_csv(rows).encode(), "csv", SPEC)
    assert rr.table.column("authority").to_pylist() == ["武汉市市场监督管理局"] * 3
    assert rr.table.column("domain").to_pylist() == ["food"] * 3
    assert rr.table.column("amount").to_pylist() == [None, "1000.5", "1000.5"]
