"""What a model has learned, for one loaded torch model: the understanding views (no Ray).

``Understanding`` wraps the explanation deployment's ExplainableModel (its torch module, its
task's geometry, its line: hooks are per module, so one view or explanation runs at a time
per model) and the reference sets on disk. Each view returns a dict of response fields; the
long ones report to a ``Progress`` that can stop them.
"""

from __future__ import annotations

import base64
from dataclasses import fields
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from visionserve.config import UnderstandConfig
from visionserve.errors import Unprocessable
from visionserve.explain.layers import find_layer
from visionserve.explain.options import class_index, options_from
from visionserve.explain.progress import NO_PROGRESS, Progress
from visionserve.explain.service import ExplainableModel
from visionserve.explain.views import png_b64
from visionserve.imaging import decode
from visionserve.tasks import Prepared
from visionserve.understand import filters, patches, rollout, space, synthesis
from visionserve.understand.refsets import ReferenceSet, ReferenceSets


def float_array(values: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return {"shape": list(values.shape), "dtype": "float32", "data": base64.b64encode(data).decode("ascii")}


class Understanding:
    def __init__(self, model: ExplainableModel, sets: ReferenceSets, cfg: UnderstandConfig) -> None:
        if model.module is None:
            raise Unprocessable(f"model {model.engine.cfg.name} is not a torch model: no understanding views")
        self.model = model
        self.module: torch.nn.Module = model.module
        self.engine = model.engine
        self.sets = sets
        self.cfg = cfg
        p = self.engine.cfg.preprocess
        mean, std = (p.mean[::-1], p.std[::-1]) if p.channel_order == "bgr" else (p.mean, p.std)
        self.pixels = synthesis.PixelRange.of(tuple(mean), tuple(std), float(p.pixel_scale))
        self._bgr = p.channel_order == "bgr"

    # ------------------------------------------------------------------ helpers

    def _layer(self, layer: str | None) -> str:
        if layer is None:
            return str(self.model.layer)
        find_layer(self.module, layer)
        return layer

    def _prepare(self, data: bytes, max_pixels: int) -> tuple[Prepared, torch.Tensor]:
        item = self.engine.task.preprocess(decode(data, max_pixels=max_pixels))
        return item, torch.from_numpy(item.tensor)[None]

    def _image(self, x: torch.Tensor) -> Image.Image:
        unit = self.pixels.to_unit(x)[0].permute(1, 2, 0).numpy()
        if self._bgr:
            unit = unit[:, :, ::-1]
        return Image.fromarray((unit * 255).round().astype(np.uint8))

    def _input_side(self) -> tuple[int, int]:
        side = self.engine.cfg.preprocess.input_size
        if side is None:
            raise Unprocessable(
                f"model {self.engine.cfg.name} takes any size: class models need a fixed input"
            )
        return side, side

    def _check_steps(self, steps: int) -> None:
        if steps > self.cfg.max_steps:
            raise Unprocessable(
                f"steps {steps} is over the limit of {self.cfg.max_steps} (understand.max_steps)"
            )

    def _check_side(self, x: torch.Tensor) -> None:
        if max(x.shape[-2:]) > self.cfg.max_image_side:
            raise Unprocessable(
                f"the model input is {x.shape[-1]}x{x.shape[-2]}, over understand.max_image_side "
                f"{self.cfg.max_image_side}"
            )

    # ------------------------------------------------------------------ filters

    def filters(self) -> dict[str, Any]:
        name, conv = filters.first_conv(self.module)
        weights = conv.weight.detach().float().numpy()
        return {
            "layer": name,
            "weights": float_array(weights),
            "grid_png": png_b64(filters.filter_grid(weights)),
        }

    # ------------------------------------------------------------------ feature space

    def embeddings(self, refset: ReferenceSet, layer: str, max_pixels: int, progress: Progress) -> np.ndarray:
        """(N, D) embeddings of a set at a layer, from the set's cache when it has them."""
        path = refset.features_path(self.engine.version, layer)
        if path.is_file():
            cached: np.ndarray = np.load(path)
            return cached
        progress.begin("embedding", len(refset.items))
        rows = []
        with self.model.turn(), synthesis.layer_output(self.module, layer) as features, torch.no_grad():
            for item in refset.items:
                _, x = self._prepare(refset.image_bytes(item.index), max_pixels)
                rows.append(space.pooled(features(x))[0].float().numpy())
                progress.step(item.index + 1, len(refset.items))
        embedded = np.stack(rows)
        self.sets.save_features(path, embedded)
        return embedded

    def neighbours(
        self, images: list[bytes], raw: dict[str, Any], max_pixels: int, progress: Progress = NO_PROGRESS
    ) -> dict[str, Any]:
        refset = self.sets.get(raw["reference_set"])
        layer = self._layer(raw.get("layer"))
        metric: space.Metric = raw.get("metric") or "cosine"
        k = raw.get("k") or 5
        if k > self.cfg.max_neighbours:
            raise Unprocessable(f"k {k} is over the limit of {self.cfg.max_neighbours}")
        item = raw.get("item")
        if (item is None) == (not images):
            raise Unprocessable("give one query: an image, or item (the index of an image of the set)")
        if item is not None and not 0 <= item < len(refset.items):
            raise Unprocessable(f"item {item} is out of range: the set has {len(refset.items)} images")
        embedded = self.embeddings(refset, layer, max_pixels, progress)
        if item is not None:
            queries, exclude, described = embedded[item : item + 1], [item], [f"item {item}"]
        else:
            with (
                self.model.turn(),
                synthesis.layer_output(self.module, layer) as features,
                torch.no_grad(),
            ):
                queries = np.stack(
                    [space.pooled(features(self._prepare(d, max_pixels)[1]))[0].numpy() for d in images]
                )
            exclude, described = [None] * len(images), [f"image {i}" for i in range(len(images))]
        index = space.Index(embedded, metric, self.cfg.exact_search_limit)
        found = index.search(queries, k, exclude)
        results = [
            {
                "query": query,
                "neighbours": [
                    {"index": n.index, "name": refset.items[n.index].name, "distance": n.distance}
                    for n in near
                ],
            }
            for query, near in zip(described, found, strict=True)
        ]
        return {
            "reference_set": refset.id,
            "layer": layer,
            "metric": metric,
            "search": index.kind,
            "dim": int(embedded.shape[1]),
            "results": results,
        }

    def feature_map(
        self, raw: dict[str, Any], max_pixels: int, progress: Progress = NO_PROGRESS
    ) -> dict[str, Any]:
        refset = self.sets.get(raw["reference_set"])
        layer = self._layer(raw.get("layer"))
        method: Literal["pca", "tsne"] = raw.get("method") or "tsne"
        embedded = self.embeddings(refset, layer, max_pixels, progress)
        progress.begin(method)
        coordinates = space.project(embedded, method, raw.get("seed") or 0, raw.get("perplexity") or 30.0)

        def thumbnail(index: int) -> Image.Image:
            decoded = decode(refset.image_bytes(index), max_pixels=max_pixels)
            return Image.fromarray(decoded.pixels)

        points = [
            {"index": item.index, "name": item.name, "x": float(x), "y": float(y)}
            for item, (x, y) in zip(refset.items, coordinates, strict=True)
        ]
        png = base64.b64encode(space.scatter(coordinates, thumbnail)).decode("ascii")
        return {
            "reference_set": refset.id,
            "layer": layer,
            "method": method,
            "points": points,
            "scatter_png": png,
        }

    def top_patches(
        self, raw: dict[str, Any], max_pixels: int, progress: Progress = NO_PROGRESS
    ) -> dict[str, Any]:
        refset = self.sets.get(raw["reference_set"])
        layer = self._layer(raw.get("layer"))
        channel, k = raw["channel"], raw.get("k") or 9
        progress.begin("activations", len(refset.items))
        maps, prepared = [], []
        with self.model.turn():
            with synthesis.layer_output(self.module, layer) as features, torch.no_grad():
                for item in refset.items:
                    prepared_item, x = self._prepare(refset.image_bytes(item.index), max_pixels)
                    activation = features(x)
                    if activation.dim() != 4:
                        raise Unprocessable(f"layer {layer} is not a feature map: no patches to show")
                    channels = int(activation.shape[1])
                    if not 0 <= channel < channels:
                        raise Unprocessable(
                            f"channel {channel} is out of range: layer {layer} has {channels}"
                        )
                    maps.append(patches.channel_maps(activation, channel)[0])
                    prepared.append((prepared_item, x))
                    progress.step(item.index + 1, len(refset.items))
            peaks = patches.top_peaks(maps, k)
            progress.begin("receptive_fields", len(peaks))
            found = []
            for done, peak in enumerate(peaks, start=1):
                prepared_item, x = prepared[peak.item]
                box = self._original_box(
                    prepared_item, patches.receptive_box(self.module, layer, x, channel, peak.y, peak.x)
                )
                decoded = decode(refset.image_bytes(peak.item), max_pixels=max_pixels)
                crop = Image.fromarray(decoded.pixels).crop(box)
                found.append(
                    {
                        "index": peak.item,
                        "name": refset.items[peak.item].name,
                        "activation": peak.value,
                        "position": [peak.y, peak.x],
                        "box": [float(v) for v in box],
                        "patch_png": png_b64(crop),
                    }
                )
                progress.step(done, len(peaks))
        return {
            "reference_set": refset.id,
            "layer": layer,
            "channel": channel,
            "channels": channels,
            "patches": found,
        }

    def _original_box(self, item: Prepared, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box in model-input pixels -> the original image's pixels (through the task's geometry)."""
        x1, y1, x2, y2 = box
        mask = np.zeros(item.tensor.shape[1:], dtype=np.float32)
        mask[y1:y2, x1:x2] = 1.0
        mapped = self.engine.task.map_to_original(mask, item) > 0.5
        rows, cols = np.nonzero(mapped.any(axis=1))[0], np.nonzero(mapped.any(axis=0))[0]
        if len(rows) == 0:
            return 0, 0, item.width, item.height
        return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1

    # ------------------------------------------------------------------ synthesis

    def class_model(self, raw: dict[str, Any], progress: Progress = NO_PROGRESS) -> dict[str, Any]:
        if self.engine.cfg.task != "classification":
            raise Unprocessable("class model visualisation needs a classifier")
        labels = self.engine.labels
        target = _class_index(raw, labels)
        options = options_from(synthesis.ClassModelOptions, raw)
        self._check_steps(options.steps)
        with self.model.turn():
            image = synthesis.class_model(
                self.module, target, self._input_side(), self.pixels, options, progress
            )
            with torch.no_grad():
                logits = self.module(image)
        probability = float(torch.softmax(logits, dim=1)[0, target])
        return {
            "target": {"index": target, "label": labels[target]},
            "probability": probability,
            "logit": float(logits[0, target]),
            "params": {f.name: getattr(options, f.name) for f in fields(options)},
            "image_png": png_b64(self._image(image)),
        }

    def inversion(
        self, data: bytes, raw: dict[str, Any], max_pixels: int, progress: Progress = NO_PROGRESS
    ) -> dict[str, Any]:
        layer = self._layer(raw.get("layer"))
        options = options_from(synthesis.InversionOptions, raw)
        self._check_steps(options.steps)
        _, x = self._prepare(data, max_pixels)
        self._check_side(x)
        with self.model.turn():
            image, error = synthesis.invert(self.module, layer, x, self.pixels, options, progress)
        original = self.pixels.to_unit(x)[0].permute(1, 2, 0).numpy()
        rebuilt = self.pixels.to_unit(image)[0].permute(1, 2, 0).numpy()
        return {
            "layer": layer,
            "ssim": synthesis.ssim(original, rebuilt),
            "feature_error": error,
            "params": {f.name: getattr(options, f.name) for f in fields(options)},
            "input_png": png_b64(self._image(x)),
            "image_png": png_b64(self._image(image)),
        }

    def deepdream(
        self, data: bytes, raw: dict[str, Any], max_pixels: int, progress: Progress = NO_PROGRESS
    ) -> dict[str, Any]:
        layer = self._layer(raw.get("layer"))
        options = options_from(synthesis.DreamOptions, raw)
        self._check_steps(options.steps * options.octaves)
        _, x = self._prepare(data, max_pixels)
        self._check_side(x)
        with self.model.turn():
            before = synthesis.activation_norm(self.module, layer, x)
            dreamed = synthesis.deepdream(self.module, layer, x, self.pixels, options, progress)
            after = synthesis.activation_norm(self.module, layer, dreamed)
        return {
            "layer": layer,
            "activation_norm_before": before,
            "activation_norm_after": after,
            "params": {f.name: getattr(options, f.name) for f in fields(options)},
            "input_png": png_b64(self._image(x)),
            "image_png": png_b64(self._image(dreamed)),
        }

    def attention_rollout(self, data: bytes, raw: dict[str, Any], max_pixels: int) -> dict[str, Any]:
        item, x = self._prepare(data, max_pixels)
        with self.model.turn():
            grid = rollout.rollout(self.module, x, raw.get("discard_ratio") or 0.0)
        at_input = torch.nn.functional.interpolate(
            torch.from_numpy(grid)[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False
        )[0, 0].numpy()
        mapped = self.engine.task.map_to_original(at_input, item)
        view = mapped / (mapped.max() + 1e-12)
        return {
            "grid": float_array(grid),
            "map": float_array(mapped.astype(np.float32)),
            "normalized_png": png_b64(Image.fromarray((view.clip(0, 1) * 255).round().astype(np.uint8))),
        }


def _class_index(raw: dict[str, Any], labels: list[str]) -> int:
    label, index = raw.get("target_label"), raw.get("target_class")
    if (label is None) == (index is None):
        raise Unprocessable("give the class to visualise: target_class or target_label, one of them")
    found = class_index(label, index, labels)
    assert found is not None
    return found
