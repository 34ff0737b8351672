"""Case ``e2e``: ``ganmetrics fid A B`` on two folders of PNGs against the pytorch-fid and torch-fidelity CLIs.

Every tool runs as the command a user would type, in a fresh process (so start-up and model loading count),
on the same folders, with the same seeded random FID Inception weights (made once by
``make_random_fid_inception_weights``; pytorch-fid reads them from ``$TORCH_HOME/hub/checkpoints``, the others
from a path option), batch size 50, each tool's default data-loader workers, on the CPU unless CUDA is present.
Resize modes are paired: ours with ``--resize pytorch-fid`` against pytorch-fid (bilinear ``F.interpolate``),
ours with ``--resize tf`` against torch-fidelity (its TF1-compatible bilinear resize). Ours runs twice: as is
(``--numerics fp32``, the peers' features bit for bit) and with the opt-in ``--numerics fp32-fast``
(BatchNorm folded into the convolutions, channels-last; same float32 arithmetic, rounded differently).

Below the timings: the pool3 features of a 20-image probe (4 at smoke scale) from ours and from each peer's
extractor, and from ours in fp32-fast against ours in fp32 (max absolute difference, target 1e-5), and a
profile of our pipeline's stages run one after another on one folder (decode, resize, network, statistics),
which says where the time goes; in the real pipeline decoding and resizing run in DataLoader workers,
overlapped with the network.

Images are smooth seeded random RGB PNGs (coarse noise upsampled, plus pixel noise), cached in the work
directory (``$GANMETRICS_BENCH_WORK``, default ``<tmp>/ganmetrics-bench``) between runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench._harness import Config, Impl, Row, Table, measure

NAME = "e2e"
TITLE = "End-to-end FID on image folders"
BATCH = 50


def work_dir() -> Path:
    path = Path(os.environ.get("GANMETRICS_BENCH_WORK") or Path(tempfile.gettempdir()) / "ganmetrics-bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def weights_file() -> Path:
    """Return the random-weights file, and place a copy where pytorch-fid's loader looks ($TORCH_HOME)."""
    from ganmetrics.features.random_weights import make_random_fid_inception_weights
    from ganmetrics.features.weights import FID_WEIGHTS_NAME

    path = work_dir() / "random_fid_inception_seed0.pth"
    if not path.exists():
        make_random_fid_inception_weights(path, seed=0)
    hub = work_dir() / "torch_home" / "hub" / "checkpoints" / FID_WEIGHTS_NAME
    if not hub.exists():
        hub.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, hub)
    return path


def image_folder(n: int, size: int, seed: int) -> Path:
    """Return a folder of ``n`` seeded random ``size × size`` RGB PNGs (made once)."""
    folder = work_dir() / f"images_{size}px_{n}_seed{seed}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    for i in range(n):
        coarse = torch.rand((1, 3, 6, 6), generator=generator)
        image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        image = (image + 0.08 * torch.randn(image.shape, generator=generator)).clamp(0, 1)
        array = (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(array).save(folder / f"{i:05d}.png")
    done.touch()
    return folder


def _run(args: list[str], pattern: str) -> float:
    env = {**os.environ, "TORCH_HOME": str(work_dir() / "torch_home")}
    # Run outside the checkout: with the repository root as the working directory, "-m ganmetrics.cli.main" would
    # import the source folder, where the command line package is not laid out as installed.
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False, cwd=work_dir())
    if out.returncode != 0:
        raise RuntimeError(f"{args[2]} exited {out.returncode}: {out.stderr.strip().splitlines()[-1:]}")
    match = re.search(pattern, out.stdout)
    if match is None:
        raise RuntimeError(f"no FID in the output of {args[2]}: {out.stdout[-200:]!r}")
    return float(match.group(1))


def _commands(a: Path, b: Path, weights: Path) -> dict[str, tuple[list[str], str]]:
    python = sys.executable
    cuda = torch.cuda.is_available()
    ours = [
        python,
        "-m",
        "ganmetrics.cli.main",
        "fid",
        str(a),
        str(b),
        "--weights",
        str(weights),
        "--batch-size",
        str(BATCH),
        "--quiet",
        "--json",
        "--device",
        "cuda" if cuda else "cpu",
    ]
    number = r"([-+0-9.eE]+)"
    return {
        "ours pytorch-fid": (ours + ["--resize", "pytorch-fid"], r'"fid":\s*' + number),
        "pytorch-fid": (
            [
                python,
                "-m",
                "pytorch_fid",
                str(a),
                str(b),
                "--batch-size",
                str(BATCH),
                "--device",
                "cuda" if cuda else "cpu",
            ],
            r"FID:\s*" + number,
        ),
        "ours tf": (ours + ["--resize", "tf"], r'"fid":\s*' + number),
        "ours pytorch-fid fast": (
            ours + ["--resize", "pytorch-fid", "--numerics", "fp32-fast"],
            r'"fid":\s*' + number,
        ),
        "ours tf fast": (ours + ["--resize", "tf", "--numerics", "fp32-fast"], r'"fid":\s*' + number),
        "torch-fidelity": (
            [
                python,
                "-m",
                "torch_fidelity.fidelity",
                "--fid",
                "--input1",
                str(a),
                "--input2",
                str(b),
                "--feature-extractor-weights-path",
                str(weights),
                "--batch-size",
                str(BATCH),
                "--json",
                "--silent",
                "--no-cache",
            ]
            + ([] if cuda else ["--cpu"]),
            r'"frechet_inception_distance":\s*' + number,
        ),
    }


