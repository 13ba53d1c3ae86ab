"""``creditrisk ingest`` on local folders, single files and ``--pending``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from functions.cli import cli
from functions.lake import Lake
from functions.settings import get_settings
from tests.ingest_data import penalty_rows, to_csv


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    folder = tmp_path / "upload" / "incoming" / "42" / "penalties"
    folder.mkdir(parents=True)
    rows = penalty_rows(40)
    rows[0]["kind"] = "jail"
    (folder / "a.csv").write_bytes(to_csv(rows).encode("gb18030"))
    (folder / "b.csv").write_bytes(b"decision_no\nD1\n")
    return tmp_path / "upload"


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False, obj={})
    get_settings.cache_clear()
    return result.exit_code, result.stdout + (result.stderr if result.exit_code == 2 else "")


def test_folder_then_file_then_pending(tree: Path, tmp_path: Path) -> None:
    lake_dir = str(tmp_path / "lake")
    code, out = _run(["--lake", lake_dir, "ingest", str(tree)])
    assert code == 1  # one file rejected whole
    assert "incoming/42/penalties/a.csv: accepted; rows read 40, accepted 39, rejected 1 [bad_enum 1]" in out
    assert "REJECTED (missing_column" in out
    code, out = _run(["--lake", lake_dir, "ingest", "--json", str(tree / "incoming/42/penalties/a.csv")])
    assert code == 0 and json.loads(out)["status"] == "duplicate"
    env = {"CREDITRISK_LANDING_URI": str(tree), "CREDITRISK_LAKE_URI": lake_dir}
    code, out = _run(["ingest", "--pending"], env)
    assert (code, out.strip()) == (0, "nothing to ingest")
    (tree / "incoming/42/penalties/c.csv").write_bytes(to_csv(penalty_rows(3)).encode())
    code, out = _run(["ingest", "--pending"], env)
    assert code == 0 and "c.csv: accepted" in out and "a.csv" not in out
    assert len(Lake.from_uri(lake_dir).list_files("curated")) == 2


def test_usage_errors(tmp_path: Path) -> None:
    code, out = _run(["--lake", str(tmp_path / "lake"), "ingest"])
    assert code != 0 and "PATH" in out
    (tmp_path / "x.csv").write_text("a\n")
    code, out = _run(["--lake", str(tmp_path / "lake"), "ingest", str(tmp_path)])
    assert code != 0 and "incoming" in out
