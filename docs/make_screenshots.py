"""Regenerate the README's report screenshots: ``docs/report-images.png`` and ``docs/report-ring8.png``.

``python docs/make_screenshots.py`` (a few minutes on two CPU cores; needs Debian's ``chromium``):

- images: 80 synthetic real images (``reference_store.synthetic_images``, seed 1), 100 "generated" ones of which
  8 are exact copies of real images (the memorization suspects the page must show) and 92 fresh ones (seed 2),
  and 60 held-out real images (seed 3) for C_T (whose cells need more than 20 generated samples each); features
  from seeded random Inception weights (no download), so the distances mean nothing beyond the copies;
- ring8: ``ganmetrics train --data ring8 --steps 1200 --eval-every 300``, then ``ganmetrics report RUN``.

Each page is rendered by headless Chromium in a 1100 x ``HEIGHT`` window, cropped below its last content.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

from ganmetrics.features.random_weights import make_random_fid_inception_weights
from ganmetrics.reference_store import synthetic_images

DOCS = Path(__file__).resolve().parent
HEIGHT = 6000
CHROMIUM = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def _write_images(folder: Path, images) -> None:  # noqa: ANN001 - a uint8 (n, 3, h, w) tensor
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{folder.name}_{i:03d}.png")


def _screenshot(page: Path, target: Path, work: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    subprocess.run(
        [
            browser,
            *CHROMIUM,
            f"--user-data-dir={work / 'profile'}",
            f"--screenshot={target}",
            f"--window-size=1100,{HEIGHT}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(target) as shot:
        page = shot.convert("RGB")
    box = ImageChops.difference(page, Image.new("RGB", page.size, "white")).getbbox()
    page.crop((0, 0, page.width, min(page.height, box[3] + 16))).save(target, optimize=True)
    print(f"wrote {target}")


def images_page(work: Path) -> None:
    """Write ``docs/report-images.png`` from the synthetic image folders (see the module docstring)."""
    work.mkdir(parents=True)
    weights = make_random_fid_inception_weights(work / "random_weights.pth", seed=0)
    real = synthetic_images(80, 32, seed=1)
    _write_images(work / "real", real)
    _write_images(work / "generated", list(real[:8]) + list(synthetic_images(92, 32, seed=2)))
    _write_images(work / "heldout", synthetic_images(60, 32, seed=3))
    common = ["--weights", str(weights), "--device", "cpu", "--num-workers", "0", "--quiet", "--overwrite"]
    subprocess.run(
        [
            "ganmetrics",
            "report",
            work / "real",
            work / "generated",
            "--test",
            work / "heldout",
            "-o",
            work / "images_report",
            "--bootstrap",
            "50",
            *common,
        ],
        check=True,
    )
    _screenshot(work / "images_report" / "index.html", DOCS / "report-images.png", work)


def ring8_page(work: Path) -> None:
    """Write ``docs/report-ring8.png`` from a short ring8 training run (see the module docstring)."""
    work.mkdir(parents=True)
    subprocess.run(
        [
            "ganmetrics",
            "train",
            "--data",
            "ring8",
            "--steps",
            "1200",
            "--eval-every",
            "300",
            "--out",
            work / "ring8",
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["ganmetrics", "report", work / "ring8", "-o", work / "ring8_report", "--bootstrap", "20", "--overwrite"],
        check=True,
    )
    _screenshot(work / "ring8_report" / "index.html", DOCS / "report-ring8.png", work)


PAGES = {"images": images_page, "ring8": ring8_page}

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for name in sys.argv[1:] or list(PAGES):
            PAGES[name](Path(tmp) / name)
