"""Command line for a running VisionServe: classify, detect, segment, explain, models, labels.

    visionserve detect photo.jpg --save-overlay boxes.png
    visionserve classify a.jpg b.png --top-k 3 --json

Readable tables by default, the API's JSON with ``--json``. One request per image, with
progress on stderr when there are several; a failed image is named and the others still
run. ``--url``, ``--timeout`` and ``--api-key`` go before or after the command. Exit status:
0 ok, 1 the service refused a request (4xx/5xx) or answered as VisionServe does not, 2 bad
arguments or files, 3 the service could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from visionserve_client._tables import Rows, describe, table, top_predictions
from visionserve_client.client import VisionServe
from visionserve_client.errors import APIError, ConnectionFailed, RequestTimeout, VisionServeError
from visionserve_client.types import (
    DetectResponse,
    ExplainResponse,
    ProgressEvent,
    SegmentResponse,
)

DEFAULT_URL = "http://127.0.0.1:8000"


def _overlay_path(base: str, index: int, count: int) -> Path:
    path = Path(base)
    return path if count == 1 else path.with_name(f"{path.stem}-{index}{path.suffix or '.png'}")


def _save_overlay(kind: str, image_path: str, response: BaseModel, out: Path) -> None:
    from PIL import Image

    from visionserve_client import visualize

    image = Image.open(image_path)
    image.load()
    if isinstance(response, DetectResponse):
        drawn = visualize.draw_detections(image, response.results[0])
    elif isinstance(response, SegmentResponse):
        drawn = visualize.draw_segmentation(image, response.results[0])
    elif isinstance(response, ExplainResponse):
        result = response.results[0]
        drawn = visualize.overlay_heatmap(image, result.explanations[0], result.geometry)
    else:
        raise ValueError(f"{kind} has no overlay")
    drawn.save(out)


def _connection_options(parser: argparse.ArgumentParser, suppressed: bool) -> None:
    """--url, --timeout, --api-key: before the command, or after it (``suppressed``: an option
    a command does not see keeps the value given before it)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppressed else value

    url_default = os.environ.get("VISIONSERVE_URL", DEFAULT_URL)
    parser.add_argument(
        "--url", default=default(url_default), help=f"service URL ($VISIONSERVE_URL; default {url_default})"
    )
    parser.add_argument("--timeout", type=float, default=default(60.0), help="seconds per request (60)")
    parser.add_argument(
        "--api-key",
        default=default(os.environ.get("VISIONSERVE_API_KEY")),
        help="API key where the service requires one ($VISIONSERVE_API_KEY; prefer the variable: "
        "arguments show in process lists)",
    )


