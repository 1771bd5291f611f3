// The live-calls dashboard: one WebSocket of board updates (see rtvoice_gateway/web/board.py).
"use strict";

const MAX_FINISHED = 100;
const live = new Map(); // call_sid -> call view
let skew = 0; // server clock minus ours, seconds
let renderQueued = false;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function cost(usage) {
  if (!usage || usage.cost_usd === undefined) return "–";
  return `$${usage.cost_usd.toFixed(4)}${usage.cost_complete ? "" : "+"}`;
}

function tokens(usage) {
  if (!usage || usage.input_tokens === undefined) return "–";
  return `${usage.input_tokens} in / ${usage.output_tokens} out`;
}

function serverNow() {
  return Date.now() / 1000 + skew;
}

function upsert(list, item) {
  const at = list.findIndex((x) => x.id === item.id);
  if (at >= 0) list[at] = item;
  else list.push(item);
}

function apply(update) {
  skew = update.now - Date.now() / 1000;
  switch (update.type) {
    case "snapshot":
      live.clear();
      for (const call of update.live) live.set(call.call_sid, call);
      document.getElementById("finished").replaceChildren();
      for (const call of update.finished.slice().reverse()) addFinished(call);
      break;
    case "call": {
      const known = live.get(update.call.call_sid);
      if (known) Object.assign(known, update.call);
      else live.set(update.call.call_sid, { lines: [], tools: [], latencies_ms: [], ...update.call });
      break;
    }
    case "line": {
      const call = live.get(update.call_sid);
      if (call) upsert(call.lines, update.line);
      break;
    }
    case "tool": {
      const call = live.get(update.call_sid);
      if (call) upsert(call.tools, update.tool);
      break;
    }
    case "latency": {
      const call = live.get(update.call_sid);
      if (call) call.latencies_ms.push(update.ms);
      break;
    }
    case "ended":
      live.delete(update.call.call_sid);
      addFinished(update.call);
      break;
  }
  scheduleRender();
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    renderLive();
  }, 30);
}

function transcript(call) {
  const list = el("ol", { class: "transcript" });
  for (const line of call.lines) {
    const who = { "barge-in": "", keys: "caller" }[line.role] ?? line.role;
    list.append(
      el("li", { class: `${line.role}${line.partial ? " partial" : ""}` },
        el("span", { class: "who" }, who), el("span", { class: "text" }, line.text)),
    );
  }
  return list;
}

function latencyChart(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "latency");
  svg.setAttribute("viewBox", "0 0 360 70");
  svg.setAttribute("preserveAspectRatio", "none");
  const shown = values.slice(-34);
  const top = Math.ceil(Math.max(50, ...shown) * 1.2);
  shown.forEach((ms, i) => {
    const h = Math.max(1, (ms / top) * 56);
    const bar = document.createElementNS(svg.namespaceURI, "rect");
    bar.setAttribute("x", String(4 + i * 10));
    bar.setAttribute("y", String(66 - h));
    bar.setAttribute("width", "7");
    bar.setAttribute("height", String(h));
    const tip = document.createElementNS(svg.namespaceURI, "title");
    tip.textContent = `turn ${values.length - shown.length + i + 1}: ${ms} ms`;
    bar.append(tip);
    svg.append(bar);
  });
  const label = document.createElementNS(svg.namespaceURI, "text");
  label.setAttribute("x", "354");
  label.setAttribute("y", "10");
  label.setAttribute("text-anchor", "end");
  label.textContent = shown.length ? `last ${shown[shown.length - 1]} ms · scale ${top} ms` : "no turns yet";
  svg.append(label);
  return svg;
}

function toolTable(tools) {
  if (!tools.length) return el("p", { class: "empty" }, "none");
  const body = el("tbody");
  for (const tool of tools) {
    body.append(el("tr", { class: `tool ${tool.status}` },
      el("td", {}, tool.name), el("td", {}, tool.status + (tool.error ? `: ${tool.error}` : "")),
      el("td", { class: "num" }, tool.duration_ms === null ? "…" : `${tool.duration_ms} ms`)));
  }
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Tool"), el("th", {}, "Result"),
    el("th", { class: "num" }, "Took"))), body);
}

function renderLive() {
  const box = document.getElementById("live");
  document.getElementById("live-count").textContent = String(live.size);
  if (!live.size) {
    box.replaceChildren(el("p", { class: "empty" }, "No calls right now."));
    return;
  }
  const cards = [];
  for (const call of live.values()) {
    const head = el("div", { class: "head" },
      el("span", { class: "number" }, call.number),
      el("span", {}, `agent ${call.agent}`),
      el("span", {}, `from ${call.from}`),
      el("span", { class: "duration", "data-start": String(call.started_at) }, duration(serverNow() - call.started_at)),
      el("span", {}, `barge-ins ${call.barge_ins}`),
      el("span", {}, tokens(call.usage)),
      el("span", {}, cost(call.usage)),
      el("span", { class: "state pill on" }, call.state));
    const side = el("div", { class: "side" },
      el("section", {}, el("h3", {}, "Latency per turn (speech end → response)"), latencyChart(call.latencies_ms)),
      el("section", {}, el("h3", {}, "Tool calls"), toolTable(call.tools)));
    const body = el("div", { class: "body" }, transcript(call), side);
    cards.push(el("article", { class: "call", "data-sid": call.call_sid }, head, body));
  }
  const scrolls = new Map();
  for (const list of box.querySelectorAll(".call")) {
    const t = list.querySelector(".transcript");
    if (t) scrolls.set(list.dataset.sid, t.scrollTop + t.clientHeight >= t.scrollHeight - 4);
  }
  box.replaceChildren(...cards);
  for (const card of cards) {
    const t = card.querySelector(".transcript");
    if (scrolls.get(card.dataset.sid) !== false) t.scrollTop = t.scrollHeight;
  }
}

function addFinished(call) {
  const body = document.getElementById("finished");
  document.getElementById("finished-empty").hidden = true;
  document.getElementById("finished-table").hidden = false;
  const when = new Date(call.ended_at * 1000).toLocaleTimeString();
  const recording = call.recording
    ? el("audio", { controls: "", preload: "none", src: `/dashboard/recordings/${encodeURIComponent(call.call_sid)}` })
    : "–";
  const details = el("details", {}, el("summary", {}, `${call.lines.length} lines`), transcript(call));
  const row = el("tr", { "data-sid": call.call_sid },
    el("td", {}, when), el("td", {}, call.number), el("td", {}, call.agent),
    el("td", { class: "num" }, duration(call.ended_at - call.started_at)), el("td", {}, call.ended_by),
    el("td", { class: "num" }, String(call.barge_ins)), el("td", { class: "num" }, cost(call.usage)),
    el("td", {}, details), el("td", {}, recording));
  body.prepend(row);
  while (body.children.length > MAX_FINISHED) body.lastElementChild.remove();
}

function connect() {
  const status = document.getElementById("connection");
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/dashboard/events`);
  ws.onopen = () => { status.textContent = "live"; status.className = "pill on"; };
  ws.onmessage = (message) => apply(JSON.parse(message.data));
  ws.onclose = () => {
    status.textContent = "reconnecting";
    status.className = "pill off";
    setTimeout(connect, 2000);
  };
}

setInterval(() => {
  for (const span of document.querySelectorAll("#live .duration")) {
    span.textContent = duration(serverNow() - Number(span.dataset.start));
  }
}, 1000);

connect();
