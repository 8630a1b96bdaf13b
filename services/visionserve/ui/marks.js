// Boxes, their labels and masks over the photo, in the image's own pixels (the SVG's viewBox
// and the canvas are the image's size; CSS scales both with the photo).
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function boxMark(target, i) {
  const [x1, y1, x2, y2] = target.box;
  const group = document.createElementNS(SVG, "g");
  group.setAttribute("class", "box");
  group.setAttribute("tabindex", "0");
  group.setAttribute("role", "button");
  group.setAttribute("aria-label", `explain ${target.label} ${target.score.toFixed(2)}`);
  group.dataset.index = String(i);
  group.dataset.label = target.label;
  const rect = document.createElementNS(SVG, "rect");
  rect.setAttribute("x", x1); rect.setAttribute("y", y1);
  rect.setAttribute("width", Math.max(1, x2 - x1)); rect.setAttribute("height", Math.max(1, y2 - y1));
  rect.setAttribute("stroke", colour(i));
  rect.setAttribute("vector-effect", "non-scaling-stroke");
  group.append(rect);
  if (state.model.explain_methods.length) {
    group.addEventListener("click", () => chooseTarget(target, i));
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); chooseTarget(target, i); }
    });
  }
  return group;
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

// Each box's "label score" on a tag of its colour, placed where it overlaps no other tag and
// stays inside the image: above the box, inside its top, below it, inside its bottom, or else
// the first free place further down. The most confident boxes choose first.
// ``shown``: the photo's width on screen, so that the labels read at about 13 px whatever
// the image's own size.
function placeLabels(groups, targets, width, height, shown) {
  const size = shown > 0 ? 13 * width / shown : Math.max(12, Math.min(width, height) / 32);
  const tagH = Math.round(size * 1.3), pad = Math.round(size * 0.25);
  const placed = [];
  const order = [...groups.keys()].sort((a, b) => targets[b].score - targets[a].score);
  for (const k of order) {
    const group = groups[k], target = targets[k];
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("font-size", size);
    text.textContent = `${target.label} ${target.score.toFixed(2)}`;
    group.append(text);
    const measured = text.getComputedTextLength ? text.getComputedTextLength() : 0;
    const tagW = Math.min(width, Math.ceil((measured || size * 0.6 * text.textContent.length) + 2 * pad));
    const [x1, y1, x2, y2] = target.box;
    const x = Math.max(0, Math.min(x1, width - tagW));
    const fits = (y) => y >= 0 && y + tagH <= height;
    const candidates = [y1 - tagH, y1, y2, y2 - tagH].filter(fits);
    let spot = null;
    for (const y of candidates) {
      const tag = { x, y, w: tagW, h: tagH };
      if (!placed.some((p) => overlaps(p, tag))) { spot = tag; break; }
    }
    if (spot === null) {  // else the first free place from the box down, then from the image's top
      const step = Math.max(1, Math.round(tagH / 2)), top = Math.max(0, Math.round(y1));
      const further = [];
      for (let y = top; y + tagH <= height; y += step) further.push(y);
      for (let y = 0; y < top && y + tagH <= height; y += step) further.push(y);
      for (const y of further) {
        const tag = { x, y, w: tagW, h: tagH };
        if (!placed.some((p) => overlaps(p, tag))) { spot = tag; break; }
      }
    }
    spot = spot || { x, y: Math.max(0, Math.min(height - tagH, y1)), w: tagW, h: tagH };
    placed.push(spot);
    const back = document.createElementNS(SVG, "rect");
    back.setAttribute("class", "tag");
    back.setAttribute("x", spot.x); back.setAttribute("y", spot.y);
    back.setAttribute("width", spot.w); back.setAttribute("height", spot.h);
    back.style.fill = colour(Number(group.dataset.index));
    text.setAttribute("x", spot.x + pad);
    text.setAttribute("y", spot.y + tagH - Math.round((tagH - size) / 2) - Math.round(size * 0.2));
    group.insertBefore(back, text);
  }
}

// COCO run-length masks (pycocotools' string form): runs go down the columns.
function rleCounts(text) {
  const counts = [];
  let index = 0;
  while (index < text.length) {
    let value = 0, shift = 0, more = true;
    while (more) {
      const chunk = text.charCodeAt(index) - 48;
      value |= (chunk & 0x1f) << shift;
      more = (chunk & 0x20) !== 0;
      index += 1; shift += 5;
      if (!more && (chunk & 0x10)) value |= -1 << shift;
    }
    if (counts.length > 2) value += counts[counts.length - 2];
    counts.push(value);
  }
  return counts;
}

// Every mask not hidden, in its target's colour.
function drawMasks(canvas, targets) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (const [i, t] of targets.entries()) {
    if (!t.mask || state.hiddenMasks.has(i)) continue;
    const [height, width] = t.mask.size;
    const rgb = PALETTE[i % PALETTE.length].match(/[0-9a-f]{2}/g).map((h) => parseInt(h, 16));
    let position = 0, on = false;
    for (const run of rleCounts(t.mask.counts)) {
      if (on) {
        for (let p = position; p < position + run; p++) {
          const x = Math.floor(p / height), y = p % height;
          const o = (y * width + x) * 4;
          image.data[o] = rgb[0]; image.data[o + 1] = rgb[1]; image.data[o + 2] = rgb[2]; image.data[o + 3] = 255;
        }
      }
      position += run; on = !on;
    }
  }
  ctx.putImageData(image, 0, 0);
}
