// The live event table and the event details dialog. Event values are set as text only.
import { el, formatMs, show, statusBadge } from "./dom.js";
import { SCAN_CODES } from "./store.js";

/** Fields of the details dialog, in the audit log's order (§6). */
const DETAIL_FIELDS = [
  "timestamp",
  "event_id",
  "event",
  "status",
  "reason_code",
  "reason",
  "agent_id",
  "model_id",
  "session_id",
  "tool_name",
  "latency_ms",
  "upstream_ms",
  "policy_version",
  "gateway_id",
  "payload_sha256",
  "payload_truncated",
  "prev_hash",
  "hash",
];

const MONO_FIELDS = ["event_id", "session_id", "payload_sha256", "prev_hash", "hash"];

/** Builds the table row of one held entry (cached on the entry). */
export function rowOf(entry, onOpen) {
  if (entry.row) return entry.row;
  const event = entry.event;
  const timestamp = show(event.timestamp);
  const tool = el("td", { className: "col-tool" }, show(event.tool_name));
  if (event.event !== "toolcall") {
    tool.append(" ", el("span", { className: "tag" }, show(event.event)));
  }
  const row = el(
    "tr",
    {
      tabindex: 0,
      className: `row-${
        ["allowed", "blocked", "error"].includes(event.status) ? event.status : "other"
      }`,
    },
    el(
      "td",
      {
        className: "col-time mono",
        title: event.gateway_id ? `${timestamp} · ${show(event.gateway_id)}` : timestamp,
      },
      timestamp.slice(11, 23),
      // Several replicas (§13): which one wrote the line.
      event.gateway_id
        ? [" ", el("span", { className: "tag replica" }, show(event.gateway_id))]
        : null,
    ),
    el(
      "td",
      { className: "col-status" },
      statusBadge(event.status),
      // Result scanning (§15): redacted, flagged or withheld by a detector.
      SCAN_CODES.has(event.reason_code)
        ? [" ", el("span", { className: "tag scan", title: show(event.reason_code) }, "scan")]
        : null,
    ),
    el("td", { className: "col-model" }, show(event.model_id)),
    el("td", { className: "col-session mono" }, show(event.session_id)),
    tool,
    el(
      "td",
      { className: "col-reason", title: show(event.reason) },
      el(
        "div",
        { className: "clamp" },
        el("span", { className: "code" }, show(event.reason_code)),
        " ",
        show(event.reason),
      ),
    ),
    el("td", { className: "col-latency num" }, formatMs(event.latency_ms)),
  );
  const open = () => onOpen(entry);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (key) => {
    if (key.key === "Enter" || key.key === " ") {
      key.preventDefault();
      open();
    }
  });
  entry.row = row;
  return row;
}

/** Marks a row as new for a moment (CSS fades it out). */
export function flash(entry) {
  if (!entry.row) return;
  entry.row.classList.add("fresh");
  setTimeout(() => entry.row.classList.remove("fresh"), 2500);
}

function payloadText(event) {
  if (event.payload === null || event.payload === undefined) return "(no payload)";
  if (typeof event.payload === "string" && event.payload_truncated === true) {
    return event.payload;
  }
  return JSON.stringify(event.payload, null, 2);
}

/** Fills and opens the details dialog for one event. */
export function openDetails(dialog, entry) {
  const event = entry.event;
  const fields = el("dl", { className: "fields" });
  for (const name of DETAIL_FIELDS) {
    if (name === "payload_truncated" && event.payload_truncated !== true) continue;
    const value = event[name];
    const text = name === "latency_ms" || name === "upstream_ms"
      ? (typeof value === "number" ? `${value} ms` : "—")
      : value === null || value === undefined
      ? "—"
      : show(value);
    fields.append(
      el("dt", null, name),
      el("dd", { className: MONO_FIELDS.includes(name) ? "mono" : null }, text),
    );
  }
  const truncated = event.payload_truncated === true
    ? el("p", { className: "note" }, "Payload truncated to its first 8 KiB of JSON text.")
    : null;
  dialog.querySelector(".details-title").replaceChildren(
    statusBadge(event.status),
    " ",
    show(event.event),
    event.tool_name ? ` · ${show(event.tool_name)}` : "",
  );
  const body = [fields, el("h3", null, "Payload (redacted)"), truncated];
  body.push(el("pre", { className: "payload" }, payloadText(event)));
  dialog.querySelector(".details-body").replaceChildren(...body.filter((node) => node !== null));
  if (!dialog.open) dialog.showModal();
}
