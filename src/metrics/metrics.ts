/** Prometheus counters and a latency histogram (§9), with bounded label cardinality. */
import { SHAPE_SCRUBBER } from "../audit/event/scrub.ts";

const LATENCY_BUCKETS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];
const MAX_SERIES = 5000;
const MAX_KNOWN = 2 * MAX_SERIES;

interface Counter {
  value: number;
}

/** One decision to count. */
export interface DecisionSample {
  /** `allowed`, `blocked` or `error`. */
  readonly status: string;
  /** The reason code. */
  readonly reasonCode: string;
  /** Model id, or null. */
  readonly modelId: string | null;
  /** Tool name, or null. */
  readonly toolName: string | null;
  /** The gateway's own latency in milliseconds. */
  readonly latencyMs: number;
}

/** In-memory metrics, rendered as Prometheus text. */
export interface Metrics {
  /** Counts one decision and its latency. */
  observe(sample: DecisionSample): void;
  /** Counts one upstream failure. */
  upstreamError(upstream: string): void;
  /** The Prometheus text exposition. */
  render(): string;
}

// Label values come from callers (model ids): credential-shaped text never becomes a label (§12).
// Runs once per new series, never per sample.
function escapeLabel(value: string): string {
  return SHAPE_SCRUBBER.text(value).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(
    /"/g,
    '\\"',
  );
}

/** Creates empty metrics. Past 5000 distinct label sets, new ones are counted as `other`. */
export function createMetrics(): Metrics {
  const decisions = new Map<string, Counter>();
  // Raw label values → their series, so a known sample costs one string and one lookup instead
  // of four escapes (bounded: hostile model ids past it take the slow path, still correct).
  const known = new Map<string, Counter>();
  const upstreamErrors = new Map<string, number>();
  const buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  let latencyCount = 0;
  let latencySum = 0;

  function seriesKey(sample: DecisionSample): string {
    const key = `status="${escapeLabel(sample.status)}",reason_code="${
      escapeLabel(sample.reasonCode)
    }",model="${escapeLabel(sample.modelId ?? "")}",tool="${escapeLabel(sample.toolName ?? "")}"`;
    if (decisions.has(key) || decisions.size < MAX_SERIES) return key;
    return `status="${escapeLabel(sample.status)}",reason_code="${
      escapeLabel(sample.reasonCode)
    }",model="other",tool="other"`;
  }

  // Unambiguous: status and reason codes are the gateway's own, tool names cannot hold NUL,
  // so whatever NULs a model id holds, the split is fixed.
  function counterOf(sample: DecisionSample): Counter {
    const raw = `${sample.status}\u0000${sample.reasonCode}\u0000${sample.modelId ?? ""}\u0000${
      sample.toolName ?? ""
    }`;
    const cached = known.get(raw);
    if (cached !== undefined) return cached;
    const key = seriesKey(sample);
    let counter = decisions.get(key);
    if (counter === undefined) {
      counter = { value: 0 };
      decisions.set(key, counter);
    }
    if (known.size < MAX_KNOWN) known.set(raw, counter);
    return counter;
  }

  return {
    observe(sample) {
      counterOf(sample).value++;
      latencyCount++;
      latencySum += sample.latencyMs;
      // Count in the first bucket that holds the value; render() accumulates.
      let i = 0;
      while (i < LATENCY_BUCKETS_MS.length && !(sample.latencyMs <= LATENCY_BUCKETS_MS[i])) i++;
      buckets[i]++;
    },
    upstreamError(upstream) {
      const key = upstreamErrors.has(upstream) || upstreamErrors.size < MAX_SERIES
        ? upstream
        : "other";
      upstreamErrors.set(key, (upstreamErrors.get(key) ?? 0) + 1);
    },
    render() {
      const lines = [
        "# HELP mcpsec_decisions_total Decisions by status, reason code, model and tool.",
        "# TYPE mcpsec_decisions_total counter",
      ];
      for (const [labels, counter] of decisions) {
        lines.push(`mcpsec_decisions_total{${labels}} ${counter.value}`);
      }
      lines.push(
        "# HELP mcpsec_decision_latency_ms The gateway's own time per decision, in milliseconds.",
        "# TYPE mcpsec_decision_latency_ms histogram",
      );
      let cumulative = 0;
      LATENCY_BUCKETS_MS.forEach((bound, i) => {
        cumulative += buckets[i];
        lines.push(`mcpsec_decision_latency_ms_bucket{le="${bound}"} ${cumulative}`);
      });
      lines.push(
        `mcpsec_decision_latency_ms_bucket{le="+Inf"} ${latencyCount}`,
        `mcpsec_decision_latency_ms_sum ${latencySum}`,
        `mcpsec_decision_latency_ms_count ${latencyCount}`,
        "# HELP mcpsec_upstream_errors_total Failed upstream requests by upstream.",
        "# TYPE mcpsec_upstream_errors_total counter",
      );
      for (const [upstream, value] of upstreamErrors) {
        lines.push(`mcpsec_upstream_errors_total{upstream="${escapeLabel(upstream)}"} ${value}`);
      }
      return lines.join("\n") + "\n";
    },
  };
}
