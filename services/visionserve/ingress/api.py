"""The HTTP API v1: a FastAPI app served by the ingress deployment.

The ingress validates requests and keeps images compressed; model replicas decode, batch and
run them. Every response carries ``request_id``, the same as Serve's ``x-request-id``.

No ``from __future__ import annotations`` here: FastAPI must resolve the route signatures at
run time, after Serve has rewritten the class.
"""

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionserve import __version__
from visionserve.audit import open_writer
from visionserve.audit.api import (
    NAMED_RECORDS,
    describe_record,
    make_cursor,
    parse_cursor,
    parse_time,
    the_record,
)
from visionserve.audit.records import record_of
from visionserve.audit.store import AuditRecord
from visionserve.audit.store import Query as AuditQuery
from visionserve.audit.writer import AuditWriter
from visionserve.config import ModelConfig, PipelineConfig, ServiceConfig
from visionserve.errors import (
    CannotExplainRecord,
    ExplanationTooCostly,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    TaskMismatch,
    Timeout,
    TooManyTexts,
    Unprocessable,
    find_service_error,
)
from visionserve.explain.cost import forward_passes
from visionserve.explain.support import supported_methods
from visionserve.ingress import oip, ui, uploads
from visionserve.ingress.admission import AdmissionControl, ShedWhenFull
from visionserve.ingress.auth import Authenticator, presented_key, scope_for_route
from visionserve.ingress.colocated import InProcessHandle, colocated_models
from visionserve.ingress.errors import EXPECTED_ERRORS, describe_error, error_response, to_response
from visionserve.ingress.grpc_api import GrpcMethods
from visionserve.ingress.measure import MeasureRequests, authenticator
from visionserve.ingress.requests import (
    ParsedRequest,
    b64_image,
    check_images,
    parse_json,
    parse_request,
    read_named_files,
)
from visionserve.metadata import describe_unreachable
from visionserve.metrics import IngressMetrics, note_error, note_images, note_model
from visionserve.outputs import PredictOutput
from visionserve_client.types import (
    AuditExplainRequest,
    AuditPage,
    AuditStatus,
    ClassifyRequest,
    ClassifyResponse,
    ClassModelRequest,
    ClassModelResponse,
    DeepDreamRequest,
    DeepDreamResponse,
    DetectRequest,
    DetectResponse,
    EmbedImageRequest,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    ErrorDetail,
    ErrorEvent,
    ExplainRequest,
    ExplainResponse,
    ExplainResultEvent,
    FeatureMapRequest,
    FeatureMapResponse,
    FiltersResponse,
    Health,
    InversionRequest,
    InversionResponse,
    ModelInfo,
    ModelList,
    NeighboursRequest,
    NeighboursResponse,
    ProgressEvent,
    Readiness,
    ReferenceSetInfo,
    ReferenceSetList,
    ReferenceSetRequest,
    RolloutRequest,
    RolloutResponse,
    SegmentRequest,
    SegmentResponse,
    TopPatchesRequest,
    TopPatchesResponse,
    UnderstandResultEvent,
    ZeroShotRequest,
    ZeroShotResponse,
)
from visionserve_client.types import AuditRecord as AuditRecordOut

logger = logging.getLogger("visionserve")

_INFO_TIMEOUT_S = 5.0
_ROUTE_FOR_TASK = {
    "classification": "/v1/classify",
    "detection": "/v1/detect",
    "semantic_segmentation": "/v1/segment",
    "instance_segmentation": "/v1/segment",
    "clip": "/v1/embed/image, /v1/embed/text or /v1/zero-shot",
}
_SEGMENTATION = ("semantic_segmentation", "instance_segmentation")
# Replica methods whose answers are predictions, each recorded in the audit trail.
_AUDITED = frozenset({"predict", "predict_pixels"})
# Tasks served on /v2 and the schema their request parameters are checked against.
_OIP_SCHEMAS: dict[str, type[Any]] = {
    "classification": ClassifyRequest,
    "detection": DetectRequest,
    "semantic_segmentation": SegmentRequest,
    "instance_segmentation": SegmentRequest,
}
_OIP_DETECTION_OUTPUTS = ["image_index", "boxes", "scores", "labels"]


async def authorise(request: Request) -> None:
    """Every API route's dependency: the key must allow the route's scope (ingress.auth)."""
    auth = authenticator(request.scope)
    if auth is not None:
        route = request.scope.get("route")
        scope = scope_for_route(str(getattr(route, "path", "")))
        request.state.caller = auth.check(presented_key(request.headers), scope)


app = FastAPI(
    title="VisionServe",
    version=__version__,
    description="Computer-vision models on Ray Serve: classify, detect, segment and embed images.",
    dependencies=[Depends(authorise)],
)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "")) or uuid.uuid4().hex


app.add_middleware(MeasureRequests)
# Added last, so outermost: a full endpoint is refused before auth, parsing or measuring.
app.add_middleware(ShedWhenFull)


