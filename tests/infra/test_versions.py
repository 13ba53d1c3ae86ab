"""Local pins equal the managed "AWS SDK for pandas" layer production runs (issue 12, item 8).

``layers/managed-layers.json`` is the one table of the layer's library versions; the dev
environment must pin exactly those so that the tests exercise what runs in Lambda.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = json.loads((ROOT / "layers" / "managed-layers.json").read_text(encoding="utf-8"))
LAYER_VERSIONS: dict[str, str] = TABLE["versions"]


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_the_table_names_the_libraries_the_layer_ships() -> None:
    assert set(LAYER_VERSIONS) == {"awswrangler", "pyarrow", "pandas", "numpy", "boto3", "botocore"}
    assert TABLE["awswrangler_version"] == LAYER_VERSIONS["awswrangler"]


@pytest.mark.parametrize("name", sorted(LAYER_VERSIONS))
def test_dev_pin_equals_the_managed_layer(name: str) -> None:
    dev = pins(ROOT / "requirements-dev.txt")
    assert dev.get(name) == LAYER_VERSIONS[name], (
        f"requirements-dev.txt pins {name}=={dev.get(name)} but the managed layer ships "
        f"{LAYER_VERSIONS[name]} (layers/managed-layers.json)"
    )


@pytest.mark.parametrize("name", sorted(LAYER_VERSIONS))
def test_installed_version_equals_the_managed_layer(name: str) -> None:
    assert metadata.version(name) == LAYER_VERSIONS[name], "run `make install` after changing the pins"


def test_runtime_requirements_do_not_ship_what_the_layer_has() -> None:
    runtime = pins(ROOT / "requirements.txt")
    assert not set(runtime) & set(LAYER_VERSIONS)
