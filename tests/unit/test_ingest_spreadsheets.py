"""xlsx/xls uploads shaped like hand-made exports: title and 说明 rows, several sheets, typed cells."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
import xlwt

from functions.errors import FileRejected
from functions.ingest.pipeline import ingest_bytes
from functions.ingest.readers import read
from functions.ingest.spreadsheets import cell_text
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "national"
NOW = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
TITLE = "武汉市市场监督管理局行政处罚信息（2024年3月）"
NOTE = "说明：1. 带*为必填项；2. 金额单位为万元；3. 日期格式为YYYY-MM-DD"


def _typed(header: str, value: str) -> Any:
    """Cells as a person types them: amounts are numbers, decision dates are Excel dates."""
    if not value:
        return None
    if "万元" in header:
        return float(value)
    if header == "处罚决定日期" and value[:4].isdigit() and "-" in value and len(value) == 10:
        return dt.datetime.strptime(value, "%Y-%m-%d")
    return value


def _sheets(name: str) -> tuple[list[str], list[list[Any]]]:
    rows = list(csv.reader(io.StringIO((FIXTURES / name).read_text("utf-8"))))
    header, body = rows[0], rows[1:]
    return header, [[_typed(h, v) for h, v in zip(header, r, strict=True)] for r in body]


def make_xlsx(name: str, sheet: str) -> bytes:
    header, body = _sheets(name)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet("填写说明").write(0, 0, "请按模板填写，不要修改表头")
    ws = wb.add_worksheet(sheet)
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write(0, 0, TITLE)
    ws.write(1, 0, NOTE)
    for c, h in enumerate(header):
        ws.write(3, c, h)  # row 3 left blank on purpose
    for r, row in enumerate(body, start=4):
        for c, v in enumerate(row):
            if isinstance(v, dt.datetime):
                ws.write_datetime(r, c, v, date_fmt)
            elif v is not None:
                ws.write(r, c, v)
    wb.close()
    return buf.getvalue()


def make_xls(name: str) -> bytes:
    header, body = _sheets(name)
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    ws.write(0, 0, TITLE)
    date_fmt = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for c, h in enumerate(header):
        ws.write(1, c, h)
    for r, row in enumerate(body, start=2):
        for c, v in enumerate(row):
            if isinstance(v, dt.datetime):
                ws.write(r, c, v, date_fmt)
            elif v is not None:
                ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _contract_rows(data: bytes, fmt: str, dataset: str) -> tuple[list[dict[str, Any]], list[int]]:
    rr = read(data, fmt, DATASETS[dataset])
    contract = [c for c in rr.table.column_names if not c.startswith("__extra__")]
    return rr.table.select(contract).to_pylist(), rr.lines.to_pylist()


def test_xlsx_with_title_and_note_rows_and_a_second_sheet() -> None:
    rows, lines = _contract_rows(make_xlsx("penalties_2021.csv", "行政处罚"), "xlsx", "penalties")
    assert lines == [5, 6, 7, 8, 9]  # the header is on row 4 of the sheet
    assert [r["amount"] for r in rows] == ["34723.65", "12500", "2000", None, "500"]
    assert [r["decided_on"] for r in rows] == ["2024-03-05"] * 5
    assert [r["kind"] for r in rows][3] == "revoke_business_license"
    assert rows[0]["uscc"] == "91420102MA4K0A1B6H"


def test_xls_registration_export() -> None:
    rows, lines = _contract_rows(make_xls("entities.csv"), "xls", "entities")
    assert lines == [3, 4, 5, 6, 7]
    assert [r["status"] for r in rows] == ["active", "revoked", "cancelled", "active", "moved_out"]
    assert [r["registered_capital"] for r in rows] == ["800", "1000", "50", "3", "200"]
    assert [r["industry_code"] for r in rows] == ["C1431", "F5251", "F5191", "H6210", "A0141"]


def test_sheet_named_after_the_dataset_wins_over_a_better_match() -> None:
    header, body = _sheets("abnormal_list.csv")
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    other = wb.add_worksheet("历史数据")
    for c, h in enumerate(header):
        other.write(0, c, h)
    other.write_row(1, 0, ["旧企业", "91420102MA4K0A1B6H", "未按照规定报送年度报告的", "2019-07-01"])
    ws = wb.add_worksheet("经营异常名录")
    for c, h in enumerate(header[:4]):
        ws.write(0, c, h)
    for r, row in enumerate(body, start=1):
        ws.write_row(r, 0, row[:4])
    wb.close()
    rows, _ = _contract_rows(buf.getvalue(), "xlsx", "abnormal_list")
    assert len(rows) == 5
    assert read(buf.getvalue(), "xlsx", DATASETS["abnormal_list"]).sheet == "经营异常名录"
    assert read((FIXTURES / "abnormal_list.csv").read_bytes(), "csv", DATASETS["abnormal_list"]).sheet is None
    assert rows[0]["listed_on"] == "2023-07-01"


def test_workbook_without_the_dataset_header_is_rejected_clearly() -> None:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet("Sheet1").write_row(0, 0, ["a", "b", "c"])
    wb.close()
    with pytest.raises(FileRejected) as exc:
        read(buf.getvalue(), "xlsx", DATASETS["penalties"])
    assert exc.value.details["reason"] == "missing_column"
    assert "Sheet1" in exc.value.message
    with pytest.raises(FileRejected) as exc:
        read(b"PK\x03\x04 not really a zip", "xlsx", DATASETS["penalties"])
    assert exc.value.details["reason"] == "bad_format"


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (3.472365, "3.472365"),
        (420102.0, "420102"),
        (dt.datetime(2024, 3, 5), "2024-03-05"),
        (dt.datetime(2024, 3, 5, 9, 30), "2024-03-05 09:30:00"),
        (dt.date(2024, 3, 5), "2024-03-05"),
        (True, "true"),
        ("", ""),
        (None, None),
    ],
)
def test_cells_as_text(cell: Any, text: str | None) -> None:
    assert cell_text(cell) == text


def test_xlsx_upload_end_to_end(tmp_path: Path) -> None:
    settings = Settings(lake_uri=str(tmp_path), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    data = make_xlsx("penalties_2021.csv", "Sheet1")
    report = ingest_bytes(lake, "incoming/42/penalties/2024-03.xlsx", data, settings=settings, now=NOW)
    assert report.status == "accepted", report.file_message
    assert (report.format, report.sheet) == ("xlsx", "Sheet1")  # not the 填写说明 sheet before it
    assert (report.rows_read, report.rows_accepted, report.rows_out_of_scope) == (5, 4, 1)
