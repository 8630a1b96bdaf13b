"""Reference image sets on disk, and their features per model version and layer (no Ray).

A set is a folder ``<data_dir>/reference_sets/<id>/`` holding the images as sent (``images/``),
``set.json`` (names, sizes, sha256 of each image) and one ``features/<version>-<layer>.npy``
per model version and layer it was embedded with, so a set is embedded once per model. A set
never changes after it is made: to change it, make another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from visionserve.errors import BadRequest, InvalidImage, PayloadTooLarge, ReferenceSetNotFound
from visionserve.imaging import decode

_ID = re.compile(r"^[0-9a-f]{32}$")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class Item:
    index: int
    name: str
    width: int
    height: int
    sha256: str
    file: str


@dataclass(frozen=True)
class ReferenceSet:
    id: str
    name: str
    created: float
    items: tuple[Item, ...]
    folder: Path

    def image_bytes(self, index: int) -> bytes:
        return (self.folder / "images" / self.items[index].file).read_bytes()

    def features_path(self, model_version: str, layer: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", layer)
        return self.folder / "features" / f"{model_version[:16]}-{safe}.npy"


class ReferenceSets:
    def __init__(self, data_dir: Path, max_images: int, max_pixels: int) -> None:
        self.root = data_dir / "reference_sets"
        self.max_images = max_images
        self.max_pixels = max_pixels

    def create(self, name: str, images: list[tuple[str, bytes]]) -> ReferenceSet:
        """Check every image decodes (a bad one is named in the 400), then write the set
        atomically: a folder appears complete or not at all."""
        if not images:
            raise BadRequest("a reference set needs at least one image")
        if len(images) > self.max_images:
            raise PayloadTooLarge(
                f"{len(images)} images, over the limit of {self.max_images} per reference set"
            )
        items = []
        for index, (filename, data) in enumerate(images):
            try:
                decoded = decode(data, max_pixels=self.max_pixels)
            except (InvalidImage, PayloadTooLarge) as exc:
                raise type(exc)(f"image {index} ({filename!r}): {exc.message}") from None
            suffix = Path(filename).suffix.lower()
            file = f"{index:05d}{suffix if suffix in IMAGE_SUFFIXES else '.img'}"
            digest = hashlib.sha256(data).hexdigest()
            items.append(
                Item(index, Path(filename).name or file, decoded.width, decoded.height, digest, file)
            )
        set_id = uuid.uuid4().hex
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=self.root))
        try:
            (staging / "images").mkdir()
            (staging / "features").mkdir()
            for item, (_, data) in zip(items, images, strict=True):
                (staging / "images" / item.file).write_bytes(data)
            meta = {"id": set_id, "name": name, "created": time.time(), "items": [asdict(i) for i in items]}
            (staging / "set.json").write_text(json.dumps(meta))
            os.replace(staging, self.root / set_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(set_id)

    def from_folder(self, name: str, folder: Path) -> ReferenceSet:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if len(files) > self.max_images:
            raise PayloadTooLarge(f"{folder} holds {len(files)} images, over the limit of {self.max_images}")
        return self.create(name, [(p.name, p.read_bytes()) for p in files])

    def get(self, set_id: str) -> ReferenceSet:
        folder = self.root / set_id
        if not _ID.match(set_id) or not (folder / "set.json").is_file():
            raise ReferenceSetNotFound(f"no reference set {set_id!r}")
        meta = json.loads((folder / "set.json").read_text())
        items = tuple(Item(**i) for i in meta["items"])
        return ReferenceSet(meta["id"], meta["name"], meta["created"], items, folder)

    def list(self) -> list[ReferenceSet]:
        if not self.root.is_dir():
            return []
        found = [self.get(p.name) for p in self.root.iterdir() if _ID.match(p.name)]
        return sorted(found, key=lambda s: s.created)

    def delete(self, set_id: str) -> None:
        shutil.rmtree(self.get(set_id).folder)

    @staticmethod
    def save_features(path: Path, features: np.ndarray) -> None:
        partial = path.with_suffix(f".{uuid.uuid4().hex}.partial.npy")
        np.save(partial, features.astype(np.float32))
        os.replace(partial, path)
