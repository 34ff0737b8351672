"""Atomic writes: a parent path that is a file is named, and orphans of killed writers are cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganmetrics.io.atomic import atomic_write


def test_a_parent_that_is_a_file_is_named_instead_of_errno_17(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    target = blocker / "sub" / "out.npz"
    with pytest.raises(NotADirectoryError, match=f"^{target}: cannot be written, {blocker} is a file, not a folder"):
        with atomic_write(target) as handle:
            handle.write(b"x")
    assert blocker.read_text() == "a file"


def test_the_orphan_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    # A writer killed with SIGKILL inside the block leaves its .NAME.PID.XXXX.part behind.
    target = tmp_path / "out.bin"
    script = (
        "import os, signal, sys\n"
        "from ganmetrics.io.atomic import atomic_write\n"
        f"with atomic_write({str(target)!r}) as h:\n"
        "    h.write(b'half'); h.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == -9
    orphans = list(tmp_path.glob(".out.bin.*.part"))
    assert len(orphans) == 1 and not target.exists()
    with atomic_write(target) as handle:
        handle.write(b"whole")
    assert target.read_bytes() == b"whole"
    assert list(tmp_path.glob(".*.part")) == []


def test_the_temporary_file_of_a_live_writer_is_kept(tmp_path: Path) -> None:
    # Our own PID is running: a concurrent write of the same target must not lose its temporary file.
    target = tmp_path / "out.bin"
    live = tmp_path / f".out.bin.{os.getpid()}.abcd.part"
    live.write_bytes(b"in progress")
    other = tmp_path / ".other.bin.1.abcd.part"  # another target's file is never touched
    other.write_bytes(b"x")
    with atomic_write(target) as handle:
        handle.write(b"whole")
    assert live.exists() and other.exists()
