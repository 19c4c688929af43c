// DOM helpers of the dashboard. Data only ever enters the page as text nodes or attribute values
// set with setAttribute/property assignment: never innerHTML, outerHTML or insertAdjacentHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Text of a value for display: "" for null/undefined, the string otherwise. */
export function show(value) {
  return value === null || value === undefined ? "" : String(value);
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (/^on./i.test(key)) throw new Error(`Cannot set attribute "${key}": use "on"`);
    if (key === "className") node.setAttribute("class", String(value));
    else if (key === "on") {
      for (const [type, handler] of Object.entries(value)) node.addEventListener(type, handler);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  return node;
}

/** Creates an HTML element with attributes and children (strings become text nodes). */
export function el(tag, props, ...children) {
  return append(setProps(document.createElement(tag), props), children);
}

/** Creates an SVG element with attributes and children (strings become text nodes). */
export function svg(tag, props, ...children) {
  return append(setProps(document.createElementNS(SVG_NS, tag), props), children);
}

/** Replaces the children of the element with id `id`. */
export function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren();
  return append(node, children);
}

/** A status badge (allowed / blocked / error / pending: held for approval / other). */
export function statusBadge(status) {
  const known = ["allowed", "blocked", "error", "pending"].includes(status) ? status : "other";
  return el("span", { className: `badge badge-${known}` }, show(status));
}

/** A shortened id with the full value on hover; `keep` characters are shown. */
export function shortId(value, keep = 12) {
  const text = show(value);
  const shown = text.length > keep + 1 ? text.slice(0, keep) + "…" : text;
  return el("span", { className: "mono", title: text }, shown);
}

/** Formats milliseconds for display: two decimals below 100 ms, one above. */
export function formatMs(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "";
  return value < 100 ? value.toFixed(2) : value.toFixed(1);
}

/** Fetches JSON from the gateway's own origin; resolves to `{status, body}` (body null if not JSON). */
export async function getJson(path, init = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    cache: "no-store",
    ...init,
    headers: { accept: "application/json", ...(init.headers ?? {}) },
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body, headers: response.headers };
}
