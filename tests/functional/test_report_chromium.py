"""The report opened in headless Chromium (Debian's package): it renders, offline, with CJK fonts,
and the numbers in the rendered DOM are the numbers in the partitions.

Chromium missing is a failure with instructions, never a skip: ``make test`` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from functions.lake import Lake
from functions.settings import Settings
from tests.report_check import build_month, check_against_partitions, numbers

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
]
INSTALL_HINT = (
    "Debian's chromium is required for this test: run `make test` (its setup installs it) or "
    "`apt-get update && apt-get install -y chromium fonts-noto-cjk`"
)


def chromium() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        pytest.fail(f"chromium not found. {INSTALL_HINT}")
    return exe


def run(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cjk_font_is_installed() -> None:
    fc = shutil.which("fc-list")
    if fc is None:
        pytest.fail(f"fontconfig missing. {INSTALL_HINT}")
    out = subprocess.run([fc, ":lang=zh", "family"], capture_output=True, text=True, check=True).stdout
    assert "Noto Sans CJK SC" in out or "WenQuanYi" in out, (
        f"no CJK font for the report's labels. {INSTALL_HINT}"
    )


def test_report_renders_in_chromium_with_stored_numbers(
    local_lake: Lake, local_settings: Settings, tmp_path: Path
) -> None:
    exe = chromium()
    out = build_month(local_lake, local_settings)
    page = Path(out["report_uri"])
    assert page.is_file()
    url = page.as_uri()

    dom = run(exe, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "net::ERR" not in dom.stderr, "the report tried to load something from the network"
    parsed = numbers(dom.stdout)
    assert "企业信用风险分类月报" in parsed.title
    assert check_against_partitions(local_lake, parsed.values) > 100

    shot = tmp_path / "report.png"
    r = run(exe, tmp_path, "--window-size=1200,2400", "--hide-scrollbars", f"--screenshot={shot}", url)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000  # not a blank page
