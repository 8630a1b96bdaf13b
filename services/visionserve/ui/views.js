// An explanation's card: its map over the photo in the one colour convention (colours.js),
// what the model did not see hatched, the scale, what was used, and downloads.
"use strict";

function viewCard(method) {
  const card = document.createElement("article");
  card.className = "view";
  card.dataset.method = method;
  const title = document.createElement("h3");
  const name = document.createElement("span");
  name.className = "method";
  name.textContent = method.replace(/_/g, " ");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = "sent";
  title.append(name, time);
  const progress = document.createElement("progress");
  progress.setAttribute("aria-label", `${method} progress`);
  card.append(title, progress);
  return card;
}

// The card's status; its progress bar stays while it still waits or runs (``keepBar``).
function setStatus(card, text, keepBar = false) {
  card.querySelector(".time").textContent = text;
  const bar = card.querySelector("progress");
  if (bar && !keepBar && text !== "running" && text !== "starting") bar.remove();
}

// float16 little-endian -> number, for the raw map's range.
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function rawRange(raw) {
  const bytes = Uint8Array.from(atob(raw.data), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const v = halfToFloat(view.getUint16(i, true));
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo * raw.scale, hi * raw.scale];
}

// The map in colour; clear where the model saw nothing (the not-seen layer covers that).
async function heatCanvas(explanation, seen) {
  const gray = await loaded(new Image(), `data:image/png;base64,${explanation.normalized_png}`);
  const canvas = document.createElement("canvas");
  canvas.width = gray.naturalWidth; canvas.height = gray.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(gray, 0, 0);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let o = 0; o < pixels.data.length; o += 4) {
    const x = (o / 4) % canvas.width, y = Math.floor(o / 4 / canvas.width);
    const rgba = outsideBox(x, y, seen) ? [0, 0, 0, 0] : colourOf(fromPng(pixels.data[o], explanation.signed), explanation.signed);
    pixels.data.set(rgba, o);
  }
  ctx.putImageData(pixels, 0, 0);
  canvas.className = "heat";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${explanation.method} map`);
  return canvas;
}

function scaleBar(explanation) {
  const [lo, hi] = rawRange(explanation.raw);
  const bar = document.createElement("canvas");
  bar.width = 256; bar.height = 1;
  const ctx = bar.getContext("2d");
  const strip = ctx.createImageData(256, 1);
  for (let x = 0; x < 256; x++) {
    const v = explanation.signed ? x / 127.5 - 1 : x / 255;
    strip.data.set(colourOf(v, explanation.signed), x * 4);
  }
  ctx.putImageData(strip, 0, 0);
  const magnitude = Math.max(Math.abs(lo), Math.abs(hi));
  const left = explanation.signed ? -magnitude : Math.max(lo, 0);
  const right = explanation.signed ? magnitude : hi;
  const scale = document.createElement("div");
  scale.className = "scale";
  scale.title = explanation.signed
    ? "signed map: blue against the target, red for it, clear where there is no evidence"
    : "map normalised to [0, 1] for display; the ends are the raw values";
  const low = document.createElement("span");
  low.textContent = left.toPrecision(3);
  const high = document.createElement("span");
  high.textContent = right.toPrecision(3);
  scale.append(low, bar, high);
  return scale;
}

function seenNote(geometry, width, height) {
  const [x1, y1, x2, y2] = geometry.image_box;
  if (x1 <= 0 && y1 <= 0 && x2 >= width && y2 >= height) return "";
  return "hatched: outside what the model saw (its input's crop), not 'no importance'";
}

async function fillCard(card, explanation, geometry, photo, body) {
  card.querySelector("progress")?.remove();
  const stage = document.createElement("figure");
  stage.className = "stage";
  const img = document.createElement("img");
  img.alt = "the explained image";
  img.src = state.photoUrl;
  const heat = await heatCanvas(explanation, geometry.image_box);
  const unseen = notSeenCanvas(heat.width, heat.height, geometry.image_box);
  // As large as the card allows, up to 60% of the window's height, small photos included.
  stage.style.width = `min(100%, 48rem, calc(60vh * ${heat.width / heat.height}))`;
  stage.append(img, heat, unseen);
  card.append(stage, scaleBar(explanation));
  const facts = document.createElement("p");
  facts.className = "meta";
  const layer = explanation.layer ? `layer ${explanation.layer}` : "";
  const params = Object.entries(explanation.params).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ");
  const fidelity = explanation.fidelity
    ? `deletion AUC ${explanation.fidelity.deletion_auc.toFixed(3)} (lower is better), ` +
      `insertion AUC ${explanation.fidelity.insertion_auc.toFixed(3)} (higher is better)`
    : "";
  const note = seenNote(geometry, heat.width, heat.height);
  facts.textContent = [layer, params, fidelity, note].filter(Boolean).join(" · ");
  card.append(facts);
  const links = document.createElement("div");
  links.className = "downloads";
  const png = document.createElement("a");
  png.textContent = "overlay PNG";
  png.href = "#";
  png.download = `${body.request_id}-${explanation.method}.png`;
  png.addEventListener("click", (event) => {
    if (png.dataset.ready) return;
    event.preventDefault();
    overlayBlob(photo, heat, unseen).then((blob) => {
      png.href = keep(URL.createObjectURL(blob));
      png.dataset.ready = "true";
      png.click();
      setTimeout(() => { delete png.dataset.ready; }, 0);
    });
  });
  links.append(png, jsonLink({ ...body, results: [{ ...body.results[0], explanations: [explanation] }] },
    `${body.request_id}-${explanation.method}.json`, "JSON"));
  card.append(links);
}

// The overlay as shown: the photo, the map on it at the chosen opacity, the not-seen layer.
function overlayBlob(photo, heat, unseen) {
  const canvas = document.createElement("canvas");
  const width = photo ? photo.naturalWidth : heat.width, height = photo ? photo.naturalHeight : heat.height;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (photo) ctx.drawImage(photo, 0, 0, width, height);
  ctx.globalAlpha = Number($("opacity").value);
  ctx.drawImage(heat, 0, 0, width, height);
  ctx.globalAlpha = 1;
  ctx.drawImage(unseen, 0, 0, width, height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function applyOpacity() {
  const value = $("opacity").value;
  for (const heat of document.querySelectorAll("#views canvas.heat")) heat.style.opacity = value;
}

$("opacity").addEventListener("input", applyOpacity);
