from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from visionserve.config import load_serve_file, parse_service_config
from visionserve.errors import ConfigError

from .conftest import LOCAL_CONFIG


def _args() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(LOCAL_CONFIG.read_text())["applications"][0]["args"])


def test_default_config_is_valid_and_names_its_models() -> None:
    serve_file = load_serve_file(LOCAL_CONFIG)
    config = parse_service_config(serve_file.args)
    assert (serve_file.host, serve_file.port) == ("127.0.0.1", 8000)
    assert [(m.name, m.task) for m in config.models] == [
        ("efficientnet-lite0", "classification"),
        ("yolox-nano", "detection"),
        ("selfie-segmentation", "semantic_segmentation"),
    ]


def test_unknown_key_is_named_with_its_path() -> None:
    args = _args()
    args["models"][1]["batching"]["max_batch"] = 4
    with pytest.raises(ConfigError, match=r"args\.models\.1\.batching\.max_batch: unknown key"):
        parse_service_config(args)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("models", 0, "batching", "max_batch_size"), 0, r"models\.0\.batching\.max_batch_size"),
        (("models", 0, "runtime", "backend"), "tensorflow", r"models\.0\.runtime\.backend"),
        (("models", 1, "source", "weights", "sha256"), "abc", r"models\.1\.source\.weights\.sha256"),
        (("limits", "max_images_per_request"), -1, r"limits\.max_images_per_request"),
        (("models", 0, "name"), "bad name/..", r"models\.0\.name"),
    ],
)
def test_bad_values_name_the_key(path: tuple[Any, ...], value: Any, message: str) -> None:
    args = _args()
    target = args
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        parse_service_config(args)


def test_inconsistent_model_is_refused() -> None:
    args = _args()
    args["models"][1]["source"]["head"] = "logits"
    with pytest.raises(ConfigError, match=r"needs source\.head: yolox"):
        parse_service_config(args)


def test_duplicate_model_names_are_refused() -> None:
    args = _args()
    args["models"][1]["name"] = "efficientnet-lite0"
    with pytest.raises(ConfigError, match="repeated: efficientnet-lite0"):
        parse_service_config(args)


def test_serve_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_serve_file(tmp_path / "missing.yaml")
    not_serve = tmp_path / "plain.yaml"
    not_serve.write_text("models: []\n")
    with pytest.raises(ConfigError, match="applications"):
        load_serve_file(not_serve)
    broken = tmp_path / "broken.yaml"
    document = yaml.safe_load(LOCAL_CONFIG.read_text())
    document["applications"][0]["args"]["limits"]["max_body"] = 1
    broken.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=r"applications\.0\.args\.limits\.max_body: unknown key"):
        load_serve_file(broken)


