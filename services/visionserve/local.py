"""Run the service on a local Ray: start Ray and Serve, deploy the app, stop both cleanly.

Used by ``visionserve serve`` and by the test suite, so that both take the same path.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from visionserve.config import ServiceConfig, load_serve_file, parse_service_config
from visionserve.settings import Settings

APP_NAME = "visionserve"
logger = logging.getLogger("visionserve")


@dataclass
class LocalService:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Block until /readyz answers 200; raise with its last answer otherwise."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=10)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"service not ready after {timeout_s:g}s: {last}")

    def stop(self) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()


def deploy_app(
    config: ServiceConfig,
    *,
    name: str = APP_NAME,
    route_prefix: str = "/",
    settings: Settings | None = None,
) -> None:
    """Deploy (or update) one VisionServe application on the running Serve instance."""
    from ray import serve
    from ray.serve.schema import LoggingConfig

    from visionserve.app import build

    serve.run(
        build(config, settings),
        name=name,
        route_prefix=route_prefix,
        logging_config=LoggingConfig(enable_access_log=False),
    )


def start_local(
    config: str | Path | ServiceConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    settings: Settings | None = None,
    include_dashboard: bool = True,
    num_cpus: int | None = None,
) -> LocalService:
    """Start a local Ray (never joining another cluster) and deploy the service on it."""
    if isinstance(config, ServiceConfig):
        service_config, file_host, file_port = config, "127.0.0.1", 8000
    else:
        serve_file = load_serve_file(config)
        service_config = parse_service_config(serve_file.args)
        file_host, file_port = serve_file.host, serve_file.port
    host = host or file_host
    port = file_port if port is None else port
    # Ray turns token auth on by default and later CLI calls then fail; a local single-user
    # Ray listens on localhost only, so auth is off unless the operator chose otherwise.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve
    from ray.serve.schema import LoggingConfig

    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=include_dashboard,
        dashboard_host="127.0.0.1",
        logging_level=logging.WARNING,
    )
    try:
        serve.start(
            http_options={"host": host, "port": port},
            logging_config=LoggingConfig(enable_access_log=False),
        )
        deploy_app(service_config, settings=settings)
    except BaseException:
        serve.shutdown()
        ray.shutdown()
        raise
    return LocalService(host=host, port=port)
