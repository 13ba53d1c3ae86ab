"""Synthetic province generator: contract validity, realism, determinism, faults, formats, CLI."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from functions import uscc as U
from functions.analysis.effectiveness import PROBLEM_RESULTS
from functions.cli import cli
from functions.errors import InvalidInput
from functions.generate import events
from functions.generate.generate import (
    MANIFEST,
    default_end_month,
    generate_province,
    make_window,
    write_penalties_csv,
)
from functions.generate.population import BLOCK, entity_block
from functions.generate.regions import regions_for
from schemas.datasets import DATASETS, ENTITY_DATASETS

END = "2026-10"
ID_RE = re.compile(r"^[1-6][0-9]{5}(19|20)[0-9]{2}[0-9]{7}[0-9X]$")
ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_resident_id(v: str) -> bool:
    if not re.fullmatch(r"[0-9]{17}[0-9X]", v):
        return False
    c = (12 - sum(int(a) * w for a, w in zip(v[:17], ID_W, strict=True)) % 11) % 11
    return v[17] == ("X" if c == 10 else str(c))


def read_csv_rows(path: Path, encoding: str = "utf-8") -> list[dict[str, Any]]:
    with path.open(encoding=encoding, newline="") as fh:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)]


def rows_of(root: Path, province: str, dataset: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted((root / "incoming" / province / dataset).glob("*.csv")):
        out.extend(read_csv_rows(f))
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    generate_province(out, province="42", entities=12_000, months=24, seed=11, end_month=END)
    return out


def test_every_row_validates_against_its_contract(plain: Path) -> None:
    manifest = json.loads((plain / MANIFEST).read_text("utf-8"))
    for dataset, spec in DATASETS.items():
        rows = rows_of(plain, "42", dataset)
        assert rows, dataset
        assert len(rows) == manifest["rows"][dataset]
        for row in rows:
            spec.model.model_validate(row)
        keys = Counter(tuple(r[k] for k in spec.key) for r in rows)
        assert max(keys.values()) == 1, f"duplicate key in {dataset}"


def test_layout_and_file_granularity(plain: Path) -> None:
    base = plain / "incoming" / "42"
    assert sorted(p.name for p in base.iterdir()) == sorted(DATASETS)
    assert [p.name for p in (base / "entities").iterdir()] == ["part-00000.csv"]
    assert sorted(p.name for p in (base / "annual_reports").iterdir()) == ["2023.csv", "2024.csv", "2025.csv"]
    months = {p.stem for p in (base / "penalties").iterdir()}
    assert months == set(make_window(END, 24).months)
    header = (base / "penalties" / "2026-10.csv").read_text("utf-8").splitlines()[0]
    assert header.split(",") == list(DATASETS["penalties"].columns)


def test_codes_regions_and_types_are_consistent(plain: Path) -> None:
    counties = set(regions_for("42").codes)
    entities = rows_of(plain, "42", "entities")
    for e in entities:
        assert U.is_valid(e["uscc"])
        assert e["region_code"] in counties
        assert e["uscc"][2:8] == e["region_code"]
        assert U.ENTITY_TYPE_OF_CATEGORY[e["uscc"][1]] == e["entity_type"]
        assert not is_resident_id(e["uscc"])
    known = {e["uscc"] for e in entities}
    for dataset in ENTITY_DATASETS:
        for r in rows_of(plain, "42", dataset):
            assert r["uscc"] in known, dataset
            for v in r.values():
                assert v is None or not is_resident_id(v)
    roster = rows_of(plain, "42", "inspectors")
    assert len(roster) == 50  # roster_size(12_000)
    offices = {r["region_code"] for r in roster}
    assert "420000" in offices and offices <= counties | {c[:4] + "00" for c in counties} | {"420000"}
    recusals = {c for r in roster if r["conflicts"] for c in r["conflicts"].split(";")}
    assert recusals and recusals <= known
    assert all(not is_resident_id(v) for r in roster for v in r.values() if v)
    for r in rows_of(plain, "42", "relationships"):
        assert re.fullmatch(r"P[0-9]{11}", r["party_id"]) or r["party_id"] in known


def test_distributions_are_plausible(plain: Path) -> None:
    entities = rows_of(plain, "42", "entities")
    n = len(entities)
    share = Counter(e["entity_type"] for e in entities)
    assert 0.50 < share["enterprise"] / n < 0.62
    assert 0.36 < share["individual"] / n < 0.48
    assert 0.01 < share["cooperative"] / n < 0.06
    status = Counter(e["status"] for e in entities)
    assert 0.004 < status["revoked"] / n < 0.025
    assert 0.015 < status["cancelled"] / n < 0.045
    assert 0.001 < status["moved_out"] / n < 0.012
    assert all((e["status"] == "active") == (e["status_changed_on"] is None) for e in entities)
    assert 0.02 < sum(e["is_new_economy"] == "true" for e in entities) / n < 0.10
    sections = Counter(e["industry_code"][0] for e in entities)
    assert sections.most_common(1)[0][0] == "F"

    def entity_share(dataset: str) -> float:
        return len({r["uscc"] for r in rows_of(plain, "42", dataset)}) / n

    assert 0.05 < entity_share("penalties") < 0.12
    assert 0.015 < entity_share("abnormal_list") < 0.05
    assert 0.0005 < entity_share("serious_dishonesty_list") < 0.01
    inspections = rows_of(plain, "42", "inspections")
    spot = {r["uscc"] for r in inspections if r["inspection_id"].startswith("JC")}
    assert 0.05 < len(spot) / n < 0.14  # spot checks: ~5% a year over two years
    # the fields' routine inspections: their own domains, no sampling plan, fewer entities
    routine = [r for r in inspections if r["inspection_id"].startswith("JF")]
    assert {r["domain"] for r in routine} == {"food", "drug", "special_equipment", "product_quality"}
    assert all(r["plan_id"] is None for r in routine)
    assert 0.1 < len({r["uscc"] for r in routine}) / n < 0.4
    penalties = rows_of(plain, "42", "penalties")
    kinds = Counter(p["kind"] for p in penalties)
    assert kinds["fine"] + kinds["warning"] > 0.7 * len(penalties)
    revoked = {e["uscc"] for e in entities if e["status"] == "revoked"}
    revoking = {p["uscc"] for p in penalties if p["kind"] == "revoke_business_license"}
    assert revoked == revoking
    reports = rows_of(plain, "42", "annual_reports")
    assert 0.85 < sum(r["filed_on"] is not None for r in reports) / len(reports) < 0.99
    # Every enterprise has a legal representative in relationships; some shareholders are entities.
    rels = rows_of(plain, "42", "relationships")
    reps = {r["uscc"] for r in rels if r["relation"] == "legal_rep"}
    assert {e["uscc"] for e in entities if e["entity_type"] == "enterprise"} <= reps
    assert any(r["relation"] == "shareholder" and r["party_id"][0] == "9" for r in rels)


def test_clustered_registration_and_complaint_surge_exist(plain: Path) -> None:
    entities = rows_of(plain, "42", "entities")
    groups: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    for e in entities:
        groups[(e["legal_rep_id"], e["address"])].append(dt.date.fromisoformat(e["established_on"]))
    clusters = [d for d in groups.values() if len(d) >= 5 and (max(d) - min(d)).days <= 30]
    assert clusters
    last = Counter(r["uscc"] for r in rows_of(plain, "42", "complaints") if r["received_on"].startswith(END))
    assert last and max(last.values()) >= 5


def test_latent_risk_drives_inspection_findings() -> None:
    regions, window = regions_for("42"), make_window(END, 24)
    rr, found = [], []
    for b in range(16):
        eb = entity_block(b, BLOCK, 5, regions, window)
        t = events.inspections(np.random.default_rng(b), eb, window, "42", 24, 5)
        pos = {u: i for i, u in enumerate(eb.uscc.to_pylist())}
        rr.extend(eb.rr[[pos[u] for u in t["uscc"].to_pylist()]])
        found.extend(r in PROBLEM_RESULTS for r in t["result"].to_pylist())
    order = np.argsort(rr)
    hits = np.array(found)[order]
    tenth = len(hits) // 10
    low, high = hits[:tenth].mean(), hits[-tenth:].mean()
    # every outcome the effectiveness analysis counts as a finding rises with the risk (a flat
    # 75% "corrected" once made any model look useless), and most inspections find nothing
    assert high > 3 * low
    assert high > 0.15
    assert 0.05 < hits.mean() < 0.3


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    def run(name: str, seed: int, chunk: int) -> dict[str, bytes]:
        out = tmp_path / name
        generate_province(
            out, province="23", entities=12_000, months=6, seed=seed, end_month=END, chunk_size=chunk
        )
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    a = run("a", 1, 100_000)
    assert run("b", 1, 100_000) == a
    assert run("c", 1, 500) == a  # chunking (rounded up to whole blocks) does not change output
    other = run("d", 2, 100_000)
    assert other != a


def detect(dataset: str, rows: list[dict[str, Any]], province: str) -> Counter[str]:
    """An independent, row-by-row classifier of the defects faults.inject claims to add."""
    spec = DATASETS[dataset]
    today = dt.date.today()
    keys = Counter(tuple(r.get(k) for k in spec.key) for r in rows)
    found: Counter[str] = Counter()
    for r in rows:
        reasons = []
        if keys[tuple(r.get(k) for k in spec.key)] > 1:
            reasons.append("duplicate_key")
        if any(v is not None and is_resident_id(v) for v in r.values()):
            reasons.append("personal_data")
        for f in spec.fields:
            v = r.get(f.name)
            if v is None:
                if f.required:
                    reasons.append("missing_required")
                continue
            if f.kind == "uscc":
                if not U.is_well_formed(v):
                    reasons.append("bad_uscc_format")
                elif not U.is_valid(v):
                    reasons.append("bad_uscc_checkdigit")
            elif f.enum and v not in f.enum:
                reasons.append("bad_enum")
            elif f.type == "date":
                try:
                    if dt.date.fromisoformat(v) > today and not f.future_ok:  # the contract allows some
                        reasons.append("future_date")
                except ValueError:
                    reasons.append("bad_date")
            elif f.type in ("int", "float"):
                try:
                    float(v)
                except ValueError:
                    reasons.append("bad_number")
            elif f.kind == "region_code" and not v.startswith(province):
                reasons.append("region_outside_province")
        if (
            dataset == "entities"
            and U.is_well_formed(r["uscc"] or "")
            and r["entity_type"] in U.CATEGORY_OF_ENTITY_TYPE
            and U.ENTITY_TYPE_OF_CATEGORY.get(r["uscc"][1]) != r["entity_type"]
        ):
            reasons.append("entity_type_mismatch")
        assert len(reasons) <= 1, (dataset, r, reasons)
        found.update(reasons)
    return found


def test_injected_faults_match_the_manifest(tmp_path: Path) -> None:
    s = generate_province(
        tmp_path, province="13", entities=6_000, months=12, seed=4, end_month=END, faults=0.04
    )
    manifest = json.loads((tmp_path / MANIFEST).read_text("utf-8"))
    seen: Counter[str] = Counter()
    for rel, info in manifest["files"].items():
        rows = read_csv_rows(tmp_path / rel)
        assert len(rows) == info["rows"]
        got = detect(info["dataset"], rows, "13")
        assert dict(got) == info["faults"], rel
        assert sum(got.values()) <= 0.04 * len(rows) + 1e-9
        seen.update(got)
    assert set(seen) == {
        "missing_required", "bad_uscc_format", "bad_uscc_checkdigit", "bad_date", "future_date", "bad_enum",
        "bad_number", "region_outside_province", "entity_type_mismatch", "duplicate_key", "personal_data",
    }  # fmt: skip
    assert dict(seen) == s.faults == manifest["faults_by_reason"]
    assert manifest["end_month"] == END and manifest["faults"] == 0.04


def test_mixed_formats_are_readable_and_counted(tmp_path: Path) -> None:
    generate_province(
        tmp_path, province="42", entities=3_000, months=12, seed=8, end_month=END, formats="mixed"
    )
    manifest = json.loads((tmp_path / MANIFEST).read_text("utf-8"))
    kinds = Counter()
    for rel, info in manifest["files"].items():
        spec = DATASETS[info["dataset"]]
        path = tmp_path / rel
        if rel.endswith(".parquet"):
            table = pq.read_table(path)
            rows = table.to_pylist()
            kinds["parquet"] += 1
        elif rel.endswith(".jsonl"):
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
            kinds["jsonl"] += 1
        elif rel.endswith(".csv.gz"):
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
            rows = list(csv.DictReader(io.StringIO(text)))
            kinds["gz"] += 1
        elif info["encoding"] == "gb18030":
            text = path.read_bytes().decode("gb18030")
            rows = list(csv.DictReader(io.StringIO(text)))
            aliases = spec.aliases
            assert set(rows[0]) <= {f.zh for f in spec.fields}
            rows = [{aliases[k]: v for k, v in r.items()} for r in rows]
            kinds["gb18030"] += 1
        else:
            rows = read_csv_rows(path)
            kinds["csv"] += 1
        assert len(rows) == info["rows"]
        for r in rows[:50]:
            spec.model.model_validate({k: (v if v != "" else None) for k, v in r.items()})
    assert kinds["parquet"] == 1 and kinds["jsonl"] and kinds["gz"] and kinds["gb18030"] and kinds["csv"]


def test_write_penalties_csv(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    write_penalties_csv(path, 3_000, province="61", seed=2)
    rows = read_csv_rows(path)
    assert len(rows) == 3_000
    assert len({r["decision_no"] for r in rows}) == 3_000
    for r in rows:
        DATASETS["penalties"].model.model_validate(r)
        assert U.is_valid(r["uscc"]) and r["uscc"][2:4] == "61"


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="province"):
        generate_province(tmp_path, province="99", entities=10, months=2, seed=0)
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        generate_province(tmp_path, province="42", entities=10, months=2, seed=0, end_month="2026-13")
    generate_province(tmp_path, province="42", entities=10, months=2, seed=0, end_month=END)
    with pytest.raises(InvalidInput, match="already holds files"):
        generate_province(tmp_path, province="42", entities=10, months=2, seed=0, end_month=END)


def test_default_end_month_is_previous_month() -> None:
    assert default_end_month(dt.date(2026, 1, 15)) == "2025-12"
    assert default_end_month(dt.date(2026, 11, 1)) == "2026-10"
    assert generic_codes_ok()


def generic_codes_ok() -> bool:
    r = regions_for("65")
    return r.generic and all(c.startswith("65") and len(c) == 6 for c in r.codes)


def test_cli_help_and_small_run(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["generate", "--help"])
    assert res.exit_code == 0 and "--entities" in res.output and "--faults" in res.output
    res = runner.invoke(
        cli,
        ["generate", "--province", "42", "--entities", "500", "--months", "3", "--seed", "1",
         "--out", str(tmp_path), "--end-month", END],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "500 entities" in res.output
    assert (tmp_path / "incoming" / "42" / "entities" / "part-00000.csv").exists()
