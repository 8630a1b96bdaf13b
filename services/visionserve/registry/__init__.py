"""Model files, label sets and loaders. No Ray."""

from visionserve.registry.files import FileResolutionError, resolve_file, sha256_of
from visionserve.registry.labels import read_labels
from visionserve.registry.loaders import build_runner

__all__ = ["FileResolutionError", "build_runner", "read_labels", "resolve_file", "sha256_of"]
