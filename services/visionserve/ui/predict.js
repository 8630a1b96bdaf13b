// Choosing a model and an image, the prediction, and the results drawn on the image: boxes
// with labels that never overlap or leave it, masks that can be hidden class by class.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const PREDICT_ROUTE = {
  classification: "v1/classify",
  detection: "v1/detect",
  semantic_segmentation: "v1/segment",
  instance_segmentation: "v1/segment",
  clip: "v1/zero-shot",
};
// What a prediction's score is, by task: the number the model answered with.
const SCORE_NAME = {
  classification: "probability", detection: "confidence", semantic_segmentation: "score",
  instance_segmentation: "confidence", clip: "probability",
};
const BACKGROUND = /^(_*background_*|bg)$/i;  // a segmenter's background: its mask starts hidden

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
    option.title = option.text;
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
  $("model").title = m ? `${m.name} (${m.task.replace(/_/g, " ")})` : "";
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

function clearResults() {
  if (state.abort) { state.abort.abort(); state.abort = null; }  // its result would be another image's
  $("explain").disabled = false; $("cancel").hidden = true;
  for (const url of state.blobUrls) URL.revokeObjectURL(url);
  state.blobUrls = [];
  state.prediction = null; state.target = null; state.hiddenMasks = new Set();
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
  const targets = targetsOf(state.model.task, result);
  for (const [i, t] of targets.entries()) if (t.mask && BACKGROUND.test(t.label)) state.hiddenMasks.add(i);
  $("targets").replaceChildren(...targets.map((t, i) => targetItem(t, i)));
  // Largest first: a smaller box inside a larger one stays on top, so it can be clicked.
  const area = ([x1, y1, x2, y2]) => (x2 - x1) * (y2 - y1);
  const boxed = [...targets.entries()].filter(([, t]) => t.box).sort(([, a], [, b]) => area(b.box) - area(a.box));
  const groups = boxed.map(([i, t]) => boxMark(t, i));
  marks.append(...groups);
  placeLabels(groups, boxed.map(([, t]) => t), width, height, $("photo").getBoundingClientRect().width);
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
  score.textContent = `${SCORE_NAME[state.model.task]} ${target.score.toFixed(3)}`;
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${(Math.max(0, Math.min(1, target.score)) * 100).toFixed(1)}%`;
  bar.append(fill);
  button.append(swatch, name, score, bar);
  button.disabled = state.model.explain_methods.length === 0;
  button.addEventListener("click", () => chooseTarget(target, i));
  const item = document.createElement("li");
  item.append(button);
  if (target.mask) item.append(maskToggle(target, i));
  return item;
}

function maskToggle(target, i) {
  const label = document.createElement("label");
  label.className = "mask-toggle";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = !state.hiddenMasks.has(i);
  box.dataset.index = String(i);
  box.setAttribute("aria-label", `show the ${target.label} mask`);
  box.addEventListener("change", () => {
    if (box.checked) state.hiddenMasks.delete(i); else state.hiddenMasks.add(i);
    drawMasks($("masks"), targetsOf(state.model.task, state.prediction.results[0]));
  });
  label.append(box, "mask");
  return label;
}
