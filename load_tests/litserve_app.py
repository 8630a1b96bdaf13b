"""LitServe serving the same classifier pipeline, for side-by-side figures (test-only dependency).

Same ModelEngine as VisionServe's replicas (same backend, preprocessing and postprocessing), with
LitServe's own batching. Usage: python litserve_app.py PORT [BACKEND]; BACKEND (torch or
onnxruntime) overrides the config's runtime, to compare with LitServe as usually deployed.
"""

import os
import sys
from pathlib import Path
from typing import Any

import litserve as ls

ROOT = Path(__file__).resolve().parents[1]


class ClassifierAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        from visionserve.config import load_serve_file, parse_service_config
        from visionserve.engine import ModelEngine
        from visionserve.settings import Settings

        settings = Settings.from_env()
        path = os.environ.get("VISIONSERVE_BENCH_CONFIG", str(ROOT / "deploy" / "serve" / "local.yaml"))
        config = parse_service_config(load_serve_file(path).args)
        model = config.models[0]
        if len(sys.argv) > 2:
            runtime = model.runtime.model_copy(update={"backend": sys.argv[2]})
            model = model.model_copy(update={"runtime": runtime})
        self.engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        self.params = self.engine.parse_params({})

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # LitServe reads the signature
        upload = request["images"]
        return self.engine.prepare(upload.file.read(), max_pixels=40_000_000)

    def predict(self, batch: Any) -> Any:
        items = batch if isinstance(batch, list) else [batch]
        return self.engine.infer(items, [self.params] * len(items))

    def encode_response(self, output: Any) -> Any:
        return {"results": [output.model_dump()]}


if __name__ == "__main__":
    api = ClassifierAPI(max_batch_size=8, batch_timeout=0.01, api_path="/v1/classify")
    ls.LitServer(api, accelerator="cpu", workers_per_device=1).run(
        port=int(sys.argv[1]), generate_client_file=False
    )
