"""Label sets, read from the file that travels with a model's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def read_labels(path: Path, fmt: Literal["lines", "synsets"]) -> list[str]:
    """Labels in model output order.

    ``lines``: one label a line. ``synsets``: ``n02123045 tabby, tabby cat`` -> ``tabby``.
    """
    labels = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if fmt == "synsets":
            wnid, _, names = line.partition(" ")
            if not (wnid.startswith("n") and wnid[1:].isdigit() and names):
                raise ValueError(f"{path}:{number}: expected 'nXXXXXXXX name, ...', got {line!r}")
            line = names.split(",")[0].strip()
        labels.append(line)
    if not labels:
        raise ValueError(f"{path}: no labels")
    return labels
