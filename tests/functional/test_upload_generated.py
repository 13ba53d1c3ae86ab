"""Cross-check with the generator: every injected fault is found, under its own reason code."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from functions.cli import cli
from functions.ingest import ingest_tree
from functions.lake import Lake
from functions.settings import Settings


def test_generated_province_faults_match_reasons(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    args = ["generate", "--province", "42", "--entities", "800", "--months", "3", "--seed", "3"]
    args += ["--out", str(out), "--faults", "0.03", "--formats", "mixed"]
    result = CliRunner().invoke(cli, args, obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = json.loads((out / "_generator.json").read_text())
    lake = Lake.from_uri(str(tmp_path / "lake"))
    reports = ingest_tree(lake, Lake.from_uri(str(out)), settings=Settings(lake_uri=lake.uri))
    assert {r.source_key for r in reports} == set(expected["files"])
    assert all(r.status == "accepted" for r in reports)
    totals: dict[str, int] = {}
    for r in reports:
        assert r.rows_read == expected["files"][r.source_key]["rows"]
        assert r.rows_read == r.rows_accepted + r.rows_rejected
        for code, n in r.reasons.items():
            totals[code] = totals.get(code, 0) + n
    assert totals == expected["faults_by_reason"]
