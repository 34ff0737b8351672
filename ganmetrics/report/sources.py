"""From what a user points at (image folders and zips, feature files, stats files, ``ref:NAME``) to report sides.

The features come from ``ganmetrics.inputs.InputLoader`` (one network load for all sides); the report adds the
original image of each feature row, listed exactly as the extractor listed them (sorted, ``recursive`` as
given), minus the files it skipped as unreadable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganmetrics.inputs import LOGITS, LOGITS_OUTPUT, ROWS, STATS, ExtractionOptions, InputLoader, is_image_source
from ganmetrics.io.images import list_image_files, list_zip_images
from ganmetrics.io.stats_file import is_stats_file
from ganmetrics.provenance import check_comparable
from ganmetrics.reference_store import is_reference, resolve_reference_path
from ganmetrics.report.build import build_report
from ganmetrics.report.content import ImageFile, ReportOptions, ReportSide
from ganmetrics.report.output import check_output
from ganmetrics.report.run import build_run_report

_LOGIT_NAMES = (LOGITS_OUTPUT, "logits")


def image_files(source: Path, recursive: bool, skipped: list[str]) -> list[ImageFile]:
    """Return the images of a folder or zip in extraction order, without those named in ``skipped``.

    Names are compared as the extractor records them: the path for a file, ``archive.zip:member`` for a member.
    """
    if source.is_dir():
        files = [ImageFile(path, root=source) for path in list_image_files(source, recursive)]
        names = [str(f.path) for f in files]
    else:
        files = [ImageFile(source, member) for member in list_zip_images(source)]
        names = [f"{source}:{f.member}" for f in files]
    dropped = set(skipped)
    return [f for f, name in zip(files, names, strict=True) if name not in dropped]


def load_side(loader: InputLoader, path: str | os.PathLike, *, logits: bool = False) -> ReportSide:
    """Return the report side of ``path`` through the inputs room, extracting images at most once.

    A statistics file gives its statistics; anything else its feature rows (``loader.feature``), with the logits
    when ``logits`` is set and the input has them (images, an .npz holding logits), and for images the original
    files in row order. Raises ``ValueError`` for a missing path, a folder without images, or an unreadable file.
    """
    source = resolve_reference_path(path)
    label = os.fspath(path)
    if is_stats_file(source):
        side = loader.side(path, label, (STATS,))
        return ReportSide(label, side.metadata, stats=side.stats)
    images = is_image_source(source)
    needs = (ROWS, LOGITS) if logits and (images or _npz_has_logits(source)) else (ROWS,)
    side = loader.side(path, label, needs)
    listed = image_files(source, loader.options.recursive, side.metadata.get("skipped") or []) if images else None
    logits_rows = side.arrays.get(LOGITS_OUTPUT)
    return ReportSide(
        label,
        side.metadata,
        features=np.asarray(side.rows(loader.feature)),
        logits=None if logits_rows is None else np.asarray(logits_rows),
        images=listed,
    )


def _npz_has_logits(source: Path) -> bool:
    if source.suffix.lower() != ".npz" or not source.is_file():
        return False
    with np.load(source, allow_pickle=False) as data:
        return any(name in data.files for name in _LOGIT_NAMES)


def report(
    first: str | os.PathLike,
    second: str | os.PathLike | None = None,
    output: str | os.PathLike = "report",
    *,
    test: str | os.PathLike | None = None,
    options: ReportOptions | None = None,
    overwrite: bool = False,
    allow_mismatch: bool = False,
    extraction: ExtractionOptions | None = None,
) -> Path:
    """Return the report folder written for SECOND (generated) against FIRST (real), or for a run directory.

    ``first`` and ``second`` are image folders, zips, feature files, stats files or ``ref:NAME``; with
    ``second=None``, ``first`` is a training run directory (``ganmetrics train --out``). ``test``: held-out real
    samples for the C_T data-copying test. Images are run through the FID Inception network once per side
    (``extraction`` says how). The output folder is checked before any extraction.

    Raises ``ValueError`` for an output folder that is not empty (unless ``overwrite``) or holds an input,
    inputs made differently (``ProvenanceMismatchError``, unless ``allow_mismatch``), too few samples, folders
    without images, a run directory without metrics.
    """
    if second is None:
        return build_run_report(first, output, overwrite=overwrite, options=options)
    paths = [Path(p) for p in (first, second, test) if p is not None and not is_reference(p)]
    check_output(output, overwrite, paths)
    loader = InputLoader(extraction)
    real = load_side(loader, first)
    fake = load_side(loader, second, logits=True)
    sides = [real, fake] + ([load_side(loader, test)] if test is not None else [])
    for other in sides[1:]:
        check_comparable(real.metadata, other.metadata, (real.label, other.label), allow_mismatch)
    return build_report(
        real,
        fake,
        output,
        test=sides[2] if test is not None else None,
        options=options,
        overwrite=overwrite,
        inputs=tuple(paths),
    )
