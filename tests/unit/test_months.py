from __future__ import annotations

import datetime as dt

from functions.months import add_months, month_end, month_of, previous_month, window_start


def test_month_end_handles_leap_years() -> None:
    assert month_end("2024-02") == dt.date(2024, 2, 29)
    assert month_end("2026-02") == dt.date(2026, 2, 28)
    assert month_end("2026-12") == dt.date(2026, 12, 31)


def test_add_months_clamps_like_trino() -> None:
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 1, 31), 13) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 10, 31), -12) == dt.date(2025, 10, 31)


def test_window_start_spans_whole_calendar_months() -> None:
    # (start, period_end] holds exactly N months: the day is not carried over
    assert window_start(dt.date(2026, 6, 30), 6) == dt.date(2025, 12, 31)
    assert window_start(dt.date(2026, 6, 30), 12) == dt.date(2025, 6, 30)
    assert window_start(dt.date(2026, 1, 31), 1) == dt.date(2025, 12, 31)
    assert window_start(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    assert window_start(dt.date(2028, 2, 29), 12) == dt.date(2027, 2, 28)
    assert window_start(dt.date(2027, 2, 28), 12) == dt.date(2026, 2, 28)


def test_previous_month_crosses_years() -> None:
    assert previous_month("2026-01") == "2025-12"
    assert previous_month("2026-10") == "2026-09"


def test_month_of_uses_china_time() -> None:
    # 2026-10-31 17:00 UTC is already 1 November in China.
    assert month_of(dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC)) == "2026-11"
    assert month_of(dt.datetime(2026, 10, 31, 15, 59, tzinfo=dt.UTC)) == "2026-10"
