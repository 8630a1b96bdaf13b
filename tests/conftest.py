"""Shared fixtures. The real service starts once per test session, on first use."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from visionserve.config import ServiceConfig, load_serve_file, parse_service_config
from visionserve.local import LocalService
from visionserve.ray_auth import enable_token_auth
from visionserve.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# What the services these tests start keep (audit records, reference sets) goes to a folder of
# this session, for the processes they start too (`visionserve serve`, `ray start`), never home.
if not os.environ.get("VISIONSERVE_DATA_DIR"):
    os.environ["VISIONSERVE_DATA_DIR"] = tempfile.mkdtemp(prefix="vs-test-data-")
# Every Ray these tests start (in process, `visionserve serve`, `ray start`) and every `ray` or
# `serve` command they run use Ray's token authentication, with this session's token: created
# here, before anything imports Ray, in a folder of its own (0700), never in the home folder.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ.pop("RAY_AUTH_TOKEN", None)
os.environ["RAY_AUTH_TOKEN_PATH"] = str(Path(tempfile.mkdtemp(prefix="vs-test-ray-")) / "auth_token")
RAY_TOKEN_PATH = enable_token_auth()
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    found = Settings.from_env()
    if not found.model_dirs:
        pytest.fail("VISIONSERVE_MODEL_DIR must name the folder with yolox_nano.onnx and the label files")
    # What the service keeps (reference sets) goes to this session's own folder, not the home.
    return dataclasses.replace(found, data_dir=tmp_path_factory.mktemp("visionserve-data"))


@pytest.fixture(scope="session")
def local_config() -> ServiceConfig:
    return parse_service_config(load_serve_file(LOCAL_CONFIG).args)


@pytest.fixture(scope="session")
def local_service(settings: Settings) -> Iterator[LocalService]:
    """VisionServe on a real local Ray Serve, with the default config (HTTP and gRPC)."""
    from visionserve.local import start_local

    local = start_local(
        LOCAL_CONFIG,
        port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
        settings=settings,
        include_dashboard=False,
    )
    try:
        local.wait_ready(timeout_s=240)
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def service(local_service: LocalService) -> str:
    """Base URL of the service."""
    return local_service.url


@pytest.fixture(scope="session")
def grpc_target(local_service: LocalService) -> str:
    """host:port of the service's gRPC surface."""
    assert local_service.grpc_port is not None, "the default config serves gRPC"
    return f"{local_service.host}:{local_service.grpc_port}"


@pytest.fixture(scope="session")
def service_host(service: str) -> str:
    return service.rsplit(":", 1)[0]


ZOO_CONFIG = ROOT / "tests" / "configs" / "zoo.yaml"


@pytest.fixture(scope="session")
def zoo(service: str, service_host: str, settings: Settings) -> str:
    """Base URL of a second application on the same Serve: every torchvision family, random weights."""
    from visionserve.local import deploy_app

    port = deploy_app(
        parse_service_config(load_serve_file(ZOO_CONFIG).args),
        name="zoo",
        route_prefix="/zoo",
        settings=settings,
    )
    # With direct ingress the second application's replica serves on a port of its own.
    return f"{service_host}:{port}/zoo" if port else f"{service}/zoo"


TEST_OUTPUT = Path(os.environ.get("VISIONSERVE_TEST_OUTPUT", ROOT / "test-output"))
"""Artifacts a person may want after a run (the audit page's screenshots)."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system (scripts/install-chromium), driven by Selenium through
    the matching system chromedriver: no browser or driver is downloaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("chromium and chromedriver are needed: scripts/install-chromium installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()
