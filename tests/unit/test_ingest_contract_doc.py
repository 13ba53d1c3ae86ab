"""The committed contract document and JSON Schemas are generated from the models."""

from __future__ import annotations

import json

from schemas import contract_doc
from schemas.datasets import DATASETS
from schemas.ingest import FILE_REASONS, ROW_REASONS


def test_committed_docs_are_not_stale() -> None:
    assert contract_doc.stale() == [], "run: .venv/bin/python -m schemas.contract_doc"


def test_doc_covers_every_dataset_column_alias_and_reason() -> None:
    doc = contract_doc.render_doc()
    for spec in DATASETS.values():
        assert f"### `{spec.name}` — {spec.zh}" in doc
        for f in spec.fields:
            assert f"| `{f.name}` | {f.zh} |" in doc
    assert set(contract_doc.ROW_REASONS) == set(ROW_REASONS)
    assert set(contract_doc.FILE_REASONS) == set(FILE_REASONS)
    assert "## 中文" in doc and "## English" in doc


def test_json_schema_per_dataset() -> None:
    for spec in DATASETS.values():
        schema = json.loads((contract_doc.JSON_DIR / f"{spec.name}.schema.json").read_text(encoding="utf-8"))
        assert set(schema["properties"]) == set(spec.columns)
        assert set(schema.get("required", [])) == {f.name for f in spec.fields if f.required}
        assert schema["x-key"] == list(spec.key)
