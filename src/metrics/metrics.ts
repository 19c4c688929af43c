/** Prometheus counters and a latency histogram (§9), with bounded label cardinality. */

const LATENCY_BUCKETS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];
const MAX_SERIES = 5000;

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

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Creates empty metrics. Past 5000 distinct label sets, new ones are counted as `other`. */
export function createMetrics(): Metrics {
  const decisions = new Map<string, number>();
  const upstreamErrors = new Map<string, number>();
  const buckets = new Array<number>(LATENCY_BUCKETS_MS.length).fill(0);
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

  return {
    observe(sample) {
      const key = seriesKey(sample);
      decisions.set(key, (decisions.get(key) ?? 0) + 1);
      latencyCount++;
      latencySum += sample.latencyMs;
      for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
        if (sample.latencyMs <= LATENCY_BUCKETS_MS[i]) buckets[i]++;
      }
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
      for (const [labels, value] of decisions) {
        lines.push(`mcpsec_decisions_total{${labels}} ${value}`);
      }
      lines.push(
        "# HELP mcpsec_decision_latency_ms The gateway's own time per decision, in milliseconds.",
        "# TYPE mcpsec_decision_latency_ms histogram",
      );
      LATENCY_BUCKETS_MS.forEach((bound, i) => {
        lines.push(`mcpsec_decision_latency_ms_bucket{le="${bound}"} ${buckets[i]}`);
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
