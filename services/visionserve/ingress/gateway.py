"""Every call from the ingress to a model or explainer replica goes through here.

One place bounds each call by its timeout, tries once more after a replica died under it,
turns Ray's refusals into the API's errors, tells admission control how the model coped, and
hands predictions to the audit trail. The routers above never touch a Ray handle.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from visionserve.audit.records import record_of
from visionserve.audit.writer import AuditWriter
from visionserve.config import LimitsConfig
from visionserve.errors import ModelUnavailable, Overloaded, Timeout, find_service_error
from visionserve.ingress.admission import AdmissionControl
from visionserve.ingress.catalog import Entry
from visionserve.ingress.errors import describe_error
from visionserve.metadata import describe_unreachable
from visionserve.metrics import note_error
from visionserve.outputs import PredictOutput
from visionserve_client.types import ErrorDetail, ErrorEvent, ModelInfo, ProgressEvent

logger = logging.getLogger("visionserve")

INFO_TIMEOUT_S = 5.0
"""Metadata, reference-set lists and health: quick answers, or the replica is not ready."""

# Replica methods whose answers are predictions, each recorded in the audit trail.
_AUDITED = frozenset({"predict", "predict_pixels"})

ResultLine = Callable[[PredictOutput], bytes]


@dataclass(frozen=True)
class Caller:
    """Who asked, as the audit trail and admission control need to know it."""

    request_id: str
    endpoint: str
    """The route template, or ``grpc``."""
    key_name: str | None = None
    admission_key: str | None = None


async def _awaited(response: Any) -> Any:
    """A DeploymentResponse as a coroutine, so that asyncio.wait_for can bound it."""
    return await response


async def _with_one_retry(handle: Any, args: tuple[Any, ...]) -> Any:
    """The replica's answer. A replica that dies under a request (killed, out of memory) is
    tried once more on another: predictions and explanations depend on their inputs only. A
    second death is the caller's 503, so that one poisonous request cannot take down every
    replica in turn."""
    try:
        return await handle.remote(*args)
    except RayActorError as exc:
        logger.warning("a replica died under a request (%s); trying once more", type(exc).__name__)
        return await handle.remote(*args)


async def _next(stream: Any) -> Any:
    return await stream.__anext__()


class Gateway:
    def __init__(
        self,
        handles: dict[str, Any],
        explainer: Any | None,
        limits: LimitsConfig,
        admission: AdmissionControl,
        audit: AuditWriter | None,
    ) -> None:
        self._handles = handles
        self._explainer = explainer
        self._limits = limits
        self._admission = admission
        self._audit = audit

    async def call(self, caller: Caller, entry: Entry, method: str, *args: Any) -> PredictOutput:
        """A model replica's answer; a prediction (``predict``, ``predict_pixels``) is audited."""
        audited = self._audit is not None and method in _AUDITED
        if self._audit is not None and audited:
            self._audit.check_accepting()
        started = time.perf_counter()
        handle = getattr(self._handles[entry.name], method)
        output: PredictOutput = await self._bounded(
            caller, handle, args, self._limits.request_timeout_s, f"model {entry.name}"
        )
        if audited:
            self._record(caller, entry, output, args[0], args[1], started)
        return output

    async def explainer(self, caller: Caller, entry: Entry, method: str, *args: Any) -> PredictOutput:
        """The explainer's answer about ENTRY to a long request (an explanation, a view)."""
        handle = getattr(self._explainer_handle(), method)
        output: PredictOutput = await self._bounded(
            caller, handle, args, self._limits.explain_timeout_s, f"model {entry.name}"
        )
        return output

    async def info(self, entry: Entry, explain_methods: Sequence[str]) -> ModelInfo:
        """What a model's replica says of itself, with what the explainer offers for it. A
        replica still starting or gone is "not ready", not an error."""
        try:
            info: ModelInfo = await self.quick(entry.name, "info")
            if explain_methods and self._explainer is not None:
                layer = await self.quick(None, "default_layer", entry.name)
                info = info.model_copy(
                    update={"explain_methods": list(explain_methods), "explain_layer": layer}
                )
            return info
        except Exception as exc:
            reason = "not responding" if isinstance(exc, Timeout) else str(exc)[:300]
            return describe_unreachable(entry, reason)

    async def quick(
        self, target: str | None, method: str, *args: Any, timeout: float = INFO_TIMEOUT_S
    ) -> Any:
        """A short call (metadata, reference sets) on model TARGET, or on the explainer (None)."""
        handle = self._handles[target] if target is not None else self._explainer_handle()
        try:
            return await asyncio.wait_for(_awaited(getattr(handle, method).remote(*args)), timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"{target or 'the explainer'} did not answer within {timeout:g}s") from None

    async def _bounded(
        self, caller: Caller, handle: Any, args: tuple[Any, ...], timeout: float, who: str
    ) -> Any:
        key = caller.admission_key
        try:
            answer = await asyncio.wait_for(_with_one_retry(handle, args), timeout=timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"the model did not answer within {timeout:g}s") from None
        # As our own errors: Serve answers its own exceptions with a plain-text 503, bypassing
        # the API's error bodies (and its metrics of rejections).
        except BackPressureError:
            if key is not None:
                self._admission.refused(key)
            raise Overloaded(f"{who} has as many requests queued as it takes: retry shortly") from None
        except DeploymentUnavailableError:
            raise ModelUnavailable(f"{who} has no replica available: retry shortly") from None
        except Exception as exc:
            if key is not None and isinstance(find_service_error(exc), Overloaded):
                self._admission.refused(key)
            raise
        if key is not None:
            self._admission.served(key)
        return answer

    async def stream(
        self, caller: Caller, method: str, args: tuple[Any, ...], result_line: ResultLine
    ) -> AsyncIterator[bytes]:
        """NDJSON lines of one of the explainer's streaming methods: progress events, then the
        result line. The first event is awaited here, so that errors until then (a refusal, a
        bad request the explainer found) are still the response's status."""
        timeout = self._limits.explain_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        stream = getattr(self._explainer_handle().options(stream=True), method).remote(*args)
        try:
            first = await asyncio.wait_for(_next(stream), timeout=timeout)
        except asyncio.TimeoutError:
            stream.cancel()
            raise Timeout(f"the explainer did not answer within {timeout:g}s") from None
        except BackPressureError:
            if caller.admission_key is not None:
                self._admission.refused(caller.admission_key)
            raise Overloaded("the explainer has as many requests queued as it takes: retry shortly") from None
        if caller.admission_key is not None:
            self._admission.served(caller.admission_key)
        return _events(first, stream, caller.request_id, deadline, result_line)

    def _explainer_handle(self) -> Any:
        assert self._explainer is not None, "the catalog refuses explanations when the explainer is off"
        return self._explainer

    def _record(
        self,
        caller: Caller,
        entry: Entry,
        output: PredictOutput,
        images: list[Any],
        params: Any,
        started: float,
    ) -> None:
        """The prediction into the audit buffer: a memory append; the writer thread does the rest."""
        assert self._audit is not None
        blobs = [i if isinstance(i, bytes) else np.ascontiguousarray(i).tobytes() for i in images]
        # Only what is known now is taken here; the summary and hashes are made by the writer.
        record = functools.partial(
            record_of,
            request_id=caller.request_id,
            endpoint=caller.endpoint,
            model=entry.name,
            model_version=output.model_version,
            caller=caller.key_name,
            created=time.time(),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            images=blobs,
            params=params,
            results=output.results,
            fields=output.fields,
            image_kept=self._audit.images is not None,
        )
        self._audit.submit(record, blobs)


async def _events(
    first: Any, stream: Any, request_id: str, deadline: float, result_line: ResultLine
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
        yield error_line(RuntimeError("the explainer ended its stream without a result"), request_id)
    except Exception as exc:
        yield error_line(exc, request_id)
    finally:
        stream.cancel()  # a no-op once finished; stops the explainer when the caller left


def error_line(exc: BaseException, request_id: str) -> bytes:
    """An error after a stream's 200, as its last NDJSON event."""
    status, code, message = describe_error(exc)
    if code == "internal":
        logger.exception("stream %s failed", request_id, exc_info=exc)
    note_error(code)
    event = ErrorEvent(status=status, error=ErrorDetail(code=code, message=message, request_id=request_id))
    return event.model_dump_json().encode() + b"\n"
