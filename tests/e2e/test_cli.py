"""The `visionserve` command as users run it: `serve` in the foreground, and the commands that
call a running service."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import LOCAL_CONFIG, ROOT, free_port
from tests.helpers import CAT_LABELS, DOG_BIKE_CAR, IMAGES, image_bytes

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "visionserve.cli"]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_serve_runs_in_the_foreground_and_drains_requests_in_flight_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    ports = ["--port", str(port), "--grpc-port", str(free_port())]
    process = subprocess.Popen(
        [*CLI, "serve", str(LOCAL_CONFIG), *ports, "--no-dashboard"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so that nothing it starts outlives the test
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert process.poll() is None, Path(log.name).read_text()[-3000:]
        files = [("images", ("c.png", image_bytes("chelsea.png")))]
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/classify", files=files, timeout=60)
        assert answer.status_code == 200
        # In flight when the signal comes: an explanation of some seconds and a classify of 16
        # images. A graceful stop answers both before it exits (each deployment waits up to its
        # longest request timeout; Serve's own default of 20 s cut explanations off).
        in_flight = ThreadPoolExecutor(2)
        explained = in_flight.submit(
            httpx.post,
            f"http://127.0.0.1:{port}/v1/explain",
            files=files,
            data={"methods": "occlusion"},
            timeout=120,
        )
        classified = in_flight.submit(
            httpx.post, f"http://127.0.0.1:{port}/v1/classify", files=files * 16, timeout=120
        )
        time.sleep(1.0)
        assert not explained.done()
        process.send_signal(signal.SIGTERM)
        assert explained.result().status_code == 200, explained.result().text
        assert classified.result().status_code == 200, classified.result().text
        assert len(explained.result().json()["results"][0]["explanations"]) == 1
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = Path(log.name).read_text()
    assert f"VisionServe on http://127.0.0.1:{port}" in output
    assert "VisionServe stopped" in output
    assert not _port_open(port)
    time.sleep(2)  # Ray's workers get a moment to exit after the driver disconnects
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no process of its group is left


def test_bad_config_fails_fast_naming_the_key(tmp_path: Path) -> None:
    document = yaml.safe_load(LOCAL_CONFIG.read_text())
    document["applications"][0]["args"]["models"][0]["batching"]["max_batch_size"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    result = subprocess.run([*CLI, "serve", str(bad)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "applications.0.args.models.0.batching.max_batch_size" in result.stderr


def _hanging_config(tmp_path: Path, **deployment: Any) -> Path:
    """The default config serving only a user model whose loading never ends."""
    document = yaml.safe_load(LOCAL_CONFIG.read_text())
    args = document["applications"][0]["args"]
    args["models"] = [
        {
            "name": "hangs",
            "task": "classification",
            "source": {
                "kind": "python",
                "class_path": "tests.fixtures.user_models:HangsWhileLoading",
                "weights": "random",
            },
            "preprocess": {},
            "runtime": {"backend": "torch", "threads": 1},
            "deployment": {"num_replicas": 1, "num_cpus": 0.25, **deployment},
        }
    ]
    args["pipelines"] = []
    args["explainer"]["enabled"] = False
    path = tmp_path / "hangs.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _serve_in_background(config: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "serve.log"
    ports = ["--port", str(free_port()), "--grpc-port", str(free_port()), "--metrics-port", "0"]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "VISIONSERVE_TEST_HANG_MARKER": str(tmp_path / "loading"),
    }
    process = subprocess.Popen(
        [*CLI, "serve", str(config), *ports, "--no-dashboard", *extra],
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def _finish(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _assert_no_process_left(process: subprocess.Popen[bytes]) -> None:
    time.sleep(2)  # Ray's workers get a moment to exit after the driver disconnects
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no process of its group (Ray's among them) is left


def test_sigterm_stops_a_start_that_hangs_within_30s_and_leaves_no_process(tmp_path: Path) -> None:
    process, log = _serve_in_background(_hanging_config(tmp_path), tmp_path)
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "loading").exists():  # the model's replica is inside its build()
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the model never began to load: " + log.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        _finish(process, 0)
    assert code == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert took < 30
    assert "start interrupted (SIGTERM)" in log.read_text()
    _assert_no_process_left(process)


def test_a_start_that_cannot_finish_times_out_saying_what_it_waits_for(tmp_path: Path) -> None:
    process, log = _serve_in_background(_hanging_config(tmp_path), tmp_path, "--start-timeout", "20")
    code = _finish(process, 180)
    output = log.read_text()
    assert code == 1, output[-3000:]
    assert "the service did not start: application visionserve was not running after 20s" in output
    assert "model-hangs" in output  # the deployment that holds the start up, with Serve's reason
    _assert_no_process_left(process)


def test_reservations_that_cannot_fit_the_machine_are_refused_with_the_sums(tmp_path: Path) -> None:
    config = _hanging_config(tmp_path, num_cpus=64)
    result = subprocess.run(
        [*CLI, "serve", str(config), "--port", str(free_port()), "--no-dashboard", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        start_new_session=True,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "the deployments reserve" in result.stderr
    assert "model-hangs 1 x 64" in result.stderr
    assert "lower models[hangs].deployment.num_cpus" in result.stderr


def _cli(service: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--url", service, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_cli_detect_saves_an_overlay_with_the_boxes(service: str, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    result = _cli(service, "detect", str(IMAGES / "dog_bike_car.jpg"), "--save-overlay", str(out))
    assert result.returncode == 0, result.stderr
    assert "dog" in result.stdout
    assert "label" in result.stdout  # a table, not JSON
    drawn = np.asarray(Image.open(out).convert("RGB")).astype(int)
    original = np.asarray(Image.open(IMAGES / "dog_bike_car.jpg").convert("RGB")).astype(int)
    x1, y1, x2, y2 = DOG_BIKE_CAR["dog"]
    changed = np.abs(drawn - original).sum(axis=2) > 30
    assert changed[y1 - 5 : y2 + 5, x1 - 5 : x2 + 5].sum() > 500  # the dog's box is drawn
    assert changed.mean() < 0.2  # and not much else


def test_cli_prints_json_tables_and_typed_errors(service: str) -> None:
    classified = _cli(service, "classify", str(IMAGES / "chelsea.png"), "--top-k", "2", "--json")
    assert classified.returncode == 0, classified.stderr
    answer = json.loads(classified.stdout)
    assert answer["results"][0]["classes"][0]["label"] in CAT_LABELS
    assert len(answer["results"][0]["classes"]) == 2
    several = _cli(service, "classify", str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"))
    assert several.returncode == 0
    assert "[2/2]" in several.stderr  # progress
    models = _cli(service, "models")
    assert "efficientnet-lite0" in models.stdout
    assert "classification" in models.stdout
    labels = _cli(service, "labels", "efficientnet-lite0")
    assert labels.returncode == 0, labels.stderr
    assert "1000 labels" in labels.stdout
    assert re.search(r"^281\s+tabby", labels.stdout, re.MULTILINE)  # index, then label, in class order
    as_json = json.loads(_cli(service, "labels", "efficientnet-lite0", "--json").stdout)
    assert as_json["labels"][281].startswith("tabby")
    refused = _cli(service, "classify", str(IMAGES / "chelsea.png"), "--model", "nope")
    assert refused.returncode == 1
    assert "404 model_not_found" in refused.stderr
    unreachable = _cli(f"http://127.0.0.1:{free_port()}", "models")
    assert unreachable.returncode == 3


def test_cli_names_the_file_that_failed_and_answers_the_others(service: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    chelsea = str(IMAGES / "chelsea.png")
    result = _cli(service, "classify", str(notes), chelsea)
    assert result.returncode == 1
    assert f"{notes}: 400 invalid_image" in result.stderr
    assert any(label in result.stdout for label in CAT_LABELS)  # the second file was answered
    as_json = json.loads(_cli(service, "classify", str(notes), chelsea, "--json").stdout)
    assert as_json[0]["file"] == str(notes)
    assert as_json[0]["error"]["code"] == "invalid_image"
    assert as_json[1]["results"][0]["classes"][0]["label"] in CAT_LABELS


def test_cli_options_after_the_command_fidelity_and_audit_top_predictions(service: str) -> None:
    chelsea = str(IMAGES / "chelsea.png")
    run = [*CLI, "explain", chelsea, "--method", "saliency", "--fidelity", "--url", service]
    explained = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert explained.returncode == 0, explained.stderr
    assert re.search(r"^saliency\s.*\s[01]\.\d{3}$", explained.stdout, re.MULTILINE), explained.stdout
    top = ""
    for _ in range(40):  # the audit trail writes in the background
        listed = _cli(service, "audit", "list", "--model", "efficientnet-lite0", "--limit", "1")
        assert listed.returncode == 0, listed.stderr
        assert "top predictions" in listed.stdout
        top = listed.stdout.splitlines()[-1]
        if "0." in top:
            break
        time.sleep(0.25)
    best = re.search(r"(\S[^,]*?) (0\.\d\d)(?:,|$)", top)
    assert best is not None, top
    assert best.group(1).split("  ")[-1] in CAT_LABELS, top


def test_cli_explain_reports_progress_on_stderr(service: str) -> None:
    result = _cli(
        service,
        "explain",
        str(IMAGES / "chelsea.png"),
        "--method",
        "saliency",
        "--method",
        "rise",
        "--progress",
    )
    assert result.returncode == 0, result.stderr
    assert "[1/2] saliency: 0/1" in result.stderr
    assert "[2/2] rise: 512/512" in result.stderr  # the default 512 masks, to the last batch
    assert "rise" in result.stdout
