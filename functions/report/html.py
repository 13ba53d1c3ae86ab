"""The monthly report: one self-contained HTML file (inline CSS and SVG, no script, no network).

Every number is rendered from the partitions written beside the results and carries its key
and raw value (``data-k`` / ``data-v``) so that a test — or an auditor — can check that what
is shown is what is stored (docs/analysis.md, ADR 0067). The class is internal information:
the report says so on every page (国市监信发〔2022〕6号: results are not published).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from html import escape
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.analysis.analyse import analyse
from functions.analysis.effectiveness import effectiveness
from functions.analysis.lookup import names_of
from functions.classify.run import published_manifest
from functions.objections.report import section
from functions.report.svg import CLASS_COLOURS, bar_chart, paired_histogram
from functions.warnings.store import load_tasks, load_warnings
from schemas.results import RISK_CLASSES
from schemas.warnings import DATA_GAP_RULE

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)

FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
    '"WenQuanYi Zen Hei", "PingFang SC", "Microsoft YaHei", sans-serif'
)
CSS = f"""
body {{ font-family: {FONT_STACK}; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.45; }}
h1 {{ font-size: 24px; margin-bottom: 4px; }} h2 {{ font-size: 19px; border-bottom: 2px solid #1565c0;
padding-bottom: 4px; margin-top: 32px; }} h3 {{ font-size: 15px; margin: 18px 0 6px; }}
.notice {{ background: #fff3e0; border-left: 4px solid #ef6c00; padding: 6px 10px; font-size: 13px; }}
.meta {{ color: #555; font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #eceff1; }} td.l, th.l {{ text-align: left; }}
tr.flag td {{ font-weight: 600; }} .flagmark {{ color: #c62828; }}
.chart {{ font-family: {FONT_STACK}; font-size: 12px; display: block; margin: 8px 0; }}
.chart-title {{ font-weight: 600; font-size: 13px; }} .axis {{ font-size: 10px; fill: #555; }}
.kpi {{ display: inline-block; border: 1px solid #ccc; border-radius: 4px; padding: 6px 12px;
  margin: 4px 8px 4px 0; }}
.kpi b {{ display: block; font-size: 20px; }}
.empty {{ color: #777; font-style: italic; }}
td.l {{ overflow-wrap: anywhere; }} .spark {{ display: block; }}
"""


# -- formatting: every shown number carries its key and raw value ----------------------------
def _raw(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def num(key: str, v: Any, kind: str = "int", tag: str = "td", cls: str = "") -> str:
    """A table cell (or span) showing ``v`` formatted, with ``data-k``/``data-v`` for checking."""
    if v is None:
        text = "—"
    elif kind == "int":
        text = f"{int(v):,}"
    elif kind == "pct":
        text = f"{float(v) * 100:.1f}%"
    elif kind == "pp":
        text = f"{float(v) * 100:+.1f} pp"
    elif kind == "ratio":
        text = f"{float(v):.2f}"
    else:
        text = f"{float(v):.3f}"
    c = f' class="{cls}"' if cls else ""
    return f'<{tag}{c} data-k="{escape(key)}" data-v="{escape(_raw(v))}">{escape(text)}</{tag}>'


def txt(v: Any, cls: str = "l") -> str:
    return f'<td class="{cls}">{escape("" if v is None else str(v))}</td>'


def heat(share: float | None) -> str:
    if share is None:
        return ""
    alpha = min(max(share, 0.0), 1.0) * 0.85
    return f' style="background: rgba(198, 40, 40, {alpha:.2f})"'


# -- sections --------------------------------------------------------------------------------
def _classes(s: dict[str, Any]) -> str:
    counts, prev, n = s["class_counts"], s.get("previous_class_counts"), s["entities"]
    rows = []
    for c in RISK_CLASSES:
        p = None if prev is None else prev.get(c)
        rows.append(
            f"<tr><th>{c}</th>{num(f'class.{c}.entities', counts[c])}"
            f"{num(f'class.{c}.share', counts[c] / n if n else None, 'pct')}"
            f"{num(f'class.{c}.previous', p)}"
            f"{num(f'class.{c}.change', None if p is None else counts[c] - p)}</tr>"
        )
    chart = bar_chart(
        [(f"{c} 类", float(counts[c]), CLASS_COLOURS[c]) for c in RISK_CLASSES],
        title="各类主体数量 Entities per class",
    )
    return (
        "<h2>一、分类结果 Class distribution</h2>"
        f'<div class="kpi">主体总数 entities{num("entities", n, tag="b")}</div>'
        f'<div class="kpi">C+D 占比 share{num("cd_share", s["cd_share"], "pct", tag="b")}</div>'
        f"{chart}<table><tr><th>类别 class</th><th>主体数 entities</th><th>占比 share</th>"
        f"<th>上月 last month</th><th>变化 change</th></tr>{''.join(rows)}</table>"
    )


def _group_table(rows: list[dict[str, Any]], prefix: str, label_cols: list[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="empty">无数据 no data</p>'
    head = "".join(f'<th class="l">{escape(h)}</th>' for _, h in label_cols)
    head += "".join(f"<th>{c}</th>" for c in RISK_CLASSES)
    head += (
        "<th>主体数 n</th><th>C+D 占比</th><th>环比 change</th><th>倍数 ×prov.</th><th>z</th>"
        "<th>q (BH)</th><th>研判</th>"
    )
    body = []
    for r in rows:
        k = f"{prefix}.{r[label_cols[0][0]]}"
        cells = "".join(txt(r[c]) for c, _ in label_cols)
        cells += "".join(num(f"{k}.{c.lower()}", r[c.lower()]) for c in RISK_CLASSES)
        cells += num(f"{k}.entities", r["entities"])
        # Shade by excess over the province (ratio 1 → none, ratio ≥ 3 → darkest).
        ratio = r["ratio_to_province"]
        shade = heat(None if ratio is None else max(ratio - 1.0, 0.0) / 2.0)
        cells += num(f"{k}.cd_share", r["cd_share"], "pct").replace("<td ", f"<td{shade} ", 1)
        cells += num(f"{k}.cd_share_change", r["cd_share_change"], "pp")
        cells += num(f"{k}.ratio_to_province", r["ratio_to_province"], "ratio")
        cells += num(f"{k}.z", r["z"], "ratio")
        cells += num(f"{k}.q_value", r.get("q_value"), "float")
        mark = (
            f'<span class="flagmark">⚑ 高风险 high risk (n = {int(r["entities"]):,})</span>'
            if r["flagged"]
            else ""
        )
        cells += f'<td class="l" data-k="{escape(k)}.flagged" data-v="{_raw(r["flagged"])}">{mark}</td>'
        body.append(f'<tr class="{"flag" if r["flagged"] else ""}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _regions(regions: list[dict[str, Any]], s: dict[str, Any]) -> str:
    out = [
        "<h2>二、区域风险研判 Regional risk</h2>",
        f'<p class="meta">高风险判定 flag test: {escape(s["flag_test"]["text"])}；'
        f"基准 = 全省 C+D 占比 province share；q = Benjamini–Hochberg 校正后的 p 值 "
        f"(adjusted for testing every region of a level at once). "
        f"{escape(str(s.get('names_source') or ''))}</p>",
    ]
    for level, title in (
        ("province", "省级 province"),
        ("city", "市级 city (4 位)"),
        ("county", "县级 county (6 位)"),
    ):
        rows = [r for r in regions if r["level"] == level]
        out.append(
            f"<h3>{escape(title)}</h3>"
            + _group_table(rows, f"region.{level}", [("code", "区划代码 code"), ("name", "名称 name")])
        )
    return "".join(out)


def _industries(industries: list[dict[str, Any]]) -> str:
    chart = bar_chart(
        [
            (
                f"{r['section']} {r['name']}",
                float(r["cd_share"]) * 100,
                "#c62828" if r["flagged"] else "#ef6c00",
            )
            for r in industries
        ],
        title="各行业 C+D 占比 (%) C+D share by industry section",
        fmt=lambda v: f"{v:.1f}%",
    )
    return (
        "<h2>三、行业风险研判 Industry risk</h2>"
        + (chart if industries else "")
        + _group_table(industries, "industry", [("section", "门类 section"), ("name", "名称 name")])
    )


def _migration(migration: list[dict[str, Any]], s: dict[str, Any] | None = None) -> str:
    froms = [*RISK_CLASSES, "new"]
    tos = [*RISK_CLASSES, "exited"]
    cell = {(r["from_class"], r["to_class"]): r["entities"] for r in migration}
    total_from = {f: sum(cell.get((f, t), 0) for t in tos) for f in froms}
    head = "<tr><th>上月 \\ 本月</th>" + "".join(f"<th>{escape(t)}</th>" for t in tos) + "</tr>"
    rows = []
    for f in froms:
        cells = []
        for t in tos:
            if (f, t) not in cell:
                cells.append("<td></td>")
                continue
            share = cell[(f, t)] / total_from[f] if total_from[f] else None
            cells.append(num(f"migration.{f}.{t}", cell[(f, t)]).replace("<td ", f"<td{heat(share)} ", 1))
        rows.append(f"<tr><th>{escape(f)}</th>{''.join(cells)}</tr>")
    return (
        "<h2>四、类别迁移 Class migration (last month → this month)</h2>"
        f'<table>{head}{"".join(rows)}</table><p class="meta">new = 上月未分类 not classified last month; '
        "exited = 本月不再分类 no longer classified (cancelled, moved out).</p>" + _change_split(s or {})
    )


def _data_gaps(gaps: list[dict[str, Any]]) -> str:
    """Inputs the province has not delivered: the rules and indicators held back are listed,
    not silently missing from the figures (docs/adr/0104, 0138)."""
    if not gaps:
        return ""
    items = "".join(
        f"<tr>{txt(g['fact'])}{txt(ev.get('missing', ''))}"
        f"{txt(', '.join([*ev.get('rules', []), *ev.get('indicators', [])]))}</tr>"
        for g in gaps
        for ev in [json.loads(g["evidence"])]
    )
    return (
        '<h3>数据缺失 inputs incomplete</h3><table><tr><th class="l">输入 input</th>'
        '<th class="l">缺失 missing</th><th class="l">未运行的规则与指标 rules and indicators held back</th>'
        f"</tr>{items}</table>"
    )


def _classification_gaps(items: list[dict[str, Any]]) -> str:
    """Inputs the classification's indicators lacked and the indicators held back for them
    (the published manifest's ``inputs_incomplete``, docs/adr/0132): the classes were computed
    without them, and the reader is told so beside the classes."""
    if not items:
        return ""
    rows = "".join(
        f"<tr>{txt(i.get('requirement', ''))}{txt(i.get('missing', ''))}"
        f"{txt(', '.join(str(x) for x in i.get('read_by', [])))}</tr>"
        for i in items
    )
    return (
        '<h3>分类输入不完整 classification inputs incomplete</h3><p class="meta">'
        "这些指标因数据未报送而未计分 these indicators were held back (no points) for missing data.</p>"
        '<table><tr><th class="l">输入 input</th><th class="l">缺失 missing</th>'
        f'<th class="l">未计分的指标 indicators held back</th></tr>{rows}</table>'
    )


def _change_split(s: dict[str, Any]) -> str:
    """The month's change per class split into new entrants, exits and movement, in words too."""
    split = s.get("change_split")
    if not split:
        return ""
    head = (
        "<tr><th>类别 class</th><th>变化 net</th><th>新设 new entrants</th><th>退出 exits</th>"
        "<th>迁入 moved in</th><th>迁出 moved out</th></tr>"
    )
    rows = "".join(
        f"<tr><th>{c}</th>"
        + "".join(
            num(f"split.{c}.{f}", split[c][f]) for f in ("net", "new", "exits", "moved_in", "moved_out")
        )
        + "</tr>"
        for c in RISK_CLASSES
    )
    words = "".join(f"<li>{escape(t)}</li>" for t in s.get("change_text") or [])
    return f"<h3>本月变化的来源 Where the month's change came from</h3><table>{head}{rows}</table>" + (
        f'<ul class="meta">{words}</ul>' if words else ""
    )


def _sparkline(points: list[dict[str, Any]], width: int = 240, height: int = 34) -> str:
    """Stacked class shares per month (A bottom … D top); empty months stay blank."""
    n = max(len(points), 1)
    w = width / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{escape(points[0]["month"] if points else "")}'
        f"–{escape(points[-1]['month'] if points else '')}</title>"
    ]
    for i, p in enumerate(points):
        if not p["entities"]:
            continue
        y = float(height)
        for c in RISK_CLASSES:
            h = float(p[f"share_{c.lower()}"] or 0.0) * height
            y -= h
            parts.append(
                f'<rect x="{i * w:.1f}" y="{y:.2f}" width="{max(w - 1, 0.5):.1f}" height="{h:.2f}" '
                f'fill="{CLASS_COLOURS[c]}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _trend_table(rows: list[dict[str, Any]], prefix: str, limit: int = 60) -> str:
    if not rows:
        return '<p class="empty">无数据 no data</p>'
    body = []
    for r in rows[:limit]:
        k = f"{prefix}.{r['code']}"
        body.append(
            f"<tr>{txt(r['code'])}{txt(r['name'])}{num(f'{k}.entities', r['entities'])}"
            f"{num(f'{k}.cd_first', r['cd_share_first'], 'pct')}"
            f"{num(f'{k}.cd_last', r['cd_share_last'], 'pct')}"
            f'<td class="l">{escape(str(r["first_month"] or "—"))} · {r["months_with_data"]} 月 months</td>'
            f'<td class="l">{_sparkline(r["points"])}</td></tr>'
        )
    more = (
        f'<p class="meta">另有 {len(rows) - limit} 个未列出 (smallest {len(rows) - limit} not shown).</p>'
        if len(rows) > limit
        else ""
    )
    return (
        '<table><tr><th class="l">代码 code</th><th class="l">名称 name</th><th>本月 n</th>'
        '<th>C+D 期初 first</th><th>C+D 本月 now</th><th class="l">数据起 from</th>'
        f'<th class="l">各类占比 class shares (A 底 … D 顶)</th></tr>{"".join(body)}</table>{more}'
    )


def _trends(t: dict[str, Any] | None) -> str:
    if not t:
        return ""
    months = t["months"]
    legend = " ".join(f'<span style="color:{CLASS_COLOURS[c]}">■</span> {c}' for c in RISK_CLASSES)
    split_rows = "".join(
        f"<tr>{txt(r['code'])}{txt(r['name'])}"
        f'<td class="l">{"<br>".join(escape(x) for x in r["text"])}</td></tr>'
        for r in (t.get("split_regions") or [])[:15]
        if r["text"]
    )
    return (
        f"<h2>七、趋势 Trends ({escape(months[0])} – {escape(months[-1])})</h2>"
        f'<p class="meta">每月各类占比 class shares per month: {legend}</p>'
        "<h3>市级 city</h3>"
        + _trend_table(t["regions"].get("city", []), "trend.city")
        + "<h3>县级 county</h3>"
        + _trend_table(t["regions"].get("county", []), "trend.county")
        + "<h3>行业 industry section</h3>"
        + _trend_table(t["industries"], "trend.industry")
        + (
            "<h3>本月变化最大的县 counties with the largest change this month</h3>"
            '<table><tr><th class="l">代码</th><th class="l">名称 name</th>'
            '<th class="l">来源 where it came from</th></tr>'
            f"{split_rows}</table>"
            if split_rows
            else ""
        )
    )


def latest_warnings(w: pa.Table, k: int = 50) -> list[dict[str, Any]]:
    """The ``k`` latest warnings (by event date, then code; undated last), as rows."""
    if w.num_rows == 0:
        return []
    order = pc.sort_indices(
        w.select(["event_on", "uscc"]),
        sort_keys=[("event_on", "descending"), ("uscc", "descending")],
        null_placement="at_end",
    )
    rows: list[dict[str, Any]] = w.take(order[:k]).to_pylist()
    return rows


def _warnings(w: pa.Table, tasks: int, entity_names: dict[str, str] | None = None) -> str:
    # Counts per rule in Arrow, rows only for the 50 shown (a month can hold 300k warnings).
    # Data-gap alerts name missing inputs, not entities: listed apart (docs/adr/0104).
    is_gap = pc.equal(w["rule_id"], DATA_GAP_RULE)
    gaps = w.filter(pc.and_(is_gap, pc.equal(w["state"], "open"))).to_pylist()
    w = w.filter(pc.invert(is_gap))
    counted = (
        w.select(["rule_id", "rule_name", "severity", "dispatched"])
        .append_column("d", pc.cast(w["dispatched"], pa.int64()))
        .group_by(["rule_id", "rule_name", "severity"])
        .aggregate([([], "count_all"), ("d", "sum")])
    )
    by_rule: dict[str, dict[str, Any]] = {}
    for r in counted.to_pylist():
        e = by_rule.setdefault(
            r["rule_id"], {"name": r["rule_name"], "severity": r["severity"], "n": 0, "d": 0}
        )
        e["n"] += int(r["count_all"])
        e["d"] += int(r["d_sum"] or 0)
    total = w.num_rows
    table = "".join(
        f"<tr>{txt(rid)}{txt(e['name'])}{txt(e['severity'])}{num(f'warnings.rule.{rid}', e['n'])}"
        f"{num(f'warnings.rule.{rid}.dispatched', e['d'])}</tr>"
        for rid, e in sorted(by_rule.items())
    )
    chart = (
        bar_chart(
            [(e["name"], float(e["n"]), "#6a1b9a") for _, e in sorted(by_rule.items())],
            title="各规则预警数 Warnings per rule",
        )
        if by_rule
        else ""
    )
    latest = latest_warnings(w)
    detail = "".join(
        f"<tr>{txt(r['event_on'])}{txt(r['rule_name'])}{txt(r['severity'])}"
        f"{txt((entity_names or {}).get(r['uscc'], ''))}{txt(r['uscc'])}"
        f"{txt('是 yes' if r['dispatched'] else '')}</tr>"
        for r in latest
    )
    return (
        "<h2>五、监测预警 Early warnings</h2>"
        f'<div class="kpi">预警 warnings{num("warnings.total", total, tag="b")}</div>'
        f'<div class="kpi">派发任务 inspection tasks{num("tasks.total", tasks, tag="b")}</div>'
        + chart
        + (
            '<table><tr><th class="l">规则 rule</th><th class="l">名称 name</th>'
            '<th class="l">等级 severity</th>'
            f"<th>预警 warnings</th><th>派发 dispatched</th></tr>{table}</table>"
            if by_rule
            else '<p class="empty">本月无预警 no warnings this month</p>'
        )
        + (
            f'<h3>最近预警（至多 50 条） latest warnings</h3><table><tr><th class="l">日期 date</th>'
            f'<th class="l">规则 rule</th><th class="l">等级</th><th class="l">主体名称 name</th>'
            f'<th class="l">统一社会信用代码</th>'
            f'<th class="l">派发</th></tr>{detail}</table>'
            if latest
            else ""
        )
        + _data_gaps(gaps)
    )


def _figure(key: str, f: dict[str, Any], kind: str, tag: str = "b") -> str:
    """A figure with n and its 95 % interval, or "insufficient data" (functions.analysis.stats)."""
    if not f["sufficient"]:
        shown = f'<{tag} data-k="{escape(key)}" data-v="">数据不足 insufficient data</{tag}>'
    else:
        shown = num(key, f["value"], kind, tag=tag)
    low, high = num(key + ".low", f["low"], kind, tag="span"), num(key + ".high", f["high"], kind, tag="span")
    interval = f" · 95% {low}–{high}" if f["sufficient"] and f["low"] is not None else ""
    return f'{shown}<span class="meta">n = {num(key + ".n", f["n"], tag="span")}{interval}</span>'


def _effectiveness(e: dict[str, Any]) -> str:
    pc = e["per_class"]
    fg = e.get("figures")
    # with figures: n, 95 % interval, or "insufficient data" for every figure (ADR 0106)
    rows = "".join(
        f"<tr><th>{c}</th>{num(f'eff.{c}.inspections', pc[c]['inspections'])}"
        f"{num(f'eff.{c}.problems', pc[c]['problems'])}{num(f'eff.{c}.rate', pc[c]['rate'], 'pct')}"
        + (f"<td>{_figure(f'eff.{c}.fig', fg['per_class'][c], 'pct', tag='span')}</td>" if fg else "")
        + "</tr>"
        for c in RISK_CLASSES
    )
    if fg is not None:
        un = fg["unclassified"]
        rows += (
            f"<tr><th>无类别 no class</th>{num('eff.unclassified.inspections', un['inspections'])}"
            f"{num('eff.unclassified.problems', un['problems'])}"
            f'<td>—</td><td class="l">占检查 {num("eff.unclassified.share", un["share"], "pct", tag="span")}'
            "，不计入各类 not in any class</td></tr>"
        )
    rp = e["replay"]
    chart = bar_chart(
        [(f"{c} 类", float(pc[c]["rate"] or 0.0) * 100, CLASS_COLOURS[c]) for c in RISK_CLASSES],
        title="各类问题发现率 (%) Problem-discovery rate per class",
        fmt=lambda v: f"{v:.1f}%",
    )
    hist = (
        paired_histogram(
            e["psi_bins"],
            e["score_histogram"],
            e.get("previous_score_histogram"),
            title="风险分分布 Risk-score distribution (share per band)",
        )
        if e.get("score_histogram")
        else ""
    )
    sources = "，".join(f"{escape(k)}: {v}" for k, v in e["class_sources"].items()) or "—"
    return (
        "<h2>六、抽查效果评估 Inspection effectiveness</h2>"
        f'<div class="kpi">检查 inspections{num("eff.inspections", e["inspections"], tag="b")}</div>'
        f'<div class="kpi">发现问题 problems{num("eff.problems", e["problems"], tag="b")}</div>'
        + (
            f'<div class="kpi">D/A 提升 lift{_figure("eff.lift_d_over_a", fg["lift_d_over_a"], "ratio")}'
            f'</div><div class="kpi">AUC{_figure("eff.auc", fg["auc"], "ratio")}</div>'
            if fg is not None
            else '<div class="kpi">D/A 提升 lift'
            f"{num('eff.lift_d_over_a', e['lift_d_over_a'], 'ratio', tag='b')}"
            f'</div><div class="kpi">AUC{num("eff.auc", e["auc"], "ratio", tag="b")}</div>'
        )
        + f'<div class="kpi">PSI{num("eff.psi", e["psi"], "float", tag="b")}'
        f'<span class="meta">{escape(e["psi_band"] or "—")}</span></div>'
        + _band_psi(e.get("psi_cutoff_bands"))
        + (_days(fg["replay"]) if fg is not None else "")
        + f'<p class="meta">类别来源 class taken from: {sources}（plan = 抽查计划抽取时的类别；'
        "previous_month_classification = 检查前一月的分类结果）。问题 = "
        f"{escape(', '.join(e['problem_results']))}.</p>"
        f"{chart}<table><tr><th>类别</th><th>检查 inspected</th><th>问题 problems</th>"
        f"<th>发现率 rate</th>{'<th>95% Wilson · n</th>' if fg else ''}</tr>{rows}</table>"
        "<h3>按风险分排序回放 Replay in risk-score order (Chicago-style)</h3><table>"
        + "".join(
            f'<tr><td class="l">{escape(label)}</td>{num(key, value, kind)}</tr>'
            for label, key, value, kind in (
                ("参与回放的检查 inspections with a score", "replay.inspections", rp["inspections"], "int"),
                ("前一半 first half (inspections)", "replay.first_half", rp["first_half"], "int"),
                (
                    "按风险分排序，前一半发现的问题占比 share found in first half, score order",
                    "replay.by_score",
                    rp["share_first_half_by_score"],
                    "pct",
                ),
                ("实际顺序 actual order", "replay.actual", rp["share_first_half_actual"], "pct"),
                ("随机期望 random expectation", "replay.random", rp["share_first_half_random"], "pct"),
                ("问题平均提前天数 mean days earlier", "replay.days", rp["mean_days_earlier"], "ratio"),
            )
            if not (fg and key == "replay.days")  # shown above with n and the random range
        )
        + f"</table>{hist}"
    )


def _band_psi(b: dict[str, Any] | None) -> str:
    """PSI on the class cut-off bands against last month and the fixed reference month."""
    if not b:
        return ""
    return (
        '<div class="kpi">PSI 分类切分 cut-off bands'
        f"{num('eff.psi_bands.previous', b['psi_previous'], 'float', tag='b')}"
        f'<span class="meta">vs 上月 last month · vs {escape(str(b["reference"]))} '
        f"{num('eff.psi_bands.reference', b['psi_reference'], 'float', tag='span')}"
        f" ({escape(b['psi_reference_band'] or '—')})</span></div>"
    )


def _days(rp: dict[str, Any]) -> str:
    """Days earlier in risk-score order, with the range a random order gives."""
    rnd = rp.get("random_order")
    band = (
        '<span class="meta">随机顺序 random order '
        f"{num('eff.days.random.low', rnd['low'], 'ratio', tag='span')}"
        f"–{num('eff.days.random.high', rnd['high'], 'ratio', tag='span')}"
        + ("，超出随机范围 beyond random" if rp.get("beyond_random") else "，在随机范围内 within random")
        + "</span>"
        if rnd
        else ""
    )
    days = _figure("eff.days", rp["days_earlier"], "ratio")
    return f'<div class="kpi">提前天数 days earlier{days}{band}</div>'


def render(
    summary: dict[str, Any],
    regions: list[dict[str, Any]],
    industries: list[dict[str, Any]],
    migration: list[dict[str, Any]],
    warnings: pa.Table,
    tasks: int,
    eff: dict[str, Any],
    generated_at: dt.datetime,
    trends: dict[str, Any] | None = None,
    entity_names: dict[str, str] | None = None,
    objections: str = "",
    inputs_incomplete: list[dict[str, Any]] | None = None,
) -> str:
    """The whole document (pure: same inputs, same bytes). ``objections``: the section of
    ``functions.objections.report`` (already HTML); ``inputs_incomplete``: the published
    classification manifest's missing inputs and gated indicators."""
    title = f"{summary['province_name']}（{summary['province']}）企业信用风险分类月报 {summary['month']}"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<h1 id="title">{escape(title)}</h1>'
        f'<p class="meta">Monthly credit-risk report · 模型 model {escape(str(summary.get("model")))} · '
        f"运行 run {escape(str(summary.get('run_id')))} · "
        f"生成 generated {escape(generated_at.isoformat())}</p>"
        '<p class="notice">内部资料：分类结果仅供监管部门内部使用，不得公开，不作为对企业的信用评价。'
        " Internal use only: classes are never published nor used as a public rating.</p>"
        + _classes(summary)
        + _classification_gaps(inputs_incomplete or [])
        + _regions(regions, summary)
        + _industries(industries)
        + _migration(migration, summary)
        + _warnings(warnings, tasks, entity_names)
        + _effectiveness(eff)
        + _trends(trends)
        + objections
        + f'<script type="application/json" id="report-data">{_embedded(summary, eff)}</script>'
        + "</body></html>\n"
    )


def _embedded(summary: dict[str, Any], eff: dict[str, Any]) -> str:
    """The headline numbers as JSON (inert data, not executed) for machine readers."""
    text = json.dumps(
        {"summary": summary, "effectiveness": eff}, ensure_ascii=False, sort_keys=True, default=str
    )
    return text.replace("</", "<\\/")


def _read_or_build(
    lake: Lake,
    month: str,
    province: str,
    settings: Settings | None,
    now: dt.datetime,
    refresh: bool,
    on: dict[str, Any],
) -> tuple[
    dict[str, Any],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    dict[str, Any],
    dict[str, Any] | None,
]:
    key, table = layout.analysis_key, layout.analysis_table_key
    # a month analysed before ADR 0149 has its tables at the legacy keys: analysed again here
    kinds = ("regions", "industries", "migration")
    stored = [key(month, province, "summary.json"), *(table(k, month, province) for k in kinds)]
    if refresh or not all(lake.exists(k) for k in stored):
        analyse(lake, month=month, province=province, settings=settings, write=True, **on)
    summary = lake.read_json(key(month, province, "summary.json"))
    regions, industries, migration = (lake.read_parquet(table(k, month, province)).to_pylist() for k in kinds)
    tkey = key(month, province, "trends.json")
    trends = lake.read_json(tkey) if lake.exists(tkey) else None
    ekey = key(month, province, "effectiveness.json")
    if refresh or not lake.exists(ekey):
        lake.write_json(
            ekey, effectiveness(lake, month=month, province=province, cutoff=now, settings=settings, **on)
        )
    eff = lake.read_json(ekey)
    return summary, regions, industries, migration, eff, trends


def _manifest_gaps(lake: Lake, month: str, province: str) -> list[dict[str, Any]]:
    """The published run's ``inputs_incomplete`` (empty for runs before it was recorded)."""
    items = (published_manifest(lake, month, province) or {}).get("inputs_incomplete") or []
    return [i for i in items if isinstance(i, dict)]


def write_report(
    lake: Lake,
    *,
    month: str,
    province: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    refresh: bool = False,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> str:
    """Render the month's report from the stored partitions and write it; returns its key.

    Missing analysis partitions are built first (aggregates on ``engine``, ADR 0109);
    ``refresh`` rebuilds them all (a re-published classification or newly ingested inspections)."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    on = {"engine": engine, "athena_runner": athena_runner, "boto3_session": boto3_session}
    summary, regions, industries, migration, eff, trends = _read_or_build(
        lake, month, province, settings, when, refresh, on
    )
    warnings = load_warnings(lake, month, province)
    shown = {str(r["uscc"]) for r in latest_warnings(warnings.select(["event_on", "uscc"]))}
    html = render(
        summary,
        regions,
        industries,
        migration,
        warnings,
        load_tasks(lake, month, province).num_rows,
        eff,
        when,
        trends=trends,
        entity_names=names_of(lake, month, province, shown) if shown else {},
        objections=section(lake, month, province, when),
        inputs_incomplete=_manifest_gaps(lake, month, province),
    )
    out = layout.report_key(month, province)
    lake.write_bytes(out, html.encode("utf-8"), metadata={"Content-Type": "text/html; charset=utf-8"})
    logger.info("report for %s/%s written to %s", province, month, out)
    return out
