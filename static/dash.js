// MCP-Sec Gateway dashboard (§10): polls the gateway's own admin endpoints and renders them.
// Everything that comes from events, policy or upstreams is rendered as text (see dom.js).
import { el, fill, getJson, shortId, show } from "./dom.js";
import { flash, openDetails, rowOf } from "./table.js";
import { renderCounter, renderLatency, renderReasons, renderTotals } from "./summary.js";
import { renderPolicy, renderReloadResult, renderUpstreams } from "./panels.js";
import { decide, renderApprovals } from "./approvals.js";
import {
  createStore,
  eventKey,
  latencySeries,
  matchesFilters,
  MAX_ROWS,
  normalizeFilters,
  sinceParam,
  tally,
} from "./store.js";

const POLL_MS = 2000;
const OVERLAP_MS = 2000; // events stamped in the same instant as the newest one are fetched again
const WIDE_OVERLAP_MS = 35000; // now and then: catch events that were audited late (slow upstreams)
const WIDE_EVERY = 15;
const POLICY_EVERY = 15;
const LOG_LIMIT = 1000;

const store = createStore();
const pending = new Map();
const byId = (id) => document.getElementById(id);
const inputs = {
  status: byId("f-status"),
  model: byId("f-model"),
  tool: byId("f-tool"),
  session: byId("f-session"),
  text: byId("f-text"),
};
const pauseButton = byId("pause");
const details = byId("details");

let paused = false;
let signedOut = false;
let loaded = false;
let polls = 0;
let failures = 0;
let newestSeen = null;
let healthVersion = null;
let health = null;
let configuredUpstreams = [];

function render() {
  const filters = normalizeFilters({
    status: inputs.status.value,
    model: inputs.model.value,
    tool: inputs.tool.value,
    session: inputs.session.value,
    text: inputs.text.value,
  });
  const all = store.entries();
  const shown = all.filter((entry) => matchesFilters(entry, filters));
  byId("events-body").replaceChildren(...shown.map((entry) => rowOf(entry, showDetails)));
  byId("table-empty").hidden = shown.length > 0;
  byId("table-empty").textContent = all.length === 0
    ? (loaded ? "No events yet. Calls to the gateway appear here within seconds." : "Loading…")
    : "No events match the filters.";
  byId("shown-count").textContent = shown.length === all.length
    ? `${all.length} events`
    : `${shown.length} of ${all.length} events`;
  const counts = tally(shown);
  renderTotals("totals", counts);
  renderCounter("by-model", counts.models, (name) => pick(inputs.model, name));
  renderCounter("by-tool", counts.tools, (name) => pick(inputs.tool, name));
  renderReasons("reasons", counts.reasons);
  renderLatency("latency", latencySeries(shown));
}

function pick(input, value) {
  input.value = value;
  render();
}

function showDetails(entry) {
  for (const row of byId("events-body").querySelectorAll("tr.selected")) {
    row.classList.remove("selected");
  }
  entry.row?.classList.add("selected");
  openDetails(details, entry);
}

function setLive(text, state) {
  const node = byId("live-state");
  node.textContent = text;
  node.className = `live live-${state}`;
}

function signOut() {
  signedOut = true;
  byId("signed-out").hidden = false;
  setLive("signed out", "down");
  pauseButton.disabled = true;
}

function showPending() {
  const node = byId("pending");
  node.hidden = !paused || pending.size === 0;
  node.textContent = `${pending.size} new event${pending.size === 1 ? "" : "s"} waiting`;
}

/** Several replicas (§13): says whose events /logs could not read (text only). */
function showMissingReplicas(missing) {
  const node = byId("replicas-missing");
  node.hidden = missing === "";
  node.textContent = missing === "*"
    ? "The shared store (Redis) cannot be reached: only this replica's events are shown."
    : `Events of replica ${
      missing.split(",").join(", ")
    } cannot be read right now; the others are shown.`;
}

async function pollLogs() {
  const overlap = polls % WIDE_EVERY === 0 ? WIDE_OVERLAP_MS : OVERLAP_MS;
  const since = sinceParam(newestSeen, overlap);
  const query = `limit=${LOG_LIMIT}${since === null ? "" : `&since=${encodeURIComponent(since)}`}`;
  const { status, body, headers } = await getJson(`/logs?${query}`);
  if (status === 401) return signOut();
  if (status !== 200 || !Array.isArray(body)) throw new Error(`Cannot read /logs: HTTP ${status}`);
  showMissingReplicas(headers.get("x-logs-unavailable") ?? "");
  const fresh = body.filter((event) =>
    event && typeof event === "object" && !store.has(eventKey(event)) &&
    !pending.has(eventKey(event))
  );
  for (const event of fresh) {
    const time = Date.parse(String(event.timestamp));
    if (Number.isFinite(time) && (newestSeen === null || time > newestSeen)) newestSeen = time;
  }
  byId("gap").hidden =
    !(since !== null && body.length >= LOG_LIMIT && fresh.length === body.length);
  if (paused && loaded) {
    for (const event of fresh) pending.set(eventKey(event), event);
    for (const id of pending.keys()) {
      if (pending.size <= MAX_ROWS) break;
      pending.delete(id); // the oldest held back go first
    }
    showPending();
    return;
  }
  const added = store.add(fresh);
  const first = !loaded;
  loaded = true;
  if (added.length > 0 || first) {
    // Someone reading further down keeps their place while new rows arrive on top.
    const box = byId("table-box");
    const top = box.scrollTop;
    const height = box.scrollHeight;
    render();
    if (top > 0) box.scrollTop = top + (box.scrollHeight - height);
  }
  if (!first) { for (const entry of added) flash(entry); }
  if (!first && added.some((entry) => entry.event.event === "policy_reload")) {
    await refreshPolicy();
  }
}