def add_commands(commands: Any) -> None:
    """The commands that call a running service, on ``commands`` (argparse subparsers)."""
    connection = argparse.ArgumentParser(add_help=False)
    _connection_options(connection, suppressed=True)

    def command(parent: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        found: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text, parents=[connection]
        )
        return found

    def images_command(name: str, help_text: str) -> argparse.ArgumentParser:
        found = command(commands, name, help_text)
        found.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP...)")
        found.add_argument("--model", default=None, help="a configured model (default: the service's)")
        found.add_argument("--json", action="store_true", help="print the API's JSON answers")
        return found

    classify = images_command("classify", "top-k classes of each image")
    classify.add_argument("--top-k", type=int, default=None, help="classes per image")
    detect = images_command("detect", "objects with boxes")
    detect.add_argument("--score-threshold", type=float, default=None, help="boxes scored below are dropped")
    detect.add_argument("--save-overlay", metavar="PNG", help="draw the boxes; several images: NAME-i.png")
    segment = images_command("segment", "classes or instances with masks")
    segment.add_argument("--save-overlay", metavar="PNG", help="tint the masks; several images: NAME-i.png")
    explain = images_command("explain", "why the model decided")
    explain.add_argument("--method", action="append", dest="methods", help="repeatable (default gradcam)")
    explain.add_argument("--target-label", default=None, help="explain this label (default: the top one)")
    explain.add_argument("--target-class", type=int, default=None, help="explain this class index")
    explain.add_argument("--fidelity", action="store_true", help="measure each map's deletion/insertion AUC")
    explain.add_argument("--save-overlay", metavar="PNG", help="heatmap of the first method over the image")
    explain.add_argument("--progress", action="store_true", help="report each method's batches on stderr")
    models = command(commands, "models", "models, their tasks, versions and readiness")
    models.add_argument("--json", action="store_true", help="print the API's JSON answer")
    labels = command(commands, "labels", "a model's label set, in class index order")
    labels.add_argument("name", help="the model's configured name")
    labels.add_argument("--json", action="store_true", help="print the API's JSON answer")
    audit = command(commands, "audit", "recorded predictions: list, show, explain again")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="{list,show,explain}")
    listing = command(audit_commands, "list", "recorded predictions, newest first, with top predictions")
    for flag, what in (
        ("--model", "a model's records"),
        ("--model-version", "of this weights version"),
        ("--label", "whose answer named this label"),
        ("--since", "at or after (ISO 8601 or Unix time)"),
        ("--until", "before (ISO 8601 or Unix time)"),
        ("--request-id", "with this request id"),
        ("--cursor", "the next page (printed after a page)"),
    ):
        listing.add_argument(flag, default=None, help=what)
    listing.add_argument("--limit", type=int, default=None, help="records per page")
    listing.add_argument("--json", action="store_true", help="print the API's JSON answer")
    one = "a record_id, or a request_id that names one record"
    show = command(audit_commands, "show", "one recorded prediction, as JSON")
    show.add_argument("id", help=one)
    again = command(audit_commands, "explain", "explain a recorded prediction again, with its model version")
    again.add_argument("id", help=one)
    again.add_argument("--method", action="append", dest="methods", help="repeatable (default gradcam)")
    again.add_argument("--target-label", default=None, help="explain this label (default: the top one)")
    again.add_argument("--target-class", type=int, default=None, help="explain this class index")
    again.add_argument("--json", action="store_true", help="print the API's JSON answer")


