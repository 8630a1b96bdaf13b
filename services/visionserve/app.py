"""Build the Ray Serve application from a config: a deployment per model and pipeline, and the ingress.

``serve run deploy/serve/local.yaml`` calls ``build_app`` with the file's application args;
``visionserve serve`` does the same in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from ray import serve
from ray.serve import Application, Deployment

from visionserve.config import LimitsConfig, ModelConfig, ReplicaConfig, ServiceConfig, parse_service_config
from visionserve.deployments.explainer import ExplainerDeployment
from visionserve.deployments.model import ModelDeployment
from visionserve.deployments.pipeline import PipelineDeployment
from visionserve.errors import ConfigError
from visionserve.explain.support import supported_methods
from visionserve.ingress.api import Ingress
from visionserve.settings import Settings

# A stopping replica waits for its requests in flight up to the longest a request may take
# there (Serve's default is 20 s, which cut explanations off mid-way), plus this margin.
DRAIN_MARGIN_S = 5.0


def _drain_s(*timeouts_s: float) -> float:
    return max(timeouts_s) + DRAIN_MARGIN_S


def drain_seconds(limits: LimitsConfig) -> float:
    """The longest any replica of the service waits for its requests when it stops."""
    return _drain_s(limits.request_timeout_s, limits.explain_timeout_s)


def replica_options(cfg: ReplicaConfig) -> dict[str, Any]:
    """Ray Serve options for how many replicas run and where: one mapping for every deployment."""
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": cfg.num_cpus, "num_gpus": cfg.num_gpus, "resources": cfg.resources},
    }
    if cfg.max_replicas_per_node is not None:
        options["max_replicas_per_node"] = cfg.max_replicas_per_node
    if cfg.autoscaling is None:
        options["num_replicas"] = cfg.num_replicas or 1
    else:
        options["autoscaling_config"] = cfg.autoscaling.model_dump(exclude_none=True)
    return options


@dataclass(frozen=True)
class Reservation:
    """What one deployment asks of the cluster when the application starts."""

    deployment: str
    config_key: str
    """Where the config sizes it (``models[NAME].deployment``)."""
    replicas: int
    num_cpus: float
    num_gpus: float


def starting_replicas(cfg: ReplicaConfig) -> int:
    if cfg.autoscaling is None:
        return cfg.num_replicas or 1
    initial = cfg.autoscaling.initial_replicas
    return cfg.autoscaling.min_replicas if initial is None else initial


def reservations(config: ServiceConfig) -> list[Reservation]:
    """Every deployment the application starts with, as ``build`` makes them."""
    sized: list[tuple[str, str, ReplicaConfig]] = [("ingress", "ingress", config.ingress)]
    sized += [
        (f"model-{m.name}", f"models[{m.name}].deployment", m.deployment)
        for m in config.models
        if m.deployment.placement == "replica"
    ]
    sized += [
        (f"pipeline-{p.name}", f"pipelines[{p.name}].deployment", p.deployment) for p in config.pipelines
    ]
    if config.explainer.enabled and explainable(config):
        sized.append(("explainer", "explainer", config.explainer))
    return [
        Reservation(name, key, starting_replicas(cfg), cfg.num_cpus, cfg.num_gpus) for name, key, cfg in sized
    ]


def check_reservations_fit(config: ServiceConfig, cluster: dict[str, float]) -> None:
    """Refuse (ConfigError) a config whose replicas cannot all be placed on the cluster's CPUs
    and GPUs: Serve would wait for them for ever, the ingress perhaps among them."""
    wanted = reservations(config)
    for resource, field in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
        needed = sum(r.replicas * getattr(r, field) for r in wanted)
        offered = float(cluster.get(resource, 0.0))
        if needed <= offered + 1e-9:
            continue
        parts = [f"{r.deployment} {r.replicas} x {getattr(r, field):g}" for r in wanted if getattr(r, field)]
        largest = max(wanted, key=lambda r: r.replicas * getattr(r, field))
        raise ConfigError(
            f"the deployments reserve {needed:g} {resource}s at start ({', '.join(parts)}) but the "
            f"cluster has {offered:g}: lower {largest.config_key}.{field} (or its replicas) first, "
            "or give the cluster more"
        )


def _deployment(cls: type) -> Deployment:
    """``serve.deployment(cls)``: Serve's signature only covers its use with options, which
    returns the decorator; called on a class it returns the Deployment."""
    return cast(Deployment, serve.deployment(cls))


def build(config: ServiceConfig, settings: Settings | None = None) -> Application:
    # A config edited in code (model_copy skips validation) fails here, in the caller, rather
    # than in every replica that receives it.
    config = parse_service_config(config.model_dump(mode="json"))
    settings = settings or Settings.from_env()
    model_dirs = [str(d) for d in settings.model_dirs]
    handles: dict[str, Application] = {
        m.name: _deployment(ModelDeployment)
        .options(
            name=f"model-{m.name}",
            max_ongoing_requests=m.deployment.max_ongoing_requests,
            max_queued_requests=m.deployment.max_queued_requests,
            # Model loading (and a first download) can take longer than Serve's default.
            health_check_timeout_s=60,
            graceful_shutdown_timeout_s=_drain_s(config.limits.request_timeout_s),
            **replica_options(m.deployment),
        )
        .bind(m, config.limits, model_dirs, str(settings.cache_dir), config.metrics)
        for m in config.models
        if m.deployment.placement == "replica"
    }
    for p in config.pipelines:
        handles[p.name] = (
            _deployment(PipelineDeployment)
            .options(
                name=f"pipeline-{p.name}",
                max_ongoing_requests=p.deployment.max_ongoing_requests,
                graceful_shutdown_timeout_s=_drain_s(config.limits.request_timeout_s),
                **replica_options(p.deployment),
            )
            .bind(p, config.limits, handles[p.detector], handles[p.segmenter])
        )
    explainer = _explainer(config, model_dirs, str(settings.cache_dir), str(settings.data_dir))
    # @serve.deployment made the class a Deployment; mypy ignores what a class decorator returns.
    ingress = cast(Deployment, Ingress).options(
        name="ingress",
        max_ongoing_requests=config.ingress.max_ongoing_requests,
        graceful_shutdown_timeout_s=drain_seconds(config.limits),
        **replica_options(config.ingress),
    )
    return ingress.bind(
        _with_data_paths(config, settings).model_dump(mode="json"),
        handles,
        explainer,
        model_dirs,
        str(settings.cache_dir),
    )


def _with_data_paths(config: ServiceConfig, settings: Settings) -> ServiceConfig:
    """The audit trail's files where the config does not name them: in VISIONSERVE_DATA_DIR,
    resolved here, once, so that every ingress replica writes to the same place."""
    audit = config.audit
    paths = {
        "sqlite_path": audit.sqlite_path or str(settings.data_dir / "audit.sqlite3"),
        "image_dir": audit.image_dir or str(settings.data_dir / "audit-images"),
    }
    return config.model_copy(update={"audit": audit.model_copy(update=paths)})


def explainable(config: ServiceConfig) -> list[ModelConfig]:
    """The models the explanation deployment loads."""
    wanted = config.explainer.models
    return [m for m in config.models if (wanted is None or m.name in wanted) and supported_methods(m)]


def _explainer(
    config: ServiceConfig, model_dirs: list[str], cache_dir: str, data_dir: str
) -> Application | None:
    e = config.explainer
    models = explainable(config)
    if not e.enabled or not models:
        return None
    return (
        _deployment(ExplainerDeployment)
        .options(
            name="explainer",
            max_ongoing_requests=e.max_ongoing_requests,
            max_queued_requests=e.max_queued_requests,
            health_check_timeout_s=60,
            graceful_shutdown_timeout_s=_drain_s(config.limits.explain_timeout_s),
            **replica_options(e),
        )
        .bind(
            e, models, config.limits, model_dirs, cache_dir, config.metrics, e.understand.data_dir or data_dir
        )
    )


def build_app(args: dict[str, Any]) -> Application:
    """Ray Serve application builder (``import_path: visionserve.app:build_app``)."""
    return build(parse_service_config(args))
