"""``ganmetrics train`` on bad input: exit 1, one ``Error:`` line naming the input, no traceback, nothing written.

Every case is checked before anything is written to ``--out``: a refused run leaves ``--out`` exactly as it was
(absent, or the earlier run byte for byte), so the corrected command is not refused afterwards.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganmetrics.cli.main import main
from ganmetrics.train import read_records

TINY = [
    "--steps",
    "20",
    "--batch-size",
    "32",
    "--eval-every",
    "10",
    "--eval-samples",
    "100",
    "--log-every",
    "5",
    "--checkpoint-every",
    "10",
    "--no-progress",
]


def _invoke(args: list[str]):
    return CliRunner().invoke(main, ["train", *map(str, args)])


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    """Return every file under ``folder`` with its bytes (None when ``folder`` does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    result = _invoke(["--out", out, *TINY, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return out


def _unusable_cuda_device() -> str:
    """``cuda`` without a GPU; on a machine with GPUs, an index past the last one."""
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def _image_folder(root: Path) -> Path:
    folder = root / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (60 * i, 100, 200)).save(folder / f"{i}.png")
    return folder


# (name, extra arguments given the tmp folder, phrases the error names)
NEW_RUN_CASES: list[tuple[str, Callable[[Path], list], tuple[str, ...]]] = [
    ("bogus device", lambda tmp: ["--device", "bogus"], ("device: 'bogus'",)),
    ("cuda without a usable GPU", lambda tmp: ["--device", _unusable_cuda_device()], ("device: 'cuda",)),
    (
        "image size 17 for a folder",
        lambda tmp: ["--data", _image_folder(tmp), "--image-size", "17"],
        ("image_size", "17", "(28, 32, 64)"),
    ),
]


@pytest.mark.parametrize(("name", "extra", "needles"), NEW_RUN_CASES, ids=[c[0] for c in NEW_RUN_CASES])
def test_refused_new_run_writes_nothing_and_the_corrected_run_starts(tmp_path: Path, name, extra, needles):
    out = tmp_path / "run"
    _assert_one_error_line(_invoke(["--out", out, *TINY, *extra(tmp_path)]), *needles)
    assert not out.exists()
    assert _invoke(["--out", out, *TINY, "--device", "cpu"]).exit_code == 0


def test_output_below_a_file_is_refused_naming_the_file(tmp_path: Path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    _assert_one_error_line(_invoke(["--out", blocker / "run", *TINY, "--device", "cpu"]), str(blocker), "is a file")
    assert blocker.read_text() == "not a folder"


def _corrupt_config(text: str) -> Callable[[Path], None]:
    return lambda out: (out / "config.json").write_text(text)


def _edit_config(**changes) -> Callable[[Path], None]:
    def edit(out: Path) -> None:
        saved = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**saved, **changes}))

    return edit


def _truncate_checkpoint(out: Path) -> None:
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])


def _garbage_checkpoint(out: Path) -> None:
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint at all" * 10)


def _empty_checkpoint(out: Path) -> None:
    (out / "checkpoint.pt").write_bytes(b"")


def _tensor_checkpoint(out: Path) -> None:
    torch.save(torch.zeros(3), out / "checkpoint.pt")


def _torn_middle_line(out: Path) -> None:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")


RESUME_CASES: list[tuple[str, Callable[[Path], None], tuple[str, ...]]] = [
    ("config not JSON", _corrupt_config("{not json"), ("config.json", "not valid JSON")),
    ("config a list", _corrupt_config("[1, 2]"), ("config.json", "JSON object")),
    ("config unknown key", _edit_config(lerning_rate=0.1), ("config.json", "unknown key 'lerning_rate'")),
    ("config wrong type", _edit_config(steps="many"), ("config.json", "steps = 'many'")),
    ("checkpoint truncated", _truncate_checkpoint, ("checkpoint.pt", "cannot be read")),
    ("checkpoint garbage", _garbage_checkpoint, ("checkpoint.pt", "cannot be read")),
    ("checkpoint empty", _empty_checkpoint, ("checkpoint.pt", "cannot be read")),
    ("checkpoint of another kind", _tensor_checkpoint, ("checkpoint.pt", "not a training checkpoint")),
    ("metrics line torn mid-file", _torn_middle_line, ("line 2", "metrics.jsonl")),
]


@pytest.mark.parametrize(("name", "damage", "needles"), RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_resume_of_a_damaged_run_fails_naming_the_file_and_changes_nothing(
    finished_run: Path, tmp_path: Path, name, damage, needles
):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    damage(out)
    before = _snapshot(out)
    _assert_one_error_line(_invoke(["--out", out, "--resume", "--steps", "30", "--no-progress"]), *needles)
    assert _snapshot(out) == before


def test_resume_after_a_torn_last_metrics_line_continues_from_the_last_good_record(finished_run: Path, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    good = read_records(out)
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 25, "wall_time": 1.')  # a write cut short by a killed run
    assert read_records(out) == good
    result = _invoke(["--out", out, "--resume", "--steps", "30", "--no-progress"])
    assert result.exit_code == 0, result.output
    steps = [r["step"] for r in read_records(out)]
    assert steps == [r["step"] for r in good] + [25, 30]
