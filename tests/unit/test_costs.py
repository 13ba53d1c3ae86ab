"""The generated cost table of docs/deploy.md (docs/adr/0154): linear scaling, Athena's 10 MB
minimum, and the markers; the measurement itself is checked on the reference province in
tests/functional/test_calibration.py."""

from __future__ import annotations

import pytest

from functions import costs
from functions.errors import ConfigError

SIZES = costs.Sizes(
    entities=1_000, records=7_000, curated_bytes=200_000, results_bytes=50_000, warning_rules=13
)
PARAMS = {"entities": 1_000, "months": 24, "seed": 5}


def test_rows_scale_per_entity_and_price_the_scan() -> None:
    table = costs.cost_table(SIZES, PARAMS)
    assert "**200 bytes per entity with all" in table and "are 50 bytes per entity" in table
    # 1,000 entities: 250 kB scanned, billed as 10 MB
    assert "| 1,000 entities (the synthetic province) | 200 kB | 50 kB | 250 kB | < USD 0.001 |" in table
    # 10 M entities: 2 GB + 0.5 GB = 2.5 GB at USD 5/TB
    assert "| 10 M entities (a large province) | 2 GB | 500 MB | 2.5 GB | ≈ USD 0.013 |" in table
    assert "| all 31 provinces (≈ 185 M entities) | 37 GB | 9.25 GB | 46.2 GB | ≈ USD 0.23 |" in table
    assert "(13 rules)" in table and "7,000 curated records" in table


def test_sync_replaces_only_the_block() -> None:
    block = costs.cost_table(SIZES, PARAMS)
    doc = f"intro\n{costs.BEGIN}\nold\n{costs.END}\nafter\n"
    assert costs.sync(doc, block) == f"intro\n{block}\nafter\n"
    with pytest.raises(ConfigError, match="no cost-table markers"):
        costs.sync("no markers", block)
