import { expect } from "expect";
import { join } from "node:path";
import { type FsEventSource, watchSources } from "./watch.ts";

/** An event source the test drives: push events, end it, or make it throw. */
function fakeSource() {
  const queue: (Deno.FsEvent | "end" | Error)[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  const push = (item: Deno.FsEvent | "end" | Error) => {
    queue.push(item);
    wake?.();
  };
  const source: FsEventSource = {
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      while (!closed) {
        const item = queue.shift();
        if (item === undefined) {
          await new Promise<void>((resolve) => wake = resolve);
          continue;
        }
        if (item === "end") return;
        if (item instanceof Error) throw item;
        yield item;
      }
    },
  };
  return { source, push, closed: () => closed };
}

function waitFor<T>(list: T[], count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`only ${list.length} of ${count}`)), 5000);
    const check = () => {
      if (list.length >= count) {
        clearTimeout(deadline);
        resolve();
      } else setTimeout(check, 2);
    };
    check();
  });
}

Deno.test("a watcher whose event stream ends or throws is logged and re-armed; events flow again", async () => {
  const dir = await Deno.makeTempDir();
  const policyPath = join(dir, "policies.yaml");
  await Deno.writeTextFile(policyPath, "rules: []\n");
  const sources = [fakeSource(), fakeSource(), fakeSource()];
  const created: string[][] = [];
  const errors: string[] = [];
  const changes: number[] = [];
  const keepAlive = setTimeout(() => {}, 10_000); // the re-arm timer is unref'd
  const stop = watchSources({
    policyPath,
    debounceMs: 1,
    rearmMs: 1,
    onChange: () => changes.push(Date.now()),
    onError: (message) => errors.push(message),
    watchFs: (paths) => {
      created.push(paths);
      const next = sources[created.length - 1];
      if (next === undefined) throw new Error("no more watchers");
      return next.source;
    },
  });
  const event = (path: string): Deno.FsEvent => ({ kind: "modify", paths: [path] });
  try {
    sources[0].push(event(policyPath));
    await waitFor(changes, 1);
    sources[0].push("end"); // the watcher stops delivering events
    await waitFor(created, 2);
    expect(errors[0]).toBe("File watching stopped (the event stream ended): re-arming in 1 ms");
    await waitFor(errors, 2);
    expect(errors[1]).toBe(`File watching re-armed on "${dir}"`);
    sources[1].push(event(join(dir, "other.txt"))); // irrelevant: no reload
    sources[1].push(event(policyPath));
    await waitFor(changes, 2);
    sources[1].push(new Error("inotify queue overflow"));
    await waitFor(created, 3);
    expect(errors).toContain(
      "File watching stopped (inotify queue overflow): re-arming in 1 ms",
    );
    sources[2].push(event(policyPath));
    await waitFor(changes, 3);
    expect(changes.length).toBe(3);
  } finally {
    stop();
    clearTimeout(keepAlive);
    await Deno.remove(dir, { recursive: true });
  }
  expect(sources[2].closed()).toBe(true);
});

Deno.test("a policy edited while nobody watched is reloaded on re-arm; backoff doubles", async () => {
  const dir = await Deno.makeTempDir();
  const policyPath = join(dir, "policies.yaml");
  await Deno.writeTextFile(policyPath, "rules: []\n");
  const first = fakeSource();
  const second = fakeSource();
  let calls = 0;
  let edited = false;
  const errors: string[] = [];
  const changes: number[] = [];
  const keepAlive = setTimeout(() => {}, 10_000);
  const stop = watchSources({
    policyPath,
    debounceMs: 1,
    rearmMs: 1,
    onChange: () => changes.push(1),
    onError: (message) => errors.push(message),
    watchFs: () => {
      calls++;
      if (calls === 1) return first.source;
      if (!edited) throw new Error("too many watches");
      return second.source;
    },
  });
  try {
    first.push("end");
    await waitFor(errors, 2); // stopped, then a failed re-arm: nobody is watching now
    await Deno.writeTextFile(policyPath, "rules: [] # edited while unwatched, longer\n");
    edited = true;
    await waitFor(changes, 1);
    expect(errors.slice(0, 2)).toEqual([
      "File watching stopped (the event stream ended): re-arming in 1 ms",
      `File watching stopped (cannot watch "${dir}": too many watches): re-arming in 2 ms`,
    ]);
    expect(errors.at(-1)).toBe(`File watching re-armed on "${dir}"`);
    expect(changes.length).toBe(1);
  } finally {
    stop();
    clearTimeout(keepAlive);
    await Deno.remove(dir, { recursive: true });
  }
});
