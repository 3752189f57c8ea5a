// The review page's keyboard: j/k move, y/n decide, u undo (alerts); h/l choose a member (clusters).
// Every decision is a POST carrying the CSRF token of the page's <meta name="csrftoken">.
"use strict";

const csrf = document.querySelector('meta[name="csrftoken"]').content;
const status = document.getElementById("status");
const mode = document.body.dataset.mode;
const items = [...document.querySelectorAll(mode === "alerts" ? ".pair" : ".cluster")];
const undoStack = [];
let current = 0;

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrftoken": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `${response.status} ${response.statusText}`);
  return answer;
}

function say(text) {
  status.textContent = text;
}

function select(index) {
  if (!items.length) return;
  current = Math.max(0, Math.min(items.length - 1, index));
  items.forEach((item, i) => item.classList.toggle("selected", i === current));
  items[current].scrollIntoView({ block: "nearest" });
}

function move(step) {
  const next = current + step;
  const link = document.querySelector(step > 0 ? 'a[rel="next"]' : 'a[rel="prev"]');
  if ((next < 0 || next >= items.length) && link) window.location = link.href;
  else select(next);
}

// The alerts page.

async function decide(verdict) {
  const pair = items[current];
  if (!pair) return;
  const bank = verdict === "duplicate" ? document.getElementById("bank").value.trim() : "";
  try {
    const answer = await post("/decisions", { alert_id: pair.dataset.alert, verdict, bank });
    undoStack.push({ index: current, decision: answer.decision_id, state: pair.dataset.state });
    showState(pair, verdict);
    say(answer.bank
      ? `duplicate; the match joins bank ${answer.bank} at the stream's next micro-batch (unless it is in a bank already)`
      : verdict.replace("_", " "));
    move(1);
  } catch (error) {
    say(`not saved: ${error.message}`);
  }
}

async function undo() {
  const last = undoStack.pop();
  if (!last) return say("nothing to undo");
  try {
    if (mode === "alerts") {
      await post("/undo", { decision_id: last.decision });
      showState(items[last.index], last.state);
    } else {
      const answer = await post("/keep", { cluster: last.index, keep: last.keep, undecide: last.undecide });
      showKeep(items[last.index], last.undecide ? "" : String(last.keep ?? "all"), answer.removals);
    }
    select(last.index);
    say("undone");
  } catch (error) {
    undoStack.push(last);
    say(`not undone: ${error.message}`);
  }
}

function showState(pair, state) {
  pair.dataset.state = state;
  pair.querySelector(".state").textContent = state.replace("_", " ");
}

const views = ["side", "overlay", "diff"];

function view(name) {
  views.forEach((v) => document.body.classList.toggle(`view-${v}`, v === name));
}

// The clusters page.

function chosen(cluster) {
  return Number(cluster.dataset.choice ?? cluster.dataset.suggested);
}

function highlight(cluster, member) {
  const figures = cluster.querySelectorAll(".member");
  const index = Math.max(0, Math.min(figures.length - 1, member));
  cluster.dataset.choice = index;
  figures.forEach((figure, i) => figure.classList.toggle("chosen", i === index));
}

function showKeep(cluster, keep, count) {
  cluster.dataset.keep = keep;
  cluster.querySelectorAll(".member").forEach((figure, i) => {
    const verdict = keep === "" ? "" : keep === "all" || Number(keep) === i ? "keep" : "remove";
    figure.querySelector(".verdict").textContent = verdict;
    figure.dataset.verdict = verdict;
  });
  if (count !== null) document.getElementById("removal-count").textContent = count;
}

async function keep(member) {
  const cluster = items[current];
  if (!cluster) return;
  const previous = cluster.dataset.keep;
  try {
    const answer = await post("/keep", { cluster: current, keep: member });
    undoStack.push({
      index: current,
      undecide: previous === "",
      keep: previous === "all" || previous === "" ? null : Number(previous),
    });
    showKeep(cluster, member === null ? "all" : String(member), answer.removals);
    say(member === null ? "kept all" : `keeping ${cluster.querySelectorAll(".member")[member].querySelector(".path").textContent}`);
    move(1);
  } catch (error) {
    say(`not saved: ${error.message}`);
  }
}

const keys = {
  alerts: {
    j: () => move(1),
    k: () => move(-1),
    y: () => decide("duplicate"),
    n: () => decide("not_duplicate"),
    u: undo,
    v: () => view(views[(views.findIndex((v) => document.body.classList.contains(`view-${v}`)) + 1) % 3]),
  },
  clusters: {
    j: () => move(1),
    k: () => move(-1),
    h: () => highlight(items[current], chosen(items[current]) - 1),
    l: () => highlight(items[current], chosen(items[current]) + 1),
    y: () => keep(chosen(items[current])),
    n: () => keep(null),
    u: undo,
  },
}[mode];

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const action = keys[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-verdict], button[data-view], .member");
  if (!button) return;
  const item = button.closest(".pair, .cluster");
  if (item) select(items.indexOf(item));
  if (button.dataset.verdict) decide(button.dataset.verdict);
  else if (button.dataset.view) view(button.dataset.view);
  else highlight(item, Number(button.dataset.member));
});

if (mode === "clusters") {
  items.forEach((cluster) => {
    highlight(cluster, Number(cluster.dataset.suggested));
    showKeep(cluster, cluster.dataset.keep, null);
  });
}
select(0);
