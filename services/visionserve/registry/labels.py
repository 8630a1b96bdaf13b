"""Label sets, read from the file that travels with a model's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from visionserve.config import LabelsSource, SourceConfig, TorchvisionWeights


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
                raise ValueError(f"{path}:{number}: expected 'n01440764 name, synonyms', got {line!r}")
            line = names.split(",")[0].strip()
        labels.append(line)
    if not labels:
        raise ValueError(f"{path}: no labels")
    return labels


def torchvision_categories(source: SourceConfig) -> list[str]:
    """Categories that travel with torchvision weights (the named ones, else the arch's default)."""
    from torchvision.models import get_model_weights, get_weight

    if isinstance(source.weights, TorchvisionWeights):
        weights = get_weight(source.weights.torchvision)
    else:
        weights = get_model_weights(str(source.arch)).DEFAULT
    categories = weights.meta.get("categories")
    if not categories:
        raise ValueError(f"{weights} carries no categories: set source.labels")
    return list(categories)


def read_label_spec(spec: LabelsSource | list[str], *, model_dirs: list[Path], cache_dir: Path) -> list[str]:
    """Labels given inline, or from a verified labels file."""
    from visionserve.registry.files import resolve_file

    if isinstance(spec, list):
        return list(spec)
    return read_labels(resolve_file(spec, model_dirs=model_dirs, cache_dir=cache_dir), spec.format)


def resolve_labels(source: SourceConfig, *, model_dirs: list[Path], cache_dir: Path) -> list[str]:
    """The model's labels in output order, from wherever the config says they travel."""
    if source.labels is not None:
        return read_label_spec(source.labels, model_dirs=model_dirs, cache_dir=cache_dir)
    if source.kind in ("open_clip", "python"):
        return []  # zero-shot labels come with each request; a user model may carry its own
    return torchvision_categories(source)
