"""Which backend and precision serve a model's graph: measured at load, behind an accuracy gate.

With ``runtime.backend: auto`` on the CPU, the candidates are onnxruntime at fp32 and OpenVINO
at each of ``runtime.auto_precisions`` (bf16 only where the CPU has AMX or AVX-512 BF16; bf16
and int8 only with gate photos, since nothing else can show that they answer as fp32 does).
Each candidate answers the gate inputs, crops and flips of the photos in
``runtime.gate_images``, and the rules of visionserve.tasks.agreement judge it against
onnxruntime's fp32 answers; the fastest candidate that passes serves. Without photos the fp32
candidates are checked on seeded random inputs instead, within ``FP32_TOLERANCE``.

A measurement costs seconds, so the choice is remembered under ``<cache>/runtime-choice/``,
keyed by the weights, the CPU, the runtimes' versions, the gate photos and the settings that
affect it: a restart or another replica of the same model reads it instead of measuring again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionserve.config import ModelConfig
from visionserve.imaging import DecodedImage, decode
from visionserve.runtime import Runner
from visionserve.tasks import Task
from visionserve.tasks.agreement import RULES, answers, judge
from visionserve_client.types import RuntimeCandidate, RuntimeChoice

logger = logging.getLogger("visionserve")

GATE_VERSION = "2"
"""Part of the cache key: a change to how candidates are judged or raced must measure again."""
MAX_GATE_PHOTOS = 24
MAX_PHOTO_BYTES = 20 * 1024 * 1024
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
FP32_TOLERANCE = 1e-3
"""Largest difference from onnxruntime, relative to the output's range, of an fp32 candidate."""
SPEED_SECONDS = 0.25
"""Time spent measuring a candidate at each of the two batch sizes in each round."""
SPEED_ROUNDS = 3
"""Rounds of the race, candidates taking turns in a new order each round: the median rate of
each is compared, so that a moment of load on a busy machine does not crown a candidate."""
MIN_GAIN = 1.05
"""Another backend serves instead of onnxruntime fp32 only when at least this much faster."""
_CROPS = (0.85, 0.7)
"""Crops of these shares of each side, at the four corners and the centre."""
VIEWS_PER_PHOTO = 2 * (1 + 5 * len(_CROPS))


@dataclass(frozen=True)
class Chosen:
    runner: Runner
    report: RuntimeChoice


def gate_folder(setting: str, model_dirs: list[Path]) -> Path:
    """``runtime.gate_images`` as a folder: absolute, or the first model folder that has it."""
    path = Path(setting).expanduser()
    found = [path] if path.is_absolute() else [d / path for d in model_dirs]
    for folder in found:
        if folder.is_dir():
            return folder.resolve()
    searched = ", ".join(str(f) for f in found) or "(no model folders: set VISIONSERVE_MODEL_DIR)"
    raise ValueError(f"runtime.gate_images: no folder {setting!r}; looked for {searched}")


def photo_files(folder: Path) -> list[Path]:
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not photos:
        raise ValueError(f"runtime.gate_images: {folder} holds no {', '.join(PHOTO_SUFFIXES)} photos")
    if len(photos) > MAX_GATE_PHOTOS:
        raise ValueError(f"runtime.gate_images: {len(photos)} photos in {folder}, at most {MAX_GATE_PHOTOS}")
    for photo in photos:
        if photo.stat().st_size > MAX_PHOTO_BYTES:
            raise ValueError(f"runtime.gate_images: {photo} is over {MAX_PHOTO_BYTES // 2**20} MiB")
    return photos


def variants(pixels: np.ndarray) -> list[np.ndarray]:
    """The photo, its mirror image, and crops of 85% and 70% of each side at the four corners
    and the centre, each mirrored too: 22 inputs a photo, each framed differently."""
    height, width = pixels.shape[:2]
    views = [pixels]
    for share in _CROPS:
        h, w = max(1, round(height * share)), max(1, round(width * share))
        for top, left in ((0, 0), (0, width - w), (height - h, 0), (height - h, width - w)):
            views.append(pixels[top : top + h, left : left + w])
        top, left = (height - h) // 2, (width - w) // 2
        views.append(pixels[top : top + h, left : left + w])
    return [v for view in views for v in (np.ascontiguousarray(view), np.ascontiguousarray(view[:, ::-1]))]


