"""Closed-loop HTTP load: C connections each send the next request as soon as one returns.

Runs as its own process so that the client's CPU is not the server's. Prints one JSON object.
Usage: python loadgen.py URL IMAGE --connections 16 --seconds 10 [--images-per-request 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx


async def _worker(client: httpx.AsyncClient, url: str, files: list, deadline: float, out: dict) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            response = await client.post(url, files=files)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - started
        out["latencies" if ok else "errors"].append(elapsed)


async def run(url: str, image: Path, connections: int, seconds: float, per_request: int) -> dict:
    data = image.read_bytes()
    files = [("images", (image.name, data)) for _ in range(per_request)]
    out: dict[str, list[float]] = {"latencies": [], "errors": []}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await client.post(url, files=files)  # warm-up
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(_worker(client, url, files, deadline, out) for _ in range(connections)))
        wall = time.perf_counter() - started
    latencies = sorted(out["latencies"])

    def pct(q: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)
            if latencies
            else None
        )

    return {
        "connections": connections,
        "images_per_request": per_request,
        "seconds": round(wall, 2),
        "requests": len(latencies),
        "errors": len(out["errors"]),
        "requests_per_s": round(len(latencies) / wall, 2),
        "images_per_s": round(len(latencies) * per_request / wall, 2),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("image", type=Path)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--images-per-request", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.image, args.connections, args.seconds, args.images_per_request))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