def build_parser(description: str = "Call a running VisionServe.") -> tuple[argparse.ArgumentParser, Any]:
    """The command line's parser, and its subparsers (where ``visionserve serve`` adds itself)."""
    parser = argparse.ArgumentParser(prog="visionserve", description=description)
    _connection_options(parser, suppressed=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(commands)
    return parser, commands


def _audit(client: VisionServe, args: argparse.Namespace) -> int:
    if args.audit_command == "show":
        print(client.audit_prediction(args.id).model_dump_json(indent=2))
        return 0
    if args.audit_command == "explain":
        explained = client.explain_recorded(
            args.id,
            methods=args.methods or ["gradcam"],
            target_label=args.target_label,
            target_class=args.target_class,
        )
        print(explained.model_dump_json(indent=2) if args.json else describe(explained, args.id))
        return 0
    page = client.audit_predictions(
        model=args.model,
        model_version=args.model_version,
        label=args.label,
        since=args.since,
        until=args.until,
        request_id=args.request_id,
        limit=args.limit,
        cursor=args.cursor,
    )
    if args.json:
        print(page.model_dump_json(indent=2))
        return 0
    rows: Rows = [
        (
            r.created_at,
            r.record_id,
            r.request_id,
            r.model,
            r.model_version[:12],
            r.caller or "",
            top_predictions(r.response),
        )
        for r in page.records
    ]
    header = ("time", "record_id", "request_id", "model", "version", "caller", "top predictions")
    print(table(rows, header))
    if page.next_cursor:
        print(f"more: --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def _call(client: VisionServe, args: argparse.Namespace) -> Callable[[str], BaseModel]:
    if args.command == "classify":
        return lambda path: client.classify(path, model=args.model, top_k=args.top_k)
    if args.command == "detect":
        return lambda path: client.detect(path, model=args.model, score_threshold=args.score_threshold)
    if args.command == "segment":
        return lambda path: client.segment(path, model=args.model, include_masks=bool(args.save_overlay))
    return lambda path: client.explain(
        path,
        model=args.model,
        methods=args.methods or ["gradcam"],
        target_label=args.target_label,
        target_class=args.target_class,
        fidelity=True if args.fidelity else None,
        on_progress=_report_progress if args.progress else None,
    )


def _report_progress(event: ProgressEvent) -> None:
    if event.ahead is not None:
        print(f"waiting for the explainer: {event.ahead} ahead", file=sys.stderr, flush=True)
        return
    place = f"[{event.stage_index + 1}/{event.stages}] " if event.stage_index is not None else ""
    print(f"{place}{event.stage}: {event.done}/{event.total}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    with VisionServe(args.url, timeout=args.timeout, api_key=args.api_key) as client:
        if args.command == "audit":
            return _audit(client, args)
        if args.command == "models":
            listing = client.models()
            print(listing.model_dump_json(indent=2) if args.json else describe(listing, ""))
            return 0
        if args.command == "labels":
            label_set = client.labels(args.name)
            print(label_set.model_dump_json(indent=2) if args.json else describe(label_set, args.name))
            return 0
        return _each_image(_call(client, args), args)


def _each_image(call: Callable[[str], BaseModel], args: argparse.Namespace) -> int:
    """Every image, each answered or its failure named; 1 when one failed (all are tried)."""
    answers: list[Any] = []
    failed = 0
    for index, path in enumerate(args.images):
        if len(args.images) > 1:
            print(f"[{index + 1}/{len(args.images)}] {path}", file=sys.stderr, flush=True)
        try:
            response = call(path)
        except APIError as exc:
            failed += 1
            print(f"visionserve: {path}: {exc}", file=sys.stderr, flush=True)
            error = {"code": exc.code, "message": exc.message, "request_id": exc.request_id}
            answers.append({"file": path, "error": error})
            continue
        except VisionServeError as exc:  # this file's answer: too slow, or not VisionServe's
            if isinstance(exc, ConnectionFailed) and not isinstance(exc, RequestTimeout):
                raise  # the service is gone: the other files would fail the same way
            failed += 1
            print(f"visionserve: {path}: {exc}", file=sys.stderr, flush=True)
            answers.append({"file": path, "error": {"code": "no_answer", "message": str(exc)}})
            continue
        except OSError as exc:  # the file itself (missing, unreadable)
            failed += 1
            print(f"visionserve: {path}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            answers.append({"file": path, "error": {"code": "unreadable_file", "message": str(exc)}})
            continue
        if args.json:
            answers.append(response.model_dump(mode="json"))
        else:
            print(describe(response, path))
        overlay = getattr(args, "save_overlay", None)
        if overlay:
            out = _overlay_path(overlay, index, len(args.images))
            _save_overlay(args.command, path, response, out)
            print(f"overlay saved to {out}", file=sys.stderr)
    if args.json:
        print(json.dumps(answers[0] if len(answers) == 1 else answers, indent=2))
    if failed and len(args.images) > 1:
        print(f"visionserve: {failed} of {len(args.images)} images failed", file=sys.stderr)
    return 1 if failed else 0


def _bad_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with --url or --api-key, said without the key (it would be printed)."""
    if urlsplit(args.url).scheme not in ("http", "https"):
        return f"--url {args.url!r} needs http:// or https://"
    key = args.api_key
    if key is not None and (not key or any(not 32 < ord(c) < 127 for c in key)):
        return "the API key is empty or holds a character a header cannot carry (a line ending?)"
    return None


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed client command: every answer of the service, and every failure to get
    one, ends in one clear line on stderr and an exit status, never a traceback."""
    wrong = _bad_arguments(args)
    if wrong is not None:
        print(f"visionserve: {wrong}", file=sys.stderr)
        return 2
    try:
        return run(args)
    except APIError as exc:
        print(f"visionserve: {exc}", file=sys.stderr)
        return 1
    except ConnectionFailed as exc:
        print(f"visionserve: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 3
    except VisionServeError as exc:  # an answer that is not VisionServe's
        print(f"visionserve: {args.url} did not answer as VisionServe does: {exc}", file=sys.stderr)
        return 1
    except httpx.InvalidURL as exc:
        print(f"visionserve: bad --url {args.url!r}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:  # an answer httpx could not read (a broken encoding...)
        print(f"visionserve: {args.url} sent an answer that cannot be read: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"visionserve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("visionserve: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    return run_parsed(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
