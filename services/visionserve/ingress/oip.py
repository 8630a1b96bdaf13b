"""Open Inference Protocol v2 (KServe / Triton REST) on top of the same models.

Requests carry one input tensor of images (``visionserve.ingress.oip_metadata.INPUTS``):
- ``images``, ``BYTES`` of shape [N]: encoded image files, in the binary tensor extension (each element a
  4-byte little-endian length then the bytes, after a JSON header whose length is in the
  ``Inference-Header-Content-Length`` header), or in JSON as base64 strings;
- ``pixels``, ``UINT8`` of shape [N, H, W, 3] or [H, W, 3]: RGB pixels, decoded by the caller.
Request ``parameters`` are the task's own (``top_k``, ``score_threshold``...).

gRPC (``ingress.grpc_oip``) hands its messages to the same checks, as the REST JSON.

Answers: each task's tensors (``oip_metadata.OUTPUTS``) and, for every task, ``results``:
BYTES [N], each the JSON of the /v1 result. Outputs come as JSON or in the binary extension,
as asked.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from visionserve.config import LimitsConfig
from visionserve.errors import BadRequest, EmptyRequest, Unprocessable
from visionserve.ingress.errors import shown
from visionserve.ingress.oip_metadata import INPUTS, OUTPUTS, inputs_of
from visionserve.ingress.requests import check_images, json_document, read_body, validate_fields

HEADER_LENGTH = "inference-header-content-length"
# Triton's own request parameters: about the protocol, not the model.
_PROTOCOL_PARAMETERS = {
    "binary_data_output",
    "sequence_id",
    "sequence_start",
    "sequence_end",
    "priority",
    "timeout",
}
_NUMPY = {"FP32": "<f4", "INT64": "<i8", "UINT8": "|u1"}


@dataclass
class InferRequest:
    id: str | None
    images: list[bytes] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    binary_outputs: bool = False
    requested: dict[str, bool] | None = None
    """Output name -> binary; None: all outputs."""


def _bytes_elements(data: bytes) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise BadRequest("BYTES tensor data ends inside an element's length")
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if offset + length > len(data):
            raise BadRequest("BYTES tensor data ends inside an element")
        elements.append(data[offset : offset + length])
        offset += length
    return elements


_MAX_TENSOR_DEPTH = 8
"""Nested data lists deeper than any image tensor's shape are refused, not recursed into."""


def _flat(values: Any) -> list[Any]:
    """Nested lists' elements in row-major order, without recursion."""
    flat: list[Any] = []
    stack: list[tuple[Any, int]] = [(values, 0)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, list):
            flat.append(value)
        elif depth >= _MAX_TENSOR_DEPTH:
            raise Unprocessable(f"tensor data nested deeper than {_MAX_TENSOR_DEPTH} lists")
        else:
            stack.extend((item, depth + 1) for item in reversed(value))
    return flat


def _json_images(values: list[Any]) -> list[bytes]:
    images = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise Unprocessable(f"BYTES element {index} in JSON must be a base64 string")
        try:
            images.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise Unprocessable(f"BYTES element {index} is not valid base64") from None
    return images


def _pixels(shape: list[int], raw: bytes | None, values: list[Any] | None) -> list[np.ndarray]:
    if len(shape) == 3:
        shape = [1, *shape]
    if len(shape) != 4 or shape[3] != 3 or min(shape) < 1:
        raise Unprocessable(f"a UINT8 input must be [N, H, W, 3] or [H, W, 3], got {shape}")
    count = math.prod(shape)  # Python's integers: a huge shape cannot wrap around to a small count
    if raw is not None:
        if len(raw) != count:
            raise BadRequest(f"UINT8 tensor of shape {shape} needs {count} bytes, got {len(raw)}")
        array = np.frombuffer(raw, dtype=np.uint8)
    else:
        flat = _flat(values or [])
        if len(flat) != count or not all(isinstance(v, int) and 0 <= v <= 255 for v in flat):
            raise Unprocessable(f"UINT8 data must be {count} integers in 0..255")
        array = np.asarray(flat, dtype=np.uint8)
    return list(array.reshape(shape))


def _parameters(tensor: dict[str, Any], kind: str) -> dict[str, Any]:
    found = tensor.get("parameters") or {}
    if not isinstance(found, dict):
        raise Unprocessable(f"an {kind}'s 'parameters' must be an object")
    return found


def _check_input(name: Any, datatype: Any, pipeline: bool) -> None:
    inputs = inputs_of(pipeline)
    served = " or ".join(f"{n!r} ({t.datatype}: {t.description})" for n, t in inputs.items())
    tensor = inputs.get(name) if isinstance(name, str) else None
    if tensor is None:
        raise Unprocessable(f"input {shown(str(name))!r} is not an input of this model: send {served}")
    if datatype != tensor.datatype:
        raise Unprocessable(f"input {name!r} is {tensor.datatype}, not {shown(str(datatype))}")


async def parse_infer(
    request: Request, limits: LimitsConfig, task: str, schema: type[BaseModel], pipeline: bool
) -> InferRequest:
    """The inference request's images (or pixels; a pipeline takes image files only) and
    parameters, checked."""
    body = await read_body(request, limits.max_body_bytes)
    if not body:
        raise EmptyRequest("the request has no body: send an inference request (JSON header first)")
    declared = request.headers.get(HEADER_LENGTH)
    if declared is not None:
        if not declared.isdigit() or int(declared) > len(body):
            raise BadRequest(f"{HEADER_LENGTH} {declared!r} does not fit a body of {len(body)} bytes")
        header, binary = body[: int(declared)], body[int(declared) :]
    else:
        header, binary = body, b""
    try:
        document = json_document(header)
    except ValueError as exc:
        raise BadRequest(f"malformed JSON inference header: {exc}") from None
    return parse_document(document, binary, limits, task, schema, pipeline)


