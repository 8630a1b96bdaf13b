"""Run the service on a local Ray: start Ray and Serve, deploy the app, stop both cleanly.

Used by ``visionserve serve`` and by the test suite, so that both take the same path.

By default each application's ingress replica serves HTTP itself on the configured port
(Ray Serve's direct ingress): measured here, Ray's default HTTP proxy costs about 10 ms of CPU
per request and caps the whole service below what one model replica can do (see
load_tests/README.md). Ray's proxy still runs, on a port of its own, as Ray's fallback path.
``VISIONSERVE_DIRECT_INGRESS=0`` goes back to the proxy on the configured port.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from visionserve.config import LimitsConfig, ServiceConfig, load_serve_file, parse_service_config
from visionserve.ray_auth import enable_token_auth
from visionserve.settings import Settings

APP_NAME = "visionserve"
logger = logging.getLogger("visionserve")


# Ingress replicas take the lowest free port of [port, port + DIRECT_PORT_SPAN): the first
# application gets the configured port, later ones the next. The range is pinned so that it
# never reaches into the kernel's ephemeral ports.
DIRECT_PORT_SPAN = 64
# In-flight requests get this long to finish when an ingress replica stops (Ray's default is
# 30 s, which makes every local stop take 30 s).
LOCAL_DRAIN_S = 2
GRPC_MESSAGE_CAP = 512 * 1024 * 1024
# protos/visionserve/v1/visionserve.proto, compiled into visionserve.v1.
GRPC_SERVICER = "visionserve.ingress.grpc_servicer.add_servicer"


@dataclass
class LocalService:
    host: str
    port: int
    proxy_port: int
    """Ray's own HTTP proxy: every application again, through one more hop."""
    grpc_port: int | None = None
    """The VisionServe gRPC service (protos/visionserve/v1), if the config serves it."""
    metrics_port: int | None = None
    """Ray's Prometheus endpoint (/metrics): every replica's metrics, Serve's and VisionServe's."""
    drain_timeout_s: float = 60.0
    """The longest ``stop`` waits for requests in flight (the longest request timeout, plus a margin)."""
    proxy_grpc_port: int | None = None
    """Ray's proxy's gRPC port: the gRPC service again, through one more hop."""
    direct_ingress: bool = True
    """Whether the ingress replica serves ``port`` (and ``grpc_port``) itself."""
    token_path: Path | None = None
    """Ray's authentication token (None: given by RAY_AUTH_TOKEN, or authentication is off)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def moved_ports(self) -> dict[str, int]:
        """Protocols whose ingress replica now serves another port than the service's, and where.

        Serve gives a replacement ingress replica the lowest free port of the range: when the
        service's own port cannot be bound, it comes back on another one, silently.
        """
        if not self.direct_ingress:
            return {}
        wanted = {"HTTP": self.port, "gRPC": self.grpc_port}
        moved = {}
        for protocol, port in wanted.items():
            if port is None:
                continue
            now = direct_port(APP_NAME, protocol=protocol, timeout_s=0)
            if now is not None and now != port:
                moved[protocol] = now
        return moved

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
        """Drain, then stop: every application is deleted, its replicas answering the requests
        they hold (each up to its deployment's graceful timeout), then Serve and Ray stop.

        ``serve.shutdown`` alone gives the whole of Serve 30 s, and Ray then kills what is left.
        """
        import ray
        from ray import serve

        try:
            names = list(serve.status().applications)
            for name in names:
                serve.delete(name, _blocking=False)
            deadline = time.monotonic() + self.drain_timeout_s + 10
            while time.monotonic() < deadline and serve.status().applications:
                time.sleep(0.5)
        except Exception as exc:  # stopping must go on: Ray below ends whatever is left
            logger.warning("draining the applications failed: %s", exc)
        serve.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
        ray.shutdown()


def _drain_seconds(config: ServiceConfig) -> float:
    from visionserve.app import drain_seconds

    return drain_seconds(config.limits)


def deploy_app(
    config: ServiceConfig,
    *,
    name: str = APP_NAME,
    route_prefix: str = "/",
    settings: Settings | None = None,
    timeout_s: float | None = None,
) -> int | None:
    """Deploy (or update) one VisionServe application on the running Serve instance, and wait
    until it runs (at most ``timeout_s``: then TimeoutError saying what each deployment waits for).

    Returns the port its ingress replica serves directly, or None when Ray's proxy serves it.
    """
    from ray.serve.api import _run
    from ray.serve.schema import LoggingConfig

    from visionserve.app import build

    _run(
        build(config, settings),
        name=name,
        route_prefix=route_prefix,
        logging_config=LoggingConfig(enable_access_log=False),
        _blocking=False,
    )
    wait_running(name, timeout_s)
    return direct_port(name) if (settings or Settings.from_env()).direct_ingress else None


def wait_running(name: str, timeout_s: float | None) -> None:
    """Until application NAME runs; RuntimeError when it failed, TimeoutError past the time.
    Sleeps in short steps, so that a signal handler that raises stops the wait at once."""
    from ray import serve
    from ray.serve.schema import ApplicationStatus

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        status = serve.status().applications.get(name)
        if status is not None and status.status == ApplicationStatus.RUNNING:
            return
        if status is not None and status.status == ApplicationStatus.DEPLOY_FAILED:
            raise RuntimeError(f"application {name} failed to deploy: {status.message}")
        if deadline is not None and time.monotonic() > deadline:
            deployments = {} if status is None else status.deployments
            waiting = [
                f"{deployment}: {state.message or _replicas(state.replica_states)}"
                for deployment, state in deployments.items()
                if state.status != "HEALTHY"
            ]
            raise TimeoutError(
                f"application {name} was not running after {timeout_s:g}s; "
                + ("; ".join(waiting) or "no deployment reported why")
            )
        time.sleep(0.25)


def _replicas(states: Mapping[Any, int]) -> str:
    """Serve's replica counts as words: "1 replica STARTING"."""
    counted = [
        f"{n} replica{'s' if n > 1 else ''} {getattr(state, 'value', state)}" for state, n in states.items()
    ]
    return ", ".join(counted) or "no replica yet"


def direct_port(app_name: str, protocol: str = "HTTP", timeout_s: float = 30.0) -> int | None:
    """The port on which the application's ingress replica serves HTTP (or gRPC), if one does.

    Ray lists each application's targets per protocol: its ingress replicas under direct
    ingress, else the proxies. The list follows replica changes a moment late, hence the wait.
    """
    from ray.serve.context import _get_global_client

    deadline = time.monotonic() + timeout_s
    while True:
        client = _get_global_client()
        assert client is not None  # it raises when no Serve controller runs
        details = client.get_serve_details()
        if not details.get("applications"):
            return None
        for group in details.get("target_groups", []):
            if group["app_name"] != app_name or group["protocol"] != protocol:
                continue
            replicas = [t for t in group["targets"] if t["name"].startswith("SERVE_REPLICA::")]
            if replicas:
                return int(replicas[0]["port"])
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def serve_servers_env(limits: LimitsConfig) -> dict[str, str]:
    """What every HTTP and gRPC server Serve starts for the service (proxy or ingress replica)
    reads at import: bodies are read, within limits.body_timeout_s, before a request takes a
    serving slot (visionserve.ingress.uploads), and gRPC messages are capped like HTTP bodies
    (Serve's own cap is 2 GiB), with room for the message's framing around the images."""
    return {
        "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "visionserve.ingress.uploads.middlewares",
        "RAY_SERVE_GRPC_MAX_MESSAGE_SIZE": str(limits.max_body_bytes + 2**20),
    }


def _direct_ingress_env(port: int, grpc_port: int | None) -> dict[str, str]:
    """What Ray Serve reads, at import, to let ingress replicas serve HTTP (and gRPC) themselves."""
    grpc_first = grpc_port if grpc_port is not None else port + DIRECT_PORT_SPAN
    return {
        # Direct ingress, plus gRPC rather than Ray's object store between deployments.
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + DIRECT_PORT_SPAN - 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(grpc_first),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(grpc_first + DIRECT_PORT_SPAN - 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(LOCAL_DRAIN_S),
        # A released port would otherwise stay out of the pool for 150 s (time for HAProxy,
        # which a local Ray does not run, to forget it): a replacement ingress replica would
        # come back on the next port and keep it.
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
        # gRPC's default 4 MiB message cap is below a request of several photos or an
        # explanation with overlays; requests are capped by limits.max_body_bytes anyway.
        "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(GRPC_MESSAGE_CAP),
        # That mode keeps replica logs in memory only; operators want them on stderr as well.
        "RAY_SERVE_LOG_TO_STDERR": "1",
    }


# Ray exports each counter twice, as `name_total` and as a gauge `name` (kept for Ray < 2.10):
# one series per counter is what dashboards and alert rules expect.
_METRICS_ENV = {"RAY_EXPORT_COUNTER_AS_GAUGE": "0"}
# A local Ray is a cluster of one: its processes then take the loopback address as the node's,
# and every port of Ray's (GCS, raylet, workers, the dashboard agent with its job API, the
# metrics endpoint) listens on 127.0.0.1 only, as Ray does on macOS and Windows. Otherwise
# Ray turns "127.0.0.1" into the machine's address and binds its ports to every interface.
_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# glibc serves a freed block's size from its heap ever after (its mmap threshold follows the
# largest block freed, up to 32 MB), and heap memory seldom goes back to the system: a replica
# that decoded one 40 Mpx PNG kept its 160 MB through the rest of the request. A fixed
# threshold maps Pillow's 16 MB blocks and every larger array, and returns them when freed.
_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": str(16 * 2**20)}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables the operator has not set, for the duration of the block."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            del os.environ[key]


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_local(
    config: str | Path | ServiceConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    settings: Settings | None = None,
    include_dashboard: bool = True,
    num_cpus: int | None = None,
    grpc_port: int | None = None,
    metrics_port: int | None = None,
    on_ray_started: Callable[[], None] | None = None,
    start_timeout_s: float | None = None,
) -> LocalService:
    """Start a local Ray (never joining another cluster) and deploy the service on it.

    ``metrics_port``: where Ray serves Prometheus metrics (0: a free port; None: Ray picks one
    and no port is reported).

    ``on_ray_started`` runs once Ray is up and before the deployments start: ray.init installs
    its own SIGTERM handler (which aborts the process), so a caller that handles signals must
    install its handlers again there. Whatever stops the start (an exception, KeyboardInterrupt
    from a signal handler, ``start_timeout_s`` passed) stops Ray with it: no process is left.
    A config whose replicas cannot all fit the local cluster's CPUs and GPUs is a ConfigError.
    """
    file_grpc_port = None
    if isinstance(config, ServiceConfig):
        service_config, file_host, file_port = config, "127.0.0.1", 8000
    else:
        serve_file = load_serve_file(config)
        service_config = parse_service_config(serve_file.args)
        file_host, file_port, file_grpc_port = serve_file.host, serve_file.port, serve_file.grpc_port
    host = host or file_host
    port = file_port if port is None else port
    grpc_port = file_grpc_port if grpc_port is None else grpc_port
    # Before Ray starts: every Ray process reads the mode and the token from the environment.
    token_path = enable_token_auth()
    direct = (settings or Settings.from_env()).direct_ingress
    proxy_port = _free_port(host) if direct else port
    proxy_grpc_port = (_free_port(host) if direct else grpc_port) if grpc_port is not None else None
    if metrics_port == 0:
        metrics_port = _free_port(host)
    environment = {
        **(_direct_ingress_env(port, grpc_port) if direct else {}),
        **serve_servers_env(service_config.limits),
        **_METRICS_ENV,
        **_LOOPBACK_ENV,
        **_MEMORY_ENV,
    }
    with _environment(environment):
        # Ray's processes copy this environment when Ray starts, and Serve reads it at import;
        # restored afterwards so that child processes of ours do not inherit our port range.
        import ray
        from ray import serve
        from ray._private import ray_constants
        from ray.serve.schema import LoggingConfig

        # This process read the variable when it first imported Ray (perhaps before us).
        ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"

        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=include_dashboard,
            dashboard_host="127.0.0.1",
            logging_level=logging.WARNING,
            _metrics_export_port=metrics_port,
            # Run in every worker before its first actor: see visionserve.ray_worker.
            runtime_env={"worker_process_setup_hook": "visionserve.ray_worker.setup"},
        )
    if on_ray_started is not None:
        on_ray_started()
    try:
        from visionserve.app import check_reservations_fit

        check_reservations_fit(service_config, ray.cluster_resources())  # type: ignore[no-untyped-call]
        grpc_options = None
        if proxy_grpc_port is not None:
            from ray.serve.config import gRPCOptions

            grpc_options = gRPCOptions(port=proxy_grpc_port, grpc_servicer_functions=[GRPC_SERVICER])
        serve.start(
            http_options={"host": host, "port": proxy_port},
            grpc_options=grpc_options,
            logging_config=LoggingConfig(enable_access_log=False),
        )
        served_port = deploy_app(service_config, settings=settings, timeout_s=start_timeout_s)
        served_grpc_port = proxy_grpc_port
        if grpc_options is not None and direct:
            served_grpc_port = direct_port(APP_NAME, protocol="gRPC") or proxy_grpc_port
    except BaseException:
        # Ray alone: stopping Serve first waits for replicas that may never have started (a
        # constructor that hangs, a replica that cannot be placed); Ray's end ends them all.
        ray.shutdown()
        raise
    if direct and (served_port, served_grpc_port) != (port, grpc_port):
        logger.error(
            "the configured ports %s are taken: VisionServe serves HTTP on %s and gRPC on %s",
            (port, grpc_port),
            served_port,
            served_grpc_port,
        )
    return LocalService(
        host=host,
        port=served_port or proxy_port,
        proxy_port=proxy_port,
        grpc_port=served_grpc_port,
        metrics_port=metrics_port,
        drain_timeout_s=_drain_seconds(service_config),
        proxy_grpc_port=proxy_grpc_port,
        direct_ingress=direct,
        token_path=token_path,
    )
