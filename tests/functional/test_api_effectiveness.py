"""``GET /v1/effectiveness`` through ``chalice.test.Client``: the stored monthly figures, each
with n and its interval; scope, missing months and bad input."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from functions import layout
from functions.analysis.effectiveness import evaluate
from functions.analysis.metrics import histogram
from functions.lake import Lake
from functions.settings import Settings
from schemas.api import EffectivenessOut
from tests.api_client import get, two_provinces
from tests.sampling_data import classed_inspections


def _stored(month: str) -> dict[str, Any]:
    """Effectiveness as the monthly run stores it: 40 A inspections (4 problems), 1 D, 2 unclassified."""
    rows = classed_inspections(dt.date(int(month[:4]), int(month[5:]), 1))
    hist = histogram([1.0, 2.0])
    out: dict[str, Any] = json.loads(json.dumps(evaluate(rows, hist, hist, month), default=str))
    return out


@pytest.fixture
def api(
    monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake
) -> Iterator[tuple[Client, str, str]]:
    for month in ("2026-09", "2026-10"):
        local_lake.write_json(layout.analysis_key(month, "42", "effectiveness.json"), _stored(month))
    yield from two_provinces(monkeypatch, local_settings, local_lake)


def test_every_figure_carries_n_and_an_interval(api: tuple[Client, str, str]) -> None:
    client, mine, _ = api
    r = get(client, "/v1/effectiveness?province=42&from=2026-08&to=2026-10", mine)
    assert r.status_code == 200, r.body
    body = EffectivenessOut.model_validate_json(r.body)
    assert [m.month for m in body.months] == ["2026-09", "2026-10"] and body.missing_months == ["2026-08"]
    m = body.months[1]
    assert m.inspections == 43 and m.problems == 5
    a = m.figures["per_class"]["A"]
    assert a["n"] == 40 and a["value"] == 0.1 and a["low"] < 0.1 < a["high"]
    lift = m.figures["lift_d_over_a"]  # one D inspection: no value shown, n says why
    assert lift["value"] is None and lift["n"] == 1 and lift["sufficient"] is False
    assert m.figures["unclassified"]["inspections"] == 2
    raw = json.loads(r.body)
    assert "lift_d_over_a" not in raw["months"][1]  # no bare ratio without its n


def test_scope_and_bad_input(api: tuple[Client, str, str]) -> None:
    client, mine, other = api
    path = "/v1/effectiveness?province=42&from=2026-09&to=2026-10"
    assert get(client, path, None).status_code == 401
    assert get(client, path, other).status_code == 403
    for bad, field in (
        ("province=42&from=2026-13&to=2026-10", "from"),
        ("province=4x&from=2026-09&to=2026-10", "province"),
        ("province=42&from=2026-10&to=2026-09", None),
        ("province=42&from=2024-01&to=2026-10", None),
        ("province=42&from=2026-09", "to"),
    ):
        r = get(client, f"/v1/effectiveness?{bad}", mine)
        assert r.status_code == 400, (bad, r.body)
        if field:
            assert json.loads(r.body)["field"] == field, bad
