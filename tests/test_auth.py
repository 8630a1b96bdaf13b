"""visionserve.ingress.auth: scopes per route, keys by digest, 401 and 403."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from visionserve.config import ApiKey, AuthConfig
from visionserve.errors import ConfigError, Forbidden, Unauthorized
from visionserve.ingress.auth import Authenticator, presented_key, scope_for_route, scope_for_rpc


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS = AuthConfig(
    keys=[
        ApiKey(name="dashboard", sha256=_digest("read-only-key"), scopes=["read"]),
        ApiKey(name="app", sha256=_digest("app-key")),
        ApiKey(name="auditor", sha256=_digest("audit-key"), scopes=["read", "explain"]),
    ]
)


def test_routes_need_the_scope_of_what_they_do() -> None:
    assert scope_for_route("/healthz") is None
    assert scope_for_route("/v2/health/ready") is None
    assert scope_for_route("/v1/classify") == "predict"
    assert scope_for_route("/v2/models/{name}/infer") == "predict"
    assert scope_for_route("/v1/explain") == "explain"
    assert scope_for_route("/v1/models/{name}") == "read"
    assert scope_for_route("/docs") == "read"
    assert scope_for_rpc("/visionserve.v1.VisionServe/Detect") == "predict"
    assert scope_for_rpc("/visionserve.v1.VisionServe/Explain") == "explain"
    assert scope_for_rpc("/visionserve.v1.VisionServe/ListModels") == "read"
    assert scope_for_rpc("/inference.GRPCInferenceService/ModelInfer") == "predict"
    assert scope_for_rpc("/inference.GRPCInferenceService/ModelMetadata") == "read"
    assert scope_for_rpc("/inference.GRPCInferenceService/ServerReady") is None
    assert scope_for_rpc("/grpc.health.v1.Health/Check") is None
    assert scope_for_rpc("/visionserve.v1.VisionServe/NoSuchMethod") == "predict"


def test_missing_or_unknown_key_is_401_and_a_key_without_the_scope_403() -> None:
    auth = Authenticator(KEYS)
    assert auth.check("app-key", "predict") == "app"
    assert auth.check("audit-key", "explain") == "auditor"
    assert auth.check(None, None) is None  # health needs no key
    with pytest.raises(Unauthorized):
        auth.check(None, "read")
    with pytest.raises(Unauthorized) as unknown:
        auth.check("app-key ", "read")
    assert "app-key" not in unknown.value.message  # a key is never echoed
    with pytest.raises(Forbidden, match="dashboard"):
        auth.check("read-only-key", "predict")
    with pytest.raises(Forbidden):
        auth.check("app-key", "explain")


def test_no_keys_configured_means_open() -> None:
    assert Authenticator(AuthConfig()).check(None, "explain") is None


def test_keys_are_read_from_bearer_or_x_api_key() -> None:
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"authorization": "bearer  abc "}) == "abc"
    assert presented_key({"x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Basic Zm9v"}) is None
    assert presented_key({}) is None


def test_keys_file_named_by_an_environment_variable(tmp_path: Path) -> None:
    listed = tmp_path / "keys.yaml"
    listed.write_text(f"- name: batch\n  sha256: {_digest('batch-key')}\n  scopes: [predict]\n")
    cfg = AuthConfig(keys_file_env="VS_KEYS")
    auth = Authenticator(cfg, environ={"VS_KEYS": str(listed)})
    assert auth.check("batch-key", "predict") == "batch"
    with pytest.raises(ConfigError, match="VS_KEYS"):
        Authenticator(cfg, environ={})
    listed.write_text("- name: bad\n  sha256: not-a-digest\n")
    with pytest.raises(ConfigError, match="keys file"):
        Authenticator(cfg, environ={"VS_KEYS": str(listed)})
