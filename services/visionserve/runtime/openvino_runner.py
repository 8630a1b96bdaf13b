"""OpenVINO runner for ONNX graphs on the CPU: fp32, bf16 (AMX or AVX-512 BF16) or int8.

bf16 is OpenVINO's inference precision hint: weights and activations run in bf16 on CPUs that
have the instructions, with accumulation in fp32. int8 is a graph quantized after training by
NNCF (``quantize_int8``) on real images. Neither is exact: a model is served this way only
after an accuracy gate (visionserve.backend_choice) or when its config asks for it by name.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

_PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def cpu_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can run here: 'BF16' when the CPU has AMX or AVX-512 BF16."""
    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def cpu_name() -> str:
    return str(ov.Core().get_property("CPU", "FULL_DEVICE_NAME"))


def quantize_int8(path: Path, samples: Sequence[np.ndarray], target: Path) -> Path:
    """NNCF post-training quantization of the ONNX graph at ``path`` into an OpenVINO IR at
    ``target`` (.xml beside its .bin), calibrated on ``samples`` (model inputs, one batch each).
    Written under a temporary name and renamed, so that a reader never sees half a model."""
    import nncf

    core = ov.Core()
    quantized = nncf.quantize(
        core.read_model(str(path)),
        nncf.Dataset(list(samples)),
        subset_size=len(samples),
        preset=nncf.QuantizationPreset.MIXED,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two replicas may quantize the same model at once.
    partial = target.with_name(f".{target.stem}.{os.getpid()}.{time.monotonic_ns()}.xml")
    ov.save_model(quantized, str(partial))
    partial.with_suffix(".bin").replace(target.with_suffix(".bin"))
    partial.replace(target)
    return target


class OpenVinoRunner:
    backend = "openvino"
    device = "cpu"

    def __init__(
        self, path: Path, *, precision: str = "fp32", threads: int = 2, output_names: list[str] | None = None
    ) -> None:
        """``path``: an ONNX graph, or for int8 the quantized IR (.xml) ``quantize_int8`` wrote.
        ``output_names``: the graph's output names as onnxruntime gives them; an OpenVINO output
        may carry several names (a folded Identity's too), and a user's postprocess reads one."""
        if precision not in _PRECISION_HINTS:
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8, not {precision}")
        if precision == "bf16" and "BF16" not in cpu_capabilities():
            raise RuntimeError(
                "runtime.precision bf16 needs a CPU with AMX or AVX-512 BF16; this one has neither"
            )
        self.precision = precision
        core = ov.Core()
        model = core.read_model(str(path))
        self._compiled = core.compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[precision],
                "INFERENCE_NUM_THREADS": threads,
                # One stream: batches arrive one at a time from the batcher, and every thread
                # should work on the one in hand (the THROUGHPUT hint splits the cores).
                "PERFORMANCE_HINT": "LATENCY",
                "NUM_STREAMS": 1,
            },
        )
        wanted = output_names or []
        self.output_names = [
            next((n for n in wanted if n in output.get_names()), output.get_any_name())
            for output in self._compiled.outputs
        ]
        first = self._compiled.inputs[0].get_partial_shape()[0]
        # Exported graphs often fix the batch dimension to 1: run those one item at a time.
        self._fixed_batch = None if first.is_dynamic else first.get_length()
        # An infer request is not thread-safe; the explainer and the batcher may share a runner.
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def run(self, batch: np.ndarray | list[np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """The graph's output for a batch: its one output, or every output by name in the
        graph's order (a dict) when it has several, as the onnxruntime runner returns them."""
        array = np.stack(batch) if isinstance(batch, list) else batch
        if self._fixed_batch is None or self._fixed_batch == len(array):
            outputs = self._infer(array)
        elif self._fixed_batch == 1:
            items = [self._infer(item[None]) for item in array]
            outputs = [np.concatenate([item[k] for item in items]) for k in range(len(self.output_names))]
        else:
            raise ValueError(f"model takes batches of exactly {self._fixed_batch}, got {len(array)}")
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(self.output_names, outputs, strict=True))

    def _infer(self, array: np.ndarray) -> list[np.ndarray]:
        request = self._request()
        request.infer({0: np.ascontiguousarray(array, dtype=np.float32)})
        # Copies: the request's output buffers are reused by its next call.
        return [np.array(request.get_output_tensor(i).data) for i in range(len(self.output_names))]
