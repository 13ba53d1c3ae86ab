"""County pages and the report in headless Chromium: rendered offline with CJK fonts, printable,
and no label clipped or overlapping, with very long entity names (issue 16).

The layout probe is a test-only script injected into a copy of the page (the pages themselves
carry no script): it measures every cell, heading and SVG label in the rendered DOM and writes
what it found into the DOM, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from functions.lake import Lake
from functions.report.county import write_county_pages
from functions.settings import Settings
from tests.functional.test_report_chromium import chromium, run
from tests.report_check import build_month, numbers
from tests.unit.test_analysis_actions import NOW, world

PROBE = """<script>
(function () {
  const bad = [];
  const text = (el) => (el.textContent || "").trim().slice(0, 60);
  for (const el of document.querySelectorAll("td, th, h1, h2, h3, p, li, .kpi")) {
    if (el.scrollWidth > el.clientWidth + 1) bad.push("clipped: " + text(el));
  }
  for (const tr of document.querySelectorAll("tr")) {
    const r = [...tr.children].map((c) => c.getBoundingClientRect());
    for (let i = 1; i < r.length; i++) {
      if (r[i].left < r[i - 1].right - 1) bad.push("overlap: " + text(tr));
    }
  }
  for (const svg of document.querySelectorAll("svg")) {
    const w = svg.width.baseVal.value;
    for (const t of svg.querySelectorAll("text")) {
      const b = t.getBBox();
      if (b.x < -0.5 || b.x + b.width > w + 0.5) bad.push("svg label outside: " + text(t));
    }
  }
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth + 1) bad.push("page wider than the window: " + page);
  document.body.setAttribute("data-layout", JSON.stringify(bad));
})();
</script>"""


def layout_problems(exe: str, tmp: Path, html: str, name: str) -> list[str]:
    probe = tmp / f"{name}-probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run(exe, tmp, "--window-size=1280,2000", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', dom.stdout)
    assert found is not None, "the layout probe did not run"
    problems: list[str] = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return problems


def test_county_page_with_very_long_names(local_lake: Lake, tmp_path: Path) -> None:
    exe = chromium()
    u = world(local_lake)
    written = write_county_pages(local_lake, month="2026-10", province="42", counties=["420102"], now=NOW)
    page = Path(local_lake.path(written[0]["html"]))
    html = page.read_text(encoding="utf-8")

    dom = run(exe, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "net::ERR" not in dom.stderr, "the page tried to load something from the network"
    parsed = numbers(dom.stdout)
    assert parsed.title.startswith("武汉市 江岸区（420102）")
    assert parsed.values["actions.total"] == ("4", "4")
    assert parsed.values[f"row.{u['d2']}.measure"][0] == "interview"
    assert "超长名称测试" * 12 in dom.stdout

    assert layout_problems(exe, tmp_path, html, "county") == []
    pdf = tmp_path / "county.pdf"
    r = run(exe, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert r.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-", r.stderr[-2000:]


def test_report_labels_are_not_clipped(local_lake: Lake, local_settings: Settings, tmp_path: Path) -> None:
    exe = chromium()
    out = build_month(local_lake, local_settings)
    html = Path(out["report_uri"]).read_text(encoding="utf-8")
    assert "武汉市" in html and "江岸区" in html  # regions by name
    assert layout_problems(exe, tmp_path, html, "report") == []


def test_the_probe_sees_clipped_and_outside_labels(tmp_path: Path) -> None:
    exe = chromium()
    bad = (
        '<!DOCTYPE html><html><body><table style="table-layout: fixed; width: 200px"><tr>'
        '<td style="width: 40px; white-space: nowrap; overflow: hidden">'
        "湖北省武汉市武昌区某某某某有限公司</td>"
        "<td>b</td></tr></table>"
        '<svg width="200" height="30"><text x="190" y="20" text-anchor="end">'
        + "很长的行业名称" * 5
        + "</text></svg></body></html>"
    )
    problems = layout_problems(exe, tmp_path, bad, "bad")
    assert any(p.startswith("clipped: 湖北省") for p in problems), problems
    assert any(p.startswith("svg label outside") for p in problems), problems
