// MCP-Sec Gateway dashboard (first table). Event data is only ever set through textContent.
"use strict";

const body = document.querySelector("#events tbody");
const pauseButton = document.getElementById("pause");
const policyLabel = document.getElementById("policy");
let paused = false;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function render(events) {
  const rows = events.slice().reverse().map((event) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(event.timestamp),
      cell(event.status, "status-" + String(event.status).replace(/[^a-z]/g, "")),
      cell(event.model_id),
      cell(event.session_id),
      cell(event.tool_name),
      cell(event.reason_code + ": " + event.reason),
      cell(event.latency_ms),
    );
    return tr;
  });
  body.replaceChildren(...rows);
}

async function refresh() {
  if (paused) return;
  try {
    const [logs, health] = await Promise.all([
      fetch("/logs?limit=200", { credentials: "same-origin" }),
      fetch("/healthz"),
    ]);
    if (logs.ok) render(await logs.json());
    if (health.ok) {
      const h = await health.json();
      policyLabel.textContent = "policy " + h.policy_version + " · " + h.identity_mode +
        " identity · " + h.status;
    }
  } catch {
    policyLabel.textContent = "gateway unreachable";
  }
}

pauseButton.addEventListener("click", () => {
  paused = !paused;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  if (!paused) refresh();
});

refresh();
setInterval(refresh, 2000);
