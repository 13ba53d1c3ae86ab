"""``--layout national``: the generator writes national export layouts that ingest maps back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from functions.generate.generate import MANIFEST, generate_province
from functions.generate.national import NATURAL_PERSON_EVERY, VIOLATION_TYPE, chinese_date
from functions.ingest.normalise import keyword_value
from functions.ingest.pipeline import ingest_tree
from functions.ingest.profiles import load_profile
from functions.lake import Lake
from functions.settings import Settings


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("national")
    generate_province(
        root,
        province="23",
        entities=3_000,
        months=6,
        seed=5,
        end_month="2026-10",
        faults=0.03,
        layout="national",
    )
    return root


def test_files_are_in_the_national_layouts(national: Path) -> None:
    base = national / "incoming" / "23"
    head = (base / "entities" / "part-00000.csv").read_bytes().decode("gb18030").splitlines()
    assert head[0].startswith("统一社会信用代码,企业名称,类型,注册资本,成立日期,核准日期,登记状态")
    assert "年" in head[1] and any("万人民币" in line for line in head[1:])
    pen = next((base / "penalties").iterdir()).read_bytes().decode("gb18030").splitlines()[0]
    assert "罚款金额（万元）" in pen and "行政相对人代码_1(统一社会信用代码)" in pen
    rows = next((base / "penalties").iterdir()).read_bytes().decode("gb18030").splitlines()[1:]
    persons = [r for r in rows if r.startswith('"自然人",,')]  # 行政相对人类别 自然人, no USCC
    assert len(persons) == -(-(len(rows) - len(persons)) // NATURAL_PERSON_EVERY) > 0
    manifest = json.loads((national / MANIFEST).read_text("utf-8"))
    assert manifest["layout"] == "national"


def test_ingest_maps_them_back_and_rejects_exactly_the_injected_rows(national: Path) -> None:
    manifest = json.loads((national / MANIFEST).read_text("utf-8"))
    settings = Settings(lake_uri=str(national), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    reports = ingest_tree(lake, lake, settings=settings)
    assert {r.source_key for r in reports} == set(manifest["files"])
    for r in reports:
        expected = dict(manifest["files"][r.source_key]["faults"])
        if r.dataset == "abnormal_list":
            # An unknown reason text is the statutory "other" in the national layout, not bad_enum.
            expected.pop("bad_enum", None)
        assert r.status == "accepted", (r.source_key, r.file_reason, r.file_message)
        assert r.rows_read == manifest["files"][r.source_key]["rows"]
        assert dict(r.reasons) == expected, r.source_key
        persons = manifest["files"][r.source_key]["out_of_scope"]
        assert r.rows_out_of_scope == persons, r.source_key
        if r.dataset == "penalties":
            assert r.profile == "national" and "amount" in r.derived_columns
            # natural persons are counted apart: neither accepted nor rejected
            assert persons > 0 and r.out_of_scope_reasons == {"natural_person": persons}
            assert r.rows_accepted + r.rows_rejected == r.rows_read - persons
    ent = next(r for r in reports if r.dataset == "entities")
    table = pq.read_table(national / ent.curated_key)  # type: ignore[operator]
    assert set(table.column("status").to_pylist()) <= {"active", "revoked", "cancelled", "moved_out"}
    assert all(len(c) == 6 for c in table.column("region_code").to_pylist())


def test_violation_types_map_back_to_their_domain() -> None:
    table = load_profile().keywords["domain"]
    assert {d: keyword_value(text, table) for d, text in VIOLATION_TYPE.items()} == {
        d: d for d in VIOLATION_TYPE
    }


def test_chinese_dates() -> None:
    assert chinese_date("2024-03-05") == "2024年3月5日"
    assert chinese_date("2025-02-30") == "2025年2月30日"  # a fault stays a fault
    assert chinese_date("unknown") == "unknown"
    assert chinese_date(None) is None
