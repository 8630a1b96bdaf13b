// The audit page: one model, one image, its prediction drawn on it, and explanations of a
// chosen result side by side. Plain browser JavaScript in a few files loaded in order
// (colours, api, marks, predict, explain, views, then this one), no build step, nothing
// fetched from outside the service. Every URL is relative, so the page works under any prefix.
"use strict";

loadModels();
