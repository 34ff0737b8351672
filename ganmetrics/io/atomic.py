"""Atomic file writes: a temporary file in the target's folder, renamed over the target only on success."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file object whose contents replace ``path`` when the block ends without an exception.

    The data go to a hidden temporary file beside ``path``, ``.NAME.PID.XXXX.part`` (same filesystem, so
    ``os.replace`` is atomic). On any exception, ``KeyboardInterrupt`` included, the temporary file is removed
    and ``path`` is left as it was: readers see the old file or the whole new one, never a half-written one. A
    process killed outright (``kill -9``) cannot remove its temporary file; the next write to the same target
    removes such orphans, recognised by a PID that is no longer running on this machine.

    Raises ``NotADirectoryError`` naming the target when a folder on its path exists as a file.
    """
    target = Path(path)
    _make_parent(target)
    _remove_orphans(target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def check_writable_path(path: str | Path) -> None:
    """Raise ``NotADirectoryError`` naming ``path`` when a folder above it exists as a file (checked before long
    work, so that a result is not computed only to fail at the write; ``[Errno 17]`` says nothing of the path)."""
    target = Path(path)
    for folder in (target.parent, *target.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(f"{target}: cannot be written, {folder} is a file, not a folder")
            return


def _make_parent(target: Path) -> None:
    """Create the folders above ``target`` after ``check_writable_path``."""
    check_writable_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)


def _remove_orphans(target: Path) -> None:
    """Remove ``.NAME.PID.XXXX.part`` files beside ``target`` left by processes that are no longer running."""
    prefix = f".{target.name}."
    for candidate in target.parent.glob(f"{prefix}*.part"):
        pid = candidate.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            candidate.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Return whether a process with this id runs on this machine (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _umask() -> int:
    """Return the process umask (reading it requires setting it; it is restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
