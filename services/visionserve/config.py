"""The service configuration: one pydantic tree, validated from YAML.

A config file is a Ray Serve config file (``deploy/serve/*.yaml``): Serve's own keys
(``http_options``, ``applications``...) plus, under the VisionServe application's ``args``,
the ``ServiceConfig`` below. Unknown keys and bad values are errors that name the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from visionserve.errors import ConfigError
from visionserve_client.types import TaskName

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


class TorchvisionWeights(_Strict):
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


class SourceConfig(_Strict):
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


class RuntimeConfig(_Strict):
    backend: Literal["torch", "onnxruntime"] = Field(
        description="onnxruntime for a torch model: exported to ONNX at load, cached by weights digest."
    )
    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    channels_last: bool = Field(default=False, description="torch: NHWC memory format.")
    threads: int = Field(default=2, ge=1, le=256, description="Intra-op threads per replica.")
    compile: bool = Field(
        default=False,
        description="torch: torch.compile (inductor); the first batches compile, later ones run faster.",
    )

    tensorrt: bool = Field(
        default=False,
        description="onnxruntime on cuda: TensorRT execution provider first (fp16 with precision fp16).",
    )
    jpeg_decoder: Literal["pillow", "torchvision"] = Field(
        default="pillow",
        description="torchvision: JPEGs decoded on runtime.device (nvJPEG on cuda); other formats by Pillow.",
    )

    @model_validator(mode="after")
    def _options_fit_the_backend(self) -> RuntimeConfig:
        if self.compile and self.backend != "torch":
            raise ValueError("runtime.compile applies to backend torch only")
        if self.tensorrt and (self.backend != "onnxruntime" or self.device != "cuda"):
            raise ValueError("runtime.tensorrt applies to backend onnxruntime on device cuda only")
        return self


class BatchingConfig(_Strict):
    max_batch_size: int = Field(default=8, ge=1, le=1024)
    wait_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=1000.0,
        description=(
            "Longest a batch waits for images still being decoded; it never waits when none are coming."
        ),
    )
    max_queue_ms: float | None = Field(
        default=None,
        gt=0.0,
        description=(
            "Refuse (503 overloaded, Retry-After) a request that would wait longer than this for the "
            "model, estimated on arrival from the images queued and the model's recent speed; keeps "
            "admitted requests' latency bounded under overload. None: queue up to max_queued_requests."
        ),
    )


class AutoscalingConfig(_Strict):
    """Ray Serve autoscaling: replicas follow the requests in flight per replica."""

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0, description="At deploy; none: min_replicas.")
    target_ongoing_requests: float = Field(
        default=4.0, gt=0, description="Requests in flight per replica the autoscaler aims for."
    )
    upscale_delay_s: float = Field(
        default=30.0, ge=0, description="How long demand must stay above target before adding replicas."
    )
    downscale_delay_s: float = Field(
        default=600.0, ge=0, description="How long demand must stay below target before removing replicas."
    )
    look_back_period_s: float = Field(
        default=30.0, gt=0, description="Window over which requests in flight are averaged."
    )
    metrics_interval_s: float = Field(
        default=10.0, gt=0, description="How often replicas report; below look_back_period_s."
    )

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        initial = self.initial_replicas
        if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
            raise ValueError("initial_replicas must lie between min_replicas and max_replicas")
        if self.metrics_interval_s >= self.look_back_period_s:
            raise ValueError("metrics_interval_s must be shorter than look_back_period_s")
        return self


class ReplicaConfig(_Strict):
    """How many replicas of a deployment run, and what each one asks of the Ray cluster."""

    num_replicas: int | None = Field(
        default=None, ge=1, description="A fixed count (none: 1); leave out with autoscaling."
    )
    autoscaling: AutoscalingConfig | None = None
    num_cpus: float = Field(default=0.5, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources per replica, e.g. one a node group advertises, to place it there.",
    )
    max_replicas_per_node: int | None = Field(
        default=None, ge=1, description="Spread replicas over nodes (a node lost takes fewer with it)."
    )

    @model_validator(mode="after")
    def _one_way_to_count(self) -> ReplicaConfig:
        if self.autoscaling is not None and self.num_replicas is not None:
            raise ValueError("set num_replicas or autoscaling, not both")
        return self


class DeploymentConfig(ReplicaConfig):
    max_ongoing_requests: int = Field(
        default=256,
        ge=1,
        description=(
            "Keep it at least the ingress's: the replica queues for its own batcher, while Ray's "
            "router retries a full replica with backoff (up to 0.5 s)."
        ),
    )
    max_queued_requests: int = Field(default=256, ge=-1, description="-1: unbounded.")
    decode_threads: int = Field(default=2, ge=1, le=64)
    decode_priority: Literal["normal", "low", "idle"] = Field(
        default="low",
        description=(
            "The decode threads' CPU priority below the model's threads: low is nice 19, idle "
            "Linux's SCHED_IDLE. Inference keeps the cores it parallelises over; decoding fills "
            "the gaps."
        ),
    )
    placement: Literal["replica", "ingress"] = Field(
        default="replica",
        description=(
            "replica: the model's own deployment (own replicas, resources, autoscaling). ingress: "
            "the model runs inside each ingress replica, with no hop between the request and the "
            "batcher; for light models on a small machine. It then uses the ingress's replicas "
            "and resources, and cannot serve a pipeline."
        ),
    )

    @model_validator(mode="after")
    def _placed_in_ingress(self) -> DeploymentConfig:
        if self.placement == "ingress":
            # Compared with the defaults rather than the keys given: the config is re-validated
            # from its full dump when the application is built.
            fields = type(self).model_fields
            ignored = sorted(
                name
                for name in _REPLICA_ONLY
                if getattr(self, name) != fields[name].get_default(call_default_factory=True)
            )
            if ignored:
                raise ValueError(
                    f"{', '.join(ignored)} cannot be set with placement: ingress (the model runs in "
                    "the ingress's replicas: size those under ingress)"
                )
        return self


# What only a model's own deployment has: a model placed in the ingress has the ingress's.
_REPLICA_ONLY = {
    "num_replicas",
    "autoscaling",
    "num_cpus",
    "num_gpus",
    "resources",
    "max_replicas_per_node",
    "max_ongoing_requests",
    "max_queued_requests",
}


class PreprocessConfig(_Strict):
    input_size: int | None = Field(
        default=None, ge=8, le=4096, description="Square side the model runs at; none: any size."
    )
    resize: int | None = Field(
        default=None, ge=8, le=8192, description="Classification: shorter side before center crop."
    )
    max_size: int = Field(
        default=1333, ge=32, le=8192, description="Any-size models: longer side cap before the model."
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
    mask_threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="Mask probability cut.")
    templates: tuple[str, ...] = Field(
        default=("a photo of a {}.",),
        min_length=1,
        max_length=64,
        description="CLIP zero-shot prompts; '{}' stands for the label; several are averaged.",
    )
    iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    max_detections: int = Field(default=100, ge=1, le=1000)


class ModelConfig(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
    task: TaskName
    source: SourceConfig
    preprocess: PreprocessConfig
    runtime: RuntimeConfig
    batching: BatchingConfig = BatchingConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    defaults: TaskDefaults = TaskDefaults()
    label_sets: dict[str, LabelsSpec] = Field(
        default_factory=dict, description="CLIP: named label sets that zero-shot requests can use."
    )

    @property
    def torch_model(self) -> bool:
        """Whether the model is a torch module (served by torch or exported to ONNX)."""
        return self.source.kind != "onnx" and self.source.format != "onnx"

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        heads = HEADS_FOR_TASK[self.task]
        if self.source.head not in heads:
            raise ValueError(f"task {self.task} needs source.head: {' or '.join(heads)}")
        if not self.torch_model and self.runtime.backend != "onnxruntime":
            raise ValueError(f"a {self.source.kind} source needs runtime.backend: onnxruntime")
        exportable = (
            self.source.kind in ("efficientnet_lite", "torchvision") and self.source.head in EXPORTABLE_HEADS
        )
        if self.torch_model and self.runtime.backend == "onnxruntime" and not exportable:
            raise ValueError(
                f"runtime.backend onnxruntime exports torch models with heads {', '.join(EXPORTABLE_HEADS)} "
                f"only; use torch for head {self.source.head}"
            )
        fixed_size = self.source.head in ("logits", "yolox", "mask_sigmoid", "logits_map", "clip")
        if fixed_size and self.preprocess.input_size is None:
            raise ValueError(f"head {self.source.head} needs preprocess.input_size")
        own_preprocess = self.source.head == "custom"  # a user model resizes in its own hook
        if self.task in ("classification", "clip") and self.preprocess.resize is None and not own_preprocess:
            raise ValueError(f"{self.task} needs preprocess.resize (shorter side before crop)")
        if self.label_sets and self.task != "clip":
            raise ValueError("label_sets only apply to clip models")
        return self


PIXEL_CEILING = 250_000_000
"""The largest max_image_pixels; Pillow's own guard refuses images past it at open."""


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=32 * 2**20, ge=1024, description="Whole request body.")
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A request's body must have arrived this long after its headers, or 408.",
    )
    max_uploads_in_progress: int = Field(
        default=1024, ge=1, description="Bodies an ingress replica receives at once; past it, 503."
    )
    max_upload_buffer_bytes: int = Field(
        default=512 * 2**20, ge=1024, description="Bytes those bodies may hold at once; past it, 503."
    )
    max_images_per_request: int = Field(default=16, ge=1, le=1024)
    max_texts_per_request: int = Field(default=256, ge=1, le=10000)
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, le=PIXEL_CEILING, description="width * height, checked before decoding."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Predictions, embeddings and model metadata."
    )
    explain_timeout_s: float = Field(
        default=300.0, gt=0, le=3600, description="Explanations, which take many passes by design."
    )
    max_explanation_passes: int = Field(
        default=4096,
        ge=1,
        description="Forward passes one explanation request may take (a gradient counts two): "
        "Integrated Gradients steps, SmoothGrad samples, occlusion windows, RISE masks.",
    )


