"""``visionserve`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from visionserve.errors import ConfigError
from visionserve_client import cli as client_cli

if TYPE_CHECKING:
    from visionserve.local import LocalService

DEFAULT_CONFIG = "deploy/serve/local.yaml"
DEFAULT_METRICS_PORT = 8080  # what deploy/prometheus/prometheus.yml scrapes
# Model files download on a first start (a large model's take minutes): generous, not endless.
DEFAULT_START_TIMEOUT_S = 900.0
# How often the foreground service checks that its ingress still serves the ports it printed.
PORT_CHECK_S = 5.0


def _serve(args: argparse.Namespace) -> int:
    from visionserve.local import start_local

    stop = threading.Event()
    interrupted: list[int] = []  # the signal that interrupted the start, if one did
    started = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not started.is_set() and not interrupted:
            # A start may wait for ever (a replica that cannot be placed, a model that hangs
            # loading): the first signal interrupts it, and start_local stops Ray on its way out.
            interrupted.append(signum)
            raise KeyboardInterrupt

    def _handle_signals() -> None:
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)

    _handle_signals()
    try:
        # Ray replaces the SIGTERM handler when it starts: ours go back on before deploying.
        service = start_local(
            args.config,
            host=args.host,
            port=args.port,
            include_dashboard=args.dashboard,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            on_ray_started=_handle_signals,
            start_timeout_s=args.start_timeout or None,
        )
    except ConfigError as exc:
        print(f"visionserve: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, RuntimeError) as exc:
        print(f"visionserve: the service did not start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        signum = interrupted[0] if interrupted else signal.SIGINT
        print(f"visionserve: start interrupted ({signal.Signals(signum).name}); Ray stopped", file=sys.stderr)
        return 128 + signum
    started.set()
    print(f"VisionServe on {service.url}  (API docs {service.url}/docs; Ctrl-C stops)", flush=True)
    if service.grpc_port is not None:
        print(
            f"gRPC (visionserve.v1, the Open Inference Protocol, grpc.health.v1) on "
            f"{service.host}:{service.grpc_port}",
            flush=True,
        )
    if service.metrics_port is not None:
        print(f"Prometheus metrics on http://{service.host}:{service.metrics_port}/metrics", flush=True)
    if service.proxy_port != service.port:
        print(f"Ray's HTTP proxy (slower, same routes) on {service.host}:{service.proxy_port}", flush=True)
    if service.token_path is not None:
        print(
            f"Ray's token authentication on, token in {service.token_path} "
            "(`RAY_AUTH_MODE=token serve status` from another shell)",
            flush=True,
        )
    _watch_ports(service, stop)
    print("VisionServe stopping...", flush=True)
    service.stop()
    print("VisionServe stopped", flush=True)
    return 0


def _watch_ports(service: LocalService, stop: threading.Event) -> None:
    """Until ``stop``: say on stderr, once per change, when a replaced ingress replica serves
    another port than the one printed at start (and when it is back)."""
    reported: dict[str, int] = {}
    while not stop.wait(PORT_CHECK_S):
        try:
            moved = service.moved_ports()
        except Exception as exc:  # Serve's controller busy or restarting: ask again later
            print(f"visionserve: could not check the ports: {exc}", file=sys.stderr, flush=True)
            continue
        for protocol, port in moved.items():
            if reported.get(protocol) != port:
                print(
                    f"visionserve: ERROR: {protocol} is now served on port {port}, not on the "
                    "service's port: restart the service",
                    file=sys.stderr,
                    flush=True,
                )
        for protocol in reported.keys() - moved.keys():
            print(f"visionserve: {protocol} is back on the service's port", file=sys.stderr, flush=True)
        reported = moved


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the service in the foreground on a local Ray",
        description="Run the service in the foreground on a local Ray; Ctrl-C or SIGTERM stops it.",
    )
    serve.add_argument(
        "config", nargs="?", default=DEFAULT_CONFIG, help=f"Serve config YAML (default {DEFAULT_CONFIG})"
    )
    serve.add_argument("--host", default=None, help="bind address (default: the config's, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: the config's, else 8000)")
    serve.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default: the config's)")
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        help=f"port of Ray's Prometheus endpoint, every replica's metrics (default {DEFAULT_METRICS_PORT}; "
        "0: a free one)",
    )
    serve.add_argument(
        "--no-dashboard", dest="dashboard", action="store_false", help="do not start Ray's dashboard"
    )
    serve.add_argument(
        "--start-timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT_S,
        help="seconds the deployments may take to start before the service gives up, saying what "
        f"each waits for (default {DEFAULT_START_TIMEOUT_S:g}; 0: no limit)",
    )


_CLIENT_OPTIONS = ("--url", "--timeout", "--api-key")


def main(argv: list[str] | None = None) -> int:
    """``serve`` runs the service; every other command calls a running one (the client
    package's command line), all in one parser, so ``--help`` shows them all."""
    parser, commands = client_cli.build_parser(
        "Serve computer-vision models (serve), or call a running service (every other command). "
        "visionserve COMMAND --help describes each."
    )
    _add_serve(commands)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command == "serve":
        client_only = [t for t in argv if t.split("=", 1)[0] in _CLIENT_OPTIONS]
        if client_only:  # given before the command: accepted by the parser, meaningless to serve
            parser.error(f"{client_only[0].split('=', 1)[0]} is for the client commands; serve takes "
                         "--host, --port and --grpc-port")  # fmt: skip
        return _serve(args)
    return client_cli.run_parsed(args)


if __name__ == "__main__":
    sys.exit(main())
