"""Working days by the official Chinese calendar: weekends, public holidays and the make-up
working days (调休) the State Council announces each year (docs/adr/0112).

The calendar is the maintained ``chinese-calendar`` package (its tables follow the State
Council's yearly notices, 国务院办公厅关于…部分节假日安排的通知). A year the installed package does
not cover yet (the notice is published in the autumn before) falls back to plain weekends and
says so: ``Deadline.official`` is False, and callers record it beside the deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

OBJECTION_WORKING_DAYS = 5  # Langfang rules: decided within 5 working days of receipt


@dataclass(frozen=True)
class Deadline:
    """The last day on which the step may be done, and whether every day counted was official."""

    due: dt.date
    official: bool


def is_workday(day: dt.date) -> tuple[bool, bool]:
    """``(working day?, known from the official calendar?)``."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


def add_working_days(received: dt.date, days: int = OBJECTION_WORKING_DAYS) -> Deadline:
    """The ``days``-th working day after ``received`` (the day of receipt does not count, as in
    the rules' "收到之日起5个工作日内")."""
    if days < 1:
        raise ValueError("days must be at least 1")
    day, counted, official = received, 0, True
    while counted < days:
        day += dt.timedelta(days=1)
        working, known = is_workday(day)
        official = official and known
        counted += working
    if not official:
        logger.warning("deadline %s computed with weekends only: no official calendar for %s", day, day.year)
    return Deadline(day, official)
