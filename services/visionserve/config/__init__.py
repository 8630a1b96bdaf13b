"""The service configuration: one pydantic tree, validated from YAML.

A config file is a Ray Serve config file (``deploy/serve/*.yaml``): Serve's own keys
(``http_options``, ``applications``...) plus, under the VisionServe application's ``args``,
the ``ServiceConfig`` below. Unknown keys and bad values are errors that name the key.

The tree is split by concern: ``sources`` (where a model comes from), ``models`` (a served
model and pipelines), ``replicas`` (deployments' sizes), ``limits``, ``features`` (auth,
metrics, explanations, audit) and ``service`` (the root and the file it is read from).
"""

from __future__ import annotations

from visionserve.config.features import (
    ApiKey,
    AuditConfig,
    AuthConfig,
    ExplainerConfig,
    MetricsConfig,
    Scope,
    UnderstandConfig,
)
from visionserve.config.limits import PIXEL_CEILING, LimitsConfig
from visionserve.config.models import (
    BatchingConfig,
    ModelConfig,
    PipelineConfig,
    PreprocessConfig,
    RuntimeConfig,
    TaskDefaults,
)
from visionserve.config.replicas import (
    AutoscalingConfig,
    DeploymentConfig,
    IngressConfig,
    PipelineDeploymentConfig,
    ReplicaConfig,
)
from visionserve.config.service import ServeFile, ServiceConfig, load_serve_file, parse_service_config
from visionserve.config.sources import (
    EXPORTABLE_HEADS,
    HEADS_FOR_TASK,
    SHA256_PATTERN,
    FileSource,
    Head,
    LabelsSource,
    LabelsSpec,
    SourceConfig,
    TorchvisionWeights,
    WeightsSpec,
)
from visionserve.errors import ConfigError
from visionserve_client.types import TaskName

__all__ = [
    "EXPORTABLE_HEADS",
    "HEADS_FOR_TASK",
    "PIXEL_CEILING",
    "SHA256_PATTERN",
    "ApiKey",
    "AuditConfig",
    "AuthConfig",
    "AutoscalingConfig",
    "BatchingConfig",
    "ConfigError",
    "DeploymentConfig",
    "ExplainerConfig",
    "FileSource",
    "Head",
    "IngressConfig",
    "LabelsSource",
    "LabelsSpec",
    "LimitsConfig",
    "MetricsConfig",
    "ModelConfig",
    "PipelineConfig",
    "PipelineDeploymentConfig",
    "PreprocessConfig",
    "ReplicaConfig",
    "RuntimeConfig",
    "Scope",
    "ServeFile",
    "ServiceConfig",
    "SourceConfig",
    "TaskDefaults",
    "TaskName",
    "TorchvisionWeights",
    "UnderstandConfig",
    "WeightsSpec",
    "load_serve_file",
    "parse_service_config",
]