def test_weights_forms_and_their_errors() -> None:
    args = _args()
    args["models"][1]["source"]["weights"] = "randm"
    with pytest.raises(ConfigError, match=r"models\.1\.source\.weights: Input should be 'random'"):
        parse_service_config(args)
    args = _args()
    args["models"][1]["source"]["weights"] = {"torchvision": "Bad-Name"}
    with pytest.raises(ConfigError, match=r"models\.1\.source\.weights\.torchvision: String should match"):
        parse_service_config(args)
    args = _args()
    args["models"][1]["source"]["weights"] = "random"
    with pytest.raises(ConfigError, match="an onnx source needs a weights file"):
        parse_service_config(args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"detector": "efficientnet-lite0"}, "detector must name a detection model"),
        ({"segmenter": "nope"}, "segmenter must name a semantic_segmentation model"),
        ({"segment_class": "cat"}, "segment_class must be one of"),
        ({"name": "yolox-nano"}, "repeated: yolox-nano"),
    ],
)
def test_pipelines_must_name_fitting_models(change: dict[str, str], message: str) -> None:
    args = _args()
    args["pipelines"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_service_config(args)


def test_onnxruntime_serves_torch_models_only_where_they_export() -> None:
    args = _args()
    args["models"][2]["runtime"]["backend"] = "torch"
    with pytest.raises(ConfigError, match=r"needs runtime\.backend onnxruntime, openvino or auto"):
        parse_service_config(args)
    zoo = yaml.safe_load((LOCAL_CONFIG.parents[2] / "tests" / "configs" / "zoo.yaml").read_text())
    for backend in ("onnxruntime", "openvino", "auto"):
        detector = zoo["applications"][0]["args"]["models"][0]
        detector["runtime"]["backend"] = backend
        with pytest.raises(ConfigError, match=f"backend {backend} exports torch models with heads"):
            parse_service_config({"models": [detector]})


def test_bf16_and_int8_only_where_a_gate_can_judge_them() -> None:
    zoo = yaml.safe_load((LOCAL_CONFIG.parents[2] / "tests" / "configs" / "zoo.yaml").read_text())
    user_model = next(m for m in zoo["applications"][0]["args"]["models"] if m["name"] == "tinynet")
    user_model["source"] |= {"format": "onnx", "weights": {"file": "tiny.onnx", "sha256": "0" * 64}}
    user_model["runtime"] = {"backend": "auto", "gate_images": "photos"}
    with pytest.raises(ConfigError, match="the accuracy gate judges heads logits, yolox"):
        parse_service_config({"models": [user_model]})
    del user_model["runtime"]["gate_images"]  # without photos auto compares fp32 backends only
    assert parse_service_config({"models": [user_model]}).models[0].runtime.backend == "auto"
    user_model["runtime"] = {"backend": "openvino", "precision": "bf16"}
    with pytest.raises(ConfigError, match="precision bf16 needs gate_images"):
        parse_service_config({"models": [user_model]})


def test_the_gpu_profile_is_a_valid_config() -> None:
    serve_file = load_serve_file(LOCAL_CONFIG.with_name("gpu.yaml"))
    config = parse_service_config(serve_file.args)
    assert {m.runtime.device for m in config.models} == {"cuda"}
    assert all(m.runtime.jpeg_decoder == "torchvision" for m in config.models)


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        ({"num_replicas": 2, "autoscaling": {"max_replicas": 4}}, "num_replicas or autoscaling, not both"),
        ({"autoscaling": {"min_replicas": 3, "max_replicas": 2}}, "min_replicas must not exceed"),
        ({"autoscaling": {"max_replicas": 4, "initial_replicas": 5}}, "initial_replicas must lie between"),
        ({"autoscaling": {"look_back_period_s": 5}}, "metrics_interval_s must be shorter"),
        ({"max_replicas_per_node": 0}, r"max_replicas_per_node"),
        ({"resources": {"cpu_worker": "many"}}, r"resources\.cpu_worker"),
    ],
)
def test_bad_placement_names_the_deployment(deployment: dict[str, Any], message: str) -> None:
    args = _args()
    placement = args["models"][0]["deployment"]
    placement.pop("num_replicas", None)
    placement.update(deployment)
    with pytest.raises(ConfigError, match=rf"models\.0\.deployment.*{message}"):
        parse_service_config(args)


def test_autoscaling_reaches_every_deployment_kind() -> None:
    args = _args()
    scaling = {"min_replicas": 1, "max_replicas": 3, "upscale_delay_s": 5, "downscale_delay_s": 60}
    args["ingress"]["autoscaling"] = args["explainer"]["autoscaling"] = scaling
    args["ingress"].pop("num_replicas", None)
    args["explainer"].pop("num_replicas", None)
    config = parse_service_config(args)
    from visionserve.app import replica_options

    for placement in (config.ingress, config.explainer):
        options = replica_options(placement)
        assert "num_replicas" not in options
        assert options["autoscaling_config"]["max_replicas"] == 3
        assert options["autoscaling_config"]["downscale_delay_s"] == 60


def test_a_model_placed_in_the_ingress_has_no_replica_settings_of_its_own() -> None:
    args = _args()
    args["models"][0]["deployment"] = {"placement": "ingress", "decode_threads": 4}
    assert parse_service_config(args).models[0].deployment.placement == "ingress"
    args["models"][0]["deployment"] = {"placement": "ingress", "num_cpus": 1, "max_ongoing_requests": 8}
    refused = r"models\.0\.deployment.*max_ongoing_requests, num_cpus cannot be set with placement"
    with pytest.raises(ConfigError, match=refused):
        parse_service_config(args)
    args["models"][0]["deployment"] = {"placement": "elsewhere"}
    with pytest.raises(ConfigError, match=r"models\.0\.deployment\.placement"):
        parse_service_config(args)


def test_a_pipeline_needs_its_models_in_their_own_deployments() -> None:
    args = _args()
    args["models"][1]["deployment"] = {"placement": "ingress"}
    with pytest.raises(ConfigError, match="its detector yolox-nano is placed in the ingress"):
        parse_service_config(args)


def test_only_models_in_their_own_deployments_get_one() -> None:
    from visionserve.app import build

    args = _args()
    args["models"][0]["deployment"] = {"placement": "ingress"}
    app = build(parse_service_config(args))
    handles = app._bound_deployment.init_args[1]  # the ingress's handles to other deployments
    assert set(handles) == {"yolox-nano", "selfie-segmentation", "person-instances"}
