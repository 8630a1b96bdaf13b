"""KServe's Python SDK against the service, unmodified: run with .venv-kserve's interpreter
(scripts/install-kserve-client) by tests/e2e/test_oip_kserve.py, since the SDK cannot share the
service's environment. Prints what each call answered, as one JSON document.

    .venv-kserve/bin/python tests/kserve_calls.py HTTP_URL GRPC_TARGET MODEL IMAGE_FILE
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def _request(model: str, image: bytes, binary: bool) -> InferRequest:
    """The image in the binary extension, or in JSON as base64 text (JSON carries text only)."""
    images = InferInput("images", [1], "BYTES")
    element = image if binary else base64.b64encode(image).decode()
    images.set_data_from_numpy(np.array([element], dtype=np.object_), binary_data=binary)
    return InferRequest(model_name=model, infer_inputs=[images], request_id="kserve-1")


def _top(response: Any) -> dict[str, Any]:
    labels = response.get_output_by_name("labels").as_numpy()
    scores = response.get_output_by_name("scores").as_numpy()
    label = labels[0][0]
    return {
        "id": response.id,
        "label": label.decode() if isinstance(label, bytes) else str(label),
        "score": float(scores[0][0]),
    }


async def _rest(url: str, model: str, image: bytes) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    found: dict[str, Any] = {
        "live": await client.is_server_live(url),
        "ready": await client.is_server_ready(url),
        "model_ready": await client.is_model_ready(url, model),
        "binary": _top(await client.infer(url, _request(model, image, True), model_name=model)),
        "json": _top(await client.infer(url, _request(model, image, False), model_name=model)),
    }
    try:
        await client.infer(url, _request("nope", image, True), model_name="nope")
    except httpx.HTTPStatusError as exc:
        found["error"] = {"status": exc.response.status_code, "printed": str(exc)}
    await client.close()
    return found


async def _grpc(target: str, model: str, image: bytes) -> dict[str, Any]:
    client = InferenceGRPCClient(target)
    found: dict[str, Any] = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "model_ready": await client.is_model_ready(model),
        "binary": _top(await client.infer(_request(model, image, True))),
    }
    try:
        await client.infer(_request("nope", image, True))
    except grpc.RpcError as exc:
        found["error"] = {"status": exc.code().name, "printed": str(exc.details())}
    await client.close()
    return found


async def main(url: str, target: str, model: str, image_file: str) -> None:
    image = Path(image_file).read_bytes()
    print(json.dumps({"rest": await _rest(url, model, image), "grpc": await _grpc(target, model, image)}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