class IngressConfig(ReplicaConfig):
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=256, ge=1)


class PipelineDeploymentConfig(ReplicaConfig):
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=64, ge=1)
    decode_threads: int = Field(default=2, ge=1, le=64)


class PipelineConfig(_Strict):
    """A composition of model deployments served under one name, like a model.

    ``detect_then_segment``: the detector's boxes of ``detect_classes`` are cropped (padded by
    ``crop_padding`` of their size), the segmenter segments each crop, and the mask of its
    ``segment_class`` is pasted back into the box: one instance per box.
    """

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
    kind: Literal["detect_then_segment"]
    task: Literal["instance_segmentation"] = "instance_segmentation"
    detector: str = Field(description="Name of a detection model in this config.")
    segmenter: str = Field(description="Name of a semantic segmentation model in this config.")
    detect_classes: list[str] = Field(min_length=1, description="Detector labels to segment.")
    segment_class: str = Field(description="The segmenter's label whose mask is kept.")
    crop_padding: float = Field(default=0.1, ge=0.0, le=1.0)
    score_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    max_detections: int = Field(default=20, ge=1, le=1000)
    deployment: PipelineDeploymentConfig = PipelineDeploymentConfig()


Scope = Literal["read", "predict", "explain", "audit"]


class ApiKey(_Strict):
    """One client's key, stored as the sha256 of the key (``printf %s KEY | sha256sum``)."""

    name: str = Field(min_length=1, max_length=64, description="Who holds it: for logs, never the key.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[Scope] = Field(
        default=["read", "predict"],
        min_length=1,
        description="read: model lists and docs; predict: classify, detect, segment, embed; explain.",
    )