async function pollHealth() {
  const { status, body } = await getJson("/healthz");
  if (status !== 200 || body === null) throw new Error(`Cannot read /healthz: HTTP ${status}`);
  health = body;
  fill("h-policy", el("code", null, show(body.policy_version)));
  const open = body.identity_mode === "open";
  fill(
    "h-identity",
    el(
      "span",
      {
        className: open ? "badge badge-warn" : "badge badge-allowed",
        title: open
          ? "Callers declare their model_id; configure agents: before exposing the gateway"
          : null,
      },
      open ? "⚠ open identity mode" : "agents",
    ),
  );
  fill(
    "h-health",
    el(
      "span",
      { className: body.status === "ok" ? "badge badge-allowed" : "badge badge-blocked" },
      show(body.status),
    ),
  );
  fill("h-head", shortId(body.audit_head, 12));
  if (healthVersion !== null && healthVersion !== body.policy_version) await refreshPolicy();
  healthVersion = body.policy_version;
}

async function refreshPolicy() {
  const { status, body } = await getJson("/policy");
  if (status === 401) return signOut();
  if (status !== 200 || body === null) throw new Error(`Cannot read /policy: HTTP ${status}`);
  renderPolicy(body);
  configuredUpstreams = Array.isArray(body.policy?.upstreams) ? body.policy.upstreams : [];
  await refreshUpstreams();
}

async function refreshUpstreams() {
  // Only asked when the policy configures upstreams (an unanswered route would log a 404).
  if (configuredUpstreams.length === 0) return renderUpstreams([], approve);
  const { status, body } = await getJson("/upstreams");
  if (status === 401) return signOut();
  if (status === 200 && Array.isArray(body?.upstreams)) {
    // The policy knows each upstream's URL or command; /upstreams knows its state and tools.
    const configured = new Map(configuredUpstreams.map((upstream) => [upstream.name, upstream]));
    return renderUpstreams(
      body.upstreams.map((upstream) => {
        const known = configured.get(upstream?.name);
        return { url: known?.url, command: known?.command, ...upstream };
      }),
      approve,
    );
  }
  renderUpstreams(
    configuredUpstreams.map((upstream) => ({
      ...upstream,
      status: health?.upstreams?.[upstream.name] ?? "unknown",
      tools: null,
    })),
    approve,
  );
}

async function approve(tool) {
  const { status, body } = await getJson("/pins/approve", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tool }),
  });
  if (status === 401) return signOut();
  const ok = status >= 200 && status < 300;
  fill(
    "upstreams-result",
    el(
      "p",
      { className: ok ? "reload-ok" : "reload-failed", role: ok ? null : "alert" },
      ok
        ? `Approved ${tool}.`
        : `Approving ${tool} failed: ${show(body?.reason ?? `HTTP ${status}`)}`,
    ),
  );
  await refreshUpstreams();
}

async function pollApprovals() {
  const { status, body } = await getJson("/approvals");
  if (status === 401) return signOut();
  if (status !== 200 || !Array.isArray(body?.approvals)) {
    throw new Error(`Cannot read /approvals: HTTP ${status}`);
  }
  renderApprovals(body.approvals, onDecide);
}

async function onDecide(id, decision, note, parts) {
  const status = await decide(id, decision, note, parts);
  if (status === 401) return signOut();
  await pollApprovals().catch(() => {});
}

async function reloadNow() {
  const button = byId("reload");
  button.disabled = true;
  try {
    // Admin changes are JSON from this origin only (§12, CSRF).
    const { status, body } = await getJson("/reload", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    if (status === 401) return signOut();
    renderReloadResult(status, body);
    await refreshPolicy();
  } catch {
    renderReloadResult(0, { reason: "the gateway could not be reached" });
  } finally {
    button.disabled = false;
  }
}

async function loop() {
  let delay = POLL_MS;
  try {
    const work = [pollLogs(), pollHealth(), pollApprovals()];
    if (polls % POLICY_EVERY === 0) work.push(refreshPolicy());
    await Promise.all(work);
    failures = 0;
    if (!signedOut) {
      setLive(
        paused ? "paused" : `live · ${new Date().toLocaleTimeString()}`,
        paused ? "paused" : "up",
      );
    }
  } catch {
    failures++;
    delay = Math.min(15000, POLL_MS * 2 ** failures);
    if (!signedOut) setLive("gateway unreachable — retrying", "down");
  }
  polls++;
  if (!signedOut) setTimeout(loop, delay);
}

pauseButton.addEventListener("click", () => {
  paused = !paused;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  pauseButton.setAttribute("aria-pressed", String(paused));
  setLive(paused ? "paused" : "live", paused ? "paused" : "up");
  if (!paused && pending.size > 0) {
    const added = store.add([...pending.values()]);
    pending.clear();
    render();
    for (const entry of added) flash(entry);
  }
  showPending();
});

for (const input of Object.values(inputs)) input.addEventListener("input", render);
byId("clear-filters").addEventListener("click", () => {
  inputs.status.value = "all";
  for (const input of [inputs.model, inputs.tool, inputs.session, inputs.text]) input.value = "";
  render();
});
byId("reload").addEventListener("click", reloadNow);
byId("details-close").addEventListener("click", () => details.close());
details.addEventListener("click", (click) => {
  if (click.target === details) details.close();
});

render();
loop();
