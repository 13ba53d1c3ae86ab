"""One page per county: the month's action list as a self-contained printable HTML page (inline
CSS, no script, no network) and the same rows as CSV for the county's own systems (ADR 0111).

Long names wrap inside their cells (never clipped, never overlapping); the header repeats on
every printed page. Each number carries ``data-k``/``data-v`` like the monthly report.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from html import escape
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis.actions import MEASURE_ORDER, action_lists
from functions.report.html import FONT_STACK, num
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)

CSV_COLUMNS = (
    "rank", "uscc", "name", "region_code", "industry_code", "risk_class", "risk_score", "measure_code",
    "measure", "why", "field_code", "field", "reasons", "warnings", "tasks",
)  # fmt: skip
CSS = f"""
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font-family: {FONT_STACK}; margin: 16px auto; max-width: 1200px; color: #222; line-height: 1.4; }}
h1 {{ font-size: 21px; margin: 0 0 4px; overflow-wrap: anywhere; }}
.meta {{ color: #555; font-size: 12px; overflow-wrap: anywhere; }}
.notice {{ background: #fff3e0; border-left: 4px solid #ef6c00; padding: 4px 8px; font-size: 12px; }}
.kpi {{ display: inline-block; border: 1px solid #ccc; border-radius: 4px; padding: 4px 10px;
  margin: 4px 6px 4px 0; font-size: 12px; vertical-align: top; }}
.kpi b {{ display: block; font-size: 18px; }}
table {{ border-collapse: collapse; width: 100%; table-layout: auto; font-size: 12px; margin-top: 8px; }}
th, td {{ border: 1px solid #bbb; padding: 3px 5px; vertical-align: top; text-align: left;
  overflow-wrap: anywhere; word-break: break-word; white-space: normal; }}
th {{ background: #eceff1; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; page-break-inside: avoid; }}
td.n {{ text-align: right; white-space: nowrap; }}
td.code {{ font-family: monospace; white-space: nowrap; }}
td.cls-D {{ background: #ffcdd2; }} td.cls-C {{ background: #ffe0b2; }}
.m-inspection {{ color: #b71c1c; font-weight: 600; }} .m-interview {{ color: #e65100; font-weight: 600; }}
ul {{ margin: 0; padding-left: 16px; }}
.empty {{ color: #777; font-style: italic; }}
"""


def _cell(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}>{escape(text)}</td>"


def _list(items: list[str]) -> str:
    if not items:
        return "<td></td>"
    return "<td><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul></td>"


def render(page: dict[str, Any], generated_at: dt.datetime) -> str:
    """The county's page (pure: same inputs, same bytes)."""
    county, rows = page["county"], page["rows"]
    name = page["county_name"] or county
    title = f"{name}（{county}）本月监管行动清单 {page['month']}"
    measures = {m: sum(1 for r in rows if r["measure_code"] == m) for m in MEASURE_ORDER}
    kpis = "".join(
        f'<div class="kpi">{escape(label)}{num(key, v, tag="b")}</div>'
        for label, key, v in (
            ("清单主体 entities listed", "actions.total", len(rows)),
            ("D 类 D class", "actions.d_class", page["d_class"]),
            ("有检查任务 with a task", "actions.with_task", page["with_task"]),
            ("有新预警 with a new warning", "actions.with_warning", page["with_warning"]),
            *((f"建议 {m}", f"actions.measure.{m}", measures[m]) for m in MEASURE_ORDER),
        )
    )
    counts = page["class_counts"]
    total = sum(counts.values())
    dist = "".join(
        f'<div class="kpi">{c} 类{num(f"county.{c}", counts[c], tag="b")}'
        f"{num(f'county.{c}.share', counts[c] / total if total else None, 'pct', tag='span')}</div>"
        for c in RISK_CLASSES
    )
    body = []
    for i, r in enumerate(rows, 1):
        k, m = f"row.{r['uscc']}", r["measure_code"]
        body.append(
            "<tr>"
            + num(f"{k}.rank", i, cls="n")
            + _cell(r["name"] or "—")
            + _cell(r["uscc"], "code")
            + f'<td class="cls-{escape(str(r["risk_class"]))}" data-k="{k}.class" '
            f'data-v="{escape(str(r["risk_class"]))}">{escape(str(r["risk_class"]))}</td>'
            + num(f"{k}.score", r["risk_score"], "ratio", cls="n")
            + _list(r["reasons"])
            + _list(r["warnings"] + ([f"检查任务 {r['tasks']} 项 task(s)"] if r["tasks"] else []))
            + _cell(r["field"])
            + f'<td class="m-{escape(m)}" data-k="{k}.measure" data-v="{escape(m)}">'
            f'{escape(r["measure"])}<div class="meta">{escape(r["why"])}</div></td>' + "</tr>"
        )
    table = (
        "<table><thead><tr><th>#</th><th>主体名称 name</th><th>统一社会信用代码 USCC</th><th>类别 class</th>"
        "<th>风险分 score</th><th>主要原因 top reasons</th><th>本月预警 / 任务 warnings, tasks</th>"
        "<th>建议检查事项 suggested inspection field</th><th>建议措施 suggested measure</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        if rows
        else '<p class="empty">本月无需关注的主体 nothing to act on this month</p>'
    )
    note = (
        f"全省另有 {page['unclassified_signals']} 个有预警或任务的主体本月未分类，未列入。"
        f" {page['unclassified_signals']} entities of the province with warnings or tasks are not classified"
        " this month and are not listed."
        if page["unclassified_signals"]
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<h1 id="title">{escape(title)}</h1>'
        f'<p class="meta">{escape(page["province_name"] or page["province"])} · Action list for county '
        f"{escape(county)} · 生成 generated {escape(generated_at.isoformat())} · "
        f"{escape(page['names_source'])}</p>"
        '<p class="notice">内部资料：分类结果仅供监管部门内部使用，不得公开。Internal use only.</p>'
        f"<div>{dist}</div><div>{kpis}</div>"
        '<p class="meta">清单 = 本县 D 类主体、本月有检查任务或新预警的主体；'
        "措施阶梯 提醒 → 警示 → 约谈 → 检查 "
        "(schemas/actions.yaml)。主要原因即 explain 给出的原因（分值最高的三项）。</p>"
        f'{table}<p class="meta">{escape(note)}</p></body></html>\n'
    )


def to_csv(page: dict[str, Any]) -> str:
    """The rows for the county's own systems (UTF-8 with BOM so spreadsheet programs read CJK)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for i, r in enumerate(page["rows"], 1):
        w.writerow(
            [
                i,
                r["uscc"],
                r["name"],
                r["region_code"],
                r["industry_code"],
                r["risk_class"],
                "" if r["risk_score"] is None else f"{float(r['risk_score']):g}",
                r["measure_code"],
                r["measure"],
                r["why"],
                r["field_code"],
                r["field"],
                "；".join(r["reasons"]),
                "；".join(r["warnings"]),
                r["tasks"],
            ]
        )
    return "\ufeff" + out.getvalue()


def write_county_pages(
    lake: Lake,
    *,
    month: str,
    province: str,
    counties: list[str] | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> list[dict[str, Any]]:
    """Write each county's page and CSV; returns ``[{county, rows, html, csv}]`` (lake keys)."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    pages = action_lists(
        lake,
        month=month,
        province=province,
        counties=counties,
        settings=settings,
        engine=engine,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    written = []
    for page in pages:
        html_key = layout.county_page_key(month, province, page["county"], "html")
        csv_key = layout.county_page_key(month, province, page["county"], "csv")
        lake.write_bytes(
            html_key,
            render(page, when).encode("utf-8"),
            metadata={"Content-Type": "text/html; charset=utf-8"},
        )
        lake.write_bytes(
            csv_key, to_csv(page).encode("utf-8"), metadata={"Content-Type": "text/csv; charset=utf-8"}
        )
        written.append(
            {"county": page["county"], "rows": len(page["rows"]), "html": html_key, "csv": csv_key}
        )
    logger.info("%d county pages written for %s/%s", len(written), province, month)
    return written
