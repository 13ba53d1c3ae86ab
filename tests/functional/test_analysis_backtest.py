"""``creditrisk evaluate`` over a generated province's history: the backtest's counts agree with
an independent count over the lake, champion/challenger (samr-general 1.1 vs 1.2) re-classifies
into scratch without touching the published results, and exit statuses are as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from functions import layout
from functions.analysis.backtest import backtest
from functions.analysis.effectiveness import PROBLEM_RESULTS
from functions.classify.run import classify_month
from functions.generate.generate import generate_province
from functions.ingest.pipeline import ingest_tree
from functions.lake import Lake
from functions.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MONTHS = ("2026-05", "2026-06", "2026-07", "2026-08")
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def creditrisk(lake: Path, *args: str, cwd: Path = ROOT) -> Run:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDITRISK_")}
    proc = subprocess.run(
        [sys.executable, "-m", "functions.cli", "--lake", str(lake), *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated province (2,000 entities, 18 months) classified with 1.1 for four months."""
    root = tmp_path_factory.mktemp("backtest") / "lake"
    generate_province(root, province="42", entities=2000, months=18, seed=16, end_month="2026-11")
    settings = Settings(lake_uri=str(root), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    ingest_tree(lake, lake, settings=settings)
    for month in MONTHS:
        classify_month(lake, month=month, province="42", settings=settings, system_id="samr-general@1.1")
    return root


def test_backtest_counts_agree_with_an_independent_count(lake_dir: Path) -> None:
    lake = Lake.from_uri(str(lake_dir))
    result = backtest(lake, first="2026-06", last="2026-08", province="42", replicates=300)
    con = duckdb.connect()
    problems = ", ".join(f"'{r}'" for r in PROBLEM_RESULTS)
    insp = lake.path(layout.curated_prefix("inspections", "42"))
    per_class: dict[str, list[int]] = {}
    total = unclassified = 0
    for month, following in (("2026-06", "2026-07"), ("2026-07", "2026-08"), ("2026-08", "2026-09")):
        cls = lake.path(layout.classification_key(month, "42"))
        rows = con.execute(
            f"""SELECT coalesce(c.risk_class, '-'), count(*), sum(CASE WHEN i.result IN ({problems})
            THEN 1 ELSE 0 END) FROM read_parquet('{insp}/*/*.parquet') i
            LEFT JOIN read_parquet('{cls}') c USING (uscc)
            WHERE strftime(i.inspected_on, '%Y-%m') = '{following}' GROUP BY 1"""
        ).fetchall()
        for c, n, k in rows:
            total += n
            if c == "-":
                unclassified += n
            else:
                acc = per_class.setdefault(c, [0, 0])
                acc[0] += n
                acc[1] += k
    assert total > 10 and result["inspections"] == total
    assert result["unclassified"]["inspections"] == unclassified
    for c, (n, k) in per_class.items():
        assert (result["per_class"][c]["n"], result["per_class"][c]["problems"]) == (n, k)
    assert result["auc"]["low"] <= result["auc"]["estimate"] <= result["auc"]["high"]
    assert result["psi"]["reference"] == "2026-05"  # first month published with the model
    assert [m["month"] for m in result["psi"]["months"]] == ["2026-06", "2026-07", "2026-08"]
    assert result["models"]["2026-06"] == {"samr-general@1.1": result["psi"]["months"][0]["entities"]}


def test_evaluate_prints_a_table_and_json_and_exits_by_the_rules(lake_dir: Path) -> None:
    table = creditrisk(lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--replicates", "200")
    assert table.code == 0, table.err
    assert "discovery rate [95% Wilson]" in table.out and "without a class:" in table.out
    js = creditrisk(
        lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--json", "--replicates", "200"
    )
    assert js.code == 0 and json.loads(js.out)["province"] == "42"
    assert creditrisk(lake_dir, "evaluate", "--from", "2026-13", "--to", "2026-08").code == 2
    assert creditrisk(lake_dir, "evaluate", "--from", "2026-08", "--to", "2026-06").code == 2
    assert creditrisk(lake_dir, "evaluate", "--from", "2025-01", "--to", "2025-02").code == 1
    assert (
        creditrisk(lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--province", "99").code == 2
    )
    wrong = creditrisk(
        lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--system", "samr-general@1.2"
    )
    assert wrong.code == 2 and "--challenger" in wrong.err


def test_champion_challenger_1_1_vs_1_2_leaves_the_published_results_alone(lake_dir: Path) -> None:
    lake = Lake.from_uri(str(lake_dir))
    pointers = {m: lake.read_json(layout.classification_pointer_key(m, "42")) for m in MONTHS}
    run = creditrisk(
        lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--system", "samr-general@1.1",
        "--challenger", "samr-general@1.2", "--json", "--replicates", "200",
    )  # fmt: skip
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["champion"]["model"] == "samr-general@1.1" and out["challenger"]["model"] == "samr-general@1.2"
    assert "champion" not in out["reclassified"]  # the published months are 1.1's
    counts = out["reclassified"]["challenger"]["counts"]
    assert set(counts) == {"2026-05", *MONTHS[1:]}
    matrix = out["class_changes"]["matrix"]
    published = sum(sum(pointers[m]["rows"] for m in MONTHS[1:]) for _ in [0])
    assert sum(sum(row.values()) for row in matrix.values()) == published
    assert out["champion"]["inspections"] == out["challenger"]["inspections"]
    assert {m: lake.read_json(layout.classification_pointer_key(m, "42")) for m in MONTHS} == pointers
    assert lake.list_files("backtests/")


def test_cut_off_suggestion_writes_a_new_version_once(lake_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "samr-next.yaml"
    args = ("evaluate", "--from", "2026-06", "--to", "2026-08", "--replicates", "100",
            "--target-mix", "A=0.7,B=0.2,C=0.07,D=0.03", "--out", str(target))  # fmt: skip
    first = creditrisk(lake_dir, *args)
    assert first.code == 0, first.err
    assert "samr-general@1.3" in first.out and target.exists()
    from functions.classify.load import load_system_file

    new = load_system_file(target)
    assert new.model_ref == "samr-general@1.3" and new.classes.cutoffs != {"B": 5, "C": 12, "D": 25}
    before = target.read_text(encoding="utf-8")
    again = creditrisk(lake_dir, *args)
    assert again.code == 2 and "never written over" in again.err
    assert target.read_text(encoding="utf-8") == before
    assert (
        creditrisk(lake_dir, "evaluate", "--from", "2026-06", "--to", "2026-08", "--target-mix", "A=1").code
        == 2
    )
