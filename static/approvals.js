// Held calls waiting for a person (§15): listed live with their redacted input, agent, model,
// session and age, each with a note field and Approve / Deny. Rendered as text only (dom.js).
// Cards are kept by approval id between refreshes, so a note being typed is never wiped.
import { el, getJson, shortId, show } from "./dom.js";

const cards = new Map();

function age(ms) {
  const seconds = Math.max(0, Math.floor(Number(ms) / 1000) || 0);
  return seconds < 120 ? `${seconds} s` : `${Math.floor(seconds / 60)} min`;
}

/** The input as indented JSON when it parses (a cut one is shown as it came). */
function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return show(text);
  }
}

function fact(label, value) {
  return el("div", null, el("dt", null, label), el("dd", null, value));
}

function card(item, onDecide) {
  const id = show(item.approval_id);
  const note = el("input", {
    type: "text",
    className: "approval-note",
    maxlength: "500",
    placeholder: "note (why)",
    "aria-label": `Note for ${show(item.tool_name)}`,
    autocomplete: "off",
  });
  const ageNode = el("dd", { className: "approval-age" }, age(item.age_ms));
  const status = el("p", { className: "approval-status", role: "status" });
  const buttons = ["approve", "deny"].map((decision) =>
    el("button", {
      type: "button",
      className: decision === "approve" ? "approve" : "deny",
      on: {
        click: () => onDecide(id, decision, note.value, { buttons, status }),
      },
    }, decision === "approve" ? "Approve" : "Deny")
  );
  const node = el(
    "li",
    { className: "approval", "data-approval-id": id },
    el(
      "div",
      { className: "approval-head" },
      el("strong", { className: "mono" }, show(item.tool_name)),
    ),
    el(
      "dl",
      { className: "approval-facts" },
      fact("Agent", show(item.agent_id ?? "(open mode)")),
      fact("Model", show(item.model_id)),
      fact("Session", shortId(item.session_id, 16)),
      el("div", null, el("dt", null, "Waiting"), ageNode),
    ),
    el("pre", { className: "approval-input" }, pretty(show(item.input))),
    el("div", { className: "approval-actions" }, note, ...buttons),
    status,
  );
  return { node, ageNode };
}

/** Shows the pending approvals: new ones added, decided or expired ones removed, ages updated. */
export function renderApprovals(list, onDecide) {
  const items = Array.isArray(list) ? list : [];
  const seen = new Set();
  const box = document.getElementById("approvals-list");
  for (const item of items) {
    const id = show(item?.approval_id);
    if (!/^[0-9a-f]{32}$/.test(id)) continue;
    seen.add(id);
    const known = cards.get(id);
    if (known) {
      known.ageNode.textContent = age(item.age_ms);
      continue;
    }
    const made = card(item, onDecide);
    cards.set(id, made);
    box.append(made.node);
  }
  for (const [id, known] of cards) {
    if (seen.has(id)) continue;
    known.node.remove();
    cards.delete(id);
  }
  document.getElementById("approvals-panel").hidden = cards.size === 0;
  document.getElementById("approvals-count").textContent = `${cards.size} waiting`;
}

/** Sends one decision (JSON, same origin: the §12 CSRF rules) and says how it went. */
export async function decide(id, decision, note, { buttons, status }) {
  for (const button of buttons) button.disabled = true;
  const { status: http, body } = await getJson(`/approvals/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ decision, note }),
  });
  const ok = http === 200;
  status.textContent = ok
    ? `${decision === "approve" ? "Approved" : "Denied"}.`
    : `Failed: ${show(body?.reason ?? `HTTP ${http}`)}`;
  status.className = `approval-status ${ok ? "reload-ok" : "reload-failed"}`;
  if (!ok) { for (const button of buttons) button.disabled = false; }
  return http;
}