async def _error_response(request: Request, exc: Exception) -> JSONResponse:
    return to_response(exc, _request_id(request))


# Expected errors get their own handlers: Starlette re-raises whatever reaches the catch-all
# Exception handler after answering, and Serve then logs it as a failed request.
for _expected in (*EXPECTED_ERRORS, StarletteHTTPException, RequestValidationError, Exception):
    app.add_exception_handler(_expected, _error_response)


async def _awaited(response: Any) -> Any:
    """A DeploymentResponse as a coroutine, so that asyncio.wait_for can bound it."""
    return await response


async def _answer(handle: Any, args: tuple[Any, ...]) -> Any:
    """The replica's answer, as a coroutine that asyncio.wait_for can bound.

    A replica that dies under a request (killed, out of memory) is tried once more on another:
    predictions and explanations depend on their inputs only. A second death is the caller's
    503, so that one poisonous request cannot take down every replica in turn.
    """
    try:
        return await handle.remote(*args)
    except RayActorError as exc:
        logger.warning("a replica died under a request (%s); trying once more", type(exc).__name__)
        return await handle.remote(*args)


def _body(request_id: str, model: ModelConfig | PipelineConfig, output: PredictOutput) -> dict[str, Any]:
    """A prediction's response body: the replica's output, cited by request and model version."""
    return {
        "request_id": request_id,
        "model": model.name,
        "model_version": output.model_version,
        "results": output.results,
        **output.fields,
    }


def _understood(request_id: str, model: ModelConfig, output: PredictOutput) -> dict[str, Any]:
    """An understanding view's response body: its fields, cited by request and model version."""
    return {
        "request_id": request_id,
        "model": model.name,
        "model_version": output.model_version,
        **output.fields,
    }


async def _next(stream: Any) -> Any:
    return await stream.__anext__()


