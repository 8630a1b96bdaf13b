// The audit page: one model, one image, its prediction drawn on it, and explanations of a
// chosen result side by side. Plain browser JavaScript, no build step, nothing fetched from
// outside the service. Every URL is relative, so the page works under any route prefix.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
// Methods ticked by default when a model offers them: quick ones, and occlusion as the
// gradient-free reference an auditor expects beside them.
const DEFAULT_METHODS = ["gradcam", "guided_gradcam", "saliency", "occlusion"];
// What the progress of a batched method counts.
const UNITS = {
  occlusion: "windows", rise: "masks", smoothgrad: "samples", integrated_gradients: "points", scorecam: "channels",
};
// What the explained score is, by target kind (the maps explain this number).
const SCORE_MEANING = {
  class: "the class logit",
  segmentation_class: "the class's summed logits over its pixels",
  text: "cosine similarity of image and text",
  box: "IoU with the chosen box + confidence of its best match",
};
const PREDICT_ROUTE = {
  classification: "v1/classify",
  detection: "v1/detect",
  semantic_segmentation: "v1/segment",
  instance_segmentation: "v1/segment",
  clip: "v1/zero-shot",
};

const $ = (id) => document.getElementById(id);
const state = {
  models: [], model: null, file: null, photoUrl: null, prediction: null, target: null,
  abort: null, blobUrls: [],
};

// ------------------------------------------------------------------ API calls

function apiKey() { return sessionStorage.getItem("visionserve-key") || ""; }

function headers() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status; this.code = code; this.requestId = requestId;
  }
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: described below */ }
  const e = body && body.error;
  if (e) return new ApiError(response.status, e.code, e.message, e.request_id);
  return new ApiError(response.status, "http_error",
    `${response.status} ${response.statusText || "error"} from ${response.url}`, "");
}

async function api(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "unreachable", `the service did not answer: ${err.message}`, "");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

// ------------------------------------------------------------------ errors and keys

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  if (err.status === 401 || err.status === 403) askForKey(err.message);
  const id = err.requestId ? `\nrequest_id: ${err.requestId}` : "";
  box.textContent = err.code ? `${err.code}: ${err.message}${id}` : String(err.message || err);
  box.hidden = false;
}

function askForKey(reason) {
  $("key-reason").textContent = reason || "Enter an API key.";
  $("key-form").hidden = false;
  $("key").focus();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("visionserve-key", $("key").value.trim());
  $("key").value = "";
  $("key-form").hidden = true;
  showError(null);
  loadModels();
});
$("key-button").addEventListener("click", () => askForKey("Enter the API key to use for this tab."));

// ------------------------------------------------------------------ models

async function loadModels() {
  try {
    const listing = await (await api("v1/models")).json();
    state.models = listing.models;
  } catch (err) {
    showError(err);
    return;
  }
  const select = $("model");
  const previous = select.value;
  select.replaceChildren(...state.models.map((m) => {
    const option = new Option(`${m.name} (${m.task.replace(/_/g, " ")})${m.ready ? "" : " - not ready"}`, m.name);
    option.disabled = !m.ready;
    return option;
  }));
  const keep = state.models.find((m) => m.name === previous && m.ready);
  const first = keep || state.models.find((m) => m.ready);
  if (first) select.value = first.name;
  select.disabled = state.models.length === 0;
  chooseModel();
}

function chooseModel() {
  state.model = state.models.find((m) => m.name === $("model").value) || null;
  const m = state.model;
  $("model-meta").textContent = m
    ? `version ${m.model_version.slice(0, 12)} · ${m.backend} on ${m.device}` +
      (m.explain_methods.length ? ` · explains: ${m.explain_methods.join(", ")}` : " · no explanations")
    : "";
  $("zero-shot").hidden = !m || m.task !== "clip";
  $("thresholds").hidden = !m || !["detection", "instance_segmentation"].includes(m.task);
  clearResults();
  updatePredictButton();
}

$("model").addEventListener("change", chooseModel);

