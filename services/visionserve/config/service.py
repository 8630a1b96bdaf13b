"""The root of the service configuration and how it is read from a Ray Serve config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from visionserve.config.features import AuditConfig, AuthConfig, ExplainerConfig, MetricsConfig
from visionserve.config.limits import LimitsConfig
from visionserve.config.models import ModelConfig, PipelineConfig
from visionserve.config.replicas import IngressConfig
from visionserve.config.strict import StrictModel
from visionserve.errors import ConfigError


class ServiceConfig(StrictModel):
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


class ServeFile(StrictModel):
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
