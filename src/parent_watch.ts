/**
 * Stops the gateway when the command that launched it is gone (effect). `npx -y deno task start`
 * runs npm → sh → `deno task` → the gateway; a SIGTERM to npx (what a process manager sends to
 * the command it started) ends npx and sh but neither `deno task` nor the gateway, which would go
 * on serving, re-parented. At start the gateway reads the process table once (`ps`) and walks up
 * its ancestors while they are such launchers (npm exec / npx, npm's `sh -c 'deno' …`,
 * `deno task`); then, once a second, it checks they still run: the direct parent through
 * `Deno.ppid` (no syscall beyond getppid), the ones above through one `ps -p` (only when npm/npx
 * launched it: Deno forbids reading `/proc` without --allow-all). When one has exited it shuts
 * down cleanly. A gateway started any other way (a shell, nohup, systemd running deno directly)
 * has no launcher above it and is left alone.
 */

/** One row of the process table. */
export interface ProcessRow {
  /** Process id. */
  readonly pid: number;
  /** Parent pid. */
  readonly ppid: number;
  /** Start time as `ps` prints it (`lstart`): tells a reused pid apart. */
  readonly start: string;
  /** Command line, space-separated. */
  readonly args: string;
}

/** A launcher being watched. */
export interface WatchedLauncher {
  /** Its pid. */
  readonly pid: number;
  /** Its start time (see ProcessRow). */
  readonly start: string;
  /** Its command line (cut), for the log. */
  readonly command: string;
}

/** Where process facts come from (replaced in tests). */
export interface ProcessSource {
  /** This process's pid. */
  readonly pid: number;
  /** The current parent pid (`Deno.ppid`). */
  ppid(): number;
  /** The whole process table, or null when it cannot be read (no `ps`, no permission). */
  table(): Promise<ProcessRow[] | null>;
  /** Start times of those of `pids` that still exist, or null when that cannot be read. */
  probe(pids: readonly number[]): Promise<Map<number, string> | null>;
}

const MAX_DEPTH = 8;
const ROW = /^\s*(\d+)\s+(\d+)\s+(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\s+(.*)$/;
const PROBE_ROW = /^\s*(\d+)\s+(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\s*$/;

/** Parses `ps -e -o pid=,ppid=,lstart=,args=` output; unreadable lines are skipped. */
export function parsePsTable(text: string): ProcessRow[] {
  const rows: ProcessRow[] = [];
  for (const line of text.split("\n")) {
    const match = ROW.exec(line);
    if (match) {
      rows.push({ pid: Number(match[1]), ppid: Number(match[2]), start: match[3], args: match[4] });
    }
  }
  return rows;
}

/** Parses `ps -o pid=,lstart= -p …` output into pid → start time. */
export function parsePsProbe(text: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const line of text.split("\n")) {
    const match = PROBE_ROW.exec(line);
    if (match) found.set(Number(match[1]), match[2]);
  }
  return found;
}

function programOf(word: string | undefined): string {
  return (word ?? "").replace(/^'|'$/g, "").split("/").pop() ?? "";
}

/** True for the commands that launch the gateway on someone's behalf: npx / npm exec, the
 * `sh -c 'deno' …` npm runs, and `deno task`. */
export function isLauncher(args: string): boolean {
  const words = args.trim().split(/\s+/);
  const program = programOf(words[0]);
  if (program === "npx") return true;
  if (program === "npm" && (words[1] === "exec" || words[1] === "x")) return true;
  if (program === "node" && /(^|\/)np[mx]-cli\.js$/.test(words[1] ?? "")) return true;
  if (["sh", "bash", "dash"].includes(program) && words[1] === "-c") {
    return ["deno", "npx"].includes(programOf(words[2]));
  }
  return program === "deno" && words.includes("task");
}

/** The launchers above `pid` in `table`, nearest first, up to the first ancestor that is not. */
export function findLaunchers(pid: number, table: readonly ProcessRow[]): WatchedLauncher[] {
  const byPid = new Map(table.map((row) => [row.pid, row]));
  const found: WatchedLauncher[] = [];
  let current = byPid.get(pid);
  for (let depth = 0; depth < MAX_DEPTH && current !== undefined; depth++) {
    if (current.ppid <= 1) break;
    const parent = byPid.get(current.ppid);
    if (parent === undefined || !isLauncher(parent.args)) break;
    found.push({ pid: parent.pid, start: parent.start, command: parent.args.slice(0, 80) });
    current = parent;
  }
  return found;
}

/** Options of `watchLauncher`. */
export interface WatchLauncherOptions {
  /** Called once when a launcher has exited. */
  onGone(launcher: WatchedLauncher): void;
  /** Called with what is watched (for the debug log). */
  onWatch?(launchers: readonly WatchedLauncher[]): void;
  /** Poll interval; default 1000 ms. */
  intervalMs?: number;
  /** Process facts; default `Deno.pid`, `Deno.ppid` and `ps`. */
  source?: ProcessSource;
}

/** Starts watching (one unref'd interval; nothing when no launcher is above); returns stop. */
export function watchLauncher(options: WatchLauncherOptions): () => void {
  const source = options.source ?? psSource();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let busy = false;
  function stop(): void {
    stopped = true;
    if (timer !== undefined) clearInterval(timer);
  }
  function gone(launcher: WatchedLauncher): void {
    if (stopped) return;
    stop();
    options.onGone(launcher);
  }
  void source.table().then((table) => {
    const launchers = table === null ? [] : findLaunchers(source.pid, table);
    if (stopped || launchers.length === 0) return;
    options.onWatch?.(launchers);
    const [parent, ...above] = launchers;
    const pids = above.map((launcher) => launcher.pid);
    const interval = setInterval(async () => {
      if (busy || stopped) return;
      if (source.ppid() !== parent.pid) return gone(parent);
      if (pids.length === 0) return;
      busy = true;
      try {
        const alive = await source.probe(pids);
        const exited = alive === null
          ? undefined
          : above.find((launcher) => alive.get(launcher.pid) !== launcher.start);
        if (exited !== undefined) gone(exited);
      } finally {
        busy = false;
      }
    }, options.intervalMs ?? 1000);
    Deno.unrefTimer(interval);
    timer = interval;
  }, () => {});
  return stop;
}

/** Process facts from `Deno.pid`, `Deno.ppid` and `ps` (null when `ps` cannot run). */
export function psSource(): ProcessSource {
  const ps = async (args: string[]): Promise<string | null> => {
    try {
      const output = await new Deno.Command("ps", {
        args,
        env: { LC_ALL: "C" },
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(output.stdout);
    } catch {
      return null;
    }
  };
  return {
    pid: Deno.pid,
    ppid: () => Deno.ppid,
    table: async () => {
      const text = await ps(["-e", "-o", "pid=,ppid=,lstart=,args="]);
      return text === null ? null : parsePsTable(text);
    },
    probe: async (pids) => {
      const text = await ps(["-o", "pid=,lstart=", "-p", pids.join(",")]);
      return text === null ? null : parsePsProbe(text);
    },
  };
}
