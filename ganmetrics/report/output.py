"""The report's output folder, written atomically: built in a hidden temporary folder beside it, then renamed.

Readers see no folder, the old one, or the whole new one; an error or an interrupt leaves the target as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ganmetrics.io.atomic import _umask


def check_output(output: str | os.PathLike, overwrite: bool, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Return ``output`` as a Path after checking that a report may be written there.

    Raises ``ValueError`` when ``output`` exists and is not a folder, is a non-empty folder and ``overwrite`` is
    false, or is (or contains) one of ``inputs`` (overwriting it would delete them).
    """
    target = Path(output)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target}: exists and is not a folder; choose another output folder")
    resolved = target.resolve()
    for source in inputs:
        path = Path(source).resolve()
        if path == resolved or resolved in path.parents:
            raise ValueError(f"{target}: holds the input {source}; choose an output folder outside the inputs")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ValueError(f"{target}: the output folder is not empty; pass --overwrite (overwrite=True) to replace it")
    return target


@contextmanager
def atomic_folder(output: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``output`` that replaces ``output`` when the block ends without error.

    An existing ``output`` (checked by ``check_output``) is moved aside, the new folder renamed into place, and
    the old one removed; on any exception the temporary folder is removed and ``output`` is untouched.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part"))
    try:
        yield building
        os.chmod(building, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder the usual permissions
        if output.exists():
            old = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".old"))
            os.replace(output, old / "previous")
            os.replace(building, output)
            shutil.rmtree(old)
        else:
            os.replace(building, output)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
