"""What the Open Inference Protocol's clients read before they infer: the tensors each task
takes and answers (one table, which the metadata, Triton's model configuration and the
inference itself all read), server metadata and the model repository index.

The shapes include the batch dimension, as Triton writes them when ``max_batch_size`` is 0:
the service batches on its own (dynamic batching inside each replica), so a client sends
whole tensors and never splits them for the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import visionserve


@dataclass(frozen=True)
class Tensor:
    datatype: str
    shape: tuple[int, ...]
    description: str


INPUTS: dict[str, Tensor] = {
    "images": Tensor("BYTES", (-1,), "encoded image files (JPEG, PNG, WebP...), one per element"),
    "pixels": Tensor("UINT8", (-1, -1, -1, 3), "RGB pixels [N, H, W, 3] (or [H, W, 3] for one image)"),
}
"""The inputs of every model; a request sends exactly one of them."""

_RESULTS = Tensor("BYTES", (-1,), "each image's /v1 result, as JSON")
OUTPUTS: dict[str, dict[str, Tensor]] = {
    "classification": {
        "labels": Tensor("BYTES", (-1, -1), "top-k class labels per image, best first"),
        "scores": Tensor("FP32", (-1, -1), "their probabilities"),
        "indices": Tensor("INT64", (-1, -1), "their class indices"),
        "results": _RESULTS,
    },
    "detection": {
        "image_index": Tensor("INT64", (-1,), "the image each box was found in"),
        "boxes": Tensor("FP32", (-1, 4), "x1, y1, x2, y2 in the image's pixels"),
        "scores": Tensor("FP32", (-1,), "each box's score"),
        "labels": Tensor("BYTES", (-1,), "each box's class label"),
        "results": _RESULTS,
    },
    "semantic_segmentation": {"results": _RESULTS},
    "instance_segmentation": {"results": _RESULTS},
}
"""Each task's outputs: what the metadata says and what an inference answers."""

EXTENSIONS = ["binary_tensor_data", "model_configuration", "model_repository"]
"""Of the model repository extension only the index is served: models come from the config."""

_CONFIG_TYPES = {"BYTES": "TYPE_STRING", "FP32": "TYPE_FP32", "INT64": "TYPE_INT64", "UINT8": "TYPE_UINT8"}


def server_metadata() -> dict[str, Any]:
    return {"name": "visionserve", "version": visionserve.__version__, "extensions": EXTENSIONS}


def _metadata(name: str, tensor: Tensor) -> dict[str, Any]:
    return {"name": name, "datatype": tensor.datatype, "shape": list(tensor.shape)}


def inputs_of(pipeline: bool) -> dict[str, Tensor]:
    """The inputs a model takes: a pipeline takes image files only (it crops the originals)."""
    return {n: t for n, t in INPUTS.items() if n == "images" or not pipeline}


def model_metadata(name: str, version: str, task: str, pipeline: bool) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [version] if version else [],
        "platform": f"visionserve_{task}",
        "inputs": [_metadata(n, t) for n, t in inputs_of(pipeline).items()],
        "outputs": [_metadata(n, t) for n, t in OUTPUTS[task].items()],
    }


def _config_tensor(name: str, tensor: Tensor, optional: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "data_type": _CONFIG_TYPES[tensor.datatype],
        "dims": list(tensor.shape),
    }
    if optional:
        found["optional"] = True
    return found


def model_config(name: str, version: str, task: str, pipeline: bool) -> dict[str, Any]:
    """The model as Triton's model configuration (the JSON of its ModelConfig message)."""
    return {
        "name": name,
        "platform": f"visionserve_{task}",
        "backend": "visionserve",
        # Triton's policy names versions by number; ours are weights digests: the one served.
        "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": 0,
        # Either input is enough: each is optional alone, and a request sends one of them.
        "input": [_config_tensor(n, t, optional=True) for n, t in inputs_of(pipeline).items()],
        "output": [_config_tensor(n, t, optional=False) for n, t in OUTPUTS[task].items()],
        "parameters": {"task": {"string_value": task}},
    }


def repository_entry(name: str, version: str, ready: bool, error: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "version": version, "state": "READY" if ready else "UNAVAILABLE"}
    if not ready:
        entry["reason"] = error or "loading"
    return entry
