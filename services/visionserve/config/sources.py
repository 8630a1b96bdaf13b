"""Where a model comes from: its loader, weights, labels and output head."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from visionserve.config.strict import StrictModel

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class FileSource(StrictModel):
    """A file resolved in order: the model dirs, an installed package's data, the cache, a URL."""

    file: str = Field(description="File name, looked up in VISIONSERVE_MODEL_DIR and the cache.")
    sha256: str = Field(pattern=SHA256_PATTERN, description="Expected sha256 (lowercase hex).")
    package: str | None = Field(
        default=None, description="Installed Python package whose data holds the file."
    )
    url: str | None = Field(default=None, description="https URL to download it from.")

    @model_validator(mode="after")
    def _name_is_plain(self) -> FileSource:
        if Path(self.file).name != self.file:
            raise ValueError(f"file must be a plain file name, got {self.file!r}")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError(f"url must be http(s), got {self.url!r}")
        return self


class LabelsSource(FileSource):
    format: Literal["lines", "synsets"] = Field(
        default="lines",
        description="'lines': one label a line; 'synsets': 'n01440764 tench, Tinca tinca'.",
    )


class TorchvisionWeights(StrictModel):
    """Weights named by torchvision's registry: URL, hash and categories come with the name."""

    torchvision: str = Field(
        pattern=r"^[A-Za-z0-9_]+_Weights\.[A-Za-z0-9_]+$",
        description="e.g. FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
    )
    sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="Full sha256; without it, torchvision's hash prefix in the file name is checked.",
    )


Head = Literal[
    "logits",
    "yolox",
    "torchvision_detection",
    "torchvision_instances",
    "mask_sigmoid",
    "logits_map",
    "clip",
    "custom",
]

EXPORTABLE_HEADS = ("logits", "logits_map")
"""Heads whose torch models export to one ONNX graph (one tensor out)."""

HEADS_FOR_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("logits", "custom"),
    "detection": ("yolox", "torchvision_detection", "custom"),
    "semantic_segmentation": ("mask_sigmoid", "logits_map", "custom"),
    "instance_segmentation": ("torchvision_instances", "custom"),
    "clip": ("clip",),
}


def _weights_kind(value: Any) -> str:
    if isinstance(value, str):
        return "<random>"
    if (isinstance(value, dict) and "torchvision" in value) or isinstance(value, TorchvisionWeights):
        return "<torchvision>"
    return "<file>"


def _labels_kind(value: Any) -> str:
    return "<list>" if isinstance(value, (list, tuple)) else "<file>"


# Tagged unions, so that a mistake is reported against the one form the value was meant as.
WeightsSpec = Annotated[
    Annotated[FileSource, Tag("<file>")]
    | Annotated[TorchvisionWeights, Tag("<torchvision>")]
    | Annotated[Literal["random"], Tag("<random>")],
    Discriminator(_weights_kind),
]
LabelsSpec = Annotated[
    Annotated[LabelsSource, Tag("<file>")] | Annotated[list[str], Tag("<list>")],
    Discriminator(_labels_kind),
]


class SourceConfig(StrictModel):
    kind: Literal["efficientnet_lite", "onnx", "torchvision", "open_clip", "python"] = Field(
        description="Which loader builds the model; python: a user's VisionModel subclass."
    )
    class_path: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="python: 'package.module:ClassName' of a visionserve.custom.VisionModel.",
    )
    format: Literal["onnx", "torchscript", "state_dict"] | None = Field(
        default=None, description="python: what the weights file holds."
    )
    arch: str | None = Field(default=None, description="Architecture name for torch loaders.")
    head: Head = Field(default="logits", description="The layout of the model's output.")

    @model_validator(mode="before")
    @classmethod
    def _custom_head_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "python" and "head" not in data:
            return {**data, "head": "custom"}
        return data

    weights: WeightsSpec = Field(
        description="A file, torchvision's named weights, or 'random' (explicit, for tests and demos)."
    )
    seed: int = Field(default=0, ge=0, description="Seed of random weights.")
    labels: LabelsSpec | None = Field(
        default=None,
        description="A labels file, an inline list, or none to use torchvision's categories.",
    )
    options: dict[str, int | float | str | bool] = Field(
        default_factory=dict, description="Keyword arguments for the torchvision model builder."
    )

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        if self.kind in ("efficientnet_lite", "torchvision", "open_clip") and not self.arch:
            raise ValueError(f"source.kind {self.kind} needs source.arch")
        if (self.kind == "python") != (self.class_path is not None):
            raise ValueError("source.class_path is for, and required by, source.kind: python")
        if self.kind == "python":
            if self.head != "custom":
                raise ValueError("a python source needs source.head: custom (the default for it)")
            if isinstance(self.weights, FileSource) and self.format is None:
                raise ValueError("a python source with a weights file needs source.format")
            if self.weights == "random" and self.format not in (None, "state_dict"):
                raise ValueError("random weights need an architecture: source.format state_dict")
        elif self.head == "custom":
            raise ValueError("head custom is for source.kind: python")
        if self.kind == "onnx" and not isinstance(self.weights, FileSource):
            raise ValueError("an onnx source needs a weights file")
        if self.kind != "torchvision" and isinstance(self.weights, TorchvisionWeights):
            raise ValueError("torchvision weights need source.kind: torchvision")
        if self.kind not in ("torchvision", "open_clip", "python") and self.labels is None:
            raise ValueError("source.labels is required unless torchvision provides the categories")
        if self.options and self.kind not in ("torchvision", "open_clip"):
            raise ValueError("source.options only apply to torchvision and open_clip builders")
        return self
