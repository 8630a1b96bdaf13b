"""The colours of explanation maps, one convention for every view of them: the server's
overlay PNGs, ``visualize.overlay_heatmap`` (and so the CLI's overlays) and the audit page,
whose app.js holds the same numbers (tests/e2e/test_ui.py compares them).

- Unsigned maps ([0, 1]: saliency, SmoothGrad, CAMs): a sequential scale (viridis), dark
  purple for none, yellow for the most.
- Signed maps ([-1, 1]): diverging, blue against the target and red for it, the colour's
  opacity growing with the magnitude, so that where there is no evidence the photo shows
  through instead of a veil.
- Pixels the model never saw (outside the input's crop): the photo dimmed under grey diagonal
  hatching: never a colour of the scale, which would read as "no importance".

Needs numpy (``visionserve-client[images]``).
"""

from __future__ import annotations

import numpy as np

SEQUENTIAL: tuple[tuple[int, int, int], ...] = (
    (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
)  # fmt: skip
"""Viridis at 0, 0.25, 0.5, 0.75 and 1; linear between."""
AGAINST, FOR = (40, 90, 255), (255, 40, 40)
"""Signed maps: the colour of negative and of positive evidence."""
SIGNED_GAIN = 1.5
"""A signed value's opacity: min(1, gain x |value|)."""
NOT_SEEN_DIM, HATCH_SPACING, HATCH_WIDTH, HATCH_GREY = 0.35, 8, 2, 160
Box = tuple[int, int, int, int]


def rgba(values: np.ndarray, signed: bool) -> np.ndarray:
    """Colours (..., 4) uint8 of values in [0, 1] (unsigned) or [-1, 1] (signed)."""
    if signed:
        v = np.clip(values, -1.0, 1.0)
        colour = np.where((v < 0)[..., None], np.array(AGAINST), np.array(FOR)).astype(np.float64)
        alpha = np.minimum(1.0, SIGNED_GAIN * np.abs(v)) * 255
        return np.concatenate([colour, alpha[..., None]], axis=-1).round().astype(np.uint8)
    stops = np.array(SEQUENTIAL, dtype=np.float64)
    scaled = np.clip(values, 0.0, 1.0) * (len(stops) - 1)
    low = np.floor(scaled).astype(int).clip(0, len(stops) - 2)
    fraction = (scaled - low)[..., None]
    colour = stops[low] * (1 - fraction) + stops[low + 1] * fraction
    alpha = np.full((*np.shape(values), 1), 255.0)
    return np.concatenate([colour, alpha], axis=-1).round().astype(np.uint8)


def from_png(gray: np.ndarray, signed: bool) -> np.ndarray:
    """Values of a normalised map's 8-bit PNG: 0..255 -> [0, 1]; signed, 128 is exactly 0,
    0 is -1 and 255 is +1."""
    pixels = gray.astype(np.float64)
    if not signed:
        return pixels / 255.0
    return np.where(pixels >= 128, (pixels - 128) / 127.0, (pixels - 128) / 128.0)


def not_seen_mask(height: int, width: int, seen: Box) -> np.ndarray:
    """(height, width) bool: True outside the box of pixels the model saw."""
    x1, y1, x2, y2 = seen
    outside = np.ones((height, width), dtype=bool)
    outside[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = False
    return outside


def blend(photo: np.ndarray, values: np.ndarray, signed: bool, opacity: float = 0.5,
          seen: Box | None = None) -> np.ndarray:  # fmt: skip
    """The map's colours over the photo ((H, W, 3) uint8, values (H, W)); outside ``seen``
    the photo is dimmed and hatched instead."""
    colours = rgba(values, signed).astype(np.float64)
    weight = opacity * colours[..., 3:] / 255.0
    out = photo.astype(np.float64) * (1 - weight) + colours[..., :3] * weight
    if seen is not None:
        height, width = values.shape
        outside = not_seen_mask(height, width, seen)
        rows, columns = np.indices((height, width))
        hatch = (rows + columns) % HATCH_SPACING < HATCH_WIDTH
        out[outside] = photo[outside] * NOT_SEEN_DIM
        out[outside & hatch] = HATCH_GREY
    return np.asarray(out.clip(0, 255).round().astype(np.uint8))
