// Explaining a chosen result: the methods a model offers (one sensible default per task),
// the options of the methods chosen only, and the stream of progress, queue included.
"use strict";

// The method ticked first, by task: Grad-CAM where there are gradients; occlusion for boxes,
// the gradient-free reference that a box's evidence shows best in.
const DEFAULT_METHOD = {
  classification: "gradcam", clip: "gradcam", semantic_segmentation: "gradcam",
  detection: "occlusion", instance_segmentation: "occlusion",
};
// What the progress of a batched method counts.
const UNITS = {
  occlusion: "windows", rise: "masks", smoothgrad: "samples", integrated_gradients: "points", scorecam: "channels",
};
// What the explained score is, by target kind (the maps explain this number), and how it
// relates to the score the prediction showed.
const SCORE_MEANING = {
  class: ["the class logit", "the probability is its softmax over all classes"],
  segmentation_class: ["the class's summed logits over its pixels", ""],
  text: ["cosine similarity of image and text", "the probability is the softmax of the scaled cosines"],
  box: ["IoU with the chosen box + confidence of its best match", "about 1 + the confidence when the box is found again"],
};

function chooseTarget(target, i) {
  if (state.abort) state.abort.abort();  // an explanation of the previous target: not this one's
  state.target = { ...target, index: i };
  for (const el of document.querySelectorAll("#targets button, #marks .box")) {
    const chosen = el.dataset.index === String(i);
    if (el.tagName === "BUTTON") el.setAttribute("aria-pressed", String(chosen));
    else el.classList.toggle("chosen", chosen);
  }
  $("explanation").hidden = false;
  $("target-desc").textContent = `${target.text}: ${SCORE_NAME[state.model.task]} ${target.score.toFixed(3)} ` +
    `from ${state.model.name}`;
  const methods = $("methods");
  const offered = state.model.explain_methods;
  const preferred = DEFAULT_METHOD[state.model.task];
  const ticked = offered.includes(preferred) ? preferred : offered[0];
  const legend = methods.querySelector("legend") || document.createElement("legend");
  legend.textContent = "Methods";
  methods.replaceChildren(legend);
  for (const method of offered) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.name = "method"; box.value = method; box.checked = method === ticked;
    box.addEventListener("change", showOptions);
    label.append(box, method.replace(/_/g, " "));
    methods.append(label);
  }
  showOptions();
  $("views").replaceChildren();
  $("explanation-cite").replaceChildren();
  $("explain").focus();
}

function chosenMethods() {
  return [...document.querySelectorAll("#methods input:checked")].map((el) => el.value);
}

// Only the options of the methods ticked (fidelity applies to every method).
function showOptions() {
  const chosen = chosenMethods();
  for (const label of document.querySelectorAll("#options [data-methods]")) {
    const methods = label.dataset.methods.split(" ");
    label.hidden = !methods.includes("*") && !methods.some((m) => chosen.includes(m));
  }
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
    const input = $(`opt-${name}`);
    const value = input.value.trim();
    if (value && !input.closest("label").hidden) form.append(name, value);
  }
  if ($("opt-fidelity").checked) form.append("fidelity", "true");
  return form;
}

async function explain() {
  const methods = chosenMethods();
  if (!methods.length) { showError({ message: "choose at least one method" }); return; }
  showError(null);
  const cards = new Map(methods.map((m) => [m, viewCard(m)]));
  $("views").replaceChildren(...cards.values());
  $("explanation-cite").replaceChildren();
  if (state.abort) state.abort.abort();
  const controller = new AbortController();
  state.abort = controller;
  $("explain").disabled = true; $("cancel").hidden = false;
  try {
    const response = await api("v1/explain/stream", {
      method: "POST", body: explainForm(methods), signal: controller.signal,
    });
    for (const card of cards.values()) setStatus(card, "starting");
    const body = await readStream(response, (event) => showProgress(cards, methods, event));
    if (state.abort !== controller) return;  // another target or image was chosen meanwhile
    await showExplanations(cards, body);
  } catch (err) {
    if (state.abort !== controller && err.name === "AbortError") return;  // replaced, not cancelled
    if (err.name === "AbortError") {
      for (const card of cards.values()) setStatus(card, "cancelled");
    } else {
      for (const card of cards.values()) if (!card.dataset.done) setStatus(card, "failed");
      showError(err);
    }
  } finally {
    if (state.abort === controller) {
      state.abort = null;
      $("explain").disabled = false; $("cancel").hidden = true;
    }
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

function showProgress(cards, methods, event) {
  if (event.stage === "queue") {  // the explainer is busy with others: say with how many
    const ahead = event.ahead === 1 ? "1 request" : `${event.ahead} requests`;
    for (const card of cards.values()) setStatus(card, `queued: ${ahead} ahead`, true);
    return;
  }
  const card = cards.get(event.stage);
  if (!card) return;
  for (const m of methods) {
    const other = cards.get(m);
    if (other === card || !other || other.dataset.done) continue;
    setStatus(other, methods.indexOf(m) < (event.stage_index || 0) ? "computed" : "next", true);
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

function describeTarget(t) {
  if (t.kind === "text") return t.label ? `"${t.label}" through the model's prompt templates` : `"${t.text}"`;
  if (t.kind === "box") return `${t.label} box [${t.box.map((v) => v.toFixed(0)).join(", ")}]`;
  return `${t.label}${t.index !== null && t.index !== undefined ? ` (class ${t.index})` : ""}`;
}

// The prediction's score and the explained one side by side, and how they relate.
function describeScores(result, body) {
  const [meaning, bridge] = SCORE_MEANING[result.target.kind];
  const predicted = state.target ? `${SCORE_NAME[state.model.task]} ${state.target.score.toFixed(3)} · ` : "";
  return `${describeTarget(result.target)}: ${predicted}explained score ${result.target.score.toFixed(3)} ` +
    `(${meaning}${bridge ? `; ${bridge}` : ""}) from ${body.model}`;
}

async function showExplanations(cards, body) {
  const result = body.results[0];
  const photo = await loaded(new Image(), state.photoUrl).catch(() => null);
  $("target-desc").textContent = describeScores(result, body);
  for (const explanation of result.explanations) {
    const card = cards.get(explanation.method);
    if (!card) continue;
    card.dataset.done = "true";
    const fidelity = explanation.fidelity_seconds !== null && explanation.fidelity_seconds !== undefined
      ? ` + ${explanation.fidelity_seconds.toFixed(2)} s fidelity` : "";
    setStatus(card, `${explanation.seconds.toFixed(2)} s${fidelity}`);
    await fillCard(card, explanation, result.geometry, photo, body);
  }
  cite($("explanation-cite"), body, "explanation");
  applyOpacity();
}