def _timing_tables(
    n: int, size: int, config: Config, modes: tuple[str, ...] = ("pytorch-fid", "tf"), fast: bool = True
) -> list[Table]:
    """Return one table per resize mode: ``ganmetrics fid`` (and, with ``fast``, its fp32-fast run) against the
    peer's CLI on 2 × ``n`` PNGs of ``size`` px."""
    weights = weights_file()
    a, b = image_folder(n, size, seed=1), image_folder(n, size, seed=2)
    commands = _commands(a, b, weights)

    def impl(key: str, name: str, ours: bool, note: str) -> Impl:
        args, pattern = commands[key]
        return Impl(name, lambda: _run(args, pattern), ours=ours, note=note)

    tables = []
    peers = {"pytorch-fid": ("pytorch-fid", "python -m pytorch_fid"), "tf": ("torch-fidelity", "fidelity --fid")}
    for mode in modes:
        peer, cli = peers[mode]
        table = measure(
            f"2 × {n} PNGs of {size}×{size}, resize {mode}: `ganmetrics fid` vs `{cli}`",
            [
                impl(f"ours {mode}", "ganmetrics fid", True, f"--resize {mode}"),
                *(
                    [
                        impl(
                            f"ours {mode} fast",
                            "ganmetrics fid fp32-fast",
                            True,
                            f"--resize {mode} --numerics fp32-fast",
                        )
                    ]
                    if fast
                    else []
                ),
                impl(peer, peer, False, "CLI"),
            ],
            config,
            value_name="FID",
        )
        table.reference_name, table.reference = f"{peer} CLI", table.row(peer).value
        if n <= 2048:
            table.notes.append(
                f"With {n} images per side the covariances are rank-deficient (N < 2048): the peers' FID is low by "
                "~1e-6 relative from round-off (see the `frechet` case), which adds to the feature rounding here."
            )
        table.notes.append(
            f"Images per second end to end (2 × {n} images, median run): "
            + ", ".join(f"{r.name} {2 * n / r.median:.1f}" for r in table.rows if r.times)
            + "."
        )
        tables.append(table)
    return tables


def _probe_features(count: int, all_threads: bool = True) -> Table:
    """Return pool3 agreement of ours with pytorch-fid's and torch-fidelity's extractors on a probe folder, with
    torch on one thread (as the project's parity tests) and, with ``all_threads``, on all threads (as the CLIs
    run)."""
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from ganmetrics.features.extract import extract_features
    from ganmetrics.features.extractors.inception import load_fid_inception
    from ganmetrics.io.images import rgb_tensor

    weights = weights_file()
    folder = image_folder(count, 64, seed=3)
    files = sorted(folder.glob("*.png"))
    model, _ = load_fid_inception(weights, "cpu", download=False)
    rows = []
    saved_home = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(work_dir() / "torch_home")
    try:
        peer = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        if saved_home is None:
            del os.environ["TORCH_HOME"]
        else:
            os.environ["TORCH_HOME"] = saved_home
    extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights)
    images = torch.stack([rgb_tensor(Image.open(f)) for f in files])
    threads = torch.get_num_threads()
    for count_threads in sorted({1, threads} if all_threads else {1}):
        torch.set_num_threads(count_threads)
        try:
            theirs = get_activations(files, peer, batch_size=BATCH, dims=2048, device="cpu", num_workers=0)
            ours = extract_features(folder, model=model, resize="pytorch-fid", progress=False, num_workers=0)
            with torch.inference_mode():
                theirs_tf = extractor(images)[0].numpy()
            ours_tf = extract_features(folder, model=model, resize="tf", progress=False, num_workers=0)
            ours_fast = extract_features(
                folder, model=model, resize="pytorch-fid", progress=False, num_workers=0, numerics="fp32-fast"
            )
        finally:
            torch.set_num_threads(threads)
        rows.append(
            (
                f"pytorch-fid get_activations, {count_threads} thread(s)",
                float(np.abs(ours.features["pool3"] - theirs).max()),
            )
        )
        rows.append(
            (
                f"torch-fidelity extractor, {count_threads} thread(s)",
                float(np.abs(ours_tf.features["pool3"] - theirs_tf).max()),
            )
        )
        rows.append(
            (
                f"ours fp32-fast against ours fp32, {count_threads} thread(s)",
                float(np.abs(ours_fast.features["pool3"] - ours.features["pool3"]).max()),
            )
        )
    table_rows = []
    for name, diff in rows:
        row = Row(name, False, f"{count} images, 64×64")
        row.value = diff
        table_rows.append(row)
    scale = float(np.abs(theirs).max())
    return Table(
        "Feature agreement: max |pool3 ours − pool3 peer| on the probe",
        table_rows,
        "",
        None,
        value_name="max abs diff",
        timed=False,
        value_format=".2e",
        notes=[
            f"pool3 values reach {scale:.2f} here; target 1e-5 absolute. Our resize runs on one thread "
            "always; the network's CPU kernels round differently with the thread count. fp32-fast "
            "(BatchNorm folded, channels-last) rounds differently by design and is opt-in; seeded "
            "random weights amplify rounding through the 94 layers more than trained ones."
        ],
    )