// ------------------------------------------------------------------ the image

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = URL.createObjectURL(file);
  $("file-name").textContent = `${file.name} · ${(file.size / 1024).toFixed(1)} KB`;
  clearResults();
  updatePredictButton();
}

function updatePredictButton() {
  $("predict").disabled = !(state.model && state.file);
}

$("file").addEventListener("change", () => chooseFile($("file").files[0]));
const drop = $("drop");
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
});
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  chooseFile(event.dataTransfer.files[0]);
});

// ------------------------------------------------------------------ predicting

function clearResults() {
  for (const url of state.blobUrls) URL.revokeObjectURL(url);
  state.blobUrls = [];
  state.prediction = null; state.target = null;
  $("prediction").hidden = true;
  $("explanation").hidden = true;
  $("targets").replaceChildren();
  $("marks").replaceChildren();
  $("views").replaceChildren();
  showError(null);
}

function predictForm() {
  const form = new FormData();
  form.append("images", state.file, state.file.name);
  form.append("model", state.model.name);
  if (state.model.task === "classification") form.append("top_k", "5");
  const threshold = $("score-threshold").value.trim();
  if (threshold && !$("thresholds").hidden) form.append("score_threshold", threshold);
  if (state.model.task === "clip") {
    for (const label of $("labels").value.split(",").map((s) => s.trim()).filter(Boolean)) {
      form.append("labels", label);
    }
  }
  return form;
}

async function predict() {
  clearResults();
  const button = $("predict");
  button.disabled = true;
  button.textContent = "Predicting...";
  try {
    const response = await api(PREDICT_ROUTE[state.model.task], { method: "POST", body: predictForm() });
    state.prediction = await response.json();
    await showPrediction();
  } catch (err) {
    showError(err);
  } finally {
    button.textContent = "Predict";
    updatePredictButton();
  }
}

$("predict").addEventListener("click", predict);

function loaded(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this browser cannot display the image (the service read it)"));
    img.src = url;
  });
}

async function showPrediction() {
  const body = state.prediction;
  const result = body.results[0];
  const { width, height } = result.image;
  $("prediction").hidden = false;
  try {
    await loaded($("photo"), state.photoUrl);
  } catch (err) {
    showError(err);
  }
  const marks = $("marks");
  marks.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const masks = $("masks");
  masks.width = width; masks.height = height;
  masks.getContext("2d").clearRect(0, 0, width, height);
  const targets = targetsOf(state.model.task, result);
  $("targets").replaceChildren(...targets.map((t, i) => targetItem(t, i)));
  // Largest first: a smaller box inside a larger one stays on top, so it can be clicked.
  const area = ([x1, y1, x2, y2]) => (x2 - x1) * (y2 - y1);
  const boxed = [...targets.entries()].filter(([, t]) => t.box).sort(([, a], [, b]) => area(b.box) - area(a.box));
  for (const [i, t] of boxed) marks.append(boxMark(t, i, width));
  drawMasks(masks, targets);
  const explainable = state.model.explain_methods.length > 0;
  $("targets-help").textContent = targets.length === 0
    ? "Nothing found."
    : explainable ? "Choose a result to explain it." : `${state.model.name} offers no explanation methods.`;
  cite($("prediction-cite"), body, "prediction");
}

// What a result offers to explain, whatever the task: a label, a score, and how to ask.
function targetsOf(task, result) {
  if (task === "classification") {
    return result.classes.map((c) => ({
      label: c.label, score: c.score, text: `${c.label} (class ${c.index})`, params: { target_class: c.index },
    }));
  }
  if (task === "detection") {
    return result.detections.map((d) => ({
      label: d.label, score: d.score, box: d.box, text: d.label,
      params: { target_box: d.box, target_label: d.label },
    }));
  }
  if (task === "semantic_segmentation") {
    return result.classes.map((c) => ({
      label: c.label, score: c.score, mask: c.mask, text: `${c.label} · ${(c.pixel_share * 100).toFixed(1)}% of pixels`,
      params: { target_class: c.index },
    }));
  }
  if (task === "instance_segmentation") {
    return result.instances.map((d) => ({
      label: d.label, score: d.score, box: d.box, mask: d.mask, text: d.label,
      params: { target_box: d.box, target_label: d.label },
    }));
  }
  if (task === "clip") {
    return result.scores.map((s) => ({
      label: s.label, score: s.score, text: `${s.label} · cosine ${s.similarity.toFixed(3)}`,
      params: { target_label: s.label },  // through the same prompt templates as the scores
    }));
  }
  return [];
}

