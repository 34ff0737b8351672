"""Which arrays the Inception Score accepts as logits (issue 14, item 7): the FID Inception's 1008 classes or
1000, anything a file's provenance calls logits, other widths only when the caller says they are logits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganmetrics.inputs import ExtractionOptions, InputLoader, RankDeficientWarning, check_logits
from ganmetrics.io.stats_file import save_stats
from ganmetrics.metrics.frechet import FeatureStats


def rows(width: int) -> np.ndarray:
    return np.zeros((4, width))


@pytest.mark.parametrize("width", [1008, 1000])
def test_logits_of_the_inception_or_an_imagenet_classifier_are_accepted_from_a_npy(width: int) -> None:
    check_logits("a.npy", rows(width), {})


def test_pool3_features_in_a_npy_are_refused_saying_what_2048_columns_are() -> None:
    with pytest.raises(ValueError, match=r"^a.npy: has 2048 columns.*pool3 features, which are not logits"):
        check_logits("a.npy", rows(2048), {})


def test_another_width_is_accepted_when_the_caller_says_it_holds_logits() -> None:
    with pytest.raises(ValueError, match="pass --assume-logits"):
        check_logits("a.npy", rows(10), {})
    check_logits("a.npy", rows(10), {}, assume_logits=True)


def test_provenance_decides_over_width_and_flag() -> None:
    # The record of what the file holds wins: pool3 is refused even with the flag; recorded logits pass.
    with pytest.raises(ValueError, match="^a.npz: its metadata records the outputs pool3, not logits"):
        check_logits("a.npz", rows(1008), {"outputs": ["pool3"]}, assume_logits=True)
    check_logits("a.npz", rows(1008), {"outputs": ["pool3", "logits_unbiased"]})


def test_an_npz_array_stored_as_logits_is_taken_as_logits() -> None:
    check_logits("a.npz", rows(10), {})


def test_a_stats_file_from_fewer_samples_than_dimensions_warns_like_features(tmp_path) -> None:
    # Issue 14, section 3: the warning appeared for features but not for a stats side with n = 30.

    path = save_stats(
        tmp_path / "s.npz", FeatureStats.from_features(np.random.default_rng(0).standard_normal((30, 64))), {}
    )
    with pytest.warns(RankDeficientWarning, match="30 samples for 64 feature dimensions"):
        InputLoader().stats(path)


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "gpu"])
def test_an_unknown_device_is_refused_when_the_options_are_made(device: str) -> None:

    with pytest.raises(ValueError, match=rf"^device: '{device}' is not a device; use auto, cpu, cuda or cuda:N"):
        ExtractionOptions(device=device)


def test_counts_are_read_without_extraction(tmp_path) -> None:

    (tmp_path / "images").mkdir()
    for i in range(3):
        Image.new("RGB", (4, 4)).save(tmp_path / "images" / f"{i}.png")
    np.save(tmp_path / "f.npy", np.zeros((7, 2)))
    loader = InputLoader()
    assert loader.count(tmp_path / "images") == 3 and loader.count(tmp_path / "f.npy") == 7
    with pytest.raises(ValueError, match="absent: no such file or folder"):
        loader.count(tmp_path / "absent")
