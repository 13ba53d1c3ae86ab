from __future__ import annotations

import datetime as dt
import importlib

import pyarrow as pa
import pytest
from pydantic import ValidationError

from schemas import DATASETS, dataset
from schemas.datasets import ENTITY_DATASETS, Penalty
from schemas.results import CLASSIFICATION_SCHEMA


def test_thirteen_entity_datasets_and_the_reference_data_with_keys_in_their_fields() -> None:
    assert len(ENTITY_DATASETS) == 13
    assert [n for n in DATASETS if n not in ENTITY_DATASETS] == ["inspectors", "supervision_lists"]
    for spec in DATASETS.values():
        assert set(spec.key) <= set(spec.columns), spec.name
        assert spec.event_date in spec.columns
        assert "uscc" in spec.columns or not spec.entity_data
    assert "uscc" not in DATASETS["inspectors"].columns


def test_chinese_aliases_are_unique_per_dataset() -> None:
    for spec in DATASETS.values():
        zh = [f.zh for f in spec.fields]
        assert len(zh) == len(set(zh)), spec.name
        if spec.entity_data:
            assert spec.aliases["统一社会信用代码"] == "uscc"


def test_arrow_schema_derives_types_and_nullability() -> None:
    schema = dataset("penalties").curated_schema
    assert schema.field("decided_on").type == pa.date32()
    assert schema.field("amount").type == pa.float64() and schema.field("amount").nullable
    assert not schema.field("uscc").nullable
    assert schema.field("_ingested_at").type == pa.timestamp("us", tz="UTC")


def test_field_specs_carry_enums_and_bounds() -> None:
    kind = dataset("penalties").column("kind")
    assert kind.enum is not None and "revoke_business_license" in kind.enum
    assert dataset("annual_reports").column("year").ge == 1990
    assert dataset("entities").column("region_code").kind == "region_code"


def test_model_rejects_bad_rows() -> None:
    ok = Penalty(decision_no="x", uscc="91110108795101314G", decided_on=dt.date(2026, 1, 1), authority="a",
                 domain="food", kind="fine")  # fmt: skip
    assert ok.withdrawn is None
    with pytest.raises(ValidationError):
        Penalty(decision_no="x", uscc="bad", decided_on=dt.date(2026, 1, 1), authority="a", domain="food",
                kind="fine")  # fmt: skip


def test_unknown_dataset_names_known_ones() -> None:
    with pytest.raises(KeyError, match="penalties"):
        dataset("penalty")


def test_results_schema_has_nested_reasons() -> None:
    assert CLASSIFICATION_SCHEMA.field("reasons").type.value_type.names == ["code", "label", "points"]


@pytest.mark.parametrize("module", ["schemas.api", "schemas.objections"])
def test_every_request_model_forbids_extras_is_strict_and_frozen(module: str) -> None:
    """Models with their own ``model_config`` (examples) inherit these from ``_Strict``."""
    mod = importlib.import_module(module)
    models = [m for m in vars(mod).values() if isinstance(m, type) and issubclass(m, mod._Strict)]
    assert any("json_schema_extra" in m.model_config for m in models)
    for m in models:
        assert (m.model_config.get("extra"), m.model_config.get("strict"), m.model_config.get("frozen")) == (
            "forbid", True, True), m.__name__  # fmt: skip
