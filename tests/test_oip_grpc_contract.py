"""protos/visionserve/oip/v2 against the protocol's own messages, as tritonclient ships them
(the KServe v2 messages of Triton's grpc_service.proto, package ``inference``): on the wire a
message is its fields' numbers and types, so each of ours must have the protocol's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from tritonclient.grpc import model_config_pb2, service_pb2

from visionserve.ingress.grpc_servicer import OIP_SERVICE
from visionserve.oip.v2 import open_inference_pb2 as ours

ROOT = Path(__file__).resolve().parents[1]
THEIRS = {**service_pb2.DESCRIPTOR.message_types_by_name, **model_config_pb2.DESCRIPTOR.message_types_by_name}
# Of Triton's ModelConfig family, the fields a VisionServe model fills; every other message
# must have all of the protocol's fields.
SUBSET = {"ModelConfig", "ModelInput", "ModelOutput"}


def _shape(field: FieldDescriptor) -> tuple[object, ...]:
    """A field as the wire and the generated code see it: number, type, cardinality, oneof,
    and the (unqualified) name of the message or enum it holds."""
    held = field.message_type or field.enum_type
    return (
        field.number,
        field.type,
        field.is_repeated,
        field.containing_oneof.name if field.containing_oneof else None,
        held.full_name.split(".", 1)[1].removeprefix("oip.v2.") if held else None,
    )


def _check(mine: Descriptor, theirs: Descriptor) -> None:
    fields = {f.name: _shape(f) for f in theirs.fields}
    for field in mine.fields:
        assert field.name in fields, f"{mine.name}.{field.name} is not a field of the protocol's"
        assert _shape(field) == fields[field.name], f"{mine.name}.{field.name} differs from the protocol's"
    if mine.name not in SUBSET:
        missing = set(fields) - {f.name for f in mine.fields}
        assert not missing, f"{mine.full_name} lacks the protocol's fields {sorted(missing)}"
    for nested in mine.nested_types:
        if nested.GetOptions().map_entry:
            continue
        _check(nested, theirs.nested_types_by_name[nested.name])


@pytest.mark.parametrize("name", sorted(ours.DESCRIPTOR.message_types_by_name))
def test_each_message_is_the_protocols(name: str) -> None:
    _check(ours.DESCRIPTOR.message_types_by_name[name], THEIRS[name])


def test_the_data_types_are_tritons() -> None:
    mine: EnumDescriptor = ours.DESCRIPTOR.enum_types_by_name["DataType"]
    theirs: EnumDescriptor = model_config_pb2.DESCRIPTOR.enum_types_by_name["DataType"]
    assert [(v.name, v.number) for v in mine.values] == [(v.name, v.number) for v in theirs.values]


def test_each_rpc_is_the_protocols() -> None:
    """Same name, request and answer as in the protocol's service; served under its name."""
    theirs = {m.name: m for m in service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods}
    assert service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name == OIP_SERVICE
    for method in ours.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods:
        protocol = theirs[method.name]
        assert (method.input_type.name, method.output_type.name) == (
            protocol.input_type.name,
            protocol.output_type.name,
        )
        assert not method.client_streaming
        assert not method.server_streaming
        assert not protocol.server_streaming


def test_the_generated_code_is_what_the_proto_compiles_to(tmp_path: Path) -> None:
    proto = "visionserve/oip/v2/open_inference.proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"), f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", proto],
        check=True,
    )  # fmt: skip
    for name in ("open_inference_pb2.py", "open_inference_pb2.pyi"):
        fresh = (tmp_path / "visionserve" / "oip" / "v2" / name).read_text()
        committed = (ROOT / "services" / "visionserve" / "oip" / "v2" / name).read_text()
        assert fresh == committed, f"{name} is stale: regenerate it from protos/ (see protos/README.md)"
