"""The requests api_snapshot.py sends: every route of the HTTP API, answered well and badly.

A case is one HTTP request, sent in the order listed: later cases read what earlier ones made
(audit records of the predictions above them, the reference sets made before). Such values are
written as placeholders, ``<set:NAME>`` (the reference set made with that name) and
``<record:REQUEST_ID>`` (the audit record of the request sent with that x-request-id);
api_snapshot.py puts the real value in when it sends the request and the placeholder back in
what it records, so that the snapshot holds no value of one run only.

Every request carries an x-request-id of its own (``snap-`` and the case's name, see
``request_id``) unless the case says otherwise. Images are the sample photos
(VISIONSERVE_TEST_IMAGES, ../shared/images; see its LICENSES.md) and small PNGs drawn here;
nothing is random. This file holds the health, model, prediction and Open Inference Protocol
cases and the run with API keys; api_corpus_views.py the explanations, the audit trail and
the understanding views.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
CLASSIFIER, DETECTOR, SEGMENTER = "efficientnet-lite0", "yolox-nano", "selfie-segmentation"
PIPELINE, CLIP = "person-instances", "clip"
# Fixed, so that a request's bytes are the same in every run (httpx draws one at random).
BOUNDARY = "visionserve-snapshot-boundary"
File = tuple[str, bytes]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    """Sent as written (percent-escapes included), after placeholders are filled in."""
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    json: Any = None
    files: tuple[File, ...] = ()
    """Multipart file parts (name, bytes), each sent as an "images" part."""
    fields: tuple[tuple[str, str], ...] = ()
    """Multipart text fields, in order (a list parameter is a repeated field)."""
    request_id: bool = True
    """Send x-request-id ``request_id(name)``; False: the service makes one."""


def request_id(name: str) -> str:
    """The x-request-id a case sends: ``snap-`` and its name in lower-case letters, digits and dashes."""
    return "snap-" + "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


# ---------------------------------------------------------------- writing cases


def get(name: str, path: str, **options: Any) -> Case:
    return Case(name, "GET", path, **options)


def form(name: str, path: str, files: tuple[File, ...], /, **fields: str | list[str]) -> Case:
    """A multipart POST: FILES as "images" parts, then FIELDS (a list: a repeated field)."""
    pairs = [(k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs])]
    return Case(name, "POST", path, files=files, fields=tuple(pairs))


def post(name: str, path: str, body: Any) -> Case:
    """A POST of BODY as JSON."""
    return Case(name, "POST", path, json=body)


def raw(name: str, path: str, content: bytes, content_type: str | None = None, method: str = "POST") -> Case:
    """A request with this body as it is (and this content type, if any)."""
    return Case(
        name, method, path, content=content, headers={"content-type": content_type} if content_type else {}
    )


# ---------------------------------------------------------------- images


def photo(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def drawn_png(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small PNG drawn here: a colour with a darker diagonal band (Pillow's PNG writer is
    deterministic for one Pillow version: both trees run in the same virtualenv)."""
    image = Image.new("RGB", (width, height), colour)
    dark = (colour[0] // 3, colour[1] // 3, colour[2] // 3)
    for x in range(width):
        for y in range((x * height) // width, min(height, (x * height) // width + 3)):
            image.putpixel((x, y), dark)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height, all zeros: a few KB that would decode to gigabytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CAT, COFFEE = photo("chelsea.png"), photo("coffee.png")
DOG_BIKE_CAR, HOPPER = photo("dog_bike_car.jpg"), photo("grace_hopper.jpg")
RED, GREEN, BLUE = drawn_png(), drawn_png(40, 30, (40, 180, 60)), drawn_png(24, 24, (30, 60, 200))
CAT_F: tuple[File, ...] = (("cat.png", CAT),)
RED_F: tuple[File, ...] = (("red.png", RED),)
STREET_F: tuple[File, ...] = (("dog_bike_car.jpg", DOG_BIKE_CAR),)
HOPPER_F: tuple[File, ...] = (("hopper.jpg", HOPPER),)


# ---------------------------------------------------------------- health, models, pages


def meta_cases() -> list[Case]:
    models = "/v1/models"
    return [
        get("healthz", "/healthz"),
        get("healthz: no request id", "/healthz", request_id=False),
        get("readyz", "/readyz"),
        get("models", models),
        get("model", f"{models}/{CLASSIFIER}"),
        get("model: pipeline", f"{models}/{PIPELINE}"),
        get("model: CLIP", f"{models}/{CLIP}"),
        get("model: unknown", f"{models}/no-such-model"),
        get("model: NUL in path", f"{models}/efficientnet%00lite0"),
        get("model: query with NUL", f"{models}/{CLASSIFIER}?x=1%00"),
        get("labels", f"{models}/{CLASSIFIER}/labels"),
        get("labels: detector", f"{models}/{DETECTOR}/labels"),
        get("labels: pipeline", f"{models}/{PIPELINE}/labels"),
        get("labels: unknown model", f"{models}/no-such-model/labels"),
        get("openapi", "/openapi.json"),
        get("docs", "/docs"),
        get("redoc", "/redoc"),
        get("docs oauth2 redirect", "/docs/oauth2-redirect"),
        get("ui", "/ui"),
        get("ui: app.js", "/ui/app.js"),
        get("ui: app.css", "/ui/app.css"),
        get("ui: unknown asset", "/ui/nope.js"),
        get("unknown route", "/no/such/route"),
        raw("unknown route: POST", "/v1/nope", b"{}", "application/json"),
        get("unknown route: NUL", "/v1/no%00pe"),
        Case("wrong method: POST healthz", "POST", "/healthz"),
        get("wrong method: GET classify", "/v1/classify"),
        Case("wrong method: DELETE models", "DELETE", models),
        raw("wrong method: PUT model", f"{models}/{CLASSIFIER}", b"{}", "application/json", method="PUT"),
        get("trailing slash", f"{models}/"),
        Case("HEAD healthz", "HEAD", "/healthz"),
        Case("OPTIONS classify", "OPTIONS", "/v1/classify"),
    ]


# ---------------------------------------------------------------- predictions


def classify_cases() -> list[Case]:
    url = "/v1/classify"
    return [
        form("classify: multipart", url, CAT_F, top_k="3"),
        form("classify: two images", url, (*CAT_F, ("coffee.png", COFFEE)), top_k="2"),
        post("classify: JSON", url, {"images": [b64(COFFEE)], "top_k": 2}),
        post("classify: JSON data URI", url, {"images": ["data:image/png;base64," + b64(RED)], "top_k": 1}),
        raw("classify: raw body, query top_k", f"{url}?top_k=1", GREEN, "image/png"),
        raw("classify: octet-stream", url, BLUE, "application/octet-stream"),
        form("classify: model by name", url, RED_F, model=CLASSIFIER, top_k="1"),
        replace(form("classify: no request id", url, RED_F), request_id=False),
        form("classify: unknown model", url, RED_F, model="no-such-model"),
        form("classify: detector (wrong task)", url, RED_F, model=DETECTOR),
        form("classify: top_k=0", url, RED_F, top_k="0"),
        form("classify: top_k=-1", url, RED_F, top_k="-1"),
        form("classify: top_k=abc", url, RED_F, top_k="abc"),
        form("classify: top_k=1001", url, RED_F, top_k="1001"),
        post("classify: JSON top_k string", url, {"images": [b64(RED)], "top_k": "x"}),
        post("classify: JSON top_k 2.5", url, {"images": [b64(RED)], "top_k": 2.5}),
        raw("classify: query top_k=0", f"{url}?top_k=0", RED, "image/png"),
        raw("classify: query NUL", f"{url}?top_k=1%00", RED, "image/png"),
        form("classify: unknown parameter", url, RED_F, colour="red"),
        raw("classify: bad JSON", url, b'{"images": [', "application/json"),
        raw("classify: JSON not an object", url, b"[1, 2]", "application/json"),
        post("classify: JSON images not a list", url, {"images": b64(RED)}),
        post("classify: JSON without images", url, {"top_k": 1}),
        post("classify: JSON empty images", url, {"images": []}),
        post("classify: bad base64", url, {"images": ["not base64!!"]}),
        post("classify: data URI not base64", url, {"images": ["data:image/png,abc"]}),
        post("classify: base64 not an image", url, {"images": [b64(b"hello, world")]}),
        raw("classify: empty body", url, b"", "image/png"),
        raw("classify: empty JSON body", url, b"", "application/json"),
        raw("classify: no content type", url, RED),
        raw("classify: text/plain", url, b"a cat", "text/plain"),
        raw("classify: form-urlencoded", url, b"top_k=1", "application/x-www-form-urlencoded"),
        form("classify: multipart without files", url, (), top_k="1"),
        form("classify: multipart images as text", url, RED_F, images="abc"),
        raw("classify: malformed multipart", url, b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
        form("classify: 17 images (too many)", url, tuple((f"p{i}.png", RED) for i in range(17))),
        form("classify: non-image file", url, (("notes.txt", b"GIF89 this is text"),)),
        form("classify: second file not an image", url, (*RED_F, ("notes.txt", b"not an image"))),
        form("classify: truncated JPEG", url, (("half.jpg", DOG_BIKE_CAR[:4000]),)),
        form("classify: pixel bomb", url, (("bomb.png", png_bomb()),)),
    ]


def predict_cases() -> list[Case]:
    detect, segment, embed = "/v1/detect", "/v1/segment", "/v1/embed"
    cat = [b64(CAT)]
    return [
        form("detect: multipart", detect, STREET_F),
        post(
            "detect: thresholds",
            detect,
            {"images": [b64(DOG_BIKE_CAR)], "score_threshold": 0.6, "max_detections": 2},
        ),
        form("detect: score_threshold=2", detect, RED_F, score_threshold="2"),
        form("detect: classifier (wrong task)", detect, RED_F, model=CLASSIFIER),
        form("segment: semantic", segment, HOPPER_F),
        form("segment: semantic with label map", segment, HOPPER_F, model=SEGMENTER, return_label_map="true"),
        form("segment: pipeline", segment, HOPPER_F, model=PIPELINE),
        form("segment: CLIP (wrong task)", segment, RED_F, model=CLIP),
        post("embed image: JSON", f"{embed}/image", {"model": CLIP, "images": cat}),
        post("embed image: float16", f"{embed}/image", {"images": [b64(RED)], "dtype": "float16"}),
        post("embed image: classifier (wrong task)", f"{embed}/image", {"model": CLASSIFIER, "images": cat}),
        post("embed text", f"{embed}/text", {"model": CLIP, "texts": ["a cat", "a photo of a dog."]}),
        post("embed text: no texts", f"{embed}/text", {"model": CLIP, "texts": []}),
        post("embed text: 257 texts (too many)", f"{embed}/text", {"texts": ["x"] * 257}),
        form("embed text: multipart", f"{embed}/text", RED_F),
        raw("embed text: bad JSON", f"{embed}/text", b"{texts", "application/json"),
        form("zero-shot: labels", "/v1/zero-shot", CAT_F, labels=["cat", "dog", "a cup, of coffee"]),
        post("zero-shot: label set", "/v1/zero-shot", {"images": cat, "label_set": "animals"}),
        post("zero-shot: unknown label set", "/v1/zero-shot", {"images": cat, "label_set": "nope"}),
        post("zero-shot: no labels", "/v1/zero-shot", {"images": cat}),
        post(
            "zero-shot: detector (wrong task)",
            "/v1/zero-shot",
            {"model": DETECTOR, "images": cat, "labels": ["a"]},
        ),
    ]


# ---------------------------------------------------------------- Open Inference Protocol


def oip_binary(images: list[bytes], parameters: dict[str, Any]) -> tuple[bytes, str]:
    """An OIP request in the binary tensor extension: (body, inference-header-content-length)."""
    blob = b"".join(struct.pack("<I", len(i)) + i for i in images)
    tensor = {"name": "images", "datatype": "BYTES", "shape": [len(images)]}
    header = {"inputs": [{**tensor, "parameters": {"binary_data_size": len(blob)}}], "parameters": parameters}
    encoded = json.dumps(header).encode()
    return encoded + blob, str(len(encoded))


def oip_json(datatype: str, shape: list[int], data: Any, **extra: Any) -> dict[str, Any]:
    """One input, named as the model's metadata names it: pixels for UINT8, images otherwise."""
    name = "pixels" if datatype == "UINT8" else "images"
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}], **extra}


