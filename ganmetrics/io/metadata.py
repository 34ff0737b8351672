"""The JSON ``metadata`` record stored in feature and statistics npz files: read and validated in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def read_metadata_record(arrays: dict[str, np.ndarray], source: Path) -> dict[str, Any]:
    """Return the JSON object stored as the ``metadata`` array of an npz (empty when there is none).

    Raises ``ValueError`` naming ``source`` when the record is not one string, not valid JSON, or not a JSON
    object (a list, a string or a number tells nothing about how the file was made).
    """
    if "metadata" not in arrays:
        return {}
    raw = arrays["metadata"]
    if raw.ndim != 0 or raw.dtype.kind not in "US":
        raise ValueError(
            f"{source}: its metadata record must be one JSON string, got dtype {raw.dtype} shape {raw.shape}"
        )
    try:
        record = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: its metadata record is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{source}: its metadata record must be a JSON object, got a JSON {type(record).__name__}")
    return record
