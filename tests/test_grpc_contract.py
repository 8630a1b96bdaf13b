"""protos/visionserve/v1 against the pydantic schemas and against the committed generated code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from visionserve.v1 import visionserve_pb2 as pb
from visionserve_client import types

ROOT = Path(__file__).resolve().parents[1]

# proto message -> the pydantic schema it mirrors
PAIRS = {
    "ImageSize": types.ImageSize,
    "ClassifyRequest": types.ClassifyRequest,
    "ClassScore": types.ClassScore,
    "Classification": types.Classification,
    "ClassifyResponse": types.ClassifyResponse,
    "DetectRequest": types.DetectRequest,
    "Detection": types.Detection,
    "DetectionResult": types.DetectionResult,
    "DetectResponse": types.DetectResponse,
    "SegmentRequest": types.SegmentRequest,
    "RLE": types.RLE,
    "SegmentClass": types.SegmentClass,
    "SemanticSegmentation": types.SemanticSegmentation,
    "Instance": types.Instance,
    "InstanceSegmentation": types.InstanceSegmentation,
    "SegmentResponse": types.SegmentResponse,
    "EmbedImageRequest": types.EmbedImageRequest,
    "ImageEmbedding": types.ImageEmbedding,
    "EmbedImageResponse": types.EmbedImageResponse,
    "EmbedTextRequest": types.EmbedTextRequest,
    "TextEmbedding": types.TextEmbedding,
    "EmbedTextResponse": types.EmbedTextResponse,
    "ZeroShotRequest": types.ZeroShotRequest,
    "LabelScore": types.LabelScore,
    "ZeroShotResult": types.ZeroShotResult,
    "ZeroShotResponse": types.ZeroShotResponse,
    "ExplainRequest": types.ExplainRequest,
    "FloatMap": types.FloatMap,
    "Fidelity": types.Fidelity,
    "ExplainTarget": types.ExplainTarget,
    "InputGeometry": types.InputGeometry,
    "MethodExplanation": types.MethodExplanation,
    "ExplainResult": types.ExplainResult,
    "ExplainResponse": types.ExplainResponse,
}
# Fields of the schema deliberately left out of the proto, with the reason.
ONLY_IN_SCHEMA: dict[str, set[str]] = {}


@pytest.mark.parametrize("message", sorted(PAIRS))
def test_each_proto_message_mirrors_its_schema(message: str) -> None:
    # SegmentResponse's results are a union in the schema and a oneof in the proto; the
    # contract covers the field names of every message on both sides.
    schema: type[BaseModel] = PAIRS[message]
    proto_fields = {f.name for f in getattr(pb, message).DESCRIPTOR.fields}
    schema_fields = set(schema.model_fields) - ONLY_IN_SCHEMA.get(message, set())
    assert proto_fields == schema_fields, (
        f"{message}: proto {sorted(proto_fields)} vs schema {sorted(schema_fields)}"
    )


def test_the_generated_code_is_what_the_proto_compiles_to(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"), f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", "visionserve/v1/visionserve.proto"],
        check=True,
    )  # fmt: skip
    for name in ("visionserve_pb2.py", "visionserve_pb2_grpc.py", "visionserve_pb2.pyi"):
        fresh = (tmp_path / "visionserve" / "v1" / name).read_text()
        committed = (ROOT / "services" / "visionserve" / "v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: regenerate it from protos/ (see protos/README.md)"
