"""onnxruntime runner (CUDA or CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


class OnnxRunner:
    backend = "onnxruntime"

    def __init__(
        self,
        path: Path,
        *,
        device: str = "cpu",
        threads: int = 2,
        tensorrt: bool = False,
        fp16: bool = False,
        engine_cache: Path | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads steal the cores that image decoding needs (measured: about
        # 1.7x throughput on 2 cores with it off).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Errors only: exported graphs make onnxruntime warn once per unused initializer
        # (about a hundred lines a replica), which buries the service's own log.
        options.log_severity_level = 3
        wanted: list[str | tuple[str, dict[str, str]]] = ["CPUExecutionProvider"]
        if device == "cuda":
            wanted.insert(0, "CUDAExecutionProvider")
        if tensorrt:
            # TensorRT builds an engine per input shape on first use: cache them across restarts.
            trt_options = {"trt_fp16_enable": str(fp16)}
            if engine_cache is not None:
                engine_cache.mkdir(parents=True, exist_ok=True)
                trt_options |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(engine_cache)}
            wanted.insert(0, ("TensorrtExecutionProvider", trt_options))
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
        loaded = self._session.get_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in loaded:
            raise RuntimeError("runtime.device is cuda but onnxruntime could not load its CUDA provider")
        if tensorrt and "TensorrtExecutionProvider" not in loaded:
            raise RuntimeError("runtime.tensorrt is set but onnxruntime could not load its TensorRT provider")
        self.device = device
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_shape = model_input.shape
        self.output_names = [output.name for output in self._session.get_outputs()]
        # Exported graphs often fix the batch dimension to 1: run those one item at a time.
        self._fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None

    def run(self, batch: np.ndarray | list[np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """The graph's output for a batch: its one output, or every output by name in the
        graph's order (a dict) when it has several."""
        outputs = self._run_all(np.stack(batch) if isinstance(batch, list) else batch)
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(self.output_names, outputs, strict=True))

    def _run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        if self._fixed_batch is None or self._fixed_batch == len(batch):
            return list(self._session.run(None, {self._input_name: batch}))
        if self._fixed_batch != 1:
            raise ValueError(f"model takes batches of exactly {self._fixed_batch}, got {len(batch)}")
        items = [self._session.run(None, {self._input_name: item[None]}) for item in batch]
        return [np.concatenate([item[k] for item in items], axis=0) for k in range(len(self.output_names))]
