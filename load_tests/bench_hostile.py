"""What hostile requests cost the default service; writes hostile.json.

Starts the default config (deploy/serve/local.yaml) on a local Ray and measures:

- memory: for requests at the edge of the limits (a 40 Mpx JPEG, PNG and RGBA PNG, a
  65500x610 strip, 16 photos of 2.5 Mpx in one request) to each task, the largest rise of any
  replica's peak RSS during the request (the kernel's high-water mark, reset before each);
  the target is under 300 MB.
- refusals: images over the pixel limit in every format (header bombs of a few hundred
  bytes) answered 413; the client's wall time on loopback bounds the server's.
- stalled uploads: 300 connections that send part of a body (declared or chunked) and stall;
  with them held open, /healthz and a one-image classify latencies (target: under 1 s), and
  how long the stalled ones wait for their 408.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_hostile.py
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import procs
from bench_serving import APP, CONFIG, IMAGES, ROOT, _free_port

from tests.helpers import header_bomb

STALLED = 300


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(width: int, height: int) -> Image.Image:
    """A real photo stretched to width x height: content a codec cannot shrink to nothing."""
    return Image.open(IMAGES / "dog_bike_car.jpg").convert("RGB").resize((width, height))


def _edge_requests() -> dict[str, list[bytes]]:
    big = _photo(7745, 5164)  # 39.996 Mpx, just under the default limit
    rgba = big.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(big.size))
    return {
        "jpeg_40mpx": [_encode(big, "JPEG", quality=70)],
        "png_40mpx": [_encode(big, "PNG", compress_level=1)],
        "rgba_png_40mpx": [_encode(rgba, "PNG", compress_level=1)],
        "strip_65500x610": [_encode(_photo(65500, 610), "JPEG", quality=70)],
        "16_photos_2.5mpx": [_encode(_photo(1936, 1291), "JPEG", quality=85)] * 16,
    }


def _reset_peaks(pids: list[int]) -> dict[int, int]:
    """Reset each process's peak RSS to its current RSS; returns the current RSS."""
    now = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        now[pid] = procs.rss_bytes(pid)
    return now


def _peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def memory(url: str) -> dict[str, Any]:
    replicas = procs.replicas(APP)
    rows: dict[str, Any] = {}
    for name, images in _edge_requests().items():
        mb = round(sum(len(i) for i in images) / 2**20, 1)
        for path in ("/v1/classify", "/v1/detect", "/v1/segment"):
            before = _reset_peaks(list(replicas.values()))
            started = time.perf_counter()
            response = httpx.post(
                url + path, files=[("images", (f"i{n}", data)) for n, data in enumerate(images)], timeout=300
            )
            seconds = time.perf_counter() - started
            rises = {d: round((_peak(pid) - before[pid]) / 2**20, 1) for d, pid in replicas.items()}
            worst = max(rises, key=lambda d: rises[d])
            rows[f"{name} {path}"] = {
                "status": response.status_code,
                "body_mb": mb,
                "seconds": round(seconds, 2),
                "peak_rss_rise_mb": rises[worst],
                "replica": worst,
            }
            print(name, path, rows[f"{name} {path}"], flush=True)
    return rows


def refusals(url: str) -> dict[str, Any]:
    rows = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
        side = 16383 if fmt == "WEBP" else 65000
        bomb = header_bomb(fmt, side, side)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            response = httpx.post(url + "/v1/classify", files=[("images", ("b", bomb))], timeout=30)
            times.append(time.perf_counter() - started)
            assert response.status_code == 413, response.text
        rows[fmt] = {"bytes": len(bomb), "status": 413, "p50_ms": round(statistics.median(times) * 1000, 1),
                     "max_ms": round(max(times) * 1000, 1)}  # fmt: skip
    return rows


def _stall(host: str, port: int, index: int) -> socket.socket:
    chunked = index % 2 == 1
    head = ["POST /v1/classify HTTP/1.1", "host: x", "content-type: image/png"]
    head.append("transfer-encoding: chunked" if chunked else "content-length: 1000000")
    connection = socket.create_connection((host, port), timeout=120)
    connection.sendall(
        ("\r\n".join(head) + "\r\n\r\n").encode() + (b"5\r\nhello\r\n" if chunked else b"\x89PNG")
    )
    return connection


def stalled(url: str, host: str, port: int) -> dict[str, Any]:
    photo = (IMAGES / "grace_hopper.jpg").read_bytes()
    opened = time.perf_counter()
    held = [_stall(host, port, i) for i in range(STALLED)]
    health, classify = [], []
    for _ in range(10):
        started = time.perf_counter()
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200
        health.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert (
            httpx.post(url + "/v1/classify", files=[("images", ("p", photo))], timeout=30).status_code == 200
        )
        classify.append(time.perf_counter() - started)
    answers = []
    for connection in held:
        first = connection.recv(64)
        answers.append((first.split(b" ")[1].decode() if first else "closed", time.perf_counter() - opened))
        connection.close()
    codes = {code: sum(1 for c, _ in answers if c == code) for code in {c for c, _ in answers}}
    return {
        "connections": STALLED,
        "healthz_max_ms": round(max(health) * 1000, 1),
        "healthz_p50_ms": round(statistics.median(health) * 1000, 1),
        "classify_max_ms": round(max(classify) * 1000, 1),
        "classify_p50_ms": round(statistics.median(classify) * 1000, 1),
        "stalled_answers": codes,
        "stalled_answered_after_s": round(max(t for _, t in answers), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "hostile.json")
    args = parser.parse_args()
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.local import start_local

    config = parse_service_config(load_serve_file(CONFIG).args)
    service = start_local(config, port=_free_port(), grpc_port=None, include_dashboard=False)
    try:
        service.wait_ready()
        results = {
            "machine": procs.machine(),
            "limits": config.limits.model_dump(),
            "refusals": refusals(service.url),
            "stalled": stalled(service.url, service.host, service.port),
            "memory": memory(service.url),
        }
    finally:
        service.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "memory"}, indent=2))


if __name__ == "__main__":
    main()