function colour(i) { return PALETTE[i % PALETTE.length]; }

function targetItem(target, i) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "target";
  button.dataset.index = String(i);
  button.dataset.label = target.label;
  button.setAttribute("aria-pressed", "false");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = colour(i);
  const name = document.createElement("span");
  name.textContent = target.text;
  const score = document.createElement("span");
  score.textContent = target.score.toFixed(3);
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${(target.score * 100).toFixed(1)}%`;
  bar.append(fill);
  button.append(swatch, name, score, bar);
  button.disabled = state.model.explain_methods.length === 0;
  button.addEventListener("click", () => chooseTarget(target, i));
  const item = document.createElement("li");
  item.append(button);
  return item;
}

const SVG = "http://www.w3.org/2000/svg";

function boxMark(target, i, imageWidth) {
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
  const text = document.createElementNS(SVG, "text");
  const size = Math.max(12, imageWidth / 50);
  text.setAttribute("x", x1 + 4); text.setAttribute("y", Math.max(size, y1 + size));
  text.setAttribute("font-size", size);
  text.textContent = `${target.label} ${target.score.toFixed(2)}`;
  group.append(rect, text);
  if (state.model.explain_methods.length) {
    group.addEventListener("click", () => chooseTarget(target, i));
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); chooseTarget(target, i); }
    });
  }
  return group;
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

function drawMasks(canvas, targets) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  let any = false;
  for (const [i, t] of targets.entries()) {
    if (!t.mask) continue;
    any = true;
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
  if (any) ctx.putImageData(image, 0, 0);
}

// ------------------------------------------------------------------ explaining

function chooseTarget(target, i) {
  state.target = { ...target, index: i };
  for (const el of document.querySelectorAll("#targets button, #marks .box")) {
    const chosen = el.dataset.index === String(i);
    if (el.tagName === "BUTTON") el.setAttribute("aria-pressed", String(chosen));
    else el.classList.toggle("chosen", chosen);
  }
  $("explanation").hidden = false;
  $("target-desc").textContent = `${target.text}: score ${target.score.toFixed(3)} from ${state.model.name}`;
  const methods = $("methods");
  const offered = state.model.explain_methods;
  const wanted = offered.filter((m) => DEFAULT_METHODS.includes(m));
  const ticked = new Set(wanted.length ? wanted : offered.slice(0, 1));
  methods.replaceChildren(methods.querySelector("legend") || document.createElement("legend"));
  methods.querySelector("legend").textContent = "Methods";
  for (const method of offered) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.name = "method"; box.value = method; box.checked = ticked.has(method);
    label.append(box, method.replace(/_/g, " "));
    methods.append(label);
  }
  $("views").replaceChildren();
  $("explanation-cite").replaceChildren();
  $("explain").focus();
}

function explainForm(methods) {
  const form = new FormData();
  form.append("images", state.file, state.file.name);
  form.append("model", state.model.name);
  for (const m of methods) form.append("methods", m);
  for (const [key, value] of Object.entries(state.target.params)) {
    if (Array.isArray(value)) for (const v of value) form.append(key, String(v));
    else form.append(key, String(value));
  }
  for (const name of ["patch", "stride", "masks", "steps", "samples"]) {
    const value = $(`opt-${name}`).value.trim();
    if (value) form.append(name, value);
  }
  if ($("opt-fidelity").checked) form.append("fidelity", "true");
  return form;
}

async function explain() {
  const methods = [...document.querySelectorAll("#methods input:checked")].map((el) => el.value);
  if (!methods.length) { showError({ message: "choose at least one method" }); return; }
  showError(null);
  const cards = new Map(methods.map((m) => [m, viewCard(m)]));
  $("views").replaceChildren(...cards.values());
  $("explanation-cite").replaceChildren();
  const controller = new AbortController();
  state.abort = controller;
  $("explain").disabled = true; $("cancel").hidden = false;
  try {
    const response = await api("v1/explain/stream", {
      method: "POST", body: explainForm(methods), signal: controller.signal,
    });
    const body = await readStream(response, (event) => showProgress(cards, methods, event));
    await showExplanations(cards, body);
  } catch (err) {
    if (err.name === "AbortError") {
      for (const card of cards.values()) setStatus(card, "cancelled");
    } else {
      for (const card of cards.values()) if (!card.dataset.done) setStatus(card, "failed");
      showError(err);
    }
  } finally {
    state.abort = null;
    $("explain").disabled = false; $("cancel").hidden = true;
  }
}

$("explain").addEventListener("click", explain);
$("cancel").addEventListener("click", () => state.abort && state.abort.abort());

// NDJSON: progress lines, then a result line or an error line.
async function readStream(response, onProgress) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    pending += decoder.decode(value || new Uint8Array(), { stream: !done });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      const event = JSON.parse(line);
      if (event.event === "progress") onProgress(event);
      else if (event.event === "result") return event.response;
      else if (event.event === "error") {
        const e = event.error;
        throw new ApiError(event.status, e.code, e.message, e.request_id);
      }
    }
    if (done) throw new ApiError(0, "incomplete", "the explanation stream ended without a result", "");
  }
}

function viewCard(method) {
  const card = document.createElement("article");
  card.className = "view";
  card.dataset.method = method;
  const title = document.createElement("h3");
  const name = document.createElement("span");
  name.textContent = method.replace(/_/g, " ");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = "waiting";
  title.append(name, time);
  const progress = document.createElement("progress");
  progress.setAttribute("aria-label", `${method} progress`);
  card.append(title, progress);
  return card;
}

function setStatus(card, text) {
  card.querySelector(".time").textContent = text;
  const bar = card.querySelector("progress");
  if (bar && text !== "running") bar.remove();
}

function showProgress(cards, methods, event) {
  const card = cards.get(event.stage);
  if (!card) return;
  for (const m of methods.slice(0, event.stage_index || 0)) {
    const before = cards.get(m);
    if (before && !before.dataset.done) setStatus(before, "computed");
  }
  const bar = card.querySelector("progress");
  if (!bar) return;
  if (event.total > 1) {
    bar.max = event.total; bar.value = event.done;
    const unit = UNITS[event.stage] || "inputs";
    card.querySelector(".time").textContent = `${event.done} / ${event.total} ${unit}`;
  } else {
    card.querySelector(".time").textContent = "running";
  }
}

async function showExplanations(cards, body) {
  const result = body.results[0];
  const photo = await loaded(new Image(), state.photoUrl).catch(() => null);
  $("target-desc").textContent = `${describeTarget(result.target)}: explained score ` +
    `${result.target.score.toFixed(3)} (${SCORE_MEANING[result.target.kind]}) from ${body.model}`;
  for (const explanation of result.explanations) {
    const card = cards.get(explanation.method);
    if (!card) continue;
    card.dataset.done = "true";
    setStatus(card, `${explanation.seconds.toFixed(2)} s`);
    await fillCard(card, explanation, photo, body);
  }
  cite($("explanation-cite"), body, "explanation");
  applyOpacity();
}

function describeTarget(t) {
  if (t.kind === "text") return t.label ? `"${t.label}" through the model's prompt templates` : `"${t.text}"`;
  if (t.kind === "box") return `${t.label} box [${t.box.map((v) => v.toFixed(0)).join(", ")}]`;
  return `${t.label}${t.index !== null && t.index !== undefined ? ` (class ${t.index})` : ""}`;
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

