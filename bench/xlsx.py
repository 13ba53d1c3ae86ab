"""Ingest of a ``penalties`` workbook (.xlsx) in the 双公示 2021 layout: rows/s of the
spreadsheet reader against the same rows as CSV, all measured in this run (docs/adr/0081).

``python -m bench xlsx [--rows=N] [--repeat=N]`` (default 100,000 rows, best of 3). Workbooks
hold at most 1,048,576 rows; hand-made exports are far smaller, so the target is modest: the
reader must not be the reason an upload is slow; the CSV of the same rows is the yardstick.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from typing import Any

from functions.ingest import ingest_bytes
from functions.lake import Lake
from functions.settings import Settings

HEADER = [
    "行政相对人名称", "行政相对人类别", "行政相对人代码_1(统一社会信用代码)", "法定代表人证件号码",
    "行政处罚决定书文号", "违法行为类型", "处罚类别", "罚款金额（万元）", "处罚决定日期", "处罚机关",
]  # fmt: skip


def make_rows(n: int) -> list[list[Any]]:
    import datetime as dt

    from functions import uscc

    pool = [uscc.make("420102", f"MA{i:06d}") for i in range(2000)]
    kinds = ["罚款", "警告", "罚款；没收违法所得", "责令停产停业"]
    types = ["违反食品安全法律法规", "违反价格法律法规", "违反广告法律法规", "其他违法行为"]
    base = dt.datetime(2024, 1, 1)
    return [
        [
            f"武汉某公司{i % 2000}", "法人及非法人组织", pool[i % 2000], None, f"武市监罚〔2024〕{i}号",
            types[i % 4], kinds[i % 4], (i % 500) / 100, base + dt.timedelta(days=i % 700),
            "武汉市市场监督管理局",
        ]
        for i in range(n)
    ]  # fmt: skip


def make_xlsx(rows: list[list[Any]]) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "constant_memory": True})
    ws = wb.add_worksheet("行政处罚")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["武汉市行政处罚信息"])
    ws.write_row(1, 0, HEADER)
    for r, row in enumerate(rows, start=2):
        for c, v in enumerate(row):
            if c == 8:
                ws.write_datetime(r, c, v, date_fmt)
            elif v is not None:
                ws.write(r, c, v)
    wb.close()
    return buf.getvalue()


def make_csv(rows: list[list[Any]]) -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for row in rows:
        w.writerow([v.date().isoformat() if hasattr(v, "date") else ("" if v is None else v) for v in row])
    return buf.getvalue().encode("utf-8")


def _ingest(data: bytes, name: str) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as d:
        lake, settings = Lake.from_uri(d), Settings(lake_uri=d)
        t = time.perf_counter()
        report = ingest_bytes(lake, f"incoming/42/penalties/{name}", data, settings=settings)
        return time.perf_counter() - t, report


def main(argv: list[str]) -> dict[str, Any]:
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--rows=")), 100_000)
    repeat = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--repeat=")), 3)
    rows = make_rows(n)
    xlsx, csv_data = make_xlsx(rows), make_csv(rows)
    load_before = os.getloadavg()[0]
    xlsx_s = csv_s = float("inf")
    report = None
    for _ in range(max(1, repeat)):
        s, report = _ingest(xlsx, "bench.xlsx")
        xlsx_s = min(xlsx_s, s)
        csv_s = min(csv_s, _ingest(csv_data, "bench.csv")[0])
    assert report is not None
    result = {
        "rows": n,
        "xlsx_mb": round(len(xlsx) / 1e6, 1),
        "repeat": repeat,
        "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "status": report.status,
        "rows_accepted": report.rows_accepted,
        "rows_rejected": report.rows_rejected,
        "xlsx_ingest_seconds": round(xlsx_s, 3),
        "xlsx_rows_per_s": round(n / xlsx_s),
        "same_rows_csv_seconds": round(csv_s, 3),
        "csv_rows_per_s": round(n / csv_s),
        "step_seconds": report.timings,
        "xlsx_vs_csv": round(csv_s / xlsx_s, 3),
    }
    for k, v in result.items():
        print(f"  {k}: {v}")
    return result
