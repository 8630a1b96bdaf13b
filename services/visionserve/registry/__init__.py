"""Model files, label sets and loaders. No Ray."""

from visionserve.registry.files import FileResolutionError, resolve_file, resolve_torchvision, sha256_of
from visionserve.registry.labels import read_label_spec, read_labels, resolve_labels
from visionserve.registry.loaders import LoadedModel, load_model, load_user_class

__all__ = [
    "FileResolutionError",
    "LoadedModel",
    "load_model",
    "load_user_class",
    "read_label_spec",
    "read_labels",
    "resolve_file",
    "resolve_labels",
    "resolve_torchvision",
    "sha256_of",
]
