"""Calendar months as the regulation counts them (``YYYY-MM``, China time), in one place."""

from __future__ import annotations

import calendar
import datetime as dt


def month_end(month: str) -> dt.date:
    """The last day of ``YYYY-MM``: the period end a monthly run uses."""
    year, mon = (int(p) for p in month.split("-"))
    return dt.date(year, mon, calendar.monthrange(year, mon)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    """Trino's ``date_add('month', n, d)``: same day of month, clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, mon = divmod(index, 12)
    return dt.date(year, mon + 1, min(day.day, calendar.monthrange(year, mon + 1)[1]))


def window_start(period_end: dt.date, months: int) -> dt.date:
    """The exclusive start of a look-back of ``months`` whole calendar months ending at the month
    end ``period_end``: the last day of the month ``months`` earlier, so ``(start, period_end]``
    spans exactly those months (``add_months`` would keep the day: 30 June − 6 → 30 December)."""
    back = add_months(period_end.replace(day=1), -months)
    return back.replace(day=calendar.monthrange(back.year, back.month)[1])


def previous_month(month: str) -> str:
    d = add_months(dt.date(int(month[:4]), int(month[5:7]), 1), -1)
    return f"{d.year:04d}-{d.month:02d}"


def month_of(now: dt.datetime, tz: str = "Asia/Shanghai") -> str:
    """The calendar month of ``now`` in the regulator's time zone: what an upload warns for."""
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")
