// The page's state, its calls to the service (with the caller's key) and its errors.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  models: [], model: null, file: null, photoUrl: null, prediction: null, target: null,
  abort: null, blobUrls: [], hiddenMasks: new Set(),
};

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

function loaded(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this browser cannot display the image (the service read it)"));
    img.src = url;
  });
}

function keep(url) { state.blobUrls.push(url); return url; }

function jsonLink(body, filename, text) {
  const link = document.createElement("a");
  link.textContent = text;
  link.download = filename;
  link.href = keep(URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" })));
  return link;
}

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
