"""Shared set-up for the infra tests: the built application templates (template only, cached by
input hash in build/package/, so a second run is instant)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import package

ROOT = Path(__file__).resolve().parents[2]


def load_template(path: Path) -> dict[str, Any]:
    """libyaml's safe loader: the same documents as ``yaml.safe_load``, ~4x less CPU on the
    390 kB platform template, which several test modules load (docs/adr/0159)."""
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return data


@pytest.fixture(scope="session")
def app_templates() -> dict[str, dict[str, Any]]:
    """``{stage: app template}`` for every stage, as ``make package`` writes it."""
    out = {}
    for cfg in sorted((ROOT / "infra" / "stages").glob("*.json")):
        art = package.build(cfg.stem, with_layer=False)
        out[cfg.stem] = load_template(art.template)
    return out


@pytest.fixture(scope="session")
def platform_template() -> dict[str, Any]:
    return load_template(ROOT / "infra" / "platform.yaml")