async def _stream_events(
    first: Any, stream: Any, request_id: str, deadline: float, result_line: Callable[[PredictOutput], bytes]
) -> AsyncIterator[bytes]:
    """The explainer's events as NDJSON lines. Failures after the 200 are sent as an error
    event (the status cannot change any more); a closed connection cancels the explainer."""
    loop = asyncio.get_running_loop()
    item = first
    try:
        while True:
            if isinstance(item, PredictOutput):
                yield result_line(item)
                return
            yield ProgressEvent(request_id=request_id, **item).model_dump_json().encode() + b"\n"
            try:
                item = await asyncio.wait_for(_next(stream), timeout=max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise Timeout("the explanation did not finish within limits.explain_timeout_s") from None
    except StopAsyncIteration:
        yield _error_line(RuntimeError("the explainer ended its stream without a result"), request_id)
    except Exception as exc:
        yield _error_line(exc, request_id)
    finally:
        stream.cancel()  # a no-op once finished; stops the explainer when the caller left


def _error_line(exc: BaseException, request_id: str) -> bytes:
    status, code, message = describe_error(exc)
    if code == "internal":
        logger.exception("stream %s failed", request_id, exc_info=exc)
    note_error(code)
    event = ErrorEvent(status=status, error=ErrorDetail(code=code, message=message, request_id=request_id))
    return event.model_dump_json().encode() + b"\n"


def _body_doc(schema: type[Any]) -> dict[str, Any]:
    """OpenAPI description of the three accepted request bodies."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            **{
                                k: v
                                for k, v in schema.model_json_schema()["properties"].items()
                                if k != "images"
                            },
                        },
                        "required": ["images"],
                    }
                },
                "application/json": {"schema": schema.model_json_schema()},
                "image/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


@serve.deployment
@serve.ingress(app)
class Ingress(GrpcMethods):
    def __init__(
        self,
        config: dict[str, Any],
        handles: dict[str, DeploymentHandle],
        explainer: DeploymentHandle | None,
        model_dirs: list[str],
        cache_dir: str,
    ) -> None:
        self._config = ServiceConfig.model_validate(config)
        self._metrics = IngressMetrics(self._config.metrics)
        self._auth = Authenticator(self._config.auth)
        app.state.metrics = self._metrics
        app.state.auth = self._auth
        uploads.configure(self._config.limits, self._metrics)  # bodies are read before routing
        self._audit = open_writer(self._config.audit, self._metrics.audited)
        self._admission = AdmissionControl(self._config.ingress.max_ongoing_requests)
        app.state.admission = self._admission
        colocated = colocated_models(
            self._config.models, self._config.limits, model_dirs, cache_dir, self._config.metrics
        )
        self._handles: dict[str, DeploymentHandle | InProcessHandle] = {**handles, **colocated}
        self._explainer = explainer
        wanted = self._config.explainer.models
        self._explain_methods = {
            m.name: supported_methods(m.task, m.torch_model, m.source.head)
            for m in self._config.models
            if explainer is not None and (wanted is None or m.name in wanted)
        }

    def _entry(self, name: str) -> ModelConfig | PipelineConfig:
        """The configured model or pipeline NAME (noted for metrics); ModelNotFound otherwise."""
        found = self._config.entry(name)
        if found is None:
            names = ", ".join(e.name for e in self._config.entries)
            raise ModelNotFound(f"unknown model {name!r}; available: {names}")
        note_model(found.name)
        return found

    def _model_for(self, name: str | None, tasks: tuple[str, ...]) -> ModelConfig | PipelineConfig:
        wanted = " or ".join(t.replace("_", " ") for t in tasks)
        if name is None:
            for entry in self._config.entries:
                if entry.task in tasks:
                    note_model(entry.name)
                    return entry
            raise ModelNotFound(f"no {wanted} model is configured")
        found = self._entry(name)
        if found.task not in tasks:
            raise TaskMismatch(
                f"model {name!r} is a {found.task.replace('_', ' ')} model, not {wanted}: "
                f"use POST {_ROUTE_FOR_TASK[found.task]}"
            )
        return found

    async def _call(
        self,
        request: Request | str,
        model: ModelConfig | PipelineConfig,
        method: str,
        *args: Any,
        deployment: DeploymentHandle | None = None,
    ) -> dict[str, Any]:
        """Call a replica; ``request`` is the HTTP request, or a request id (gRPC)."""
        output = await self._ask(request, model, method, *args, deployment=deployment)
        return _body(request if isinstance(request, str) else _request_id(request), model, output)

    async def _ask(
        self,
        request: Request | str,
        model: ModelConfig | PipelineConfig,
        method: str,
        *args: Any,
        deployment: DeploymentHandle | None = None,
    ) -> PredictOutput:
        """The replica's output, bounded by the request's timeout, its refusals as our errors."""
        limits = self._config.limits
        on_explainer = deployment is not None and deployment is self._explainer
        timeout = limits.explain_timeout_s if on_explainer else limits.request_timeout_s
        handle = getattr(deployment or self._handles[model.name], method)
        admission_key = None if isinstance(request, str) else getattr(request.state, "admission_key", None)
        audited = self._audit is not None and method in _AUDITED
        if audited:
            self._audit.check_accepting()  # type: ignore[union-attr]
        started = time.perf_counter()
        try:
            output = await asyncio.wait_for(_answer(handle, args), timeout=timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"the model did not answer within {timeout:g}s") from None
        # As our own errors: Serve answers its own exceptions with a plain-text 503, bypassing
        # the API's error bodies (and its metrics of rejections).
        except BackPressureError:
            if admission_key is not None:
                self._admission.refused(admission_key)
            raise Overloaded(
                f"model {model.name} has as many requests queued as it takes: retry shortly"
            ) from None
        except DeploymentUnavailableError:
            raise ModelUnavailable(f"model {model.name} has no replica available: retry shortly") from None
        except Exception as exc:
            if admission_key is not None and isinstance(find_service_error(exc), Overloaded):
                self._admission.refused(admission_key)
            raise
        if admission_key is not None:
            self._admission.served(admission_key)
        if audited:
            self._record(request, model, output, args[0], args[1], started)
        return output

    def _record(
        self,
        request: Request | str,
        model: ModelConfig | PipelineConfig,
        output: PredictOutput,
        images: list[Any],
        params: dict[str, Any],
        started: float,
    ) -> None:
        """The prediction into the audit buffer: a memory append; the writer thread does the rest."""
        assert self._audit is not None
        blobs = [i if isinstance(i, bytes) else np.ascontiguousarray(i).tobytes() for i in images]
        # Only what is known now is taken here; the summary and hashes are made by the writer.
        if isinstance(request, str):
            request_id, endpoint, caller = request, "grpc", None
        else:
            route = request.scope.get("route")
            request_id, endpoint = _request_id(request), str(getattr(route, "path", request.url.path))
            caller = getattr(request.state, "caller", None)
        record = functools.partial(
            record_of,
            request_id=request_id,
            endpoint=endpoint,
            model=model.name,
            model_version=output.model_version,
            caller=caller,
            created=time.time(),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            images=blobs,
            params=params,
            results=output.results,
            fields=output.fields,
            image_kept=self._audit.images is not None,
        )
        self._audit.submit(record, blobs)

    async def _predict(
        self, request: Request, schema: type[Any], tasks: tuple[str, ...], **extra: Any
    ) -> dict[str, Any]:
        parsed = await parse_request(request, schema, self._config.limits)
        return await self._predict_parsed(request, parsed, tasks, **extra)

    async def _predict_parsed(
        self, request: Request | str, parsed: ParsedRequest, tasks: tuple[str, ...], **extra: Any
    ) -> dict[str, Any]:
        model = self._model_for(parsed.model, tasks)
        note_images(parsed.images)
        return await self._call(request, model, "predict", parsed.images, {**parsed.params, **extra})

    @app.post("/v1/classify", response_model=ClassifyResponse, openapi_extra=_body_doc(ClassifyRequest))
    async def classify(self, request: Request) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return ClassifyResponse(**await self._predict(request, ClassifyRequest, ("classification",)))

    @app.post("/v1/detect", response_model=DetectResponse, openapi_extra=_body_doc(DetectRequest))
    async def detect(self, request: Request) -> DetectResponse:
        """Objects in each image: boxes [x1, y1, x2, y2] in original pixels, label, score."""
        return DetectResponse(**await self._predict(request, DetectRequest, ("detection",)))

    @app.post("/v1/segment", response_model=SegmentResponse, openapi_extra=_body_doc(SegmentRequest))
    async def segment(self, request: Request) -> SegmentResponse:
        """Semantic segmentation (classes with pixel share and RLE masks, label map on request)
        or instance segmentation (boxes, labels, scores, RLE masks), by the model's kind."""
        return SegmentResponse(**await self._predict(request, SegmentRequest, _SEGMENTATION))

    @app.post(
        "/v1/embed/image", response_model=EmbedImageResponse, openapi_extra=_body_doc(EmbedImageRequest)
    )
    async def embed_image(self, request: Request) -> EmbedImageResponse:
        """L2-normalised image embeddings of a CLIP model, one per image."""
        return EmbedImageResponse(**await self._predict(request, EmbedImageRequest, ("clip",), mode="embed"))

    @app.post("/v1/zero-shot", response_model=ZeroShotResponse, openapi_extra=_body_doc(ZeroShotRequest))
    async def zero_shot(self, request: Request) -> ZeroShotResponse:
        """Scores of each image against the given labels (or a configured label set)."""
        return ZeroShotResponse(**await self._predict(request, ZeroShotRequest, ("clip",), mode="zero_shot"))

    @app.post(
        "/v1/embed/text",
        response_model=EmbedTextResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EmbedTextRequest.model_json_schema()}},
            }
        },
    )
    async def embed_text(self, request: Request) -> EmbedTextResponse:
        """L2-normalised text embeddings of a CLIP model, one per text (JSON body)."""
        body = await parse_json(request, EmbedTextRequest, self._config.limits)
        return EmbedTextResponse(**await self._embed_texts(request, body))

    async def _embed_texts(self, request: Request | str, body: EmbedTextRequest) -> dict[str, Any]:
        limit = self._config.limits.max_texts_per_request
        if len(body.texts) > limit:
            raise TooManyTexts(f"{len(body.texts)} texts in one request, over the limit of {limit}")
        model = self._model_for(body.model, ("clip",))
        params = body.model_dump(exclude={"texts", "model"}, exclude_none=True)
        return await self._call(request, model, "embed_texts", body.texts, params)

    @app.post("/v1/explain", response_model=ExplainResponse, openapi_extra=_body_doc(ExplainRequest))
    async def explain(self, request: Request) -> ExplainResponse:
        """Why the model decided: maps of the chosen methods for a class, segment or text query."""
        parsed = await parse_request(request, ExplainRequest, self._config.limits)
        return ExplainResponse(**await self._explain_parsed(request, parsed))

    async def _explain_parsed(self, request: Request | str, parsed: ParsedRequest) -> dict[str, Any]:
        entry = self._explainable(parsed)
        note_images(parsed.images)
        return await self._call(
            request, entry, "explain", entry.name, parsed.images, parsed.params, deployment=self._explainer
        )

    @app.post(
        "/v1/explain/stream",
        openapi_extra=_body_doc(ExplainRequest),
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "NDJSON: ProgressEvent lines, then one ExplainResultEvent or ErrorEvent.",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        },
    )
    async def explain_stream(self, request: Request) -> StreamingResponse:
        """/v1/explain with progress: newline-delimited JSON events while the methods run, then
        the same response as /v1/explain. A bad request is still its 4xx; closing the
        connection cancels the work."""
        parsed = await parse_request(request, ExplainRequest, self._config.limits)
        entry = self._explainable(parsed)
        note_images(parsed.images)
        request_id = _request_id(request)

        def result_line(output: PredictOutput) -> bytes:
            response = ExplainResponse(**_body(request_id, entry, output))
            return ExplainResultEvent(response=response).model_dump_json().encode() + b"\n"

        return await self._streaming(
            request, "explain_stream", (entry.name, parsed.images, parsed.params), result_line
        )

    async def _streaming(
        self,
        request: Request,
        method: str,
        args: tuple[Any, ...],
        result_line: Callable[[PredictOutput], bytes],
    ) -> StreamingResponse:
        """An NDJSON answer from one of the explainer's streaming methods. The first event comes
        once the request is checked, so errors until then are still the response's status."""
        assert self._explainer is not None  # the callers refuse otherwise
        timeout = self._config.limits.explain_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        stream = getattr(self._explainer.options(stream=True), method).remote(*args)
        admission_key = getattr(request.state, "admission_key", None)
        try:
            first = await asyncio.wait_for(_next(stream), timeout=timeout)
        except asyncio.TimeoutError:
            stream.cancel()
            raise Timeout(f"the explainer did not answer within {timeout:g}s") from None
        except BackPressureError:
            if admission_key is not None:
                self._admission.refused(admission_key)
            raise Overloaded("the explainer has as many requests queued as it takes: retry shortly") from None
        if admission_key is not None:
            self._admission.served(admission_key)
        events = _stream_events(first, stream, _request_id(request), deadline, result_line)
        return StreamingResponse(events, media_type="application/x-ndjson")

    def _explainable(self, parsed: ParsedRequest) -> ModelConfig | PipelineConfig:
        """The model to explain, checked: it offers explanations and the request is affordable."""
        tasks = ("classification", "semantic_segmentation", "clip", "detection", "instance_segmentation")
        if parsed.model is None:
            if not self._explain_methods:
                raise ModelNotFound("no model is configured for explanations")
            name = next(n for n, methods in self._explain_methods.items() if methods)
        else:
            name = parsed.model
        entry = self._model_for(name, tasks)
        if not self._explain_methods.get(entry.name) or self._explainer is None:
            raise Unprocessable(f"model {entry.name!r} offers no explanation methods")
        self._check_explanation_cost(entry, parsed.params)
        return entry

    def _check_explanation_cost(self, entry: ModelConfig | PipelineConfig, params: dict[str, Any]) -> None:
        """Refused before it is queued: one request must not hold an explainer for minutes."""
        if not isinstance(entry, ModelConfig):
            return
        side = entry.preprocess.input_size or entry.preprocess.max_size
        passes = forward_passes(params.get("methods", []), params, side)
        limit = self._config.limits.max_explanation_passes
        if passes > limit:
            raise ExplanationTooCostly(
                f"this explanation takes about {passes} forward passes of {entry.name}, over the "
                f"limit of {limit} (limits.max_explanation_passes): fewer steps, samples or masks, "
                "or a larger occlusion stride"
            )

    def colocated_batch_stats(self, model: str) -> dict[str, int]:
        """Batches run and images in them by a model placed in this replica (for benchmarks)."""
        handle = self._handles[model]
        if not isinstance(handle, InProcessHandle):
            raise ValueError(f"model {model} runs in its own deployment: ask its replicas")
        stats: dict[str, int] = handle.replica.batch_stats()
        return stats

    def __del__(self) -> None:
        # Serve calls this on a graceful stop: what the audit buffer holds is written first.
        audit = getattr(self, "_audit", None)
        if audit is not None:
            audit.close()

    # ------------------------------------------------ audit trail

    def _auditor(self) -> AuditWriter:
        if self._audit is None:
            raise Unprocessable("the audit trail is off (audit.enabled)")
        return self._audit

    @app.get("/v1/audit/predictions", response_model=AuditPage)
    async def audit_predictions(
        self,
        model: str | None = None,
        model_version: str | None = None,
        label: str | None = None,
        since: str | None = None,
        until: str | None = None,
        request_id: str | None = None,
        limit: int = Query(default=50, ge=1),
        cursor: str | None = None,
    ) -> AuditPage:
        """Recorded predictions, newest first, filtered; ``next_cursor`` pages on."""
        audit = self._auditor()
        if limit > self._config.audit.max_page_size:
            raise Unprocessable(
                f"limit {limit} is over the page size limit of {self._config.audit.max_page_size}"
            )
        query = AuditQuery(
            model=model,
            model_version=model_version,
            label=label,
            since=parse_time("since", since),
            until=parse_time("until", until),
            request_id=request_id,
            limit=limit,
            after=parse_cursor(cursor),
        )
        found = await asyncio.to_thread(audit.store.query, query)
        last = found[-1] if len(found) == limit else None
        return AuditPage(
            records=[describe_record(r) for r in found],
            next_cursor=make_cursor(last) if last is not None else None,
        )

    async def _recorded(self, record_id: str) -> AuditRecord:
        """The record with this record_id, or the one record with this request_id."""
        found = await asyncio.to_thread(self._auditor().store.find, record_id, NAMED_RECORDS + 1)
        return the_record(record_id, found)

    @app.get("/v1/audit/predictions/{record_id}", response_model=AuditRecordOut)
    async def audit_prediction(self, record_id: str) -> AuditRecordOut:
        """One record, by its record_id or by a request_id that names only it (409 otherwise)."""
        return describe_record(await self._recorded(record_id))

    @app.post("/v1/audit/predictions/{record_id}/explain", response_model=ExplainResponse)
    async def audit_explain(self, record_id: str, request: Request) -> ExplainResponse:
        """Explain a recorded prediction: its kept image, the same model version."""
        audit = self._auditor()
        body = await parse_json(request, AuditExplainRequest, self._config.limits)
        found = await self._recorded(record_id)
        if body.image >= len(found.images):
            raise Unprocessable(f"image {body.image} is out of range: the request had {len(found.images)}")
        data = audit.images.load(found.images[body.image]["sha256"]) if audit.images is not None else None
        if not found.image_kept or data is None:
            raise CannotExplainRecord(
                "the input image of this prediction was not kept (audit.keep_images, or past "
                "audit.image_retention_days): it cannot be explained again"
            )
        entry = self._entry(found.model)
        info = await self._info(entry)
        if info.model_version != found.model_version:
            raise CannotExplainRecord(
                f"model {found.model} now runs version {info.model_version[:12]}, not the recorded "
                f"{found.model_version[:12]}: load those weights to explain it"
            )
        params = body.model_dump(exclude={"image"}, exclude_none=True)
        parsed = ParsedRequest(images=[data], params=params, model=found.model)
        return ExplainResponse(**await self._explain_parsed(request, parsed))

    @app.get("/v1/audit/status", response_model=AuditStatus)
    async def audit_status(self) -> AuditStatus:
        cfg, audit = self._config.audit, self._audit
        counts = audit.counts if audit is not None else None
        return AuditStatus(
            enabled=audit is not None,
            store=cfg.store,
            on_failure=cfg.on_failure,
            buffered=audit.buffered if audit is not None else 0,
            written=counts.written if counts else 0,
            dropped=dict(counts.dropped) if counts else {},
            deleted=dict(counts.deleted) if counts else {},
            failing=counts.failing if counts else False,
            last_error=counts.last_error if counts else None,
        )

    # ------------------------------------------------ understanding views (on the explainer)

    def _understandable(self, name: str | None) -> ModelConfig:
        """The torch model a view is for; default: the first torch model the explainer holds."""
        if self._explainer is None:
            raise Unprocessable(
                "the explanation deployment is off (explainer.enabled): no understanding views"
            )
        candidates = [m for m in self._config.models if m.torch_model and self._explain_methods.get(m.name)]
        if name is None:
            if not candidates:
                raise ModelNotFound("no torch model is configured for the understanding views")
            note_model(candidates[0].name)
            return candidates[0]
        entry = self._entry(name)
        if not isinstance(entry, ModelConfig) or entry not in candidates:
            raise Unprocessable(
                f"model {name!r} offers no understanding views: they need a torch model the "
                "explanation deployment holds"
            )
        return entry

    async def _view_request(
        self, request: Request, schema: type[Any], images: Literal["required", "optional", "none"]
    ) -> ParsedRequest:
        limits = self._config.limits
        json_body = request.headers.get("content-type", "").startswith("application/json")
        if images == "required" or (images == "optional" and not json_body):
            return await parse_request(request, schema, limits)
        body = await parse_json(request, schema, limits)
        encoded = getattr(body, "images", None) or []
        decoded = [b64_image(item, i) for i, item in enumerate(encoded)]
        if decoded:
            check_images(decoded, limits)
        params = body.model_dump(exclude={"images", "model"}, exclude_none=True)
        return ParsedRequest(images=decoded, params=params, model=body.model)

    async def _understand(
        self, request: Request, view: str, schema: type[Any], images: Literal["required", "optional", "none"]
    ) -> dict[str, Any]:
        parsed = await self._view_request(request, schema, images)
        entry = self._understandable(parsed.model)
        args = (view, entry.name, parsed.images, parsed.params)
        output = await self._ask(request, entry, "understand", *args, deployment=self._explainer)
        return _understood(_request_id(request), entry, output)

    async def _understand_stream(
        self, request: Request, view: str, schema: type[Any], response: type[Any], images: bool
    ) -> StreamingResponse:
        parsed = await self._view_request(request, schema, "required" if images else "none")
        entry = self._understandable(parsed.model)
        request_id = _request_id(request)

        def result_line(output: PredictOutput) -> bytes:
            body = response(**_understood(request_id, entry, output))
            return UnderstandResultEvent(response=body).model_dump_json().encode() + b"\n"

        args = (view, entry.name, parsed.images, parsed.params)
        return await self._streaming(request, "understand_stream", args, result_line)

    @app.get("/v1/understand/filters", response_model=FiltersResponse)
    async def understand_filters(self, request: Request, model: str | None = None) -> FiltersResponse:
        """The first convolution's weights, exactly, and as a grid of tiles."""
        entry = self._understandable(model)
        args = ("filters", entry.name, [], {})
        output = await self._ask(request, entry, "understand", *args, deployment=self._explainer)
        return FiltersResponse(**_understood(_request_id(request), entry, output))

    @app.post("/v1/understand/reference-sets", response_model=ReferenceSetInfo, status_code=201)
    async def create_reference_set(self, request: Request) -> ReferenceSetInfo:
        """A named set of reference images: multipart ``images`` files and a ``name`` field, or
        JSON ``{"name", "folder"}`` for a folder under understand.folder_roots."""
        explainer = self._set_keeper()
        limits = self._config.limits
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await parse_json(request, ReferenceSetRequest, limits)
            made = explainer.create_reference_set.remote(body.name, None, body.folder)
        else:
            name, files = await read_named_files(request, limits, self._config.explainer.understand)
            made = explainer.create_reference_set.remote(name, files, None)
        return ReferenceSetInfo(**await asyncio.wait_for(_awaited(made), timeout=limits.explain_timeout_s))

    @app.get("/v1/understand/reference-sets", response_model=ReferenceSetList)
    async def reference_sets(self) -> ReferenceSetList:
        listed = await asyncio.wait_for(_awaited(self._set_keeper().reference_sets.remote()), _INFO_TIMEOUT_S)
        return ReferenceSetList(reference_sets=[ReferenceSetInfo(**s) for s in listed])

    @app.get("/v1/understand/reference-sets/{set_id}", response_model=ReferenceSetInfo)
    async def reference_set(self, set_id: str) -> ReferenceSetInfo:
        found = self._set_keeper().reference_set.remote(set_id)
        return ReferenceSetInfo(**await asyncio.wait_for(_awaited(found), _INFO_TIMEOUT_S))

    @app.delete("/v1/understand/reference-sets/{set_id}", status_code=204)
    async def delete_reference_set(self, set_id: str) -> Response:
        await asyncio.wait_for(
            _awaited(self._set_keeper().delete_reference_set.remote(set_id)), _INFO_TIMEOUT_S
        )
        return Response(status_code=204)

    def _set_keeper(self) -> DeploymentHandle:
        if self._explainer is None:
            raise Unprocessable("the explanation deployment is off (explainer.enabled): no reference sets")
        return self._explainer

    @app.post(
        "/v1/understand/neighbours",
        response_model=NeighboursResponse,
        openapi_extra=_body_doc(NeighboursRequest),
    )
    async def understand_neighbours(self, request: Request) -> NeighboursResponse:
        """Nearest images of a reference set to a query image, or to one of the set's own."""
        return NeighboursResponse(
            **await self._understand(request, "neighbours", NeighboursRequest, "optional")
        )

    @app.post("/v1/understand/map", response_model=FeatureMapResponse)
    async def understand_map(self, request: Request) -> FeatureMapResponse:
        """A reference set laid out in 2-D by PCA or t-SNE of its embeddings, with a picture."""
        return FeatureMapResponse(**await self._understand(request, "map", FeatureMapRequest, "none"))

    @app.post("/v1/understand/top-patches", response_model=TopPatchesResponse)
    async def understand_top_patches(self, request: Request) -> TopPatchesResponse:
        """The reference images that most excite one channel of a layer, cropped to what it sees."""
        return TopPatchesResponse(**await self._understand(request, "top_patches", TopPatchesRequest, "none"))

    @app.post("/v1/understand/class-model", response_model=ClassModelResponse)
    async def understand_class_model(self, request: Request) -> ClassModelResponse:
        """An image made by gradient ascent on a class's score (Simonyan 2014, Yosinski 2015)."""
        return ClassModelResponse(**await self._understand(request, "class_model", ClassModelRequest, "none"))

    @app.post("/v1/understand/class-model/stream", response_class=StreamingResponse)
    async def understand_class_model_stream(self, request: Request) -> StreamingResponse:
        """The same, as NDJSON progress events and a result event; closing it cancels the work."""
        return await self._understand_stream(
            request, "class_model", ClassModelRequest, ClassModelResponse, False
        )

    @app.post(
        "/v1/understand/inversion",
        response_model=InversionResponse,
        openapi_extra=_body_doc(InversionRequest),
    )
    async def understand_inversion(self, request: Request) -> InversionResponse:
        """An image rebuilt from a layer's features with a total-variation prior (Mahendran 2014)."""
        return InversionResponse(**await self._understand(request, "inversion", InversionRequest, "required"))

    @app.post("/v1/understand/inversion/stream", response_class=StreamingResponse)
    async def understand_inversion_stream(self, request: Request) -> StreamingResponse:
        return await self._understand_stream(request, "inversion", InversionRequest, InversionResponse, True)

    @app.post(
        "/v1/understand/deepdream",
        response_model=DeepDreamResponse,
        openapi_extra=_body_doc(DeepDreamRequest),
    )
    async def understand_deepdream(self, request: Request) -> DeepDreamResponse:
        """The image with a layer's activations amplified, over octaves (DeepDream)."""
        return DeepDreamResponse(**await self._understand(request, "deepdream", DeepDreamRequest, "required"))

    @app.post("/v1/understand/deepdream/stream", response_class=StreamingResponse)
    async def understand_deepdream_stream(self, request: Request) -> StreamingResponse:
        return await self._understand_stream(request, "deepdream", DeepDreamRequest, DeepDreamResponse, True)

    @app.post(
        "/v1/understand/attention-rollout",
        response_model=RolloutResponse,
        openapi_extra=_body_doc(RolloutRequest),
    )
    async def understand_attention_rollout(self, request: Request) -> RolloutResponse:
        """Where a vision transformer's class token draws from, through all its blocks."""
        return RolloutResponse(
            **await self._understand(request, "attention_rollout", RolloutRequest, "required")
        )

    async def _info(self, entry: ModelConfig | PipelineConfig) -> ModelInfo:
        try:
            info: ModelInfo = await asyncio.wait_for(
                _awaited(self._handles[entry.name].info.remote()), timeout=_INFO_TIMEOUT_S
            )
            methods = self._explain_methods.get(entry.name, [])
            if methods and self._explainer is not None:
                layer = await asyncio.wait_for(
                    _awaited(self._explainer.default_layer.remote(entry.name)), timeout=_INFO_TIMEOUT_S
                )
                info = info.model_copy(update={"explain_methods": methods, "explain_layer": layer})
            return info
        except Exception as exc:  # a replica still starting or gone is "not ready", not an error
            reason = "not responding" if isinstance(exc, asyncio.TimeoutError) else str(exc)[:300]
            return describe_unreachable(entry, reason)

    @app.get("/v1/models", response_model=ModelList)
    async def models(self) -> ModelList:
        infos = await asyncio.gather(*(self._info(e) for e in self._config.entries))
        return ModelList(models=list(infos))

    @app.get("/v1/models/{name}", response_model=ModelInfo)
    async def model(self, name: str) -> ModelInfo:
        return await self._info(self._entry(name))

    @app.get("/ui", include_in_schema=False)
    async def ui_page(self) -> Response:
        """The audit page: predictions drawn on the image, explanations side by side."""
        return ui.page()

    @app.get("/ui/{asset}", include_in_schema=False)
    async def ui_asset(self, asset: str) -> Response:
        return ui.asset(asset)

    @app.get("/healthz", response_model=Health)
    async def healthz(self) -> Health:
        """The HTTP service is up (says nothing about the models)."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(self) -> Response:
        """Every model loaded and answering; 503 with the reasons otherwise."""
        infos = await asyncio.gather(*(self._info(e) for e in self._config.entries))
        readiness = Readiness(
            ready=all(i.ready for i in infos),
            models={i.name: i.ready for i in infos},
            errors={i.name: i.error for i in infos if i.error},
        )
        return JSONResponse(readiness.model_dump(), status_code=200 if readiness.ready else 503)

    # ------------------------------------------------ Open Inference Protocol v2 (KServe, Triton)

    @app.get("/v2/health/live")
    async def v2_live(self) -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def v2_ready(self) -> Response:
        infos = await asyncio.gather(*(self._info(e) for e in self._config.entries))
        ready = all(i.ready for i in infos)
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    def _oip_entry(self, name: str) -> ModelConfig | PipelineConfig:
        entry = self._entry(name)
        if entry.task not in _OIP_SCHEMAS:
            raise TaskMismatch(f"model {name!r} is a {entry.task} model: use {_ROUTE_FOR_TASK[entry.task]}")
        return entry

    @app.get("/v2/models/{name}")
    async def v2_model(self, name: str) -> dict[str, Any]:
        entry = self._oip_entry(name)
        info = await self._info(entry)
        outputs = {"classification": ["labels", "scores", "indices"], "detection": _OIP_DETECTION_OUTPUTS}
        return {
            "name": name,
            "versions": [info.model_version] if info.model_version else [],
            "platform": "visionserve",
            "inputs": [{"name": "images", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [
                {"name": o, "datatype": "BYTES" if o in ("labels", "results") else "FP32", "shape": [-1]}
                for o in [*outputs.get(entry.task, []), "results"]
            ],
        }

    @app.get("/v2/models/{name}/ready")
    async def v2_model_ready(self, name: str) -> Response:
        info = await self._info(self._oip_entry(name))
        return JSONResponse({"name": name, "ready": info.ready}, status_code=200 if info.ready else 503)

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(self, name: str, request: Request) -> Response:
        """Encoded images as a BYTES tensor (binary extension or base64 JSON), or UINT8 pixels."""
        entry = self._oip_entry(name)
        parsed = await oip.parse_infer(request, self._config.limits, _OIP_SCHEMAS[entry.task])
        note_images(parsed.pixels or parsed.images)
        if parsed.pixels:
            if isinstance(entry, PipelineConfig):
                raise Unprocessable(f"pipeline {name!r} takes image files: send a BYTES input")
            body = await self._call(request, entry, "predict_pixels", parsed.pixels, parsed.params)
        else:
            body = await self._call(request, entry, "predict", parsed.images, parsed.params)
        results = [r.model_dump(mode="json") for r in body["results"]]
        return oip.infer_response(
            parsed, name, body["model_version"], body["request_id"], entry.task, results
        )


__all__ = ["Ingress", "app", "error_response"]