def gate_inputs(task: Task[Any, Any], photos: list[Path], max_pixels: int) -> list[np.ndarray]:
    """Model inputs, one (3, H, W) array each, for every variant of every photo."""
    inputs = []
    for photo in photos:
        image = decode(photo.read_bytes(), max_pixels=max_pixels)
        for view in variants(image.pixels):
            inputs.append(task.preprocess(DecodedImage(pixels=view, format="RAW")).tensor)
    return inputs


def calibration_split(count: int) -> tuple[list[int], list[int]]:
    """int8's calibration inputs (every other photo's views, at most 100) and the inputs it is
    judged on (the other photos'): a quantization is not judged on what it was fitted to."""
    photo = [index // VIEWS_PER_PHOTO for index in range(count)]
    calibration = [i for i in range(count) if photo[i] % 2 == 1][:100]
    return calibration, [i for i in range(count) if photo[i] % 2 == 0]


def seeded_inputs(shape: tuple[int, ...], count: int = 4) -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    return [generator.standard_normal(shape).astype(np.float32) for _ in range(count)]


def _batches(inputs: list[np.ndarray], size: int) -> list[np.ndarray]:
    return [np.stack(inputs[i : i + size]) for i in range(0, len(inputs), size)]


def run_all(runner: Runner, task: Task[Any, Any], inputs: list[np.ndarray], batch: int) -> list[Any]:
    """The gate's view of every input's answer (visionserve.tasks.agreement.answers)."""
    found: list[Any] = []
    for chunk in _batches(inputs, batch):
        found.extend(answers(task, runner.run(chunk), len(chunk)))
    return found


def raw_difference(reference: Runner, candidate: Runner, inputs: list[np.ndarray]) -> float:
    """Largest output difference over the inputs, relative to the reference output's range."""
    worst = 0.0
    for chunk in _batches(inputs, len(inputs)):
        expected, got = _arrays(reference.run(chunk)), _arrays(candidate.run(chunk))
        for e, g in zip(expected, got, strict=True):
            spread = float(e.max() - e.min()) or 1.0
            worst = max(worst, float(np.abs(e - g).max()) / spread)
    return worst


def _arrays(output: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in output.values()] if isinstance(output, dict) else [np.asarray(output)]


def rate_at(runner: Runner, inputs: list[np.ndarray], size: int, seconds: float) -> float:
    """Images/s in batches of ``size`` (the first inputs), timed for ``seconds`` after a warm-up."""
    chunk = np.stack([inputs[i % len(inputs)] for i in range(size)])
    runner.run(chunk)
    runs, started = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < seconds:
        runner.run(chunk)
        runs += 1
    return runs * size / (time.perf_counter() - started)


def images_per_second(runner: Runner, inputs: list[np.ndarray], batch: int) -> float:
    """The mean of the rates at batch 1 and at ``batch``: a replica serves both, lightly
    loaded and busy."""
    return float(np.mean([rate_at(runner, inputs, size, SPEED_SECONDS) for size in sorted({1, batch})]))


def race(runners: dict[str, Runner], inputs: list[np.ndarray], batch: int) -> dict[str, float]:
    """Each runner's median images/s over ``SPEED_ROUNDS`` rounds, taking turns."""
    rates: dict[str, list[float]] = {name: [] for name in runners}
    order = list(runners)
    for round_ in range(SPEED_ROUNDS):
        for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
            rates[name].append(images_per_second(runners[name], inputs, batch))
    return {name: float(np.median(found)) for name, found in rates.items()}


def cache_key(cfg: ModelConfig, version: str, cpu: str, photos: list[Path]) -> str:
    import onnxruntime
    import openvino

    rt = cfg.runtime
    digest = hashlib.sha256()
    for part in (
        version,
        cpu,
        openvino.__version__,
        onnxruntime.__version__,
        rt.backend,
        rt.precision,
        ",".join(rt.auto_precisions),
        str(rt.threads),
        str(cfg.batching.max_batch_size),
        cfg.preprocess.model_dump_json(),
        cfg.defaults.model_dump_json(),  # the detection gate's NMS
        GATE_VERSION,
        repr((FP32_TOLERANCE, MIN_GAIN, *RULES)),
    ):
        digest.update(part.encode() + b"\0")
    for photo in photos:
        digest.update(hashlib.sha256(photo.read_bytes()).digest())
    return digest.hexdigest()


def _candidates(
    cfg: ModelConfig, photos: list[Path], capabilities: list[str]
) -> tuple[list[str], list[RuntimeCandidate]]:
    """The ``backend/precision`` pairs to measure, and those left out with the reason why."""
    rt = cfg.runtime
    if rt.backend == "openvino":
        return [f"openvino/{rt.precision}"], []
    wanted, skipped = ["onnxruntime/fp32", "openvino/fp32"], []
    for precision in dict.fromkeys(p for p in rt.auto_precisions if p != "fp32"):
        reason = None
        if not photos:
            reason = "not tried: only gate photos (runtime.gate_images) can show it answers as fp32 does"
        elif precision == "bf16" and "BF16" not in capabilities:
            reason = "not tried: this CPU has neither AMX nor AVX-512 BF16"
        elif precision == "int8" and len(photos) < 2:
            reason = "not tried: int8 is calibrated on some gate photos and judged on others, two at least"
        if reason is None:
            wanted.append(f"openvino/{precision}")
        else:
            skipped.append(
                RuntimeCandidate(backend="openvino", precision=precision, passed=False, detail=reason)
            )
    return wanted, skipped


def _build(
    name: str, cfg: ModelConfig, graph: Path, reference: Runner, int8: Path, calibration: list[np.ndarray]
) -> Runner:
    from visionserve.runtime.openvino_runner import OpenVinoRunner, quantize_int8

    backend, precision = name.split("/")
    if backend == "onnxruntime":
        return reference
    names = getattr(reference, "output_names", None)
    if precision == "int8":
        if not int8.is_file():
            quantize_int8(graph, [sample[None] for sample in calibration], int8)
        return OpenVinoRunner(int8, precision="int8", threads=cfg.runtime.threads, output_names=names)
    return OpenVinoRunner(graph, precision=precision, threads=cfg.runtime.threads, output_names=names)


def choose(
    cfg: ModelConfig,
    task: Task[Any, Any],
    reference: Runner,
    graph: Path,
    version: str,
    *,
    model_dirs: list[Path],
    cache_dir: Path,
    max_pixels: int,
) -> Chosen:
    """The runner that serves ``graph`` (``reference``: onnxruntime at fp32 on it) and why."""
    from visionserve.runtime.openvino_runner import cpu_capabilities, cpu_name

    rt = cfg.runtime
    cpu = cpu_name()
    if rt.device == "cuda":
        on_gpu = RuntimeCandidate(
            backend="openvino",
            precision="-",
            passed=False,
            detail="not tried: OpenVINO serves CPUs; on cuda onnxruntime does",
        )
        report = RuntimeChoice(
            backend="onnxruntime",
            precision="fp32",
            chosen_by="config",
            gate_inputs=0,
            cpu=cpu,
            cached=False,
            candidates=[on_gpu],
        )
        return Chosen(reference, report)
    photos = photo_files(gate_folder(rt.gate_images, model_dirs)) if rt.gate_images else []
    key = cache_key(cfg, version, cpu, photos)
    remembered = cache_dir / "runtime-choice" / f"{cfg.name}-{key[:24]}.json"
    int8 = cache_dir / "openvino" / f"{cfg.name}-{key[:16]}-int8.xml"
    known = _remembered(remembered)
    if known is not None and (known.precision != "int8" or int8.is_file()):
        runner = _build(f"{known.backend}/{known.precision}", cfg, graph, reference, int8, [])
        return Chosen(runner, known)

    started = time.perf_counter()
    wanted, skipped = _candidates(cfg, photos, cpu_capabilities())
    shape = task.preprocess(
        DecodedImage(pixels=np.full((64, 64, 3), 128, np.uint8), format="RAW")
    ).tensor.shape
    inputs = gate_inputs(task, photos, max_pixels) if photos else seeded_inputs(shape)
    batch = cfg.batching.max_batch_size
    expected = run_all(reference, task, inputs, batch) if photos else None
    by_name: dict[str, tuple[Runner, RuntimeCandidate]] = {}
    for name in wanted:
        backend, precision = name.split("/")
        calibration, judged = (
            calibration_split(len(inputs)) if precision == "int8" else ([], range(len(inputs)))
        )
        runner = _build(name, cfg, graph, reference, int8, [inputs[i] for i in calibration])
        if expected is not None:
            shown = [inputs[i] for i in judged]
            verdict = judge(task.name, [expected[i] for i in judged], run_all(runner, task, shown, batch))
            passed, agreement, detail = verdict.passed, verdict.score, verdict.detail
            if precision == "int8":
                detail += (
                    f" (on the photos it was not calibrated on; calibrated on {len(calibration)} inputs)"
                )
        else:
            difference = raw_difference(reference, runner, inputs)
            passed, agreement = difference <= FP32_TOLERANCE, None
            detail = (
                f"largest difference {difference:.1e} of the output's range on {len(inputs)} seeded inputs"
            )
        candidate = RuntimeCandidate(
            backend=backend, precision=precision, passed=passed, agreement=agreement, detail=detail
        )
        by_name[name] = (runner, candidate)
    passing = [name for name, (_, c) in by_name.items() if c.passed]
    if not passing:
        failed = "; ".join(f"{c.backend} {c.precision}: {c.detail}" for _, c in by_name.values())
        raise RuntimeError(f"model {cfg.name}: no backend passed the accuracy gate ({failed})")
    best = passing[0]
    if rt.backend == "auto":
        rates = race({name: by_name[name][0] for name in passing}, inputs, batch)
        for name, rate in rates.items():
            by_name[name] = (
                by_name[name][0],
                by_name[name][1].model_copy(update={"images_per_second": rate}),
            )
        best = max(rates, key=lambda name: rates[name])
        reference_rate = rates.get("onnxruntime/fp32", 0.0)
        if best != "onnxruntime/fp32" and reference_rate and rates[best] < MIN_GAIN * reference_rate:
            best = "onnxruntime/fp32"  # a tie: keep the reference
    runner, served = by_name[best]
    report = RuntimeChoice(
        backend=served.backend,
        precision=served.precision,
        chosen_by="measurement" if rt.backend == "auto" else "config",
        agreement=served.agreement,
        gate_inputs=len(inputs) if photos else 0,
        cpu=cpu,
        cached=False,
        candidates=[*(candidate for _, candidate in by_name.values()), *skipped],
    )
    _remember(remembered, report)
    logger.info(
        "model %s: %s %s serves (%s), chosen in %.1f s",
        cfg.name,
        served.backend,
        served.precision,
        served.detail,
        time.perf_counter() - started,
    )
    return Chosen(runner, report)


def _remembered(path: Path) -> RuntimeChoice | None:
    """A choice measured before, or None: none kept, or a file that no longer parses (another
    version's, or damaged), which measuring again replaces."""
    try:
        return RuntimeChoice.model_validate_json(path.read_text()).model_copy(update={"cached": True})
    except (OSError, ValueError):
        return None


def _remember(path: Path, report: RuntimeChoice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{time.monotonic_ns()}")
    partial.write_text(report.model_dump_json(indent=1))
    partial.replace(path)
