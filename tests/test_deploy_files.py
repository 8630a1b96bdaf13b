"""deploy/: every Serve config, the KubeRay manifest and the container image definition, checked
offline against the schemas that apply to them.

- Serve configs: Ray Serve's own ServeDeploySchema plus VisionServe's config tree.
- RayService: tests/schemas/rayservice_v1.schema.json (the RayService fields, transcribed from
  KubeRay's v1 Go API types), and each pod template against Kubernetes' own strict schema
  (kubernetes-validate, as a v1 PodTemplate).
- Beyond schemas: every replica the embedded config asks for fits in some worker group, with
  the resources that group offers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import ray
import yaml
from ray.serve.schema import ServeDeploySchema

from visionserve.config import ReplicaConfig, ServiceConfig, load_serve_file, parse_service_config

from .conftest import ROOT

SERVE_CONFIGS = sorted((ROOT / "deploy" / "serve").glob("*.yaml"))
RAYSERVICE = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
RAYSERVICE_SCHEMA = ROOT / "tests" / "schemas" / "rayservice_v1.schema.json"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
KUBERNETES_VERSION = "1.33.0"


def test_there_are_local_gpu_and_multinode_configs() -> None:
    assert {p.stem for p in SERVE_CONFIGS} >= {"local", "gpu", "multinode"}


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=lambda p: p.name)
def test_each_serve_config_passes_ray_serve_and_visionserve_validation(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    ServeDeploySchema.model_validate(document)
    parse_service_config(load_serve_file(path).args)


def test_the_multinode_config_autoscales_every_deployment_and_spreads_ingresses() -> None:
    document = yaml.safe_load((ROOT / "deploy" / "serve" / "multinode.yaml").read_text())
    assert document["proxy_location"] == "EveryNode"
    config = parse_service_config(document["applications"][0]["args"])
    for name, replicas in _replica_configs(config).items():
        if name != "ingress":
            assert replicas.autoscaling is not None, name
    assert config.ingress.max_replicas_per_node == 1


def _rayservice() -> dict[str, Any]:
    document = yaml.safe_load(RAYSERVICE.read_text())
    assert isinstance(document, dict)
    return document


def _groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = document["spec"]["rayClusterConfig"]
    return [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]


def test_the_rayservice_manifest_matches_the_rayservice_schema() -> None:
    schema = json.loads(RAYSERVICE_SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(_rayservice())


def test_the_rayservice_schema_catches_what_kuberay_would_refuse() -> None:
    """The check above can fail: a misspelt field, a non-string rayStartParams value."""
    validator = jsonschema.Draft202012Validator(json.loads(RAYSERVICE_SCHEMA.read_text()))
    misspelt = _rayservice()
    misspelt["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    assert not validator.is_valid(misspelt)
    unquoted = _rayservice()
    unquoted["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    assert not validator.is_valid(unquoted)


@pytest.mark.parametrize("index", range(3), ids=["head", "cpu", "gpu"])
def test_each_pod_template_is_a_valid_kubernetes_pod_template(index: int) -> None:
    template = _groups(_rayservice())[index]["template"]
    pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}}
    pod_template["template"] = template
    kubernetes_validate.validate(pod_template, KUBERNETES_VERSION, strict=True)
    broken = json.loads(json.dumps(pod_template))
    broken["template"]["spec"]["containers"][0]["resource"] = {}  # misspelt: resources
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_models_volume_claim_is_valid() -> None:
    claim = yaml.safe_load((ROOT / "deploy" / "kuberay" / "models-pvc.yaml").read_text())
    kubernetes_validate.validate(claim, KUBERNETES_VERSION, strict=True)
    volumes = _groups(_rayservice())[0]["template"]["spec"]["volumes"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v]
    assert claims == [claim["metadata"]["name"]]


def _embedded() -> tuple[dict[str, Any], ServiceConfig]:
    serve_config = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    apps = serve_config["applications"]
    assert [a["import_path"] for a in apps] == ["visionserve.app:build_app"]
    return serve_config, parse_service_config(apps[0]["args"], where="serveConfigV2.applications.0.args")


def test_the_embedded_serve_config_passes_the_projects_validation() -> None:
    serve_config, config = _embedded()
    assert serve_config["proxy_location"] == "EveryNode"
    assert config.explainer.enabled
    assert config.explainer.autoscaling is not None
    assert all(m.deployment.autoscaling is not None for m in config.models)


def _replica_configs(config: ServiceConfig) -> dict[str, ReplicaConfig]:
    replicas: dict[str, ReplicaConfig] = {"ingress": config.ingress, "explainer": config.explainer}
    replicas.update({m.name: m.deployment for m in config.models})
    replicas.update({p.name: p.deployment for p in config.pipelines})
    return replicas


def _quantity(value: str | int | float) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _offers(group: dict[str, Any]) -> dict[str, float]:
    """What Ray on a pod of this group advertises: rayStartParams, else the container's limits."""
    params = group.get("rayStartParams", {})
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    offered = {
        "CPU": _quantity(params.get("num-cpus", limits["cpu"])),
        "GPU": _quantity(params.get("num-gpus", limits.get("nvidia.com/gpu", 0))),
    }
    if "resources" in params:
        # KubeRay passes the value to `ray start --resources=...` as written: a quoted JSON object.
        custom = json.loads(json.loads(params["resources"]))
        offered.update({k: float(v) for k, v in custom.items()})
    return offered


def test_every_replica_fits_in_some_worker_group() -> None:
    _, config = _embedded()
    offers = [_offers(g) for g in _groups(_rayservice())]
    assert offers[0]["CPU"] == 0, "the head runs no replicas"
    for name, replicas in _replica_configs(config).items():
        asks = {"CPU": replicas.num_cpus, "GPU": replicas.num_gpus, **replicas.resources}
        fitting = [o for o in offers if all(o.get(k, 0.0) >= v for k, v in asks.items() if v)]
        assert fitting, f"{name} asks for {asks}: no group offers it"
    gpu_models = [m for m in config.models if m.runtime.device == "cuda"]
    assert gpu_models
    assert all(m.deployment.num_gpus > 0 for m in gpu_models)


def test_worker_pods_are_ready_only_when_the_service_is() -> None:
    for group in _groups(_rayservice())[1:]:
        probe = group["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        assert (probe["path"], probe["port"]) == ("/readyz", 8000)


def test_images_and_ray_version_match_the_pinned_ray() -> None:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    base = re.search(r"^ARG RAY_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert base is not None
    assert base.group(1).startswith(f"rayproject/ray:{ray.__version__}-py311")
    gpu_group = cluster["workerGroupSpecs"][-1]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" in gpu_group["resources"]["limits"]


def test_the_image_installs_the_pinned_torch_and_bakes_in_no_weights() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert instructions[1] == "FROM ${RAY_IMAGE}"
    installs = [line for line in instructions if "pip install" in line]
    assert installs
    assert all("-c scripts/constraints.txt" in line for line in installs)
    copies = " ".join(line for line in instructions if line.startswith("COPY"))
    assert not re.search(r"\.(onnx|pth|pt|safetensors)\b|models/", copies)
    assert "USER ray" in instructions
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "*.onnx", "*.pth"} <= set(ignored)
