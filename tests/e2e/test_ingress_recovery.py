"""A killed ingress replica comes back on the service's own ports.

`visionserve serve` of its own (its own Ray and ports, so that the session's service is not
disturbed) with the default config's classifier alone; its ingress replica (which serves HTTP
and gRPC itself, and holds the classifier) is killed with SIGKILL while a client holds an idle
keep-alive connection. Before, Ray kept the dead replica's ports out of the pool for 150 s and
the kernel kept the HTTP port busy with that connection, so the replacement came back on the
next port of the range while the printed one stayed dead.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest

from tests.helpers import CAT_LABELS, classifier_app, image_bytes
from tests.serve_process import ServeProcess, kill_ingress_and_time, start_serve
from visionserve.config import ServiceConfig
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

pytestmark = pytest.mark.e2e

RECOVERY_LIMIT_S = 60


@pytest.fixture(scope="module")
def served(local_config: ServiceConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = start_serve(classifier_app(local_config), tmp_path_factory.mktemp("recovery"))
    try:
        yield process
    finally:
        process.stop()


def test_the_service_ports_answer_again_after_the_ingress_replica_is_killed(served: ServeProcess) -> None:
    assert served.answers() == {"http": True, "grpc": True, "metrics": True}
    (before,) = served.ingress_pids()

    back = kill_ingress_and_time(served, limit_s=RECOVERY_LIMIT_S)

    assert all(seconds is not None for seconds in back.values()), f"{back}\n{served.output()[-3000:]}"
    (after,) = served.ingress_pids()
    assert after != before
    photo = image_bytes("chelsea.png")
    files = [("images", ("c.png", photo))]
    answer = httpx.post(f"{served.url}/v1/classify", files=files, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["classes"][0]["label"] in CAT_LABELS
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        classified = VisionServeStub(channel).Classify(pb.ClassifyRequest(images=[photo]), timeout=60)
    assert classified.results[0].classes[0].label in CAT_LABELS


def test_the_foreground_service_reported_no_moved_port(served: ServeProcess) -> None:
    """It would say so on stderr (visionserve.cli): a replacement on another port is an error."""
    output = served.output()
    assert f"VisionServe on http://127.0.0.1:{served.port}" in output
    assert "is now served on port" not in output
