"""Fixtures shared by the functional tests."""

from __future__ import annotations

import pytest

from functions.analysis import calibration
from functions.lake import Lake


@pytest.fixture(scope="session")
def calibration_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The reference province (30k entities, 24 months) classified for the reference month by the
    general system and every field: built once for all calibration checks (docs/adr/0154)."""
    root = tmp_path_factory.mktemp("calibration")
    return calibration.build_province(root, calibration.REFERENCE, calibration.REFERENCE_MONTH)
