"""The calibrated field versions (docs/adr/0146): 1.0 ships unchanged beside 1.1, which only
moves the cut-offs, and the monthly run (and so the demo) uses 1.1 without any pin."""

from __future__ import annotations

import dataclasses

import pytest

from functions.analysis import calibration as fc
from functions.classify.load import load_system, shipped_versions
from functions.errors import ConfigError
from schemas.fields import FIELDS

# content hashes of the 1.0 versions when 1.1 was published: 1.0 is never edited in place
HASH_1_0 = {
    "food": "731ceb02a64d7a8102475f0246d310be73f2ad288a8a1de295c360951336b1b0",
    "drug": "99127cef36162623810fde2028f1b33628b560b61250a440fe84e47713e030d2",
    "special-equipment": "82271716a135b37cbb8daaed3a46004ce390341692f27e4cc3484e411a273edb",
    "industrial-product": "9eb1fba634798e1510db8dfca1b70cf4a0254c8926539221d14d128a91a4d925",
}


@pytest.mark.parametrize("system_id", sorted(HASH_1_0))
def test_1_1_moves_only_the_cut_offs_and_is_the_default(system_id: str) -> None:
    old, new = load_system(f"{system_id}@1.0"), load_system(f"{system_id}@1.1")
    assert old.content_hash() == HASH_1_0[system_id]
    assert list(shipped_versions(system_id)) == ["1.0", "1.1"]
    assert (new.indicators, new.rules, new.field) == (old.indicators, old.rules, old.field)
    assert new.classes.cutoffs != old.classes.cutoffs and new.classes.method == "cutoffs"
    assert load_system(system_id).model_ref == f"{system_id}@1.1"


def test_every_configured_field_runs_its_newest_version() -> None:
    """``schemas/fields.yaml`` names systems without a version: nothing pins a field to 1.0."""
    assert {f: load_system(spec.system).version for f, spec in FIELDS.items()} == dict.fromkeys(FIELDS, "1.1")


FIG = fc.Figures(
    system="food",
    model="food@1.1",
    month="2026-05",
    province="42",
    last_inspection="2026-11-30",
    classes=(
        fc.ClassFigures("A", 80, 0.8, 100, 10),
        fc.ClassFigures("B", 15, 0.15, 20, 5),
        fc.ClassFigures("C", 5, 0.05, 0, 0),
        fc.ClassFigures("D", 0, 0.0, 0, 0),
    ),
    auc=0.654,
)


def test_table_and_sync() -> None:
    table = fc.figures_table(FIG)
    assert "| A | 80.0% | 100 | 10.0% |" in table and "| B | 15.0% | 20 | 25.0% |" in table
    assert "| C | 5.0% | 0 | – |" in table and "AUC of the risk score on those inspections: 0.65." in table
    assert (
        "domain `food` after 2026-05-31 (to 2026-11-30)" in table and "(100 entities in the field)" in table
    )
    assert "class mix A 75%, B 17%, C 6%, D 2% on 2026-05 of the suggestion province" in table
    doc = f"intro\n{fc.BEGIN}\nold\n{fc.END}\nafter\n"
    assert fc.sync(doc, FIG) == f"intro\n{table}\nafter\n"
    with pytest.raises(ConfigError, match="no calibration-table markers"):
        fc.sync("no markers", FIG)


def test_the_general_table_counts_every_domain_and_claims_no_suggested_mix() -> None:
    general = dataclasses.replace(FIG, system=fc.GENERAL, model="samr-general@1.2")
    table = fc.figures_table(general)
    assert "`samr-general@1.2` on the synthetic province 42" in table
    assert "(100 entities) against all its 120 inspections (every domain) after 2026-05-31" in table
    assert "suggestion province" not in table and "| B | 15.0% | 20 | 25.0% |" in table
    assert general.system_id == "samr-general" and fc.doc_path(general.system_id).name == "samr-general.md"
