"""Resolve model files (weights, label sets) to verified local paths.

Order: each folder of ``model_dirs`` (VISIONSERVE_MODEL_DIR), an installed package's data,
the cache (``<cache_dir>/<sha256>/<file>``), then a download from the configured URL into the
cache. Every file is checked against its sha256 before use; a mismatch is an error, never a
silent fallback to another copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
import urllib.request
from pathlib import Path

from visionserve.config import FileSource, TorchvisionWeights

_CHUNK = 1 << 20


class FileResolutionError(RuntimeError):
    """A model file could not be found, downloaded or verified."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> Path:
    """``expected`` is a whole sha256, or a prefix of one (torchvision names files by it)."""
    actual = sha256_of(path)
    if not actual.startswith(expected):
        what = "config expects" if len(expected) == 64 else "its name promises a digest starting"
        raise FileResolutionError(
            f"{path}: sha256 is {actual}, {what} {expected}; replace the file or fix the sha256 in the config"
        )
    return path


def _package_file(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in Path(root).rglob(name):
            if candidate.is_file():
                return candidate
    return None


def _download(url: str, target: Path, expected: str, timeout_s: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Download beside the target and rename only once verified, so that a crash or a bad
    # download never leaves a file in the cache that a later start would trust.
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - URL comes from the operator's config
            while chunk := response.read(_CHUNK):
                out.write(chunk)
        _verified(tmp, expected)
        tmp.replace(target)
        return target
    except OSError as exc:
        raise FileResolutionError(f"download of {url} failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def resolve_file(
    source: FileSource,
    *,
    model_dirs: list[Path],
    cache_dir: Path,
    download_timeout_s: float = 60.0,
) -> Path:
    """A local, sha256-verified path for ``source``."""
    for folder in model_dirs:
        candidate = folder / source.file
        if candidate.is_file():
            return _verified(candidate, source.sha256)
    if source.package is not None:
        candidate_or_none = _package_file(source.package, source.file)
        if candidate_or_none is not None:
            return _verified(candidate_or_none, source.sha256)
    cached = cache_dir / source.sha256 / source.file
    if cached.is_file():
        return _verified(cached, source.sha256)
    if source.url is None:
        searched = [str(d) for d in model_dirs] + ([f"package {source.package}"] if source.package else [])
        raise FileResolutionError(
            f"{source.file} not found in {searched or 'no model dirs'} nor in the cache "
            f"{cache_dir}, and no url is configured to download it"
        )
    return _download(source.url, cached, source.sha256, download_timeout_s)


_TORCHVISION_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")


def resolve_torchvision(
    weights: TorchvisionWeights,
    *,
    model_dirs: list[Path],
    cache_dir: Path,
    download_timeout_s: float = 600.0,
) -> Path:
    """A local, verified file for weights named in torchvision's registry.

    With a configured sha256 the file is checked in full; otherwise against the digest prefix
    that torchvision puts in every file name, as torchvision itself does.
    """
    from torchvision.models import get_weight

    try:
        url = str(get_weight(weights.torchvision).url)
    except (ValueError, KeyError, AttributeError) as exc:
        raise FileResolutionError(f"unknown torchvision weights {weights.torchvision!r}: {exc}") from None
    name = url.rsplit("/", 1)[-1]
    if weights.sha256 is not None:
        return resolve_file(
            FileSource(file=name, sha256=weights.sha256, url=url),
            model_dirs=model_dirs,
            cache_dir=cache_dir,
            download_timeout_s=download_timeout_s,
        )
    match = _TORCHVISION_NAME.search(name)
    if match is None:
        raise FileResolutionError(f"{name} carries no digest in its name: set weights.sha256")
    prefix = match.group(1)
    for folder in [*model_dirs, cache_dir / "torchvision"]:
        candidate = folder / name
        if candidate.is_file():
            return _verified(candidate, prefix)
    return _download(url, cache_dir / "torchvision" / name, prefix, download_timeout_s)
