"""Methods that only run the model forward on perturbed inputs (any runner, ONNX included):
occlusion and RISE / D-RISE."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from visionserve.errors import Unprocessable
from visionserve.explain.base import Attribution, Explainer
from visionserve.explain.options import Options
from visionserve.explain.targets import Target


class Occlusion(Explainer):
    """Zeiler & Fergus 2014: the score's drop when a patch is covered, averaged over the patches
    covering each pixel. Perturbed inputs run in batches; forward passes only."""

    name = "occlusion"
    needs_gradients = False

    def check(self, height: int, width: int, options: Options) -> None:
        if options.patch > min(height, width):
            raise Unprocessable(
                f"occlusion patch {options.patch} is larger than the model input {width}x{height}"
            )
        if options.stride < 1:
            raise Unprocessable("occlusion stride must be at least 1")

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        _, _, height, width = x.shape
        self.check(height, width, options)
        patch, stride = options.patch, options.stride
        tops = range(0, height - patch + 1, stride)
        lefts = range(0, width - patch + 1, stride)
        windows = [(t, left) for t in tops for left in lefts]
        with torch.no_grad():
            base = target(model(x))
            total = torch.zeros((height, width))
            count = torch.zeros((height, width))
            for start in range(0, len(windows), options.batch_size):
                chunk = windows[start : start + options.batch_size]
                batch = x.repeat(len(chunk), 1, 1, 1)
                for i, (t, left) in enumerate(chunk):
                    batch[i, :, t : t + patch, left : left + patch] = options.fill
                drops = base - target(model(batch))
                for i, (t, left) in enumerate(chunk):
                    total[t : t + patch, left : left + patch] += drops[i]
                    count[t : t + patch, left : left + patch] += 1
                options.progress.step(start + len(chunk), len(windows))
        raw = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
        params = {"patch": patch, "stride": stride, "fill": options.fill, "windows": len(windows)}
        return Attribution(raw.numpy(), float(base[0]), params=params)


DRAW_BLOCK = 32
"""RISE draws its random masks in blocks of this many, whatever the batch size: a seed gives
the same masks, so the same map, at any batch size (and as when batches held 32)."""


def _mask_draws(
    generator: torch.Generator, options: Options, cell_h: int, cell_w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every mask's grid cells and shift: (masks, 1, grid, grid), (masks,), (masks,)."""
    cells, dy, dx = [], [], []
    for start in range(0, options.masks, DRAW_BLOCK):
        count = min(DRAW_BLOCK, options.masks - start)
        grid = torch.rand((count, 1, options.grid, options.grid), generator=generator)
        cells.append(grid < options.probability)  # bool: 8,192 masks' cells stay small
        dy.append(torch.randint(0, cell_h, (count,), generator=generator))
        dx.append(torch.randint(0, cell_w, (count,), generator=generator))
    return torch.cat(cells), torch.cat(dy), torch.cat(dx)


class Rise(Explainer):
    """Petsiuk et al. 2018 (RISE), and on detectors 2021 (D-RISE): random smooth masks keep a
    share of the image; each mask is weighted by the target's score on the masked image (for a
    box: its best match's IoU + score). Forward passes only, in batches, seeded.

    The weighted mean of the masks is nearly flat (every pixel is kept in about half of them,
    and most masks score alike), so its mean is removed, as D-RISE does: what remains is signed,
    above or below the average mask's score, and a region's share of the positive mass says
    how much it matters rather than how large it is."""

    name = "rise"
    needs_gradients = False
    bf16_keeps_map = True  # Pearson >= 0.9998 of fp32; occlusion's maps do not (0.987)

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        _, _, height, width = x.shape
        generator = torch.Generator().manual_seed(options.seed)
        cell_h, cell_w = -(-height // options.grid), -(-width // options.grid)
        total = torch.zeros((height, width))
        cells, dy, dx = _mask_draws(generator, options, cell_h, cell_w)
        with torch.no_grad():
            base = target(model(x))
            for start in range(0, options.masks, options.batch_size):
                count = min(options.batch_size, options.masks - start)
                grown = F.interpolate(
                    cells[start : start + count].float(),
                    size=((options.grid + 1) * cell_h, (options.grid + 1) * cell_w),
                    mode="bilinear",
                    align_corners=False,
                )
                shifts = zip(
                    dy[start : start + count].tolist(), dx[start : start + count].tolist(), strict=True
                )
                masks = torch.stack(
                    [grown[i, 0, y : y + height, x_ : x_ + width] for i, (y, x_) in enumerate(shifts)]
                )
                scores = target(model(x * masks[:, None]))
                total += (scores[:, None, None] * masks).sum(dim=0)
                options.progress.step(start + count, options.masks)
        params = {
            "masks": options.masks,
            "grid": options.grid,
            "probability": options.probability,
            "seed": options.seed,
        }
        saliency = total / (options.masks * options.probability)
        return Attribution((saliency - saliency.mean()).numpy(), float(base[0]), params=params)
