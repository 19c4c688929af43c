import { expect } from "expect";
import {
  findLaunchers,
  isLauncher,
  parsePsProbe,
  parsePsTable,
  type ProcessRow,
  type ProcessSource,
  watchLauncher,
} from "./parent_watch.ts";

const T = "Thu Dec  3 07:51:18 2026";
const row = (pid: number, ppid: number, args: string, start = T): ProcessRow => ({
  pid,
  ppid,
  start,
  args,
});

/** The process tree `npx -y deno@2.9.6 task start` makes, above the gateway (pid 100). */
const NPX_TREE = [
  row(100, 90, "/usr/lib/node_modules/deno/deno run --allow-net main.ts serve"),
  row(90, 80, "deno task start"),
  row(80, 70, "sh -c 'deno' task start"),
  row(70, 60, "npm exec deno@2.9.6 task start"),
  row(60, 1, "bash"),
];

Deno.test("parsePsTable and parsePsProbe read ps's fixed columns, commands with spaces kept", () => {
  const text =
    ` 6512  6509 ${T} bash /dev/fd/3\n    1     0 Thu Dec 13 07:41:11 2026 /sbin/init\n` +
    "garbage\n";
  expect(parsePsTable(text)).toEqual([
    row(6512, 6509, "bash /dev/fd/3"),
    row(1, 0, "/sbin/init", "Thu Dec 13 07:41:11 2026"),
  ]);
  expect(parsePsProbe(`    1 ${T}\n 6512 ${T}\n\n`)).toEqual(new Map([[1, T], [6512, T]]));
  expect(parsePsProbe("")).toEqual(new Map());
});

Deno.test("isLauncher: npm exec, npx, npm's sh -c 'deno', deno task; not shells or systemd", () => {
  expect(isLauncher("npm exec deno@2.9.6 task start")).toBe(true);
  expect(isLauncher("/usr/bin/npx -y deno@2.9.6 task start")).toBe(true);
  expect(isLauncher("node /usr/lib/node_modules/npm/bin/npx-cli.js -y deno")).toBe(true);
  expect(isLauncher("sh -c 'deno' task start")).toBe(true);
  expect(isLauncher("sh -c deno task start")).toBe(true);
  expect(isLauncher("deno task start")).toBe(true);
  expect(isLauncher("/usr/lib/node_modules/deno/deno task start")).toBe(true);
  expect(isLauncher("bash")).toBe(false);
  expect(isLauncher("sh -c exec ./gateway")).toBe(false);
  expect(isLauncher("/lib/systemd/systemd --user")).toBe(false);
  expect(isLauncher("deno run -A main.ts")).toBe(false);
  expect(isLauncher("npm install")).toBe(false);
  expect(isLauncher("")).toBe(false);
});

Deno.test("findLaunchers walks up while the ancestors are launchers", () => {
  expect(findLaunchers(100, NPX_TREE).map((l) => l.pid)).toEqual([90, 80, 70]);
  const shell = [row(100, 60, "deno run main.ts serve"), row(60, 1, "bash")];
  expect(findLaunchers(100, shell)).toEqual([]);
  const nohupTask = [row(100, 90, "deno run"), row(90, 1, "deno task start")];
  expect(findLaunchers(100, nohupTask).map((l) => l.pid)).toEqual([90]);
  expect(findLaunchers(100, [])).toEqual([]);
});

/** A fake process table the test edits; counts the probes. */
function fakeSource(tree: ProcessRow[]) {
  const table = new Map(tree.map((r) => [r.pid, r]));
  const counts = { probes: 0 };
  const source: ProcessSource = {
    pid: 100,
    ppid: () => table.get(100)!.ppid,
    table: () => Promise.resolve([...table.values()]),
    probe: (pids) => {
      counts.probes++;
      const found = new Map<number, string>();
      for (const pid of pids) {
        const r = table.get(pid);
        if (r) found.set(pid, r.start);
      }
      return Promise.resolve(found);
    },
  };
  return { table, source, counts };
}

async function watchUntilGone(source: ProcessSource, change: () => void) {
  const keepAlive = setTimeout(() => {}, 10_000); // the watcher's own interval is unref'd
  const watched = Promise.withResolvers<number[]>();
  const gone = Promise.withResolvers<number>();
  let calls = 0;
  const stop = watchLauncher({
    source,
    intervalMs: 5,
    onWatch: (launchers) => watched.resolve(launchers.map((l) => l.pid)),
    onGone: (launcher) => {
      calls++;
      gone.resolve(launcher.pid);
    },
  });
  const pids = await watched.promise;
  change();
  const pid = await gone.promise;
  stop();
  clearTimeout(keepAlive);
  return { pids, pid, calls: () => calls };
}

Deno.test("watchLauncher: npx exits (SIGTERM) → onGone once with npx's pid", async () => {
  const fake = fakeSource(NPX_TREE);
  const result = await watchUntilGone(fake.source, () => {
    fake.table.delete(70); // npm exec gone; sh too; deno task re-parented, still alive
    fake.table.delete(80);
    fake.table.set(90, row(90, 1, "deno task start"));
  });
  expect(result.pids).toEqual([90, 80, 70]);
  expect([80, 70]).toContain(result.pid);
  const probes = fake.counts.probes;
  await new Promise((resolve) => setTimeout(resolve, 30)); // ~6 more ticks if it polled on
  expect(fake.counts.probes).toBe(probes);
  expect(result.calls()).toBe(1);
});

Deno.test("watchLauncher: the direct parent dies → seen through ppid, no ps needed", async () => {
  const fake = fakeSource([
    row(100, 90, "deno run"),
    row(90, 60, "deno task start"),
    row(60, 1, "bash"),
  ]);
  const result = await watchUntilGone(fake.source, () => {
    fake.table.set(100, row(100, 1, "deno run"));
  });
  expect(result).toMatchObject({ pids: [90], pid: 90 });
  expect(fake.counts.probes).toBe(0);
});

Deno.test("watchLauncher: a reused pid is not the launcher", async () => {
  const fake = fakeSource(NPX_TREE);
  const result = await watchUntilGone(fake.source, () => {
    fake.table.set(70, row(70, 1, "something else", "Fri Dec  4 00:00:00 2026"));
  });
  expect(result.pid).toBe(70);
});

Deno.test("watchLauncher with no launcher above, or no ps, polls nothing", async () => {
  for (const table of [[row(100, 60, "deno run"), row(60, 1, "bash")], null]) {
    let probes = 0;
    const done = Promise.withResolvers<void>();
    const stop = watchLauncher({
      intervalMs: 1,
      source: {
        pid: 100,
        ppid: () => 60,
        table: () => {
          queueMicrotask(() => queueMicrotask(done.resolve));
          return Promise.resolve(table);
        },
        probe: () => {
          probes++;
          return Promise.resolve(new Map());
        },
      },
      onWatch: () => {
        throw new Error("nothing to watch");
      },
      onGone: () => {
        throw new Error("no launcher to lose");
      },
    });
    await done.promise;
    expect(probes).toBe(0);
    stop();
  }
});
