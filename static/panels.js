// Policy and upstreams panels: rendered from GET /policy and GET /upstreams, as text only.
import { el, fill, shortId, show } from "./dom.js";

function list(values) {
  if (!Array.isArray(values) || values.length === 0) return el("span", { className: "muted" }, "—");
  return el("span", null, ...values.map((value) => el("code", { className: "chip" }, show(value))));
}

function schedule(rule) {
  const parts = [];
  if (rule.active_hours) parts.push(rule.active_hours.join(", "));
  if (rule.active_days) parts.push(rule.active_days.join(" "));
  if (rule.timezone) parts.push(rule.timezone);
  return parts.length === 0 ? el("span", { className: "muted" }, "any time") : parts.join(" · ");
}

function rates(rule) {
  const parts = [];
  if (rule.rate_limit?.per_model) parts.push(`model ${rule.rate_limit.per_model}`);
  if (rule.rate_limit?.per_session) parts.push(`session ${rule.rate_limit.per_session}`);
  return parts.length === 0 ? el("span", { className: "muted" }, "—") : parts.join(" · ");
}

function ruleRow(rule) {
  return el(
    "tr",
    null,
    el("td", { className: "num" }, String(Number(rule.index) + 1)),
    el("td", null, el("code", null, show(rule.model))),
    el("td", null, list(rule.allow_tools)),
    el("td", null, list(rule.deny_tools)),
    el(
      "td",
      { className: "num" },
      rule.max_calls_per_session === null ? "—" : show(rule.max_calls_per_session),
    ),
    el("td", null, schedule(rule)),
    el("td", null, rates(rule)),
  );
}

/** An error list (reload problems); each problem as one text item. */
export function errorList(errors) {
  const items = Array.isArray(errors) ? errors : [];
  return el("ul", { className: "errors" }, ...items.map((error) => el("li", null, show(error))));
}

function lastReload(last) {
  if (!last) return null;
  if (last.ok) {
    return el(
      "p",
      { className: "reload-ok" },
      `Last reload ${show(last.at)}: loaded policy ${show(last.policy_version)}.`,
    );
  }
  const count = Array.isArray(last.errors) ? last.errors.length : 0;
  return el(
    "div",
    { className: "reload-failed" },
    el(
      "p",
      null,
      `Last reload ${show(last.at)} failed (${count} problem${count === 1 ? "" : "s"}); `,
      "the policy in force is unchanged:",
    ),
    errorList(last.errors),
  );
}

/** Renders the policy panel from a GET /policy answer. */
export function renderPolicy(answer) {
  const policy = answer.policy ?? {};
  const open = policy.identity_mode === "open";
  const agents = Array.isArray(policy.agents)
    ? policy.agents.map((agent) =>
      el("li", null, el("code", null, show(agent.id)), " → ", list(agent.models))
    )
    : [];
  fill(
    "policy-facts",
    el("dt", null, "Version"),
    el("dd", null, el("code", null, show(answer.policy_version))),
    el("dt", null, "Identity"),
    el(
      "dd",
      null,
      el(
        "span",
        { className: open ? "badge badge-warn" : "badge badge-allowed" },
        open ? "open identity mode" : "agents",
      ),
    ),
    el("dt", null, "Unknown schema"),
    el("dd", null, show(policy.defaults?.unknown_schema)),
    el("dt", null, "Time zone"),
    el("dd", null, show(policy.defaults?.timezone ?? "server local time")),
    el("dt", null, "Pinning"),
    el("dd", null, show(policy.pinning?.mode)),
    agents.length > 0 ? el("dt", null, "Agents") : null,
    agents.length > 0 ? el("dd", null, el("ul", { className: "plain" }, ...agents)) : null,
  );
  const rules = Array.isArray(policy.rules) ? policy.rules : [];
  fill(
    "rules-body",
    ...rules.map(ruleRow),
    rules.length === 0
      ? el(
        "tr",
        null,
        el("td", { colspan: 7, className: "note" }, "No rules: every call is refused."),
      )
      : null,
  );
  fill("last-reload", lastReload(answer.last_reload));
}