class AuthConfig(_Strict):
    """API keys; none configured means no authentication (health endpoints never need a key)."""

    keys: list[ApiKey] = Field(default_factory=list)
    keys_file_env: str | None = Field(
        default=None,
        description="Name of an environment variable holding the path of a YAML list of keys "
        "(name, sha256, scopes), read at start-up: secrets out of the config file.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.keys) or self.keys_file_env is not None


class MetricsConfig(_Strict):
    """Prometheus metrics exported through Ray (visionserve.metrics)."""

    enabled: bool = True
    prediction_classes: int = Field(
        default=100,
        ge=0,
        le=1000,
        description="Distinct class labels counted per model replica; later ones count as '_other'.",
    )


class UnderstandConfig(_Strict):
    """The model-understanding views (/v1/understand/...), served by the explanation deployment."""

    data_dir: str | None = Field(
        default=None,
        description="Where reference image sets are kept; none: VISIONSERVE_DATA_DIR, or "
        "~/.local/share/visionserve. Every explainer replica must see the same folder.",
    )
    folder_roots: list[str] = Field(
        default_factory=list,
        description="Server folders (and their subfolders) a reference set may be imported from; "
        "none: sets come from uploads only.",
    )
    max_reference_images: int = Field(default=2000, ge=1, le=100_000)
    exact_search_limit: int = Field(
        default=5000, ge=1, description="Sets up to this size are searched exactly; larger ones by HNSW."
    )
    max_neighbours: int = Field(default=100, ge=1, le=10_000)
    max_steps: int = Field(
        default=1000, ge=1, le=100_000, description="Steps of class-model, inversion, DeepDream."
    )
    max_image_side: int = Field(
        default=512, ge=32, le=4096, description="Largest side DeepDream and inversion work at, in pixels."
    )


class ExplainerConfig(ReplicaConfig):
    """The explanation deployment: its own replicas (scaled on their own) and copies of the models."""

    enabled: bool = True
    models: list[str] | None = Field(default=None, description="Models to explain; none: all that can be.")
    max_ongoing_requests: int = Field(default=8, ge=1)
    max_queued_requests: int = Field(default=32, ge=-1)
    threads: int = Field(default=1, ge=1, le=16, description="Explanations run at once per replica.")
    understand: UnderstandConfig = UnderstandConfig()
    cpu_priority: Literal["normal", "low", "idle"] = Field(
        default="idle",
        description=(
            "CPU priority of the explainer's threads: idle (Linux SCHED_IDLE: only the CPU time the "
            "model replicas leave, so a flood of explanations cannot starve predictions on shared "
            "cores), low (nice 19) or normal."
        ),
    )


class AuditConfig(_Strict):
    """Every prediction recorded, to be found and explained later (/v1/audit/...)."""

    enabled: bool = True
    store: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite_path: str | None = Field(
        default=None, description="The SQLite file (WAL mode); none: audit.sqlite3 in VISIONSERVE_DATA_DIR."
    )
    postgres_dsn: str | None = Field(
        default=None,
        description="A PostgreSQL connection string without secrets (peer or trust auth over a socket); "
        "with a password, use postgres_dsn_env instead.",
    )
    postgres_dsn_env: str = Field(
        default="VISIONSERVE_AUDIT_DSN",
        description="Environment variable holding the PostgreSQL connection string (never the config).",
    )
    on_failure: Literal["open", "closed"] = Field(
        default="open",
        description="open: a full buffer or failing store drops records (counted) and serving goes on; "
        "closed: requests are refused with 503 until records can be kept.",
    )
    buffer_records: int = Field(default=10_000, ge=1, description="Records held in memory awaiting a write.")
    batch_records: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.25, gt=0, le=60)
    retention_days: float = Field(default=90.0, gt=0, description="Records older than this are deleted.")
    retention_check_s: float = Field(default=3600.0, gt=0, le=86_400)
    keep_images: bool = Field(
        default=False, description="Keep input images, so that past predictions can be explained."
    )
    image_dir: str | None = Field(default=None, description="none: audit-images in VISIONSERVE_DATA_DIR.")
    image_retention_days: float = Field(default=30.0, gt=0)
    max_page_size: int = Field(default=500, ge=1, le=10_000)


