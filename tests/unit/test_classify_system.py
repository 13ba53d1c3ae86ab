"""Loading indicator systems: the shipped ones are valid; bad ones fail with file:line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.classify.load import load_system, load_system_file, parse_system, shipped_system_ids
from functions.errors import ConfigError
from schemas.datasets import ENTITY_DATASETS

GOOD = """\
id: tiny
version: "1.0"
title_zh: 小
title_en: tiny
entity_types: [enterprise]
indicators:
  - code: REG
    label_zh: 监管
    label_en: regulatory
    dimension: regulatory
    weight: 1.0
    children:
      - code: PEN
        label_zh: 处罚
        label_en: penalties
        weight: 0.5
        definition: {dataset: penalties, aggregate: count, where: "kind = 'fine'", window_months: 12}
        scoring:
          bins: [{min: 0, max: 1, points: 0}, {min: 1, points: 100}]
      - code: AGE
        label_zh: 年限
        label_en: age
        weight: 0.5
        definition:
          {dataset: entities, aggregate: value, expression: "year(period_end) - year(established_on)"}
        scoring:
          linear: {slope: -10, offset: 10, cap: 100}
rules:
  - {code: R1, label: r, when: "PEN >= 1", class: C}
classes:
  method: cutoffs
  cutoffs: {B: 10, C: 20, D: 30}
"""


def test_shipped_systems_load_and_cover_the_frame() -> None:
    fields = ["drug", "food", "industrial-product", "special-equipment"]
    assert shipped_system_ids() == sorted(["langfang-public-credit", "samr-general", *fields])
    samr = load_system("samr-general")
    leaves = samr.leaves()
    field_only = {"licences", "equipment", "product_checks"}  # the fields' own data (ADR 0118)
    general = {ind.definition.dataset for ind, _, _ in leaves if ind.definition}
    assert general == set(ENTITY_DATASETS) - field_only
    read = {i.definition.dataset for f in fields for i, _, _ in load_system(f).leaves() if i.definition}
    assert field_only <= read
    assert {dim for _, _, dim in leaves} == {"basic", "dynamic", "regulatory", "relationship", "social"}
    assert abs(sum(w for _, w, _ in leaves) - 1) < 1e-9
    assert {r.code for r in samr.rules} == {"D_LICENCE_REVOKED", "C_SERIOUS_LIST"}
    lf = load_system("langfang-public-credit")
    assert lf.classes.method == "rules" and lf.model_ref == "langfang-public-credit@1.0"


def test_content_hash_is_stable_and_sensitive() -> None:
    a = parse_system(GOOD)
    assert a.content_hash() == parse_system(GOOD + "\n# a comment\n").content_hash()
    assert a.content_hash() != parse_system(GOOD.replace("points: 100", "points: 90")).content_hash()


def bad(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            bad(
                "weight: 0.5\n        definition: {dataset: pen",
                "weight: 0.6\n        definition: {dataset: pen",
            ),
            12,
            "sum to 1.1, not 1",
        ),
        (bad("dataset: penalties", "dataset: fines"), 17, "unknown dataset 'fines'"),
        (bad("kind = 'fine'", "knd = 'fine'"), 17, "unknown column of penalties 'knd'"),
        (
            bad("{min: 1, points: 100}]\n      - code: AGE", "{min: 0.5, points: 100}]\n      - code: AGE"),
            19,
            "overlaps",
        ),
        (
            bad("cutoffs: {B: 10, C: 20, D: 30}", "cutoffs: {B: 10, C: 40, D: 30}"),
            32,
            "cut-offs out of order",
        ),
        (bad('when: "PEN >= 1"', 'when: "PENX >= 1"'), 29, "unknown indicator code 'PENX'"),
        (bad("class: C", "class: E"), 29, "rules.0.class"),
        (
            bad(
                'expression: "year(period_end) - year(established_on)"', 'expression: "year(period_end) - ("'
            ),
            25,
            "cannot parse",
        ),
        (bad("code: AGE", "code: PEN"), 20, "used twice"),
        (
            bad("{min: 1, points: 100}]\n      - code: AGE", "{min: 2, points: 100}]\n      - code: AGE"),
            19,
            "gap between 1 and 2",
        ),
        (bad("weight: 1.0\n    children", "weight: 1.0\n    bogus: 1\n    children"), 12, "Extra inputs"),
        (bad('version: "1.0"', "version: one"), 2, "version"),
    ],
)
def test_bad_systems_point_at_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_system(text, "tiny.yaml")
    assert f"tiny.yaml:{line}:" in str(err.value), str(err.value)
    assert message in str(err.value)


def test_all_problems_are_reported_together() -> None:
    text = bad("dataset: penalties", "dataset: fines").replace("D: 30}", "D: 5}")
    with pytest.raises(ConfigError) as err:
        parse_system(text, "tiny.yaml")
    assert len(err.value.details["problems"]) == 2


def test_unknown_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown indicator system 'nope'"):
        load_system("nope")
    p = tmp_path / "x.yaml"
    p.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x.yaml:\d+: not valid YAML"):
        load_system_file(p)
    p.write_text("id: tiny\n? {a: 1}\n: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x.yaml:2: not valid YAML: a key must be a plain value"):
        load_system_file(p)
    p.write_text(GOOD, encoding="utf-8")
    assert load_system(str(p)).id == "tiny"


@pytest.mark.parametrize(
    "system_id",
    ["samr-general", "langfang-public-credit", "food", "drug", "special-equipment", "industrial-product"],
)
def test_docs_table_matches_the_yaml(system_id: str) -> None:
    from functions.classify.doc import indicator_table, sync

    path = Path(__file__).parents[2] / "docs" / "indicator-systems" / f"{system_id}.md"
    text = path.read_text(encoding="utf-8")
    system = load_system(system_id)
    assert sync(text, system) == text, "regenerate with functions.classify.doc.sync"
    for ind, _ in system.all_indicators():
        assert f"`{ind.code}`" in indicator_table(system)
