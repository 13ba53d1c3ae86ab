"""The monthly report's section on objections and manual adjustments (issue 14)."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import TYPE_CHECKING

from functions.objections.adjust import approved_adjustments
from functions.objections.service import list_objections

if TYPE_CHECKING:
    from functions.lake import Lake


def section(lake: Lake, month: str, province: str, now: dt.datetime) -> str:
    """HTML: the province's overdue objections (as of ``now``, China time) and the month's
    approved manual adjustments, each with the model's class beside the adjusted one."""
    overdue = [o for o in list_objections(lake, province, now=now) if o.overdue]
    adjusted = approved_adjustments(lake, month, province)
    rows_o = "".join(
        f"<tr><td class='l'>{escape(o.objection_id)}</td><td class='l'>{escape(o.uscc)}</td>"
        f"<td class='l'>{escape(o.month)}</td><td class='l'>{escape(o.received_on)}</td>"
        f"<td class='l'>{escape(o.due_on)}</td><td class='l'>{escape(o.status)}</td>"
        f"<td class='l'>{escape(o.decided_on or '—')}</td></tr>"
        for o in overdue
    )
    rows_a = "".join(
        f"<tr><td class='l'>{escape(code)}</td><td class='l'>{escape(a['model_class'])}</td>"
        f"<td class='l'>{escape(a['adjusted_class'])}</td><td class='l'>{escape(a['reason'])}</td>"
        f"<td class='l'>{escape(a['proposed_by'])}</td><td class='l'>{escape(a['approved_by'])}</td></tr>"
        for code, a in sorted(adjusted.items())
    )
    return (
        '<section id="objections"><h2>八、异议处理与人工调整 Objections and manual adjustments</h2>'
        f'<p id="objections-overdue">逾期异议 overdue objections (past 5 working days): {len(overdue)}</p>'
        + (
            "<table><tr><th>objection</th><th>uscc</th><th>month</th><th>received</th><th>due</th>"
            f"<th>status</th><th>decided</th></tr>{rows_o}</table>"
            if overdue
            else ""
        )
        + f'<p id="adjustments-count">人工调整 approved manual adjustments: {len(adjusted)}</p>'
        + (
            "<table><tr><th>uscc</th><th>模型类别 model class</th><th>调整后 adjusted class</th>"
            f"<th>reason</th><th>proposed by</th><th>approved by</th></tr>{rows_a}</table>"
            if adjusted
            else ""
        )
        + "</section>"
    )
