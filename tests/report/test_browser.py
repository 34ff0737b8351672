"""The report page in a real browser: headless Chromium loads it with no console error and every image.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it when absent); the test skips, saying so,
only when no Chromium binary is found. A harness page loads the report in an iframe (file access between
``file://`` pages allowed) and, on load, writes the number of images and those that failed to decode into its
DOM, which ``--dump-dom`` prints; console messages come from ``--enable-logging=stderr``. The same check run on
a copy with a missing image and a script that logs an error must report both, so the test can fail.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-file-access-from-files",
    "--enable-logging=stderr",
    "--log-level=0",
    "--v=0",
)
HARNESS = """<!DOCTYPE html><html><body><iframe id="page" src="{src}" width="1200" height="900"></iframe>
<script>
window.addEventListener("load", () => {{
  const doc = document.getElementById("page").contentDocument;
  const images = Array.from(doc.images);
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src"));
  const out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify({{title: doc.title, images: images.length, broken: broken}});
  document.body.appendChild(out);
}});
</script></body></html>
"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium binary (Debian: apt-get install -y chromium; .ci/run installs it when it can)")
    return found


def _load(browser: str, page: Path, work: Path) -> tuple[dict, list[str]]:
    """Return the harness result for ``page`` and the console lines Chromium logged."""
    work.mkdir()
    harness = work / "harness.html"
    harness.write_text(HARNESS.format(src=page.absolute().as_uri()), encoding="utf-8")
    done = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={work / 'profile'}", "--dump-dom", harness.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', done.stdout)
    assert match, f"chromium printed no result (exit {done.returncode}): {done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(match.group(1))), console


@pytest.mark.slow
def test_report_page_loads_in_chromium_without_console_errors_and_with_every_image(
    image_report: Path, tmp_path: Path
) -> None:
    browser = _chromium()
    result, console = _load(browser, image_report / "index.html", tmp_path / "good")
    assert result["title"] == "ganmetrics report"
    assert result["images"] > 10 and result["broken"] == []
    assert console == []

    broken_copy = tmp_path / "broken"
    shutil.copytree(image_report, broken_copy)
    missing = sorted((broken_copy / "thumbs").iterdir())[0]
    missing.unlink()
    index = broken_copy / "index.html"
    index.write_text(
        index.read_text(encoding="utf-8").replace("</body>", "<script>console.error('x')</script></body>"),
        encoding="utf-8",
    )
    result, console = _load(browser, index, tmp_path / "bad")
    assert f"thumbs/{missing.name}" in result["broken"]
    assert len(console) == 1
