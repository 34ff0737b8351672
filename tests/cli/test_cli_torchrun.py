"""`torchrun --nproc_per_node=2 -m ganmetrics.cli.main fid A B` equals the single-process command.

Two CPU processes (gloo) each extract a disjoint shard of every folder; rank 0 prints the one result and writes
the one file. Both runs use one thread per process, so the float32 convolutions round alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_IMAGES = 5  # odd: the two shards differ in size


def _folder(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path.mkdir()
    for i in range(N_IMAGES):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def _run(args: list[str], distributed: bool, cwd: Path) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*(launcher if distributed else [sys.executable]), "-m", "ganmetrics.cli.main", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # cwd outside the checkout, so "-m ganmetrics.cli.main" imports the installed package, not the source folder.
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False, cwd=cwd)


@pytest.mark.slow  # about a minute: torchrun starts two processes that each load torch and the network
def test_fid_and_stats_under_torchrun_equal_the_single_process_run(tmp_path: Path, fid_weights: Path) -> None:
    real, fake = _folder(tmp_path / "real", 1), _folder(tmp_path / "fake", 2)
    common = ["--weights", str(fid_weights), "--num-workers", "0", "--quiet"]
    single = _run(["fid", str(real), str(fake), "--json", *common], distributed=False, cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    both = _run(["fid", str(real), str(fake), "--json", *common], distributed=True, cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    results = [json.loads(line) for line in both.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 1  # rank 0 alone prints
    # Same images, same weights, one thread each: the features agree to float32 round-off, and FID to 1e-6.
    assert results[0]["fid"] == pytest.approx(json.loads(single.stdout)["fid"], rel=1e-6)
    assert (results[0]["n1"], results[0]["n2"]) == (N_IMAGES, N_IMAGES)

    out = tmp_path / "real_stats.npz"
    written = _run(["stats", str(real), "-o", str(out), *common], distributed=True, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert int(np.load(out)["n"]) == N_IMAGES  # every file once across the shards, no padding duplicates
