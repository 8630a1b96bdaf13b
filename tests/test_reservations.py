"""What a config reserves of the cluster at start, and the refusal of one that cannot fit."""

from __future__ import annotations

import pytest

from visionserve.app import check_reservations_fit, reservations, starting_replicas
from visionserve.config import AutoscalingConfig, ReplicaConfig, ServiceConfig
from visionserve.errors import ConfigError


def test_replicas_at_start_follow_the_config() -> None:
    assert starting_replicas(ReplicaConfig()) == 1
    assert starting_replicas(ReplicaConfig(num_replicas=3)) == 3
    to_zero = AutoscalingConfig(min_replicas=0, max_replicas=4)
    assert starting_replicas(ReplicaConfig(autoscaling=to_zero)) == 0
    scaled = AutoscalingConfig(min_replicas=1, max_replicas=4, initial_replicas=2)
    assert starting_replicas(ReplicaConfig(autoscaling=scaled)) == 2


def test_the_default_config_fits_two_cores(local_config: ServiceConfig) -> None:
    found = {r.deployment: r for r in reservations(local_config)}
    # The classifier is placed in the ingress: it reserves nothing of its own.
    assert set(found) == {
        "ingress", "model-yolox-nano", "model-selfie-segmentation", "pipeline-person-instances", "explainer"
    }  # fmt: skip
    assert sum(r.replicas * r.num_cpus for r in found.values()) <= 2
    check_reservations_fit(local_config, {"CPU": 2.0})


def test_a_config_over_the_cluster_is_refused_with_the_sums_and_the_key(local_config: ServiceConfig) -> None:
    with pytest.raises(ConfigError) as refused:
        check_reservations_fit(local_config, {"CPU": 1.0})
    message = str(refused.value)
    assert "CPUs at start (ingress 1 x 0.75," in message
    assert "but the cluster has 1" in message
    assert "lower ingress.num_cpus" in message  # the largest share first
    on_gpu = local_config.ingress.model_copy(update={"num_gpus": 1.0})
    gpu = local_config.model_copy(update={"ingress": on_gpu})
    with pytest.raises(ConfigError, match=r"reserve 1 GPUs at start .* but the cluster has 0"):
        check_reservations_fit(gpu, {"CPU": 8.0})