// RGBA of a normalised value: jet for [0, 1] maps (pytorch-grad-cam's convention); for signed
// maps blue against the target and red for it, fading to transparent where there is no
// evidence, so that the photo shows through instead of a white veil.
function colourOf(v, signed) {
  if (signed) {
    const t = v * 2 - 1;
    const alpha = Math.round(255 * Math.min(1, Math.abs(t) * 1.5));
    return t < 0 ? [40, 90, 255, alpha] : [255, 40, 40, alpha];
  }
  const clip = (x) => Math.max(0, Math.min(1, x));
  return [clip(1.5 - Math.abs(4 * v - 3)), clip(1.5 - Math.abs(4 * v - 2)), clip(1.5 - Math.abs(4 * v - 1))]
    .map((c) => Math.round(c * 255)).concat(255);
}

async function heatCanvas(explanation) {
  const gray = await loaded(new Image(), `data:image/png;base64,${explanation.normalized_png}`);
  const canvas = document.createElement("canvas");
  canvas.width = gray.naturalWidth; canvas.height = gray.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(gray, 0, 0);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let o = 0; o < pixels.data.length; o += 4) {
    pixels.data.set(colourOf(pixels.data[o] / 255, explanation.signed), o);
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
    strip.data.set(colourOf(x / 255, explanation.signed), x * 4);
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

async function fillCard(card, explanation, photo, body) {
  card.querySelector("progress")?.remove();
  const stage = document.createElement("figure");
  stage.className = "stage";
  const img = document.createElement("img");
  img.alt = "the explained image";
  img.src = state.photoUrl;
  const heat = await heatCanvas(explanation);
  stage.append(img, heat);
  card.append(stage, scaleBar(explanation));
  const facts = document.createElement("p");
  facts.className = "meta";
  const layer = explanation.layer ? `layer ${explanation.layer}` : "";
  const params = Object.entries(explanation.params).map(([k, v]) => `${k} ${v}`).join(", ");
  const fidelity = explanation.fidelity
    ? `deletion AUC ${explanation.fidelity.deletion_auc.toFixed(3)} (lower is better), ` +
      `insertion AUC ${explanation.fidelity.insertion_auc.toFixed(3)} (higher is better)`
    : "";
  facts.textContent = [layer, params, fidelity].filter(Boolean).join(" · ");
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
    overlayBlob(photo, heat).then((blob) => {
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

function keep(url) { state.blobUrls.push(url); return url; }

// The overlay as shown: the photo, and the map on it at the chosen opacity.
function overlayBlob(photo, heat) {
  const canvas = document.createElement("canvas");
  const width = photo ? photo.naturalWidth : heat.width, height = photo ? photo.naturalHeight : heat.height;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (photo) ctx.drawImage(photo, 0, 0, width, height);
  ctx.globalAlpha = Number($("opacity").value);
  ctx.drawImage(heat, 0, 0, width, height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function jsonLink(body, filename, text) {
  const link = document.createElement("a");
  link.textContent = text;
  link.download = filename;
  link.href = keep(URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" })));
  return link;
}

function applyOpacity() {
  const value = $("opacity").value;
  for (const heat of document.querySelectorAll("#views canvas.heat")) heat.style.opacity = value;
}

$("opacity").addEventListener("input", applyOpacity);

// What an auditor cites: the request, the model and the exact weights.
function cite(list, body, kind) {
  const rows = [["request_id", body.request_id], ["model", body.model], ["model_version", body.model_version]];
  const items = rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dd.dataset.field = k;
    return [dt, dd];
  });
  const dt = document.createElement("dt");
  dt.textContent = "response";
  const dd = document.createElement("dd");
  dd.append(jsonLink(body, `${body.request_id}-${kind}.json`, "download JSON"));
  list.replaceChildren(...items, dt, dd);
}

loadModels();
