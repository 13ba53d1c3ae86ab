"""The generator's contract with ingestion: every injected bad row is rejected for its reason."""

from __future__ import annotations

import json
from pathlib import Path

from functions.generate.generate import MANIFEST, generate_province
from functions.ingest.pipeline import ingest_tree
from functions.lake import Lake
from functions.settings import Settings


def test_ingestion_rejects_exactly_the_injected_rows(tmp_path: Path) -> None:
    generate_province(
        tmp_path,
        province="23",
        entities=5_000,
        months=6,
        seed=21,
        end_month="2026-10",
        faults=0.04,
        formats="mixed",
    )
    manifest = json.loads((tmp_path / MANIFEST).read_text("utf-8"))
    settings = Settings(lake_uri=str(tmp_path), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    reports = ingest_tree(lake, lake, settings=settings)
    assert {r.source_key for r in reports} == set(manifest["files"])
    total = 0
    for r in reports:
        expected = manifest["files"][r.source_key]
        assert r.status == "accepted", (r.source_key, r.file_reason, r.file_message)
        assert r.rows_read == expected["rows"], r.source_key
        assert dict(r.reasons) == expected["faults"], r.source_key
        assert r.rows_rejected == sum(expected["faults"].values())
        total += r.rows_rejected
    assert total == sum(manifest["faults_by_reason"].values()) > 0
