"""The service configuration: one pydantic tree, validated from YAML.

A config file is a Ray Serve config file (``deploy/serve/*.yaml``): Serve's own keys
(``http_options``, ``applications``...) plus, under the VisionServe application's ``args``,
the ``ServiceConfig`` below. Unknown keys and bad values are errors that name the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from visionserve.errors import ConfigError

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(_Strict):
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


class SourceConfig(_Strict):
    kind: Literal["efficientnet_lite", "onnx"] = Field(description="Which loader builds the model.")
    arch: str | None = Field(default=None, description="Architecture name for torch loaders.")
    head: Literal["logits", "yolox"] = Field(
        default="logits", description="Output layout: class logits, or a YOLOX grid (N, A, 5 + C)."
    )
    weights: FileSource
    labels: LabelsSource


class RuntimeConfig(_Strict):
    backend: Literal["torch", "onnxruntime"]
    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    channels_last: bool = Field(default=False, description="torch: NHWC memory format.")
    threads: int = Field(default=2, ge=1, le=256, description="Intra-op threads per replica.")


class BatchingConfig(_Strict):
    max_batch_size: int = Field(default=8, ge=1, le=1024)
    wait_ms: float = Field(default=5.0, ge=0.0, le=1000.0, description="Wait to fill a batch.")


class AutoscalingConfig(_Strict):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=4.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class DeploymentConfig(_Strict):
    num_replicas: int = Field(default=1, ge=1)
    autoscaling: AutoscalingConfig | None = None
    num_cpus: float = Field(default=0.5, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    max_ongoing_requests: int = Field(default=32, ge=1)
    max_queued_requests: int = Field(default=256, ge=-1, description="-1: unbounded.")
    decode_threads: int = Field(default=2, ge=1, le=64)


class PreprocessConfig(_Strict):
    input_size: int = Field(ge=8, le=4096, description="Square side the model runs at.")
    resize: int | None = Field(
        default=None, ge=8, le=8192, description="Classification: shorter side before center crop."
    )
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pixel_scale: Literal[1, 255] = Field(
        default=1, description="1: inputs in [0, 1] before mean/std; 255: in [0, 255]."
    )
    channel_order: Literal["rgb", "bgr"] = "rgb"
    pad_value: int = Field(default=114, ge=0, le=255, description="Detection letterbox fill.")


class TaskDefaults(_Strict):
    top_k: int = Field(default=5, ge=1, le=1000)
    score_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    max_detections: int = Field(default=100, ge=1, le=1000)


class ModelConfig(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
    task: Literal["classification", "detection"]
    source: SourceConfig
    preprocess: PreprocessConfig
    runtime: RuntimeConfig
    batching: BatchingConfig = BatchingConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    defaults: TaskDefaults = TaskDefaults()

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.source.kind == "onnx" and self.runtime.backend != "onnxruntime":
            raise ValueError("an onnx source needs runtime.backend: onnxruntime")
        expected_head = {"classification": "logits", "detection": "yolox"}[self.task]
        if self.source.head != expected_head:
            raise ValueError(f"task {self.task} needs source.head: {expected_head}")
        if self.source.kind == "efficientnet_lite" and self.runtime.backend != "torch":
            raise ValueError("an efficientnet_lite source needs runtime.backend: torch")
        if self.task == "classification" and self.preprocess.resize is None:
            raise ValueError("classification needs preprocess.resize (shorter side before crop)")
        return self


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=32 * 2**20, ge=1024, description="Whole request body.")
    max_images_per_request: int = Field(default=16, ge=1, le=1024)
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="width * height, checked before decoding."
    )
    request_timeout_s: float = Field(default=30.0, gt=0, le=3600)


class IngressConfig(_Strict):
    num_replicas: int = Field(default=1, ge=1)
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=256, ge=1)


class ServiceConfig(_Strict):
    limits: LimitsConfig = LimitsConfig()
    ingress: IngressConfig = IngressConfig()
    models: list[ModelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ServiceConfig:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        what = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{where}: {what}")
    return "; ".join(lines)


def parse_service_config(args: dict[str, Any], *, where: str = "args") -> ServiceConfig:
    """Validate the application args; errors name each bad key by its dotted path."""
    try:
        return ServiceConfig.model_validate(args)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {_describe(exc, where)}") from None


class ServeFile(_Strict):
    """The parts of a Ray Serve config file that VisionServe reads."""

    model_config = ConfigDict(extra="allow", frozen=True)
    host: str
    port: int
    args: dict[str, Any]


def load_serve_file(path: str | Path) -> ServeFile:
    """Read a Serve config file and return its HTTP options and the VisionServe app's args."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("applications"), list):
        raise ConfigError(f"{path}: expected a Ray Serve config with an 'applications' list")
    apps = [a for a in document["applications"] if str(a.get("import_path", "")).startswith("visionserve.")]
    if len(apps) != 1:
        raise ConfigError(f"{path}: expected one application with import_path visionserve.app:build_app")
    http = document.get("http_options") or {}
    index = document["applications"].index(apps[0])
    args = apps[0].get("args") or {}
    parse_service_config(args, where=f"applications.{index}.args")
    return ServeFile(host=http.get("host", "127.0.0.1"), port=int(http.get("port", 8000)), args=args)
