// The open-loop load generator of `deno task bench` (issue: tail latency). Runs in its own
// process. Sends at a constant rate whatever the server does: request i is DUE at
// start + i/rate; it goes out on an idle keep-alive connection as soon as one is free, and its
// latency is measured from when it was due, not from when it left, so a stall of the server
// shows in every request that waited behind it (no coordinated omission). The scheduler wakes
// every millisecond at most (timer granularity): at 5,000/s requests leave in bursts of about 5,
// which the baseline scenarios measured the same way see too.
//   deno run --allow-net --allow-read bench/open_loop.ts <job.json>
// job.json: { spec: RequestSpec, rate, durationS, warmupS, connections }
// Prints `BENCH_RESULT {OpenLoopResult}` on stdout.

import { type RequestSpec, RESULT_MARKER } from "./load_spec.ts";
import {
  encodeRequestFactory,
  intendedTime,
  ResponseFramer,
  summariseOpenLoop,
} from "./open_loop_core.ts";

interface Job {
  readonly spec: RequestSpec;
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
}

/** How long the generator waits for the last answers after the last send. */
const DRAIN_MS = 5000;

const job = JSON.parse(await Deno.readTextFile(Deno.args[0])) as Job;
const encode = encodeRequestFactory(job.spec);
const url = new URL(job.spec.url);
const hostname = url.hostname.replace(/^\[|\]$/g, "");
const port = Number(url.port);

interface Slot {
  conn: Deno.TcpConn;
  /** Intended time of the request in flight, or -1 when idle. */
  due: number;
  /** The request counts (its due time is inside the measured window). */
  measured: boolean;
  framer: ResponseFramer;
}

const latencies: number[] = [];
let errors = 0;
let non2xx = 0;
const queue: number[] = []; // due times waiting for a connection (FIFO via head index)
let head = 0;
const idle: Slot[] = [];
let sent = 0;
let start = 0;
let measureFrom = 0;
let measureTo = 0;
let inFlightMeasured = 0;

function dispatch(): void {
  while (head < queue.length && idle.length > 0) {
    const slot = idle.pop()!;
    const due = queue[head++];
    slot.due = due;
    slot.measured = due >= measureFrom && due < measureTo;
    if (slot.measured) inFlightMeasured++;
    sent++;
    slot.conn.write(encode(sent)).catch(() => fail(slot));
  }
  if (head > 4096 && head * 2 > queue.length) {
    queue.splice(0, head);
    head = 0;
  }
}

function finish(slot: Slot, status: number): void {
  if (slot.due < 0) return;
  if (slot.measured) {
    latencies.push(performance.now() - slot.due);
    if (status >= 400) non2xx++;
    inFlightMeasured--;
  }
  slot.due = -1;
  idle.push(slot);
  dispatch();
}

function fail(slot: Slot): void {
  if (slot.due >= 0 && slot.measured) {
    errors++;
    inFlightMeasured--;
  }
  slot.due = -1;
  try {
    slot.conn.close();
  } catch {
    // already closed
  }
  // Replace the connection so the offered rate holds.
  open().then((fresh) => {
    idle.push(fresh);
    dispatch();
  }).catch(() => errors++);
}

async function readLoop(slot: Slot): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await slot.conn.read(buffer);
      if (n === null) break;
      for (const status of slot.framer.push(buffer.subarray(0, n))) finish(slot, status);
    }
  } catch {
    // closed or reset: counted below
  }
  if (!stopped) fail(slot);
}

async function open(): Promise<Slot> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  const slot: Slot = { conn, due: -1, measured: false, framer: new ResponseFramer() };
  readLoop(slot);
  return slot;
}

let stopped = false;
for (let i = 0; i < job.connections; i++) idle.push(await open());

start = performance.now() + 5;
measureFrom = start + job.warmupS * 1000;
measureTo = measureFrom + job.durationS * 1000;
const total = Math.round((job.warmupS + job.durationS) * job.rate);
const scheduled = Math.round(job.durationS * job.rate);
let next = 0;

await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (next < total && start + intendedTime(next, job.rate) <= now) {
      queue.push(start + intendedTime(next, job.rate));
      next++;
    }
    dispatch();
    if (next >= total) {
      resolve();
      return;
    }
    const wait = start + intendedTime(next, job.rate) - performance.now();
    setTimeout(tick, Math.max(1, Math.floor(wait)));
  };
  tick();
});

// Wait for the measured requests still queued or in flight (bounded).
const drainUntil = performance.now() + DRAIN_MS;
while ((inFlightMeasured > 0 || head < queue.length) && performance.now() < drainUntil) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const unanswered = scheduled - latencies.length - errors;
stopped = true;
for (const slot of [...idle]) {
  try {
    slot.conn.close();
  } catch {
    // already closed
  }
}
const result = summariseOpenLoop({
  rate: job.rate,
  scheduled,
  latencies,
  seconds: job.durationS,
  errors: errors + Math.max(0, unanswered),
  non2xx,
});
console.log(`${RESULT_MARKER}${JSON.stringify({ ...result, sent })}`);
Deno.exit(0);
