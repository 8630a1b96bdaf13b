"""The transport under every method: one httpx.AsyncClient, retries, answers and streams read."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx

from visionserve_client._calls import Call, T
from visionserve_client._wire import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    ProgressCallback,
    parsed,
    stream_ended,
    streamed_result,
    transport_error,
)
from visionserve_client.retries import RetryPolicy


class AsyncClientBase:
    """Sends a ``Call``: retried as the policy says, its answer parsed into the call's schema."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: RetryPolicy = DEFAULT_RETRIES,
        max_connections: int = 100,
        http_client: httpx.AsyncClient | None = None,
        api_key: str | None = None,
    ) -> None:
        """``timeout`` applies to each try (a call may take longer when retried); ``retries``
        is the policy for 429/503 answers and connection failures (``NO_RETRIES`` turns it off).
        ``api_key`` is sent as ``Authorization: Bearer`` where the service requires keys."""
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        if api_key:
            self._http.headers["authorization"] = f"Bearer {api_key}"
        self._retries = retries

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T], timeout: float | None) -> T:
        attempt = 1
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                )
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise transport_error(call, exc) from exc
            else:
                wait = self._retries.wait_after_status(response, attempt)
                if wait is None:
                    return parsed(response, call.schema)
            await asyncio.sleep(wait)
            attempt += 1

    async def _stream(self, call: Call[T], timeout: float | None, on_progress: ProgressCallback) -> T:
        """Like ``_send``, for an NDJSON answer: retried only until the stream begins."""
        attempt = 1
        while True:
            try:
                async with self._http.stream(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                ) as response:
                    if response.status_code == 200:
                        # Line by line, so that progress is heard as each line comes.
                        async for line in response.aiter_lines():
                            result = streamed_result([line], on_progress, call.schema)
                            if result is not None:
                                return result
                        raise stream_ended(call)
                    await response.aread()
                    wait = self._retries.wait_after_status(response, attempt)
                    if wait is None:
                        return parsed(response, call.schema)  # raises the API's error
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise transport_error(call, exc) from exc
            await asyncio.sleep(wait)
            attempt += 1

    async def _maybe_streamed(
        self, call: Call[T], stream_path: str, timeout: float | None, on_progress: ProgressCallback | None
    ) -> T:
        """``call`` as it is, or from its streamed twin at ``stream_path`` when progress is heard."""
        if on_progress is None:
            return await self._send(call, timeout)
        return await self._stream(replace(call, path=stream_path), timeout, on_progress)
