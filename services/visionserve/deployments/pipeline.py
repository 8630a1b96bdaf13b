"""A pipeline replica: calls model deployments through handles and combines their results.

It decodes each image once, in its own pool, and passes pixels to the models
(``predict_pixels``), so that crops need no re-encoding; each model still batches the
pipeline's calls with everyone else's.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from ray.serve.handle import DeploymentHandle

from visionserve.config import LimitsConfig, PipelineConfig
from visionserve.deployments.logs import quiet_expected_errors
from visionserve.errors import ServiceError, Unprocessable
from visionserve.imaging import decode
from visionserve.outputs import PredictOutput
from visionserve.pipelines.detect_then_segment import assemble, cut, plan_crops
from visionserve_client.types import DetectionResult, ImageSize, ModelInfo, ModelLabels, SemanticSegmentation

_NOT_FOR_PIPELINES = ("include_label_map", "include_scores", "mask_threshold")


class PipelineDeployment:
    def __init__(
        self,
        cfg: PipelineConfig,
        limits: LimitsConfig,
        detector: DeploymentHandle,  # type: ignore[type-arg]
        segmenter: DeploymentHandle,  # type: ignore[type-arg]
    ) -> None:
        quiet_expected_errors()
        self._cfg = cfg
        self._limits = limits
        self._detector = detector
        self._segmenter = segmenter
        self._decode_pool = ThreadPoolExecutor(cfg.deployment.decode_threads, thread_name_prefix="decode")

    async def info(self) -> ModelInfo:
        detector, segmenter = await asyncio.gather(
            self._detector.info.remote(), self._segmenter.info.remote()
        )
        errors = [f"{i.name}: {i.error or 'not ready'}" for i in (detector, segmenter) if not i.ready]
        return ModelInfo(
            name=self._cfg.name,
            task=self._cfg.task,
            ready=not errors,
            error="; ".join(errors) or None,
            labels_count=len(self._cfg.detect_classes),
            input_size=None,
            weights_sha256=self._version(detector.model_version, segmenter.model_version),
            model_version=self._version(detector.model_version, segmenter.model_version),
            backend="pipeline",
            device=detector.device,
            max_batch_size=min(detector.max_batch_size, segmenter.max_batch_size),
        )

    async def labels(self) -> ModelLabels:
        """The classes the pipeline segments: the detector labels it was configured with."""
        info = await self.info()
        return ModelLabels(
            model=self._cfg.name, model_version=info.model_version, labels=list(self._cfg.detect_classes)
        )

    @staticmethod
    def _version(*parts: str) -> str:
        """One digest for the exact weights of every model the pipeline ran."""
        return hashlib.sha256(":".join(parts).encode()).hexdigest()

    def _params(self, raw: dict[str, Any]) -> dict[str, Any]:
        misplaced = [key for key in _NOT_FOR_PIPELINES if raw.get(key) is not None]
        if misplaced:
            raise Unprocessable(f"{', '.join(misplaced)} do not apply to pipeline {self._cfg.name}")
        classes = raw.get("classes") or self._cfg.detect_classes
        unknown = [c for c in classes if c not in self._cfg.detect_classes]
        if unknown:
            raise Unprocessable(
                f"unknown class {', '.join(map(repr, unknown))}; pipeline {self._cfg.name} "
                f"segments: {', '.join(self._cfg.detect_classes)}"
            )
        return {
            "classes": classes,
            "include_masks": raw.get("include_masks", True),
            "detect": {
                "score_threshold": raw.get("score_threshold", self._cfg.score_threshold),
                "max_detections": raw.get("max_detections", self._cfg.max_detections),
            },
        }

    async def predict(self, images: list[bytes], raw_params: dict[str, Any]) -> PredictOutput:
        params = self._params(raw_params)
        loop = asyncio.get_running_loop()
        decode_one = partial(decode, max_pixels=self._limits.max_image_pixels)
        decoded = []
        for index, data in enumerate(images):
            try:
                decoded.append(await loop.run_in_executor(self._decode_pool, decode_one, data))
            except ServiceError as exc:
                where = f"image {index}: " if len(images) > 1 else ""
                raise type(exc)(f"{where}{exc.message}") from None
        pixels = [image.pixels for image in decoded]
        detected: PredictOutput = await self._detector.predict_pixels.remote(pixels, params["detect"])
        sizes = [ImageSize(width=image.width, height=image.height) for image in decoded]
        plans = [
            plan_crops(
                result.detections, params["classes"], size, self._cfg.crop_padding, self._cfg.max_detections
            )
            for result, size in zip(_results(detected, DetectionResult), sizes, strict=True)
        ]
        crops = [cut(image, crop) for image, plan in zip(pixels, plans, strict=True) for crop in plan]
        segmenter_version = ""
        segmented: list[SemanticSegmentation] = []
        if crops:
            output: PredictOutput = await self._segmenter.predict_pixels.remote(
                crops, {"classes": [self._cfg.segment_class], "include_masks": True}
            )
            segmented, segmenter_version = _results(output, SemanticSegmentation), output.model_version
        else:
            segmenter_version = (await self._segmenter.info.remote()).model_version
        results, start = [], 0
        for size, plan in zip(sizes, plans, strict=True):
            part = segmented[start : start + len(plan)]
            start += len(plan)
            results.append(assemble(size, plan, part, self._cfg.segment_class, params["include_masks"]))
        return PredictOutput(
            model_version=self._version(detected.model_version, segmenter_version), results=results
        )


def _results(output: PredictOutput, kind: type[Any]) -> list[Any]:
    return [r if isinstance(r, kind) else kind.model_validate(r) for r in output.results]
