// The colours of explanation maps: the numbers of visionserve_client/colours.py, the one
// convention of every view (the page, the service's overlay PNGs, the client and the CLI).
// Unsigned maps: viridis. Signed maps: red for the target, blue against it, fading to the
// photo where there is no evidence. What the model never saw: the photo dimmed and hatched.
"use strict";

const SEQUENTIAL = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const AGAINST = [40, 90, 255], FOR = [255, 40, 40], SIGNED_GAIN = 1.5;
const NOT_SEEN_DIM = 0.35, HATCH_SPACING = 8, HATCH_WIDTH = 2, HATCH_GREY = 160;

// A normalised map's 8-bit PNG value as the map's value: [0, 1], or [-1, 1] with 0 at 128.
function fromPng(p, signed) {
  if (!signed) return p / 255;
  return p >= 128 ? (p - 128) / 127 : (p - 128) / 128;
}

// RGBA of a value in [0, 1] (unsigned) or [-1, 1] (signed).
function colourOf(v, signed) {
  if (signed) {
    const t = Math.max(-1, Math.min(1, v));
    const alpha = Math.round(255 * Math.min(1, SIGNED_GAIN * Math.abs(t)));
    return [...(t < 0 ? AGAINST : FOR), alpha];
  }
  const scaled = Math.max(0, Math.min(1, v)) * (SEQUENTIAL.length - 1);
  const low = Math.min(Math.floor(scaled), SEQUENTIAL.length - 2);
  const f = scaled - low;
  return SEQUENTIAL[low].map((c, i) => Math.round(c * (1 - f) + SEQUENTIAL[low + 1][i] * f)).concat(255);
}

function outsideBox(x, y, box) {
  const [x1, y1, x2, y2] = box;
  return x < x1 || x >= x2 || y < y1 || y >= y2;
}

// The not-seen layer of an image of this size: dimming and hatching outside the seen box,
// clear inside. Drawn over the map at full opacity, whatever the map's opacity.
function notSeenCanvas(width, height, seen) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const layer = ctx.createImageData(width, height);
  const dim = Math.round(255 * (1 - NOT_SEEN_DIM));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!outsideBox(x, y, seen)) continue;
      const o = (y * width + x) * 4;
      if ((x + y) % HATCH_SPACING < HATCH_WIDTH) layer.data.set([HATCH_GREY, HATCH_GREY, HATCH_GREY, 255], o);
      else layer.data.set([0, 0, 0, dim], o);
    }
  }
  ctx.putImageData(layer, 0, 0);
  canvas.className = "unseen";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "hatched: the part of the image the model did not see");
  return canvas;
}
