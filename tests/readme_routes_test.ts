/**
 * The README's API table lists every route the gateway serves (issue 11): the routes are read from
 * the running gateway's Hono application, the rows from README.md's "## API" table.
 */
import { expect } from "expect";
import { startTestGateway } from "./harness.ts";

const README = new URL("../README.md", import.meta.url);

/** `GET /dash/:file{[a-z_]+\.(?:js|css)}` → `GET /dash/:file` (the README writes no pattern). */
function withoutPattern(path: string): string {
  return path.replace(/(:[A-Za-z_]+)\{(?:[^{}]|\{[^{}]*\})*\}/g, "$1");
}

/** The `method path` cells of the first column of the table under `## API`. */
function readmeApiRows(readme: string): { method: string; path: string }[] {
  const section = readme.split(/^## API$/m)[1]?.split(/^## /m)[0] ?? "";
  const rows: { method: string; path: string }[] = [];
  for (const line of section.split("\n")) {
    const cell = /^\|\s*`([A-Z]+(?:\/[A-Z]+)*) ([^`\s]+)`\s*\|/.exec(line);
    if (cell === null) continue;
    for (const method of cell[1].split("/")) rows.push({ method, path: cell[2] });
  }
  return rows;
}

Deno.test("README API table: every route of the app has a row", async () => {
  const gw = await startTestGateway({ policy: 'rules:\n  - model: "*"\n    allow_tools: ["*"]\n' });
  try {
    const rows = readmeApiRows(await Deno.readTextFile(README));
    expect(rows.length).toBeGreaterThan(5);
    const routes = gw.gateway.routes.filter((route) => route.path !== "/*");
    expect(routes.length).toBeGreaterThan(5);
    const missing = routes.filter((route) => {
      const path = withoutPattern(route.path);
      // `app.all(path)` is documented by a row for any method of the path (the others answer 405)
      return !rows.some((row) =>
        row.path === path && (route.method === "ALL" || row.method === route.method)
      );
    }).map((route) => `${route.method} ${withoutPattern(route.path)}`);
    expect(missing).toEqual([]);
    // and no row names a route that does not exist
    const stale = rows.filter((row) =>
      !routes.some((route) =>
        withoutPattern(route.path) === row.path &&
        (route.method === "ALL" || route.method === row.method)
      )
    ).map((row) => `${row.method} ${row.path}`);
    expect(stale).toEqual([]);
  } finally {
    await gw.close();
  }
});
