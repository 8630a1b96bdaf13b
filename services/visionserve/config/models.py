"""A served model (its source, preprocessing, runtime, batching) and pipelines of models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from visionserve.config.replicas import DeploymentConfig, PipelineDeploymentConfig
from visionserve.config.sources import EXPORTABLE_HEADS, HEADS_FOR_TASK, LabelsSpec, SourceConfig
from visionserve.config.strict import StrictModel
from visionserve_client.types import TaskName

GATED_HEADS = ("logits", "yolox", "logits_map", "mask_sigmoid")
"""Heads whose answers the accuracy gate compares (visionserve.tasks.agreement)."""


class RuntimeConfig(StrictModel):
    backend: Literal["torch", "onnxruntime", "openvino", "auto"] = Field(
        description="onnxruntime or openvino for a torch model: exported to ONNX at load, cached by "
        "weights digest. auto: on the CPU, measure onnxruntime and OpenVINO (at each of "
        "auto_precisions) at load and serve the fastest that passes the accuracy gate; on cuda, onnxruntime."
    )
    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "fp16", "bf16", "int8"] = Field(
        default="fp32", description="int8: openvino only, quantized by NNCF on gate_images."
    )
    auto_precisions: tuple[Literal["fp32", "bf16", "int8"], ...] = Field(
        default=("fp32", "bf16"),
        min_length=1,
        description="auto: the OpenVINO precisions it may try; bf16 and int8 only with gate_images "
        "(and bf16 only on a CPU with AMX or AVX-512 BF16).",
    )
    gate_images: str | None = Field(
        default=None,
        max_length=4096,
        description="A folder of real photos (JPEG, PNG, WebP) for the accuracy gate, absolute or "
        "relative to a model folder; crops and flips of each are compared with fp32. Without it, "
        "auto compares fp32 backends only.",
    )
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
        if self.backend == "openvino" and self.device != "cpu":
            raise ValueError("runtime.backend openvino runs on device cpu only; use onnxruntime on cuda")
        if self.precision == "int8" and self.backend != "openvino":
            raise ValueError("runtime.precision int8 applies to backend openvino only")
        if self.backend == "openvino" and self.precision == "fp16":
            raise ValueError("runtime.backend openvino runs precision fp32, bf16 or int8")
        if self.backend == "auto" and self.precision != "fp32":
            raise ValueError("runtime.backend auto chooses the precision: list them in auto_precisions")
        if self.backend == "openvino" and self.precision != "fp32" and self.gate_images is None:
            raise ValueError(
                f"runtime.precision {self.precision} needs gate_images: only photos can show that it "
                "answers as fp32 does (int8: also its calibration)"
            )
        return self


class BatchingConfig(StrictModel):
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


class PreprocessConfig(StrictModel):
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


class TaskDefaults(StrictModel):
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


class ModelExplainConfig(StrictModel):
    """How the explanation deployment explains this model (what it offers: GET /v1/models)."""

    layer: str | None = Field(
        default=None,
        description="The layer gradient and CAM methods explain at (a module name, or NAME.input); "
        "default: found in the model (the input of its last global pool, else its last convolution).",
    )
    gradients: bool | None = Field(
        default=None,
        description="A user's torch model: offer the gradient and CAM methods. Default: yes for "
        "classifiers and semantic segmenters (the module returns logits), no for detectors and "
        "instance segmenters, whose class must then implement box_scores. Occlusion and RISE "
        "(D-RISE on boxes) work for every model through its results.",
    )


class ModelConfig(StrictModel):
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
    explain: ModelExplainConfig = ModelExplainConfig()

    @property
    def torch_model(self) -> bool:
        """Whether the model is a torch module (served by torch or exported to ONNX)."""
        return self.source.kind != "onnx" and self.source.format != "onnx"

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        heads = HEADS_FOR_TASK[self.task]
        if self.source.head not in heads:
            raise ValueError(f"task {self.task} needs source.head: {' or '.join(heads)}")
        backend = self.runtime.backend
        if not self.torch_model and backend == "torch":
            raise ValueError(
                f"a {self.source.kind} source needs runtime.backend onnxruntime, openvino or auto"
            )
        exportable = (
            self.source.kind in ("efficientnet_lite", "torchvision") and self.source.head in EXPORTABLE_HEADS
        )
        if self.torch_model and backend != "torch" and not exportable:
            raise ValueError(
                f"runtime.backend {backend} exports torch models with heads {', '.join(EXPORTABLE_HEADS)} "
                f"only; use torch for head {self.source.head}"
            )
        if self.runtime.gate_images is not None and self.source.head not in GATED_HEADS:
            raise ValueError(
                f"runtime.gate_images: the accuracy gate judges heads {', '.join(GATED_HEADS)}, not "
                f"{self.source.head}; leave gate_images out (openvino and auto then run fp32 only)"
            )
        fixed_size = self.source.head in ("logits", "yolox", "mask_sigmoid", "logits_map", "clip")
        if fixed_size and self.preprocess.input_size is None:
            raise ValueError(f"head {self.source.head} needs preprocess.input_size")
        own_preprocess = self.source.head == "custom"  # a user model resizes in its own hook
        if self.task in ("classification", "clip") and self.preprocess.resize is None and not own_preprocess:
            raise ValueError(f"{self.task} needs preprocess.resize (shorter side before crop)")
        if self.label_sets and self.task != "clip":
            raise ValueError("label_sets only apply to clip models")
        if self.explain.gradients is not None and not (self.source.head == "custom" and self.torch_model):
            raise ValueError("explain.gradients applies to a user's torch model (source.kind: python)")
        return self


class PipelineConfig(StrictModel):
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