def parse_document(
    document: Any, binary: bytes, limits: LimitsConfig, task: str, schema: type[BaseModel], pipeline: bool
) -> InferRequest:
    """An inference request as the REST protocol's JSON writes it, with the bytes after its
    header (``binary_data_size`` of the input says how many are its data), checked."""
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("inputs"), list)
        or not document["inputs"]
    ):
        raise Unprocessable("an inference request needs 'inputs': a list with one image tensor")
    if len(document["inputs"]) != 1:
        raise Unprocessable(f"send one input tensor of images, got {len(document['inputs'])}")
    tensor = document["inputs"][0]
    if not isinstance(tensor, dict):
        raise Unprocessable("each input must be an object with name, shape, datatype and data")
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    _check_input(tensor.get("name"), datatype, pipeline)
    if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise Unprocessable("input 'shape' must be a list of integers")
    size = _parameters(tensor, "input").get("binary_data_size")
    raw = None
    if size is not None:
        if not isinstance(size, int) or size < 0 or size > len(binary):
            raise BadRequest(
                f"binary_data_size {size!r} does not fit the {len(binary)} bytes after the header"
            )
        raw = binary[:size]
    parsed = InferRequest(id=document.get("id") if isinstance(document.get("id"), str) else None)
    if datatype == INPUTS["images"].datatype:
        parsed.images = (
            _bytes_elements(raw) if raw is not None else _json_images(_flat(tensor.get("data", [])))
        )
        if len(parsed.images) != math.prod(shape):
            raise Unprocessable(f"input shape {shape} does not match its {len(parsed.images)} elements")
    else:
        parsed.pixels = _pixels(shape, raw, tensor.get("data"))
    check_images(parsed.images, limits, count=len(parsed.images) or len(parsed.pixels))
    for index, pixels in enumerate(parsed.pixels):
        if pixels.shape[0] * pixels.shape[1] > limits.max_image_pixels:
            raise Unprocessable(f"image {index}: {pixels.shape[1]}x{pixels.shape[0]} is over the pixel limit")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Unprocessable("'parameters' must be an object")
    parsed.binary_outputs = bool(parameters.get("binary_data_output", False))
    task_fields = {k: v for k, v in parameters.items() if k not in _PROTOCOL_PARAMETERS}
    validated = validate_fields(schema, {**task_fields, "images": []})
    parsed.params = validated.model_dump(exclude={"images", "model"}, exclude_none=True)
    outputs = document.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and "name" in o for o in outputs):
            raise Unprocessable("'outputs' must be a list of objects with a name")
        parsed.requested = {
            str(o["name"]): bool(_parameters(o, "output").get("binary_data", parsed.binary_outputs))
            for o in outputs
        }
        unknown = sorted(set(parsed.requested) - set(OUTPUTS[task]))
        if unknown:  # refused before the model runs
            raise Unprocessable(f"unknown outputs {unknown}; this model has {sorted(OUTPUTS[task])}")
    return parsed


def output_tensors(task: str, results: list[dict[str, Any]]) -> dict[str, tuple[str, list[int], Any]]:
    """name -> (datatype, shape, values) for a task's results (dicts as /v1 returns them)."""
    shaped: dict[str, tuple[list[int], Any]] = {}
    if task == "classification":
        k = min((len(r["classes"]) for r in results), default=0)
        rows = [r["classes"][:k] for r in results]
        shaped["labels"] = ([len(rows), k], [c["label"].encode() for row in rows for c in row])
        shaped["scores"] = ([len(rows), k], np.array([[c["score"] for c in row] for row in rows], "<f4"))
        shaped["indices"] = ([len(rows), k], np.array([[c["index"] for c in row] for row in rows], "<i8"))
    elif task == "detection":
        found = [(i, d) for i, r in enumerate(results) for d in r["detections"]]
        shaped["image_index"] = ([len(found)], np.array([i for i, _ in found], "<i8"))
        shaped["boxes"] = ([len(found), 4], np.array([d["box"] for _, d in found], "<f4").reshape(-1, 4))
        shaped["scores"] = ([len(found)], np.array([d["score"] for _, d in found], "<f4"))
        shaped["labels"] = ([len(found)], [d["label"].encode() for _, d in found])
    shaped["results"] = ([len(results)], [json.dumps(r).encode() for r in results])
    return {name: (OUTPUTS[task][name].datatype, *shaped[name]) for name in OUTPUTS[task]}


def tensor_bytes(datatype: str, values: Any) -> bytes:
    """A tensor's row-major elements, as the binary extension and gRPC's raw contents carry them."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in values)
    return np.ascontiguousarray(values, dtype=_NUMPY[datatype]).tobytes()


def _json_values(datatype: str, values: Any) -> list[Any]:
    if datatype == "BYTES":
        return [v.decode("utf-8", errors="replace") for v in values]
    return np.asarray(values).reshape(-1).tolist()


def infer_response(
    parsed: InferRequest, model: str, version: str, request_id: str, task: str, results: list[dict[str, Any]]
) -> Response:
    tensors = output_tensors(task, results)
    wanted = parsed.requested or {name: parsed.binary_outputs for name in tensors}
    outputs, blobs = [], []
    for name, binary in wanted.items():
        datatype, shape, values = tensors[name]
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            blob = tensor_bytes(datatype, values)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_values(datatype, values)
        outputs.append(entry)
    document = {
        "model_name": model,
        "model_version": version,
        "id": parsed.id or request_id,
        "parameters": {"request_id": request_id},
        "outputs": outputs,
    }
    if not blobs:
        return JSONResponse(document)
    header = json.dumps(document).encode()
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
