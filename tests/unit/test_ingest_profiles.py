"""Mapping profiles: header matching, personal-data columns, roles, derivations and overlays."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.errors import ConfigError, FileRejected, InvalidInput
from functions.ingest import profiles
from functions.ingest.profiles import load_profile, norm_header, resolve_headers
from schemas.datasets import DATASETS

PENALTIES = DATASETS["penalties"]


def test_header_matching_normalises_brackets_spaces_separators_and_case() -> None:
    full_width, half_width = "行政相对人代码_1（统一社会信用代码）", "行政相对人代码1(统一社会信用代码)"
    assert norm_header(full_width) == norm_header(half_width)
    assert norm_header(" CF_XDR_SHXYM ") == norm_header("cf-xdr/shxym") == "cfxdrshxym"
    assert norm_header("罚款金额（万元）") == "罚款金额(万元)"


def test_national_profile_maps_the_2021_layout_with_full_width_brackets() -> None:
    headers = [
        "行政相对人名称",
        "行政相对人类别",
        "行政相对人代码_1（统一社会信用代码）",
        "法定代表人证件号码",
        "行政处罚决定书文号",
        "违法行为类型",
        "处罚类别",
        "罚款金额（万元）",
        "处罚决定日期",
        "处罚机关",
    ]
    plan = resolve_headers(headers, PENALTIES, load_profile())
    assert plan.profile == "national"
    assert plan.header_mapping == {
        "行政相对人类别": "role:party_category",
        "行政相对人代码_1（统一社会信用代码）": "uscc",
        "行政处罚决定书文号": "decision_no",
        "违法行为类型": "role:violation_type",
        "处罚类别": "kind",
        "罚款金额（万元）": "role:fine",
        "处罚决定日期": "decided_on",
        "处罚机关": "authority",
    }
    assert plan.dropped_personal == ("法定代表人证件号码",)
    assert plan.ignored == ("行政相对人名称",)
    assert set(plan.derived) == {"domain", "amount", "kinds"}
    assert plan.targets["fine"].unit == "wan"
    assert not plan.is_identity


def test_contract_layout_is_identity() -> None:
    plan = resolve_headers(list(PENALTIES.columns), PENALTIES, load_profile())
    assert plan.is_identity
    assert plan.header_mapping == {c: c for c in PENALTIES.columns}
    assert plan.derived == {}


def test_two_synonyms_of_one_column_are_a_duplicate() -> None:
    headers = ["CF_WSH", "行政处罚决定书文号", "CF_XDR_SHXYM", "CF_JDRQ", "CF_CFJG", "CF_CFLB", "CF_WFXW"]
    with pytest.raises(FileRejected) as exc:
        resolve_headers(headers, PENALTIES, load_profile())
    assert exc.value.details["reason"] == "duplicate_column"
    assert exc.value.details["column"] == "decision_no"


def test_missing_required_column_names_it_in_both_languages() -> None:
    with pytest.raises(FileRejected) as exc:
        resolve_headers(["CF_WSH", "CF_XDR_SHXYM", "CF_JDRQ", "CF_CFLB"], PENALTIES, load_profile())
    assert exc.value.details["reason"] == "missing_column"
    assert exc.value.details["columns"] == ["authority", "domain"]
    assert "authority (处罚机关)" in exc.value.message


def test_earlier_role_synonym_wins_whatever_the_header_order() -> None:
    headers = ["CF_SY", "CF_WSH", "CF_XDR_SHXYM", "CF_JDRQ", "CF_CFJG", "CF_CFLB", "CF_WFXW"]
    plan = resolve_headers(headers, PENALTIES, load_profile())
    assert plan.header_mapping["CF_WFXW"] == "role:violation_type"
    assert "CF_SY" in plan.ignored


def test_province_overlay_adds_synonyms_and_versions_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "provinces").mkdir()
    (tmp_path / "national.yaml").write_text(
        (profiles.PROFILE_DIR / "national.yaml").read_text("utf-8"), encoding="utf-8"
    )
    (tmp_path / "provinces" / "42.yaml").write_text(
        'version: "3"\ndatasets:\n  penalties:\n    columns:\n      decision_no: [决定文书号]\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    load_profile.cache_clear()
    try:
        p42 = load_profile("42")
        assert p42.name == "national/42"
        assert p42.version.endswith("+42.3")
        assert p42.sources[-1] == "schemas/profiles/provinces/42.yaml"
        headers = ["决定文书号", "CF_XDR_SHXYM", "CF_JDRQ", "CF_CFJG", "CF_CFLB", "CF_WFXW"]
        plan = resolve_headers(headers, PENALTIES, p42)
        assert plan.header_mapping["决定文书号"] == "decision_no"
        assert load_profile("11").name == "national"  # no overlay: the national profile
        with pytest.raises(FileRejected):
            resolve_headers(headers, PENALTIES, load_profile())
    finally:
        load_profile.cache_clear()


def test_a_broken_profile_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "national.yaml").write_text("name: national\n", encoding="utf-8")  # no version
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    load_profile.cache_clear()
    try:
        with pytest.raises(ConfigError, match="version"):
            load_profile()
        with pytest.raises(ConfigError, match="no mapping profile"):
            load_profile(name="nope")
    finally:
        load_profile.cache_clear()


def test_profile_names_and_provinces_are_checked() -> None:
    with pytest.raises(InvalidInput):
        load_profile("../national")
    with pytest.raises(InvalidInput):
        load_profile(name="../../etc/x")


def test_inspection_results_and_complaint_kinds_in_national_words() -> None:
    """双随机 spot-check results and complaint kinds as the national platforms write them."""
    from functions.ingest.readers import read
    from schemas.datasets import DATASETS
    from tests.ingest_data import code

    results = {
        "未发现问题": "no_problem",
        "未发现开展本次抽查涉及的经营活动": "no_problem",
        "发现问题已责令改正": "corrected",
        "未按规定公示应当公示的信息": "problem_found",
        "通过登记的住所(经营场所)无法联系": "not_at_address",  # half-width brackets too
        "通过登记的住所（经营场所）无法联系": "not_at_address",
        "不配合检查情节严重": "refused",
    }
    lines = ["检查编号,统一社会信用代码,检查日期,检查领域,抽查结果"]
    lines += [f"J{i},{code(i)},2024年3月{i + 1}日,food,{text}" for i, text in enumerate(results)]
    rr = read("\n".join(lines).encode(), "csv", DATASETS["inspections"])
    assert rr.table.column("result").to_pylist() == list(results.values())
    assert rr.table.column("inspected_on").to_pylist()[:2] == ["2024-03-01", "2024-03-02"]
    body = "投诉举报编号,被投诉举报对象统一社会信用代码,受理日期,诉求类型\n"
    body += f"T1,{code(1)},2024-03-05,投诉\nT2,{code(2)},2024-03-06,举报\n"
    kinds = read(body.encode(), "csv", DATASETS["complaints"]).table.column("kind").to_pylist()
    assert kinds == ["complaint", "report"]


def test_the_documented_overlay_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """schemas/profiles/provinces/README.md's example overlay merges onto the national profile."""
    readme = (profiles.PROFILE_DIR / "provinces" / "README.md").read_text("utf-8")
    block = readme.split("<!-- overlay-example -->")[1].split("<!-- /overlay-example -->")[0]
    example = block.split("```yaml\n")[1].split("```")[0]
    (tmp_path / "provinces").mkdir()
    (tmp_path / "national.yaml").write_text(
        (profiles.PROFILE_DIR / "national.yaml").read_text("utf-8"), encoding="utf-8"
    )
    (tmp_path / "provinces" / "42.yaml").write_text(example, encoding="utf-8")
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    load_profile.cache_clear()
    try:
        p = load_profile("42")
        assert (p.name, p.version.endswith("+42.1")) == ("national/42", True)
        assert p.vocabulary("inspection_result")["检查未发现问题"] == "no_problem"
        assert p.vocabulary("inspection_result")["未发现问题"] == "no_problem"  # national kept
        assert "未填写" in p.placeholders and "无" in p.placeholders
        headers = ["处罚决定文书号", "CF_XDR_SHXYM", "处罚作出日期", "CF_CFJG", "CF_CFLB", "违法行为类别"]
        plan = resolve_headers(headers, PENALTIES, p)
        assert plan.header_mapping["处罚决定文书号"] == "decision_no"
        assert plan.header_mapping["处罚作出日期"] == "decided_on"
    finally:
        load_profile.cache_clear()
