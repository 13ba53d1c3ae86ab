"""``creditrisk contract check``: a dry run through a real subprocess, exit status 0/1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "national"
CREDITRISK = Path(sys.executable).parent / "creditrisk"  # the installed console script


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITRISK_LAKE_URI": str(cwd / "no-lake-needed")}
    return subprocess.run(
        [str(CREDITRISK), "contract", "check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_accepted_export_exits_0_and_shows_the_mapping(tmp_path: Path) -> None:
    folder = tmp_path / "incoming" / "42" / "penalties"
    folder.mkdir(parents=True)
    f = folder / "2024-03.csv"
    f.write_bytes((FIXTURES / "penalties_2021.csv").read_text("utf-8").encode("gbk"))
    out = _run(f, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "罚款金额（万元） → role:fine" in out.stdout
    assert "province: 42 (from path)" in out.stdout
    assert "out of scope 1 (natural_person 1)" in out.stdout
    assert "dropped (personal data, never stored): 法定代表人证件号码, 证件号码" in out.stdout
    assert "outcome:  ACCEPTED" in out.stdout
    assert not (tmp_path / "no-lake-needed").exists()  # a dry run writes nothing


def test_too_many_bad_rows_exits_1_with_the_first_problems_per_column(tmp_path: Path) -> None:
    text = (FIXTURES / "abnormal_list.csv").read_text("utf-8")
    text = text.replace("2023/7/1", "2023年2月30日").replace("20230701", "明年")
    f = tmp_path / "abnormal.csv"
    f.write_text(text, encoding="utf-8")
    out = _run(f, "--dataset", "abnormal_list", "--json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    assert result["outcome"] == "rejected"
    assert result["file_reason"] == "too_many_rejects"
    assert result["province"] == "42" and result["province_from"] == "data"
    assert result["reasons"] == {"bad_date": 2}
    assert [e["line"] for e in result["problems"]["listed_on"]] == [4, 5]
    assert result["header_mapping"]["列入经营异常名录原因"] == "reason"
    assert result["derived_columns"].keys() == {"record_id"}


def test_dataset_guessed_from_headers_and_wrong_dataset_rejected(tmp_path: Path) -> None:
    f = tmp_path / "登记信息.csv"
    shutil.copy(FIXTURES / "entities.csv", f)
    out = _run(f, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dataset:  entities" in out.stdout
    out = _run(f, "--dataset", "penalties", cwd=tmp_path)
    assert out.returncode == 1
    assert "REJECTED (missing_column" in out.stdout


def test_spreadsheet_check_names_the_sheet_it_read(tmp_path: Path) -> None:
    from tests.unit.test_ingest_spreadsheets import make_xlsx

    folder = tmp_path / "incoming" / "42" / "penalties"
    folder.mkdir(parents=True)
    f = folder / "2024-03.xlsx"
    f.write_bytes(make_xlsx("penalties_2021.csv", "行政处罚"))
    out = _run(f, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sheet:    行政处罚" in out.stdout
    as_json = _run(f, "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["sheet"] == "行政处罚"
