"""Objection deadlines: 5 working days after receipt by the official Chinese calendar (ADR 0112)."""

from __future__ import annotations

import datetime as dt

import pytest

from functions.objections.workdays import add_working_days, is_workday

D = dt.date


def test_national_day_and_its_make_up_saturday() -> None:
    # received Wed 30 Sep 2026; 1–7 Oct off; Thu 8, Fri 9, Sat 10 (调休, a working day), Mon 12, Tue 13
    due = add_working_days(D(2026, 9, 30))
    assert due.due == D(2026, 10, 13) and due.official


def test_spring_festival_counts_the_make_up_saturday_before_it() -> None:
    # received Fri 13 Feb 2026; Sat 14 is a working day (调休); 15–23 Feb off; then 24, 25, 26, 27
    assert add_working_days(D(2026, 2, 13)).due == D(2026, 2, 27)


def test_an_ordinary_week_skips_the_weekend_only() -> None:
    assert add_working_days(D(2026, 11, 2)).due == D(2026, 11, 9)  # Mon → next Mon


def test_make_up_and_holiday_flags_come_from_the_official_calendar() -> None:
    assert is_workday(D(2026, 10, 10)) == (True, True)  # Saturday, 调休
    assert is_workday(D(2026, 10, 5)) == (False, True)  # Monday, National Day holiday


def test_a_year_without_an_official_calendar_counts_weekends_and_says_so() -> None:
    due = add_working_days(D(2031, 6, 2))  # Mon
    assert due.due == D(2031, 6, 9) and due.official is False


def test_at_least_one_day() -> None:
    with pytest.raises(ValueError):
        add_working_days(D(2026, 1, 5), 0)
