"""API keys: who may call what.

A key travels as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (gRPC: the same names as
metadata). The service keeps only sha256 digests of keys, so a leaked config leaks no key, and
never logs a key: a request is known by the key's name. With no key configured every endpoint
is open; with keys, only the health endpoints and the audit page's files are.

Scopes: ``read`` (model lists and metadata, the API docs), ``predict`` (classify, detect,
segment, embeddings, zero-shot, OIP inference), ``explain`` (explanations and the
understanding views, reference sets included), ``audit`` (the audit trail: reading recorded
predictions and explaining them again). A missing or unknown key is 401,
a known key without the endpoint's scope 403. Which scope each route and RPC needs is its
row in ``visionserve.ingress.routes``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from visionserve.config import ApiKey, AuthConfig, Scope
from visionserve.errors import ConfigError, Forbidden, Unauthorized
from visionserve.ingress.routes import scope_for_route, scope_for_rpc


class Authenticator:
    def __init__(self, cfg: AuthConfig, environ: Mapping[str, str] | None = None) -> None:
        keys = list(cfg.keys)
        if cfg.keys_file_env is not None:
            keys += _keys_file(cfg.keys_file_env, os.environ if environ is None else environ)
        self.enabled = cfg.enabled
        self._by_digest = {key.sha256: key for key in keys}

    def check(self, presented: str | None, scope: Scope | None) -> str | None:
        """The key's name if it may use ``scope``; raises Unauthorized or Forbidden."""
        if not self.enabled or scope is None:
            return None
        if not presented:
            raise Unauthorized("an API key is required: Authorization: Bearer KEY, or X-API-Key: KEY")
        key = self._by_digest.get(hashlib.sha256(presented.encode()).hexdigest())
        if key is None:
            raise Unauthorized("the API key is not valid")
        if scope not in key.scopes:
            raise Forbidden(f"the API key {key.name!r} does not allow {scope!r}")
        return key.name


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``authorization: Bearer`` or ``x-api-key`` (lower-case names, as HTTP/2 and gRPC)."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


def _keys_file(variable: str, environ: Mapping[str, str]) -> list[ApiKey]:
    path = environ.get(variable)
    if not path:
        raise ConfigError(f"auth.keys_file_env: the environment variable {variable} is not set")
    try:
        listed = yaml.safe_load(Path(path).read_text())
        return TypeAdapter(list[ApiKey]).validate_python(listed or [])
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"auth keys file {path} (from {variable}): {exc}") from None


__all__ = ["Authenticator", "presented_key", "scope_for_route", "scope_for_rpc"]