def oip_cases() -> list[Case]:
    v2 = "/v2/models"
    infer = f"{v2}/{CLASSIFIER}/infer"
    red = [b64(RED)]

    def binary(name: str, path: str, images: list[bytes], parameters: dict[str, Any]) -> Case:
        body, length = oip_binary(images, parameters)
        headers = {"content-type": "application/octet-stream", "inference-header-content-length": length}
        return Case(name, "POST", path, content=body, headers=headers)

    pixels = [[[(x * 10 + y) % 256, x * 20 % 256, y * 30 % 256] for x in range(6)] for y in range(4)]
    too_long = {"content-type": "application/octet-stream", "inference-header-content-length": "99"}
    return [
        get("v2 live", "/v2/health/live"),
        get("v2 ready", "/v2/health/ready"),
        get("v2 model", f"{v2}/{CLASSIFIER}"),
        get("v2 model: detector", f"{v2}/{DETECTOR}"),
        get("v2 model: segmenter", f"{v2}/{SEGMENTER}"),
        get("v2 model: pipeline", f"{v2}/{PIPELINE}"),
        get("v2 model ready", f"{v2}/{CLASSIFIER}/ready"),
        get("v2 server metadata", "/v2"),
        get("v2 model config", f"{v2}/{CLASSIFIER}/config"),
        get("v2 model: unknown version", f"{v2}/{CLASSIFIER}/versions/no-such-version"),
        post("v2 repository index", "/v2/repository/index", {"ready": True}),
        get("v2 model: CLIP (not served)", f"{v2}/{CLIP}"),
        get("v2 model: unknown", f"{v2}/no-such-model"),
        get("v2 model ready: unknown", f"{v2}/no-such-model/ready"),
        post(
            "v2 infer: JSON BYTES",
            infer,
            oip_json("BYTES", [1], [b64(CAT)], id="cat-1", parameters={"top_k": 2}),
        ),
        binary(
            "v2 infer: binary BYTES, detector",
            f"{v2}/{DETECTOR}/infer",
            [DOG_BIKE_CAR],
            {"score_threshold": 0.5},
        ),
        binary("v2 infer: binary output", infer, [RED], {"top_k": 2, "binary_data_output": True}),
        post("v2 infer: UINT8 pixels", infer, oip_json("UINT8", [4, 6, 3], pixels)),
        post("v2 infer: segmenter", f"{v2}/{SEGMENTER}/infer", oip_json("BYTES", [1], [b64(HOPPER)])),
        post(
            "v2 infer: chosen outputs",
            infer,
            oip_json("BYTES", [1], red, outputs=[{"name": "labels"}, {"name": "scores"}]),
        ),
        post("v2 infer: unknown output", infer, oip_json("BYTES", [1], red, outputs=[{"name": "logits"}])),
        post("v2 infer: FP32 input", infer, oip_json("FP32", [1], [0.5])),
        post(
            "v2 infer: unknown input",
            infer,
            {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": red}]},
        ),
        post("v2 infer: shape mismatch", infer, oip_json("BYTES", [2], red)),
        post("v2 infer: bad base64", infer, oip_json("BYTES", [1], ["!!"])),
        post("v2 infer: UINT8 out of range", infer, oip_json("UINT8", [1, 1, 3], [1, 2, 300])),
        post("v2 infer: no inputs", infer, {"inputs": []}),
        raw("v2 infer: bad JSON", infer, b"{inputs", "application/json"),
        raw("v2 infer: empty body", infer, b"", "application/json"),
        post("v2 infer: top_k=0", infer, oip_json("BYTES", [1], red, parameters={"top_k": 0})),
        Case("v2 infer: header length too long", "POST", infer, content=b"{}", headers=too_long),
        post("v2 infer: CLIP (not served)", f"{v2}/{CLIP}/infer", oip_json("BYTES", [1], red)),
        post("v2 infer: unknown model", f"{v2}/no-such-model/infer", oip_json("BYTES", [1], red)),
        post(
            "v2 infer: pipeline with pixels",
            f"{v2}/{PIPELINE}/infer",
            oip_json("UINT8", [1, 1, 3], [1, 2, 3]),
        ),
    ]


# ---------------------------------------------------------------- the run with API keys

KEYS = {
    "reader": ("k-read-0123456789", ["read"]),
    "predictor": ("k-predict-0123456789", ["predict"]),
    "explainer": ("k-explain-0123456789", ["explain"]),
    "auditor": ("k-audit-0123456789", ["audit"]),
}
# One or two routes of each scope, and the open ones.
SCOPED: list[tuple[str | None, Case]] = [
    (None, get("healthz", "/healthz")),
    (None, get("ui", "/ui")),
    (None, get("v2 ready", "/v2/health/ready")),
    ("read", get("models", "/v1/models")),
    ("read", get("labels", f"/v1/models/{CLASSIFIER}/labels")),
    ("read", get("openapi", "/openapi.json")),
    ("read", get("unknown route", "/no/such/route")),
    ("predict", form("classify", "/v1/classify", RED_F, top_k="1")),
    ("predict", post("v2 infer", f"/v2/models/{CLASSIFIER}/infer", oip_json("BYTES", [1], [b64(RED)]))),
    ("explain", form("explain", "/v1/explain", RED_F, methods="gradcam")),
    ("explain", get("reference sets", "/v1/understand/reference-sets")),
    ("audit", get("audit status", "/v1/audit/status")),
    ("audit", get("audit page", "/v1/audit/predictions?limit=1")),
]


def _with_key(case: Case, suffix: str, headers: dict[str, str]) -> Case:
    return replace(case, name=f"{case.name}: {suffix}", headers={**case.headers, **headers})


def auth_cases() -> list[Case]:
    """Each scoped route without a key, with a key that is not one, with a key of another scope,
    and with its own key (by Authorization: Bearer, and once by X-API-Key)."""
    cases = []
    for scope, case in SCOPED:
        cases.append(_with_key(case, "no key", {}))
        cases.append(_with_key(case, "not a key", {"authorization": "Bearer k-read-0123456788"}))
        if scope is None:
            continue
        other = "reader" if scope != "read" else "predictor"
        owner = next(name for name, (_, scopes) in KEYS.items() if scope in scopes)
        cases.append(_with_key(case, f"{other}'s key", {"authorization": f"Bearer {KEYS[other][0]}"}))
        cases.append(_with_key(case, f"{owner}'s key", {"authorization": f"Bearer {KEYS[owner][0]}"}))
    models = SCOPED[3][1]
    cases.append(_with_key(models, "X-API-Key", {"x-api-key": KEYS["reader"][0]}))
    cases.append(_with_key(models, "bearer without a key", {"authorization": "Bearer"}))
    cases.append(_with_key(models, "basic scheme", {"authorization": "Basic a2V5"}))
    return cases
