"""Command line for a running VisionServe: classify, detect, segment, explain, models, labels.

    visionserve detect photo.jpg --save-overlay boxes.png
    visionserve classify a.jpg b.png --top-k 3 --json

Readable tables by default, the API's JSON with ``--json``. One request per image, with
progress on stderr when there are several. Exit status: 0 ok, 1 the service refused a
request (4xx/5xx), 2 bad arguments, 3 the service could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from visionserve_client.client import VisionServe
from visionserve_client.errors import APIError, ConnectionFailed
from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    ExplainResponse,
    InstanceSegmentation,
    ModelLabels,
    ModelList,
    ProgressEvent,
    SegmentResponse,
)

DEFAULT_URL = "http://127.0.0.1:8000"
COMMANDS = ("classify", "detect", "segment", "explain", "models", "labels", "audit")


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
        drawn = visualize.overlay_heatmap(image, response.results[0].explanations[0])
    else:
        raise ValueError(f"{kind} has no overlay")
    drawn.save(out)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


Rows = list[tuple[object, ...]]


def _box(box: Sequence[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in box)


def _describe_segment(response: SegmentResponse, name: str) -> str:
    result = response.results[0]
    if isinstance(result, InstanceSegmentation):
        rows: Rows = [(i.label, f"{i.score:.3f}", _box(i.box)) for i in result.instances]
        title = f"{name} ({response.model}): {len(rows)} instances"
        return title + "\n" + _table(rows, ("label", "score", "box"))
    rows = [(c.label, f"{100 * c.pixel_share:.1f}%", f"{c.score:.3f}") for c in result.classes]
    return f"{name} ({response.model})\n" + _table(rows, ("class", "pixels", "score"))


def _describe_explain(response: ExplainResponse, name: str) -> str:
    result = response.results[0]
    target = result.target.label or result.target.text or result.target.index
    rows: Rows = []
    for explanation in result.explanations:
        deletion = f"{explanation.fidelity.deletion_auc:.3f}" if explanation.fidelity else ""
        rows.append((explanation.method, explanation.layer or "", f"{explanation.seconds:.2f}s", deletion))
    header = ("method", "layer", "time", "deletion AUC")
    return f"{name} ({response.model}): why {target!s}\n" + _table(rows, header)


def _describe(response: BaseModel, name: str) -> str:
    if isinstance(response, ClassifyResponse):
        rows: Rows = [(c.label, f"{c.score:.3f}", c.index) for c in response.results[0].classes]
        return f"{name} ({response.model})\n" + _table(rows, ("label", "score", "index"))
    if isinstance(response, DetectResponse):
        found = response.results[0].detections
        rows = [(d.label, f"{d.score:.3f}", _box(d.box)) for d in found]
        return f"{name} ({response.model}): {len(found)} objects\n" + _table(rows, ("label", "score", "box"))
    if isinstance(response, SegmentResponse):
        return _describe_segment(response, name)
    if isinstance(response, ExplainResponse):
        return _describe_explain(response, name)
    if isinstance(response, ModelList):
        rows = [
            (m.name, m.task, "yes" if m.ready else "no", m.model_version[:12], ", ".join(m.explain_methods))
            for m in response.models
        ]
        return _table(rows, ("name", "task", "ready", "version", "explain methods"))
    if isinstance(response, ModelLabels):
        rows = [(index, label) for index, label in enumerate(response.labels)]
        title = f"{response.model} ({response.model_version[:12] or 'no version'}): {len(rows)} labels"
        return title + "\n" + _table(rows, ("index", "label"))
    return response.model_dump_json(indent=2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visionserve", description="Call a running VisionServe.")
    parser.add_argument(
        "--url", default=os.environ.get("VISIONSERVE_URL", DEFAULT_URL), help="service URL ($VISIONSERVE_URL)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("VISIONSERVE_API_KEY"),
        help="API key where the service requires one ($VISIONSERVE_API_KEY; prefer the variable: "
        "arguments show in process lists)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def images_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("images", nargs="+", metavar="IMAGE")
        command.add_argument("--model", default=None)
        command.add_argument("--json", action="store_true", help="print the API's JSON answers")
        return command

    images_command("classify", "top-k classes").add_argument("--top-k", type=int, default=None)
    detect = images_command("detect", "objects with boxes")
    detect.add_argument("--score-threshold", type=float, default=None)
    detect.add_argument("--save-overlay", metavar="PNG", help="draw the boxes; several images: NAME-i.png")
    segment = images_command("segment", "classes or instances with masks")
    segment.add_argument("--save-overlay", metavar="PNG", help="tint the masks; several images: NAME-i.png")
    explain = images_command("explain", "why the model decided")
    explain.add_argument("--method", action="append", dest="methods", help="repeatable (default gradcam)")
    explain.add_argument("--target-label", default=None)
    explain.add_argument("--target-class", type=int, default=None)
    explain.add_argument("--save-overlay", metavar="PNG", help="heatmap of the first method over the image")
    explain.add_argument("--progress", action="store_true", help="report each method's batches on stderr")
    models = commands.add_parser("models", help="models, their tasks, versions and readiness")
    models.add_argument("--json", action="store_true")
    labels = commands.add_parser("labels", help="a model's label set, in class index order")
    labels.add_argument("name", help="the model's configured name")
    labels.add_argument("--json", action="store_true")
    audit = commands.add_parser("audit", help="recorded predictions: list, show, explain again")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    listing = audit_commands.add_parser("list", help="recorded predictions, newest first")
    for flag in ("--model", "--model-version", "--label", "--since", "--until", "--request-id", "--cursor"):
        listing.add_argument(flag, default=None)
    listing.add_argument("--limit", type=int, default=None)
    listing.add_argument("--json", action="store_true")
    one = "a record_id, or a request_id that names one record"
    show = audit_commands.add_parser("show", help="one recorded prediction, as JSON")
    show.add_argument("id", help=one)
    again = audit_commands.add_parser("explain", help="explain a recorded prediction again")
    again.add_argument("id", help=one)
    again.add_argument("--method", action="append", dest="methods", help="repeatable (default gradcam)")
    again.add_argument("--target-label", default=None)
    again.add_argument("--target-class", type=int, default=None)
    again.add_argument("--json", action="store_true")
    return parser


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
        print(explained.model_dump_json(indent=2) if args.json else _describe(explained, args.id))
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
            ", ".join(r.labels[:3]),
        )
        for r in page.records
    ]
    print(_table(rows, ("time", "record_id", "request_id", "model", "version", "caller", "labels")))
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
        on_progress=_report_progress if args.progress else None,
    )


def _report_progress(event: ProgressEvent) -> None:
    place = f"[{event.stage_index + 1}/{event.stages}] " if event.stage_index is not None else ""
    print(f"{place}{event.stage}: {event.done}/{event.total}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    with VisionServe(args.url, timeout=args.timeout, api_key=args.api_key) as client:
        if args.command == "audit":
            return _audit(client, args)
        if args.command == "models":
            listing = client.models()
            print(listing.model_dump_json(indent=2) if args.json else _describe(listing, ""))
            return 0
        if args.command == "labels":
            label_set = client.labels(args.name)
            print(label_set.model_dump_json(indent=2) if args.json else _describe(label_set, args.name))
            return 0
        call = _call(client, args)
        answers: list[Any] = []
        for index, path in enumerate(args.images):
            if len(args.images) > 1:
                print(f"[{index + 1}/{len(args.images)}] {path}", file=sys.stderr, flush=True)
            response = call(path)
            if args.json:
                answers.append(response.model_dump(mode="json"))
            else:
                print(_describe(response, path))
            overlay = getattr(args, "save_overlay", None)
            if overlay:
                out = _overlay_path(overlay, index, len(args.images))
                _save_overlay(args.command, path, response, out)
                print(f"overlay saved to {out}", file=sys.stderr)
        if args.json:
            print(json.dumps(answers[0] if len(answers) == 1 else answers, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except APIError as exc:
        print(f"visionserve: {exc}", file=sys.stderr)
        return 1
    except ConnectionFailed as exc:
        print(f"visionserve: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        print(f"visionserve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
