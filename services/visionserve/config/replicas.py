"""How many replicas each deployment runs, and what each one asks of the Ray cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from visionserve.config.strict import StrictModel


class AutoscalingConfig(StrictModel):
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


class ReplicaConfig(StrictModel):
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


class IngressConfig(ReplicaConfig):
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=256, ge=1)


class PipelineDeploymentConfig(ReplicaConfig):
    num_cpus: float = Field(default=0.25, ge=0)
    max_ongoing_requests: int = Field(default=64, ge=1)
    decode_threads: int = Field(default=2, ge=1, le=64)