def _profile(n: int, size: int) -> Table:
    """Return the time of each stage of our pipeline run one after another on one folder (one process)."""
    from ganmetrics.features.extractors.inception import fold_batchnorm, load_fid_inception
    from ganmetrics.features.protocols import preprocess
    from ganmetrics.io.images import rgb_tensor
    from ganmetrics.metrics.statistics import FeatureStats
    from ganmetrics.numerics import exact_float32

    model, _ = load_fid_inception(weights_file(), "cpu", download=False)
    files = sorted(image_folder(n, size, seed=1).glob("*.png"))
    stages = {}
    start = time.perf_counter()
    decoded = [rgb_tensor(Image.open(f)) for f in files]
    stages["decode (PIL → uint8 tensor)"] = time.perf_counter() - start
    start = time.perf_counter()
    inputs = torch.cat([preprocess(image.unsqueeze(0), "pytorch-fid") for image in decoded])
    stages["resize to 299 (pytorch-fid mode)"] = time.perf_counter() - start
    start = time.perf_counter()
    with exact_float32(), torch.inference_mode():
        pool3 = torch.cat([model(batch, outputs=("pool3",))["pool3"] for batch in inputs.split(BATCH)])
    stages["network (Inception v3, batch 50)"] = time.perf_counter() - start
    fast = fold_batchnorm(model).to(memory_format=torch.channels_last)
    start = time.perf_counter()
    with exact_float32(), torch.inference_mode():
        for batch in inputs.split(BATCH):
            fast(batch.contiguous(memory_format=torch.channels_last), outputs=("pool3",))
    fast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stats = FeatureStats.from_features(pool3.numpy())
    stats.sigma.sum()
    stages["statistics (mean, covariance)"] = time.perf_counter() - start
    total = sum(stages.values())
    rows = []
    for name, seconds in stages.items():
        row = Row(name, True, f"{100 * seconds / total:.0f} %")
        row.value = seconds
        rows.append(row)
    return Table(
        f"Profile of our pipeline on one folder of {n} PNGs of {size}×{size} (stages in sequence)",
        rows,
        "",
        None,
        value_name="seconds",
        timed=False,
        value_format=".2f",
        notes=[
            f"{n / stages['network (Inception v3, batch 50)']:.1f} images/s through the network "
            f"alone on {torch.get_num_threads()} threads; {n / fast_seconds:.1f} images/s with "
            f"--numerics fp32-fast ({fast_seconds:.2f} s, not counted above). The Fréchet distance "
            "itself (two 2048-d covariances) is measured in the `frechet` case."
        ],
    )


def run(config: Config) -> list[Table]:
    """Default scale: 2 × 200 images (the issue's size) at 32 and 256 px against pytorch-fid, and at 32 px
    against torch-fidelity (the network's cost does not depend on the image size); full scale adds 256 px
    against torch-fidelity and 2 × 2,000 images (about 10 minutes per run on 2 cores). Smoke scale (the test
    suite's check that every command still runs): ours against pytorch-fid on 2 × 3 images, a 2-image probe on
    one thread, a 2-image profile; torch-fidelity's CLI and fp32-fast are covered by the probe's extractors."""
    if config.scale == "smoke":  # every command and extractor once, in the fewest processes: the runner's check
        return [
            *_timing_tables(3, 32, config, modes=("pytorch-fid",), fast=False),
            _probe_features(2, all_threads=False),
            _profile(2, 32),
        ]
    tables = _timing_tables(200, 32, config)
    modes_256 = ("pytorch-fid",) if config.scale == "default" else ("pytorch-fid", "tf")
    tables += _timing_tables(200, 256, config, modes=modes_256)
    if config.scale == "full":
        tables += _timing_tables(2000, 32, config) + _timing_tables(2000, 256, config)
    return [*tables, _probe_features(20), _profile(100, 256)]