class ServiceConfig(_Strict):
    limits: LimitsConfig = LimitsConfig()
    ingress: IngressConfig = IngressConfig()
    explainer: ExplainerConfig = ExplainerConfig()
    metrics: MetricsConfig = MetricsConfig()
    auth: AuthConfig = AuthConfig()
    audit: AuditConfig = AuditConfig()
    models: list[ModelConfig] = Field(min_length=1)
    pipelines: list[PipelineConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        names = [m.name for m in self.models] + [p.name for p in self.pipelines]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model and pipeline names must be unique, repeated: {', '.join(duplicates)}")
        for pipeline in self.pipelines:
            for role, task in (("detector", "detection"), ("segmenter", "semantic_segmentation")):
                model = self.model(getattr(pipeline, role))
                if model is None or model.task != task:
                    raise ValueError(f"pipeline {pipeline.name}: {role} must name a {task} model")
                if model.deployment.placement == "ingress":
                    raise ValueError(
                        f"pipeline {pipeline.name}: its {role} {model.name} is placed in the ingress; "
                        "a pipeline calls its models' own deployments (placement: replica)"
                    )
            segmenter = self.model(pipeline.segmenter)
            labels = segmenter.source.labels if segmenter else None
            if isinstance(labels, list) and pipeline.segment_class not in labels:
                raise ValueError(f"pipeline {pipeline.name}: segment_class must be one of {labels}")
        unknown = [n for n in self.explainer.models or [] if self.model(n) is None]
        if unknown:
            raise ValueError(f"explainer.models names unknown models: {', '.join(unknown)}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    def entry(self, name: str) -> ModelConfig | PipelineConfig | None:
        """A model or a pipeline: both are served under their name."""
        return self.model(name) or next((p for p in self.pipelines if p.name == name), None)

    @property
    def entries(self) -> list[ModelConfig | PipelineConfig]:
        return [*self.models, *self.pipelines]


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        parts = (prefix, *item["loc"])
        # Union tags ("<file>") and validator names are pydantic's, not the config's keys.
        where = ".".join(str(p) for p in parts if p != "" and not str(p).startswith(("<", "function-")))
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
    grpc_port: int | None = None
    """grpc_options.port, when the file serves gRPC."""


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
    grpc = document.get("grpc_options") or {}
    return ServeFile(
        host=http.get("host", "127.0.0.1"),
        port=int(http.get("port", 8000)),
        args=args,
        grpc_port=int(grpc["port"]) if grpc.get("grpc_servicer_functions") else None,
    )
