"""What the HTTP API answers, request by request, from one source tree: a snapshot to compare
with another tree's (before and after a change that must not change the answers).

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/api_snapshot.py \\
        --tree ../base --out /tmp/api_base.json        # a worktree of the commit before
    .venv/bin/python load_tests/api_snapshot.py --tree . --out /tmp/api_main.json
    .venv/bin/python load_tests/api_snapshot.py --compare /tmp/api_base.json /tmp/api_main.json

The tree is served by served_tree.py, then every case of api_corpus.py and api_corpus_views.py
goes through real HTTP; a second service, with API keys, answers the auth cases. The config is
deploy/serve/local.yaml with tests/configs/zoo.yaml's CLIP model added and audit.keep_images
on, both read from this checkout whichever tree runs: both sides serve the same config.

Each answer is recorded as its status, its headers (but Date and Content-Length) and its body:
JSON parsed, NDJSON line by line, an OIP binary answer as its JSON header and a digest of its
tensors, anything else as text or a digest. Values of one run only get placeholders (see
``Normaliser``), strings over 200 characters (PNGs, float arrays, pages) their sha256.
GET /openapi.json is kept whole. ``--compare`` is api_diff.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_corpus
import api_corpus_views
import api_diff
import served_tree
from api_corpus import Case

ROOT = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
ZOO_CONFIG = ROOT / "tests" / "configs" / "zoo.yaml"
LONG = 200
"""Strings longer than this are recorded as their digest."""
TIME_KEYS = frozenset({"created", "created_at"})
DURATION_KEYS = frozenset({"latency_ms", "seconds"})
DROPPED_HEADERS = frozenset({"date", "content-length"})
# Paths the API serves without listing them in /openapi.json.
UNLISTED_ROUTES = [("GET", "/ui"), ("GET", "/ui/{asset}"), ("GET", "/docs"), ("GET", "/redoc")]
UNLISTED_ROUTES += [("GET", "/docs/oauth2-redirect"), ("GET", "/openapi.json")]


# ---------------------------------------------------------------- configs


def default_args() -> dict[str, Any]:
    """local.yaml's application args, with zoo.yaml's CLIP model and kept audit images."""
    args: dict[str, Any] = served_tree.serve_file(LOCAL_CONFIG)["applications"][0]["args"]
    zoo = yaml.safe_load(ZOO_CONFIG.read_text())["applications"][0]["args"]["models"]
    if all(m["name"] != api_corpus.CLIP for m in args["models"]):
        args["models"].append(next(m for m in zoo if m["name"] == api_corpus.CLIP))
    args.setdefault("audit", {})["keep_images"] = True
    return args


def with_folder_root(args: dict[str, Any], root: Path) -> dict[str, Any]:
    """ARGS whose explainer may import reference sets from ROOT (the corpus imports one)."""
    explainer = args.setdefault("explainer", {})
    explainer.setdefault("understand", {})["folder_roots"] = [str(root)]
    return args


def auth_args(args: dict[str, Any]) -> dict[str, Any]:
    """The classifier alone, its explainer and audit trail, behind one key per scope
    (as tests/e2e/test_auth.py deploys it)."""
    secured: dict[str, Any] = json.loads(json.dumps(args))
    secured["models"] = [m for m in secured["models"] if m["name"] == api_corpus.CLASSIFIER]
    secured["pipelines"] = []
    secured["auth"] = {
        "keys": [
            {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
            for name, (key, scopes) in api_corpus.KEYS.items()
        ]
    }
    return secured


# ---------------------------------------------------------------- normalising


def digest(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    unit = "chars" if isinstance(data, str) else "bytes"
    return f"<sha256:{hashlib.sha256(raw).hexdigest()[:24]}, {len(raw)} {unit}>"


class Normaliser:
    """Puts placeholders for the values of one run: ids the service makes, times, durations,
    cursors, the run's folder. A value that later requests use (a record id, a reference set,
    a cursor) gets a placeholder that names it, and cases write that placeholder where the
    value goes (api_corpus.py); ``fill`` turns it back into the value."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.placeholders: dict[str, str] = {}
        """value -> placeholder"""

    def name(self, value: str, placeholder: str) -> None:
        if not value or value in self.placeholders:
            return
        taken = set(self.placeholders.values())
        wanted, n = placeholder, 1
        while wanted in taken:
            n += 1
            wanted = f"{placeholder[:-1]}#{n}>"
        self.placeholders[value] = wanted

    def value_of(self, placeholder: str) -> str | None:
        return next((v for v, p in self.placeholders.items() if p == placeholder), None)

    def fill(self, text: str, *, quote: bool = False) -> str:
        """TEXT with every known placeholder replaced by its value (URL-quoted for a path)."""
        for value, placeholder in self.placeholders.items():
            if placeholder in text:
                text = text.replace(placeholder, urllib.parse.quote(value, safe="") if quote else value)
        return text

    def learn(self, case: Case, body: Any) -> None:
        """Name the values of this answer that later requests (and answers) cite."""
        if isinstance(body, dict):
            if isinstance(body.get("record_id"), str) and isinstance(body.get("request_id"), str):
                self.name(body["record_id"], f"<record:{self.text(body['request_id'])}>")
            if isinstance(body.get("id"), str) and isinstance(body.get("name"), str) and "items" in body:
                self.name(body["id"], f"<set:{body['name']}>")
            if isinstance(body.get("next_cursor"), str):
                self.name(body["next_cursor"], f"<cursor:{case.name}>")
            for item in body.values():
                self.learn(case, item)
        elif isinstance(body, list):
            for item in body:
                self.learn(case, item)

    def text(self, value: str) -> str:
        for known in sorted(self.placeholders, key=len, reverse=True):
            if known in value:
                value = value.replace(known, self.placeholders[known])
        return value.replace(self.folder, "<folder>")

    def json(self, value: Any, key: str | None = None) -> Any:
        if key in TIME_KEYS and value is not None:
            return "<time>"
        if key in DURATION_KEYS and value is not None:
            return "<duration>"
        if isinstance(value, dict):
            return {k: self.json(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            value = self.text(value)
            return digest(value) if len(value) > LONG else value
        return value


# ---------------------------------------------------------------- sending


def multipart(case: Case, fill: Callable[[str], str]) -> bytes:
    """The multipart body of CASE: its text fields, then its files as "images" parts."""
    boundary = api_corpus.BOUNDARY.encode()
    parts = []
    for name, value in case.fields:
        field = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        parts.append(b"--" + boundary + b"\r\n" + field + fill(value).encode() + b"\r\n")
    for filename, data in case.files:
        kind = {"png": "image/png", "jpg": "image/jpeg", "txt": "text/plain"}.get(filename.rsplit(".")[-1])
        head = f'Content-Disposition: form-data; name="images"; filename="{filename}"\r\n'
        head += f"Content-Type: {kind or 'application/octet-stream'}\r\n\r\n"
        parts.append(b"--" + boundary + b"\r\n" + head.encode() + data + b"\r\n")
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


def build(client: httpx.Client, case: Case, normaliser: Normaliser) -> httpx.Request:
    headers = {"x-request-id": api_corpus.request_id(case.name)} if case.request_id else {}
    headers.update(case.headers)
    content = case.content
    if case.json is not None:
        filled = json.loads(normaliser.fill(json.dumps(case.json)))
        content = json.dumps(filled).encode()
        headers.setdefault("content-type", "application/json")
    elif case.files or case.fields:
        content = multipart(case, normaliser.fill)
        headers["content-type"] = f"multipart/form-data; boundary={api_corpus.BOUNDARY}"
    path = normaliser.fill(case.path, quote=True)
    return client.build_request(case.method, path, headers=headers, content=content)


def body_of(response: httpx.Response, normaliser: Normaliser, case: Case) -> Any:
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    data = response.content
    if not data:
        return None
    if kind == "application/json":
        try:
            document = json.loads(data)
        except ValueError:
            return {"not_json": digest(data)}
        normaliser.learn(case, document)
        return {"json": normaliser.json(document)}
    if kind == "application/x-ndjson":
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        normaliser.learn(case, lines)
        return {"ndjson": normaliser.json(lines)}
    header_length = response.headers.get("inference-header-content-length")
    if header_length is not None and header_length.isdigit():
        header = json.loads(data[: int(header_length)])
        normaliser.learn(case, header)
        return {"oip_header": normaliser.json(header), "tensors": digest(data[int(header_length) :])}
    if kind.startswith("text/") and len(data) <= LONG:
        return {"text": normaliser.text(data.decode(errors="replace"))}
    return {"bytes": digest(data)}


def record_ids(client: httpx.Client, normaliser: Normaliser, case: Case) -> None:
    """Look up the records a case's placeholders name and that no answer has shown yet."""
    wanted = re.findall(r"<record:([^>]+)>", case.path + json.dumps(case.json))
    for request_id in wanted:
        if normaliser.value_of(f"<record:{request_id}>") is not None:
            continue
        try:
            listing = client.get("/v1/audit/predictions", params={"request_id": request_id, "limit": 1})
        except httpx.HTTPError:
            return
        if listing.status_code == 200 and listing.json().get("records"):
            normaliser.learn(case, listing.json()["records"][0])


def settle_audit(client: httpx.Client, timeout_s: float = 15) -> None:
    """Wait until the audit writer has written every prediction so far (it flushes every 0.25 s):
    the audit answers then hold every record, whatever the run's timing."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            answer = client.get("/v1/audit/status")
        except httpx.HTTPError:
            return
        if answer.status_code != 200:
            return
        status = answer.json()
        now = (status.get("buffered"), status.get("written"))
        if status.get("buffered") == 0 and now == last:
            return
        last = now


def _named(case: Case) -> dict[str, Any]:
    return {"name": case.name, "method": case.method, "path": case.path}


def send_all(url: str, cases: list[Case], folder: Path) -> list[dict[str, Any]]:
    normaliser = Normaliser(folder)
    normaliser.name(url, "<service url>")  # its port is the run's (redirects name it)
    recorded = []
    settled = False
    with httpx.Client(base_url=url, timeout=300) as client:
        for case in cases:
            if case.path.startswith("/v1/audit") and not settled:
                settle_audit(client)
                settled = True
            record_ids(client, normaliser, case)
            request = build(client, case, normaliser)
            sent_id = request.headers.get("x-request-id")
            try:
                response = client.send(request)
            except httpx.HTTPError as exc:
                recorded.append({**_named(case), "error": type(exc).__name__})
                print(f"{case.name}: {type(exc).__name__}: {exc}", flush=True)
                continue
            answered_id = response.headers.get("x-request-id")
            if answered_id and answered_id != sent_id:
                normaliser.name(answered_id, "<request id made by the service>")
            headers = {
                k: normaliser.text(v) for k, v in sorted(response.headers.items()) if k not in DROPPED_HEADERS
            }
            recorded.append(
                {
                    **_named(case),
                    "status": response.status_code,
                    "headers": headers,
                    "body": body_of(response, normaliser, case),
                }
            )
            print(f"{response.status_code} {case.method} {case.path}  ({case.name})", flush=True)
    return recorded


# ---------------------------------------------------------------- one tree


def uncovered(openapi: dict[str, Any], cases: list[Case]) -> list[str]:
    """Routes of the app (listed in /openapi.json, or served unlisted) that no case calls."""
    routes = [(m.upper(), p) for p, item in openapi.get("paths", {}).items() for m in item]
    missing = []
    for method, template in routes + UNLISTED_ROUTES:
        pieces = re.split(r"\{[^}]+\}", template)
        pattern = re.compile("^" + "[^/]+".join(re.escape(p) for p in pieces) + "$")
        if not any(c.method == method and pattern.match(c.path.split("?")[0]) for c in cases):
            missing.append(f"{method} {template}")
    return missing


def main_cases(folder_root: Path) -> list[Case]:
    """The corpus for the default config, in the order it is sent."""
    views = api_corpus_views
    return [
        *api_corpus.meta_cases(),
        *api_corpus.classify_cases(),
        *api_corpus.predict_cases(),
        *api_corpus.oip_cases(),
        *views.explain_cases(),
        *views.audit_cases(),
        *views.understand_cases(folder_root),
    ]


def snapshot_service(
    tree: Path, args: dict[str, Any], folder: Path, name: str, cases: list[Case]
) -> dict[str, Any]:
    """Serve ARGS from TREE in FOLDER/NAME (its data and log), send CASES, stop."""
    served = served_tree.start(tree, served_tree.serve_file(LOCAL_CONFIG, args), folder / name)
    try:
        openapi = httpx.get(f"{served.url}/openapi.json", timeout=60).json()
        recorded = send_all(served.url, cases, folder)
    finally:
        served.stop()
    return {
        "config": Normaliser(folder).json(args),
        "openapi": openapi,
        "cases": recorded,
        "uncovered_routes": uncovered(openapi, cases),
    }


def describe_tree(tree: Path) -> dict[str, Any]:
    def git(*command: str) -> str:
        run = subprocess.run(["git", "-C", str(tree), *command], capture_output=True, text=True)
        return run.stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {"path": str(tree), "commit": git("rev-parse", "HEAD"), "changed_files": len(changed)}


def snapshot(tree: Path, config: Path | None, with_auth: bool, keep: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="visionserve-snapshot-"))
    try:
        root = folder / "reference"
        root.mkdir()
        for name in ("chelsea.png", "coffee.png", "grace_hopper.jpg"):
            shutil.copy(api_corpus.IMAGES / name, root / name)
        args = served_tree.serve_file(config)["applications"][0]["args"] if config else default_args()
        main = snapshot_service(tree, with_folder_root(args, root), folder, "main", main_cases(root))
        report: dict[str, Any] = {
            "tool": "api_snapshot",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tree": describe_tree(tree),
            **main,
        }
        if with_auth:
            secured = snapshot_service(tree, auth_args(args), folder, "auth", api_corpus.auth_cases())
            report["auth_config"] = secured["config"]
            report["auth_cases"] = secured["cases"]
        return report
    finally:
        if keep:
            print(f"kept {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tree", type=Path, help="source tree to serve (a worktree or checkout)")
    parser.add_argument("--out", type=Path, help="where to write the snapshot JSON")
    parser.add_argument("--config", type=Path, help="a Serve config file instead of the default")
    parser.add_argument("--no-auth", action="store_true", help="skip the second service, with API keys")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (serve logs, data)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="diff two snapshots")
    parser.add_argument("--lines", type=int, default=12, help="--compare: differences shown per request")
    parser.add_argument("--width", type=int, default=160, help="--compare: characters shown per value")
    args = parser.parse_args()
    if args.compare:
        first, second = args.compare
        raise SystemExit(api_diff.compare(first, second, args.lines, args.width))
    if args.tree is None or args.out is None:
        parser.error("--tree and --out (or --compare A B)")
    try:
        report = snapshot(args.tree.resolve(), args.config, not args.no_auth, args.keep)
    except RuntimeError as exc:  # the service did not start: its log's end says why
        raise SystemExit(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if report["uncovered_routes"]:
        print(f"routes no request calls: {', '.join(report['uncovered_routes'])}")
    print(f"wrote {args.out}: {len(report['cases'])} requests, {len(report.get('auth_cases', []))} with keys")


if __name__ == "__main__":
    main()