/** Renders the answer of POST /reload (200 or 400 with `errors`). */
export function renderReloadResult(status, body) {
  const at = new Date().toLocaleTimeString();
  if (status === 200 && body?.reloaded === true) {
    fill(
      "reload-result",
      el(
        "p",
        { className: "reload-ok" },
        `${at}: reloaded, policy ${show(body.policy_version)} (${show(body.rules)} rules).`,
      ),
    );
    return;
  }
  const reason = body?.reason ?? `the gateway answered HTTP ${status}`;
  fill(
    "reload-result",
    el(
      "div",
      { className: "reload-failed", role: "alert" },
      el("p", null, `${at}: ${show(reason)}`),
      errorList(body?.errors),
    ),
  );
}

const PIN_LABELS = { pinned: "pinned", changed: "changed", new: "new" };

function toolRow(tool, onApprove) {
  const state = show(tool.pin_state);
  const known = ["pinned", "changed", "new"].includes(state) ? state : "other";
  // A description flagged as tool poisoning (§15) and hidden waits for the same approval.
  const poisoned = Array.isArray(tool.poisoning) && tool.poisoning.length > 0;
  const action = state === "changed" || (poisoned && tool.hidden)
    ? el("button", {
      type: "button",
      className: "approve",
      on: { click: () => onApprove(show(tool.name)) },
    }, "Approve")
    : null;
  return el(
    "tr",
    null,
    el("td", { className: "mono" }, show(tool.name)),
    el(
      "td",
      null,
      el("span", { className: `badge pin-${known}` }, PIN_LABELS[state] ?? state),
      poisoned
        ? el(
          "span",
          { className: "tag scan", title: tool.poisoning.map(show).join(", ") },
          "poisoning",
        )
        : null,
      tool.hidden
        ? el("span", { className: "muted hidden-why" }, ` hidden: ${show(tool.hidden)}`)
        : null,
    ),
    el("td", null, shortId(tool.hash, 12)),
    el("td", null, action),
  );
}

function upstreamCard(upstream, onApprove) {
  const status = show(upstream.status ?? "unknown");
  const tools = Array.isArray(upstream.tools) ? upstream.tools : null;
  const target = upstream.url ??
    (Array.isArray(upstream.command) ? upstream.command.join(" ") : null);
  return el(
    "article",
    { className: "upstream" },
    el(
      "h3",
      null,
      el("span", { className: "mono" }, show(upstream.name)),
      " ",
      el("span", {
        className: `badge up-${
          ["up", "down", "starting", "idle"].includes(status) ? status : "other"
        }`,
      }, status),
    ),
    el(
      "p",
      { className: "muted" },
      `${show(upstream.kind)} · prefix `,
      el("code", null, upstream.prefix === "" ? '""' : show(upstream.prefix)),
      target ? el("span", { className: "mono target" }, ` · ${show(target)}`) : null,
    ),
    upstream.error ? el("p", { className: "reload-failed" }, show(upstream.error)) : null,
    tools === null
      ? el("p", { className: "note" }, "Tools and pins are not available from this gateway yet.")
      : tools.length === 0
      ? el("p", { className: "note" }, "No tools listed yet.")
      : el(
        "div",
        { className: "scroll-x" },
        el(
          "table",
          { className: "tools" },
          el(
            "thead",
            null,
            el(
              "tr",
              null,
              el("th", null, "Tool"),
              el("th", null, "Pin"),
              el("th", null, "Hash"),
              el("th", null, ""),
            ),
          ),
          el("tbody", null, ...tools.map((tool) => toolRow(tool, onApprove))),
        ),
      ),
  );
}

/** Renders the upstreams panel; `upstreams` null means none configured. */
export function renderUpstreams(upstreams, onApprove) {
  if (!Array.isArray(upstreams) || upstreams.length === 0) {
    fill("upstreams-body", el("p", { className: "note" }, "No upstreams configured"));
    return;
  }
  fill("upstreams-body", ...upstreams.map((upstream) => upstreamCard(upstream, onApprove)));
}
