// Counters (per model, per tool, refusal reasons) and the latency chart, as plain DOM and SVG.
import { el, fill, formatMs, svg } from "./dom.js";

const MAX_COUNTER_ROWS = 12;
const STATUSES = ["allowed", "blocked", "error"];

function stackedBar(row, scale) {
  const bar = el("div", { className: "bar", "aria-hidden": "true" });
  for (const status of STATUSES) {
    if (row[status] === 0) continue;
    const part = el("span", { className: `bar-${status}` });
    part.style.width = `${(row[status] / scale) * 100}%`;
    bar.append(part);
  }
  return bar;
}

/** Renders the header counters: call decisions by status, then every other event apart (pin
 * changes, sessions, reloads… are not calls), named in its tooltip. */
export function renderTotals(id, counts) {
  const total = (status, count, label) =>
    el("span", { className: `total total-${status}` }, el("b", null, String(count)), ` ${label}`);
  const others = counts.others.map((other) => `${other.count} ${other.event}`).join(", ");
  fill(
    id,
    total("allowed", counts.totals.allowed, "allowed"),
    total("blocked", counts.totals.blocked, "blocked"),
    total("error", counts.totals.error, "error"),
    counts.totals.other === 0 ? null : el(
      "span",
      {
        className: "total total-other",
        title: `Not tool calls, not counted above: ${others}`,
      },
      el("b", null, String(counts.totals.other)),
      ` other event${counts.totals.other === 1 ? "" : "s"}`,
    ),
  );
}

/** Renders one counter table (rows of {name, allowed, blocked, error, total}). */
export function renderCounter(id, rows, onPick) {
  const scale = Math.max(1, ...rows.map((row) => row.total));
  const body = rows.slice(0, MAX_COUNTER_ROWS).map((row) =>
    el(
      "tr",
      null,
      el(
        "td",
        { className: "name" },
        el("button", {
          type: "button",
          className: "link",
          title: `Filter on ${row.name}`,
          on: { click: () => onPick(row.name) },
        }, row.name),
        stackedBar(row, scale),
      ),
      el("td", { className: "num n-allowed" }, String(row.allowed)),
      el("td", { className: "num n-blocked" }, String(row.blocked)),
      el("td", { className: "num n-error" }, String(row.error)),
    )
  );
  const more = rows.length > MAX_COUNTER_ROWS
    ? el(
      "tr",
      null,
      el("td", { colspan: 4, className: "note" }, `+${rows.length - MAX_COUNTER_ROWS} more`),
    )
    : null;
  const empty = rows.length === 0
    ? el("tr", null, el("td", { colspan: 4, className: "note" }, "No events match."))
    : null;
  fill(id, ...body, more, empty);
}

/** Renders the refusal reasons list ({code, count}). */
export function renderReasons(id, reasons) {
  const scale = Math.max(1, ...reasons.map((reason) => reason.count));
  const rows = reasons.slice(0, 8).map((reason) => {
    const bar = el("span", { className: "bar-blocked" });
    bar.style.width = `${(reason.count / scale) * 100}%`;
    return el(
      "tr",
      null,
      el("td", { className: "code" }, reason.code),
      el("td", { className: "num" }, String(reason.count)),
      el("td", { className: "bar-cell" }, el("div", { className: "bar" }, bar)),
    );
  });
  if (rows.length === 0) {
    rows.push(el("tr", null, el("td", { colspan: 3, className: "note" }, "No refusals.")));
  }
  fill(id, ...rows);
}

function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function clock(ms, sizeMs) {
  const iso = new Date(ms).toISOString();
  return sizeMs < 60e3 ? iso.slice(11, 19) : iso.slice(11, 16);
}

function sizeLabel(sizeMs) {
  if (sizeMs >= 3600e3) return `${sizeMs / 3600e3} h`;
  if (sizeMs >= 60e3) return `${sizeMs / 60e3} min`;
  return `${sizeMs / 1e3} s`;
}

/** Draws p50/p95 latency per bucket as an inline SVG line chart (no library). */
export function renderLatency(id, series) {
  const width = 360;
  const height = 150;
  const pad = { left: 40, right: 10, top: 10, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "Latency p50 and p95 per time bucket",
    className: "chart",
  });
  const buckets = series.buckets;
  if (buckets.length === 0) {
    root.append(
      svg(
        "text",
        { x: width / 2, y: height / 2, "text-anchor": "middle", className: "axis" },
        "No decisions yet",
      ),
    );
    fill(id, root);
    return;
  }
  const top = niceCeiling(Math.max(...buckets.map((bucket) => bucket.p95 ?? 0)));
  const x = (index) =>
    pad.left + (buckets.length === 1 ? plotW / 2 : (index / (buckets.length - 1)) * plotW);
  const y = (value) => pad.top + plotH - (value / top) * plotH;
  for (const tick of [0, top / 2, top]) {
    root.append(
      svg("line", {
        x1: pad.left,
        x2: width - pad.right,
        y1: y(tick),
        y2: y(tick),
        className: "grid",
      }),
      svg(
        "text",
        { x: pad.left - 4, y: y(tick) + 3, "text-anchor": "end", className: "axis" },
        formatMs(tick),
      ),
    );
  }
  root.append(
    svg(
      "text",
      { x: pad.left, y: height - 6, className: "axis" },
      clock(buckets[0].start, series.sizeMs),
    ),
    svg(
      "text",
      { x: width - pad.right, y: height - 6, "text-anchor": "end", className: "axis" },
      clock(buckets[buckets.length - 1].start, series.sizeMs),
    ),
    svg(
      "text",
      { x: pad.left + plotW / 2, y: height - 6, "text-anchor": "middle", className: "axis" },
      `ms · per ${sizeLabel(series.sizeMs)} (UTC)`,
    ),
  );
  for (const key of ["p95", "p50"]) {
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        root.append(svg("polyline", { points: run.join(" "), className: `line-${key}` }));
      }
      run = [];
    };
    buckets.forEach((bucket, index) => {
      if (bucket[key] === null) return flush();
      run.push(`${x(index).toFixed(1)},${y(bucket[key]).toFixed(1)}`);
    });
    flush();
  }
  buckets.forEach((bucket, index) => {
    if (bucket.count === 0) return;
    const label = `${clock(bucket.start, series.sizeMs)} · ${bucket.count} decisions · p50 ${
      formatMs(bucket.p50)
    } ms · p95 ${formatMs(bucket.p95)} ms · max ${formatMs(bucket.max)} ms`;
    for (const key of ["p95", "p50"]) {
      root.append(
        svg(
          "circle",
          { cx: x(index), cy: y(bucket[key]), r: 2.5, className: `dot-${key}` },
          svg("title", null, label),
        ),
      );
    }
  });
  fill(id, root);
}
