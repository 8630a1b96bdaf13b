"""The api_snapshot.py cases of the explanations, the audit trail and the understanding views
(api_corpus.py: the conventions, the images and the other routes).

Explanations use small counts and an early layer: every method answers in a few seconds on two
cores. Audit cases come after the predictions they look up; understanding cases make the
reference sets that the later ones cite as ``<set:NAME>``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from api_corpus import (
    CAT,
    CAT_F,
    CLASSIFIER,
    CLIP,
    COFFEE,
    DETECTOR,
    HOPPER,
    PIPELINE,
    RED,
    RED_F,
    STREET_F,
    Case,
    b64,
    form,
    get,
    post,
    raw,
    request_id,
)

# Every method of the classifier but 'cam' (which reads the global pool's input only).
ALL_METHODS = [
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "guided_backprop",
    "gradcam",
    "gradcam_plus_plus",
    "scorecam",
    "eigencam",
    "guided_gradcam",
    "occlusion",
    "rise",
]
CHEAP = {"layer": "_blocks.3", "steps": "2", "samples": "2", "seed": "0", "patch": "112", "stride": "112"}
CHEAP_MASKS = {**CHEAP, "masks": "8"}
CHEAP_JSON = {k: int(v) if v.isdigit() else v for k, v in CHEAP_MASKS.items()}
# 'cam' reads the global pool's input only: with it, every method at its default layer.
NO_LAYER = {k: v for k, v in CHEAP_MASKS.items() if k != "layer"}
NO_LAYER_JSON = {k: v for k, v in CHEAP_JSON.items() if k != "layer"}


def explain_cases() -> list[Case]:
    url, stream = "/v1/explain", "/v1/explain/stream"
    two = (*CAT_F, *RED_F)
    return [
        form("explain: gradcam", url, CAT_F, methods="gradcam"),
        post(
            "explain: saliency and gradcam, overlay, fidelity",
            url,
            {"images": [b64(CAT)], "methods": ["saliency", "gradcam"], "overlay": True, "fidelity": True},
        ),
        form("explain: every method", url, CAT_F, methods=ALL_METHODS, **CHEAP_MASKS),
        form("explain: all 12 methods", url, CAT_F, methods=["cam", *ALL_METHODS], **NO_LAYER),
        form("explain: cam on a layer", url, CAT_F, methods="cam", layer="_blocks.3"),
        form("explain: unknown method", url, CAT_F, methods="nope"),
        form("explain: no methods", url, CAT_F),
        form("explain: too costly", url, CAT_F, methods="occlusion", patch="1", stride="1"),
        form("explain: no image", url, (), methods="gradcam"),
        post("explain: JSON empty images", url, {"images": [], "methods": ["gradcam"]}),
        form("explain: two images", url, two, methods="gradcam"),
        form("explain: two images, too costly", url, two, methods="occlusion", patch="1", stride="1"),
        form("explain: target label", url, CAT_F, methods="gradcam", target_label="tabby"),
        form("explain: unknown target label", url, CAT_F, methods="gradcam", target_label="unicorn"),
        form("explain: target class 9999", url, CAT_F, methods="gradcam", target_class="9999"),
        form("explain: detector rise", url, STREET_F, model=DETECTOR, methods="rise", masks="8", seed="0"),
        form("explain: detector gradcam (not offered)", url, RED_F, model=DETECTOR, methods="gradcam"),
        form("explain: detector, two images, not offered", url, two, model=DETECTOR, methods="gradcam"),
        post(
            "explain: CLIP text",
            url,
            {"model": CLIP, "images": [b64(CAT)], "methods": ["gradcam"], "target_text": "a cat"},
        ),
        form("explain: unknown model", url, CAT_F, model="nope", methods="gradcam"),
        form("explain: pipeline", url, CAT_F, model=PIPELINE, methods="rise", masks="8", seed="0"),
        raw("explain: bad JSON", url, b"{", "application/json"),
        form("explain stream: gradcam", stream, CAT_F, methods="gradcam"),
        form(
            "explain stream: three methods",
            stream,
            CAT_F,
            methods=["saliency", "smoothgrad", "occlusion"],
            samples="3",
            seed="0",
            patch="112",
            stride="112",
        ),
        form("explain stream: unknown method", stream, CAT_F, methods="nope"),
        form("explain stream: two images", stream, two, methods="gradcam"),
        form(
            "explain stream: detector gradcam (not offered)", stream, RED_F, model=DETECTOR, methods="gradcam"
        ),
        raw("explain stream: empty body", stream, b"", "application/json"),
    ]


def audit_cases() -> list[Case]:
    listing = "/v1/audit/predictions"
    record = f"{listing}/<record:{request_id('classify: multipart')}>"
    detection = f"{listing}/<record:{request_id('detect: multipart')}>"
    # Two predictions with one x-request-id: a lookup by that id then names two records.
    twice = [
        replace(
            form(f"classify: repeated request id ({n})", "/v1/classify", RED_F),
            headers={"x-request-id": "snap-twice"},
            request_id=False,
        )
        for n in (1, 2)
    ]
    gradcam = {"methods": ["gradcam"]}
    return [
        *twice,
        get("audit status", "/v1/audit/status"),
        get("audit: first page", f"{listing}?limit=3"),
        get("audit: next page", f"{listing}?limit=3&cursor=<cursor:audit: first page>"),
        get("audit: by model and label", f"{listing}?model={CLASSIFIER}&label=tiger%20cat&limit=5"),
        get("audit: by request id", f"{listing}?request_id={request_id('classify: JSON')}"),
        get("audit: since a time", f"{listing}?since=2000-01-01T00:00:00Z&limit=1"),
        get("audit: until long ago", f"{listing}?until=2000-01-01T00:00:00Z"),
        get("audit: bad cursor", f"{listing}?cursor=not-a-cursor"),
        get("audit: forged cursor", f"{listing}?cursor=" + b64(b'["x", 1]')),
        get("audit: limit over the maximum", f"{listing}?limit=501"),
        get("audit: limit=0", f"{listing}?limit=0"),
        get("audit: limit=abc", f"{listing}?limit=abc"),
        get("audit: bad since", f"{listing}?since=yesterday"),
        get("audit: NUL in a filter", f"{listing}?model=a%00b"),
        get("audit record", record),
        get("audit record: by request id", f"{listing}/{request_id('detect: multipart')}"),
        get("audit record: request id of two", f"{listing}/snap-twice"),
        get("audit record: unknown", f"{listing}/no-such-record"),
        get("audit record: NUL", f"{listing}/abc%00def"),
        post("audit explain", f"{record}/explain", gradcam),
        post("audit explain: every method", f"{record}/explain", {"methods": ALL_METHODS, **CHEAP_JSON}),
        post(
            "audit explain: all 12 methods",
            f"{record}/explain",
            {"methods": ["cam", *ALL_METHODS], **NO_LAYER_JSON},
        ),
        post("audit explain: image out of range", f"{record}/explain", {**gradcam, "image": 3}),
        post("audit explain: unknown method", f"{record}/explain", {"methods": ["nope"]}),
        post(
            "audit explain: too costly",
            f"{record}/explain",
            {"methods": ["occlusion"], "patch": 1, "stride": 1},
        ),
        form("audit explain: multipart", f"{record}/explain", RED_F),
        raw("audit explain: bad JSON", f"{record}/explain", b"{", "application/json"),
        post("audit explain: unknown record", f"{listing}/no-such-record/explain", gradcam),
        post("audit explain: request id of two", f"{listing}/snap-twice/explain", gradcam),
        post(
            "audit explain: a detection", f"{detection}/explain", {"methods": ["rise"], "masks": 8, "seed": 0}
        ),
        post("audit explain: detection, not offered", f"{detection}/explain", gradcam),
    ]


def understand_cases(folder_root: Path) -> list[Case]:
    photos = (*CAT_F, ("coffee.png", COFFEE), ("hopper.jpg", HOPPER), *RED_F)
    sets, u = "/v1/understand/reference-sets", "/v1/understand"
    photo_set = {"reference_set": "<set:photos>"}
    top, top_layer = f"{u}/top-patches", {**photo_set, "layer": "_blocks.3"}
    dream = {"layer": "_blocks.3", "steps": "1", "seed": "0"}
    return [
        get("filters", f"{u}/filters"),
        get("filters: CLIP", f"{u}/filters?model={CLIP}"),
        get("filters: detector (no views)", f"{u}/filters?model={DETECTOR}"),
        get("filters: unknown model", f"{u}/filters?model=nope"),
        form("reference set: upload", sets, photos, name="photos"),
        post("reference set: from a folder", sets, {"name": "folder", "folder": str(folder_root)}),
        post("reference set: folder outside the roots", sets, {"name": "x", "folder": "/etc"}),
        form("reference set: no name", sets, photos[:1]),
        form("reference set: no images", sets, (), name="empty"),
        form("reference set: a file not an image", sets, (*CAT_F, ("notes.txt", b"text")), name="x"),
        raw("reference set: text/plain", sets, b"photos", "text/plain"),
        post("reference set: JSON without folder", sets, {"name": "x"}),
        get("reference sets", sets),
        get("reference set", f"{sets}/<set:photos>"),
        get("reference set: unknown", f"{sets}/{'0' * 32}"),
        get("reference set: path escape", f"{sets}/..%2F..%2Fetc"),
        post("neighbours: of an item", f"{u}/neighbours", {**photo_set, "item": 0, "k": 2}),
        form(
            "neighbours: of an image",
            f"{u}/neighbours",
            CAT_F,
            reference_set="<set:photos>",
            k="3",
            metric="l2",
        ),
        post("neighbours: k=0", f"{u}/neighbours", {**photo_set, "item": 0, "k": 0}),
        post("neighbours: no query", f"{u}/neighbours", photo_set),
        post("neighbours: item out of range", f"{u}/neighbours", {**photo_set, "item": 99}),
        post("neighbours: unknown set", f"{u}/neighbours", {"reference_set": "0" * 32, "item": 0}),
        post("map: pca", f"{u}/map", {**photo_set, "method": "pca"}),
        post("map: tsne", f"{u}/map", {**photo_set, "method": "tsne", "seed": 0, "perplexity": 2}),
        post("map: umap (unknown method)", f"{u}/map", {**photo_set, "method": "umap"}),
        post("map: perplexity=1", f"{u}/map", {**photo_set, "perplexity": 1}),
        form("map: multipart", f"{u}/map", CAT_F),
        post("top patches", top, {**top_layer, "channel": 5, "k": 2}),
        post("top patches: channel out of range", top, {**top_layer, "channel": 4000}),
        post("top patches: channel=-1", top, {**photo_set, "channel": -1}),
        post("top patches: unknown layer", top, {**photo_set, "layer": "_nope", "channel": 1}),
        post("class model", f"{u}/class-model", {"target_class": 281, "steps": 2, "seed": 0}),
        post("class model: unknown label", f"{u}/class-model", {"target_label": "unicorn", "steps": 2}),
        post("class model: no target", f"{u}/class-model", {"steps": 2}),
        post("class model: steps=0", f"{u}/class-model", {"target_class": 1, "steps": 0}),
        post("class model: over max steps", f"{u}/class-model", {"target_class": 1, "steps": 5000}),
        post("class model: detector", f"{u}/class-model", {"target_class": 1, "model": DETECTOR}),
        post("class model stream", f"{u}/class-model/stream", {"target_class": 281, "steps": 3, "seed": 0}),
        post("class model stream: bad", f"{u}/class-model/stream", {"target_class": -1}),
        form("inversion", f"{u}/inversion", CAT_F, layer="_blocks.1", steps="2", seed="0"),
        form("inversion: unknown layer", f"{u}/inversion", CAT_F, layer="_nope", steps="2"),
        post("inversion: no image", f"{u}/inversion", {"steps": 2}),
        form("inversion stream", f"{u}/inversion/stream", CAT_F, layer="_blocks.1", steps="2", seed="0"),
        post(
            "deepdream",
            f"{u}/deepdream",
            {"images": [b64(RED)], "layer": "_blocks.3", "steps": 1, "octaves": 1, "seed": 0},
        ),
        form("deepdream: octaves=9", f"{u}/deepdream", CAT_F, octaves="9"),
        form("deepdream stream", f"{u}/deepdream/stream", RED_F, octaves="2", **dream),
        form("attention rollout", f"{u}/attention-rollout", CAT_F, model=CLIP),
        form("attention rollout: default model", f"{u}/attention-rollout", CAT_F),
        form(
            "attention rollout: discard_ratio=1",
            f"{u}/attention-rollout",
            CAT_F,
            model=CLIP,
            discard_ratio="1",
        ),
        Case("reference set: delete", "DELETE", f"{sets}/<set:folder>"),
        Case("reference set: delete again", "DELETE", f"{sets}/<set:folder>"),
        get("reference sets after delete", sets),
    ]
