"""The report of two small image folders (seeded random Inception weights), shared by the page and browser tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganmetrics.inputs import ExtractionOptions, InputLoader
from ganmetrics.report import ReportOptions, build_report
from ganmetrics.report.sources import load_side

# File names with HTML-special characters, and one that is not UTF-8 (byte 0xff).
SPECIAL_NAME = "a<b>&'\"c.png"
NON_UTF8_NAME = b"\xff-latin1.png"


@pytest.fixture(scope="session")
def image_report(tmp_path_factory: pytest.TempPathFactory, fid_weights: Path) -> Path:
    """A report of two small folders of noise images (random Inception weights), with awkward file names."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for folder, count in (("real", 6), ("fake", 4)):
        (root / folder).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{i:02d}.png")
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(root / "real" / SPECIAL_NAME)
    with open(os.path.join(os.fsencode(root / "fake"), NON_UTF8_NAME), "wb") as handle:
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(handle, format="PNG")
    loader = InputLoader(ExtractionOptions(weights=fid_weights, device="cpu", progress=False, num_workers=0))
    real = load_side(loader, root / "real")
    fake = load_side(loader, root / "fake", logits=True)
    options = ReportOptions(bootstrap=10, subsets=5, grid_rows=3, shown=4)
    return build_report(real, fake, root / "report", options=options, inputs=(root / "real", root / "fake"))


@pytest.fixture(scope="session")
def special_name() -> str:
    """The file name with HTML-special characters that ``image_report``'s real folder holds."""
    return SPECIAL_NAME
