// oomcheck explore: the page. Everything it shows comes from the server's JSON (oomcheck/explore/
// session.py), which builds each step the way the text view does; this file only lays it out.
"use strict";

const S = {
  model: null,        // /api/model
  cex: null,          // /api/trace of the chosen property, or null
  path: [],           // state tokens: path[0] initial, path[j + 1] after steps[j]
  steps: [],          // step objects (server's step_json)
  cursor: 0,          // index into path
  branchedAt: null,   // the counterexample's state where the walk left it
  cache: new Map(),   // token -> /api/state
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function stateOf(token) {
  if (!S.cache.has(token)) S.cache.set(token, await api("/api/state?s=" + encodeURIComponent(token)));
  return S.cache.get(token);
}

function changeList(step) {
  const box = el("div", { class: "chg" });
  const names = Object.keys(step.changes);
  if (!names.length) box.append("(no change)");
  for (const n of names) {
    const c = step.changes[n];
    box.append(el("div", {}, n + ": ", el("span", { class: "old" }, c.old), " \u2192 ",
      el("span", { class: "new" }, c.new)));
  }
  return box;
}

// ---- the legend: one mark per (function, step), in order of first appearance (as the text view)

function legendMarks() {
  const marks = new Map();
  for (const s of S.steps) {
    const key = s.function + "\u0000" + s.step;
    if (!marks.has(key)) marks.set(key, { mark: marks.size < 26 ? String.fromCharCode(97 + marks.size) : "*", s });
  }
  return marks;
}

// ---- rendering

function renderTrace() {
  const actors = S.model.actors;
  const marks = legendMarks();
  const table = $("trace");
  table.replaceChildren();
  table.append(el("tr", {}, el("th", {}, "#"), ...actors.map((a) => el("th", {}, a))));
  const row0 = el("tr", { "data-step": "0", onclick: () => go(0) },
    el("td", { class: "num" }, "0"), el("td", { colspan: String(actors.length) }, "initial state"));
  table.append(row0);
  const loopStart = S.branchedAt === null && S.cex ? S.cex.loop_start : null;
  S.steps.forEach((s, j) => {
    if (loopStart === j && !S.cex.stutter) table.append(marker("---- loop: the steps below repeat forever ----"));
    if (S.branchedAt === j) table.append(marker("---- branched off the counterexample here ----"));
    const cells = actors.map((a) => el("td"));
    const col = actors.indexOf(s.actor);
    const mark = marks.get(s.function + "\u0000" + s.step).mark;
    cells[col].append(el("div", { class: "lbl", title: s.action + " [" + s.file + "]" },
      `${j + 1}. ${s.label} (${mark})`), changeList(s));
    table.append(el("tr", { "data-step": String(j + 1), onclick: () => go(j + 1) },
      el("td", { class: "num" }, String(j + 1)), ...cells));
  });
  for (const tr of table.querySelectorAll("tr[data-step]")) {
    const k = Number(tr.dataset.step);
    tr.classList.toggle("current", k === S.cursor);
    tr.classList.toggle("future", k > S.cursor);
  }
  let ending = "";
  if (S.cex && S.branchedAt === null) {
    if (S.cex.stutter) ending = "---- stuck: no fair step is enabled; the system stays here forever ----";
    else if (S.cex.loop_start !== null && S.cex.loop_start !== undefined)
      ending = `---- back to step ${S.cex.loop_start + 1} ----`;
    if (S.cex.never && S.cex.never.length) ending += "\nnever reaches the goal: " + S.cex.never.join("; ");
  }
  $("ending").textContent = ending;
  const legend = $("legend");
  legend.replaceChildren();
  for (const { mark, s } of marks.values()) {
    legend.append(el("p", {}, el("b", {}, `(${mark}) ${s.function}`), ` [${s.file}]: ${s.step}`));
  }
  function marker(text) {
    return el("tr", { class: "marker" }, el("td"), el("td", { colspan: String(actors.length) }, text));
  }
}

function renderControls() {
  const n = S.steps.length;
  const slider = $("slider");
  slider.max = String(n);
  slider.value = String(S.cursor);
  $("position").textContent = `step ${S.cursor} of ${n}`;
  const status = $("status");
  if (S.branchedAt !== null) {
    status.textContent = `your own path: branched off the counterexample of ${S.cex.property} at step ${S.branchedAt}`;
    status.className = "branched";
  } else if (S.cex) {
    status.textContent = `counterexample of ${S.cex.property} (${S.cex.strength})`;
    status.className = "";
  } else {
    status.textContent = "your own path from an initial state";
    status.className = "branched";
  }
  $("restore").hidden = !(S.cex && S.branchedAt !== null);
}

async function renderState() {
  const token = S.path[S.cursor];
  const st = await stateOf(token);
  if (token !== S.path[S.cursor]) return; // moved on meanwhile
  $("here").textContent = S.cursor === 0 ? "initial state" : `state after step ${S.cursor}`;
  const changed = new Set(S.cursor > 0 ? Object.keys(S.steps[S.cursor - 1].changes) : []);
  renderVars(st.vars, changed);
  const pv = $("propvals");
  pv.replaceChildren();
  for (const p of st.properties) {
    // a goal not reached yet is pending (a liveness trace shows why it never is), not a violation
    const bad = p.kind === "invariant" || p.kind === "deadlock" ? "bad" : "pending";
    pv.append(el("li", { class: p.ok === false ? bad : p.ok === null ? "bad" : "ok" }, `${p.name}: ${p.text}`));
  }
  const box = $("succ");
  box.replaceChildren();
  $("nsucc").textContent = `(${st.successors.length})`;
  if (st.error) box.append(el("p", { class: "bad" }, "error: " + st.error));
  if (!st.successors.length) {
    box.append(el("p", {}, st.final ? "no step enabled: the final state" : "no step enabled: a deadlock"));
  }
  const next = S.steps[S.cursor];
  for (const s of st.successors) {
    const onPath = next && next.id === s.id && S.path[S.cursor + 1] === s.to;
    const b = el("button", { class: "succ" + (onPath ? " onpath" : ""), "data-id": String(s.id),
                             title: `${s.function} [${s.file}]: ${s.step}`, onclick: () => take(s) },
      el("span", { class: "actor" }, s.actor + ": "), s.action + (s.fair ? "" : " (not fair)"), changeList(s));
    box.append(b);
  }
}

function renderVars(vars, changed) {
  const scalars = vars.filter((v) => v.index === null);
  const arrays = new Map();
  for (const v of vars) if (v.index !== null) {
    if (!arrays.has(v.name)) arrays.set(v.name, []);
    arrays.get(v.name).push(v);
  }
  const box = $("vars");
  box.replaceChildren();
  if (arrays.size) {
    const width = Math.max(...[...arrays.values()].map((a) => a.length));
    const t = el("table", { id: "arrays" });
    t.append(el("tr", {}, el("th", {}, ""), ...Array.from({ length: width }, (_, i) => el("th", {}, `[${i}]`))));
    for (const [name, elems] of arrays) {
      t.append(el("tr", {}, el("th", {}, name), ...elems.map((v) =>
        el("td", { class: changed.has(`${name}[${v.index}]`) ? "changed" : "" }, v.value))));
    }
    box.append(t);
  }
  if (scalars.length) {
    const t = el("table", { id: "scalars" });
    for (const v of scalars) {
      t.append(el("tr", {}, el("th", {}, v.name), el("td", { class: changed.has(v.name) ? "changed" : "" }, v.value)));
    }
    box.append(el("div", { style: "margin-top: 0.5em" }, t));
  }
}

function render() {
  renderControls();
  renderTrace();
  renderState().catch(showError);
}

function showError(e) {
  $("status").textContent = "error: " + e.message;
  $("status").className = "branched";
}

// ---- moving along the path, and off it

function go(k) {
  S.cursor = Math.max(0, Math.min(k, S.steps.length));
  render();
}

function take(step) {
  const k = S.cursor;
  if (S.steps[k] && S.steps[k].id === step.id && S.path[k + 1] === step.to) return go(k + 1);
  if (S.cex && S.branchedAt === null) S.branchedAt = k;
  else if (S.branchedAt !== null && k < S.branchedAt) S.branchedAt = k;
  S.path = S.path.slice(0, k + 1).concat([step.to]);
  S.steps = S.steps.slice(0, k).concat([step]);
  go(k + 1);
}

function showCounterexample() {
  S.path = S.cex.states.slice();
  S.steps = S.cex.steps.slice();
  S.branchedAt = null;
  S.cursor = 0;
  $("text").textContent = S.cex.text;
  $("textview").hidden = false;
  render();
}

async function chooseProperty(name) {
  const cex = await api("/api/trace?property=" + encodeURIComponent(name));
  for (const b of $("props").children) b.classList.toggle("chosen", b.dataset.property === name);
  if (!cex.states) {
    S.cex = null;
    $("status").textContent = `${name}: ${cex.verdict} (${cex.strength})${cex.reason ? ": " + cex.reason : ""}; no counterexample to show`;
    return;
  }
  S.cex = cex;
  showCounterexample();
}

function startFrom(token) {
  S.cex = null;
  S.path = [token];
  S.steps = [];
  S.branchedAt = null;
  S.cursor = 0;
  $("textview").hidden = true;
  for (const b of $("props").children) b.classList.remove("chosen");
  render();
}

async function main() {
  S.model = await api("/api/model");
  $("title").textContent = S.model.title;
  document.title = "oomcheck explore: " + S.model.title;
  $("provenance").textContent = S.model.provenance;
  const initial = $("initial");
  S.model.initial.forEach((tok, i) => initial.append(el("option", { value: tok }, `initial state ${i + 1}`)));
  initial.addEventListener("change", () => { if (initial.value) startFrom(initial.value); });
  $("slider").addEventListener("input", (e) => go(Number(e.target.value)));
  $("first").addEventListener("click", () => go(0));
  $("prev").addEventListener("click", () => go(S.cursor - 1));
  $("next").addEventListener("click", () => go(S.cursor + 1));
  $("last").addEventListener("click", () => go(S.steps.length));
  $("restore").addEventListener("click", showCounterexample);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") go(S.cursor + 1);
    else if (e.key === "ArrowLeft") go(S.cursor - 1);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(S.steps.length);
  });
  $("status").textContent = "checking the properties...";
  const verdicts = await api("/api/verdicts");
  const props = $("props");
  for (const v of verdicts) {
    props.append(el("button", { class: v.verdict, "data-property": v.property, title: v.strength + (v.reason ? ": " + v.reason : ""),
                                onclick: () => chooseProperty(v.property).catch(showError) }, v.property));
  }
  const wanted = new URLSearchParams(location.search).get("property");
  const first = verdicts.find((v) => v.property === wanted && v.steps !== null) || verdicts.find((v) => v.steps !== null);
  if (first) await chooseProperty(first.property);
  else startFrom(S.model.initial[0]);
  document.body.dataset.ready = "1";
}

main().catch(showError);
