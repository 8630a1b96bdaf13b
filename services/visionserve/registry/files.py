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
import tempfile
import urllib.request
from pathlib import Path

from visionserve.config import FileSource

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
    actual = sha256_of(path)
    if actual != expected:
        raise FileResolutionError(
            f"{path}: sha256 is {actual}, config expects {expected}; "
            "replace the file or fix the sha256 in the config"
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
