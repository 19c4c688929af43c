/** `createApp(deps)`: the Hono wiring of every route. No state of its own. */
import { Hono } from "hono";
import { addAdminRoutes } from "./http/admin.ts";
import { decisionHandler, toolCallDeps } from "./http/decision_api.ts";
import type { AppDeps } from "./http/deps.ts";
import { answer } from "./http/errors.ts";
import { mcpHandler } from "./mcp/endpoint.ts";
import { createRelay } from "./mcp/relay.ts";

export type { AppDeps } from "./http/deps.ts";

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** Builds the gateway's HTTP application from its dependencies. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  });
  const toolcall = decisionHandler("toolcall", deps);
  const toolresult = decisionHandler("toolresult", deps);
  app.post("/mcp/toolcall", (c) => toolcall(c.req.raw));
  app.post("/mcp/toolresult", (c) => toolresult(c.req.raw));
  app.all("/mcp/toolcall", () => answer("method_not_allowed", "use POST"));
  app.all("/mcp/toolresult", () => answer("method_not_allowed", "use POST"));
  const execution = toolCallDeps(deps);
  const relay = createRelay({ ...execution, sessions: deps.sessions });
  const mcp = mcpHandler({ ...execution, ...deps, relay });
  app.all("/mcp", (c) => mcp(c.req.raw));
  addAdminRoutes(app, deps);
  app.notFound((c) =>
    answer("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`)
  );
  app.onError((error) => {
    deps.log.error(`Unhandled error: ${error instanceof Error ? error.message : String(error)}`);
    return answer("internal_error", "internal error");
  });
  return app;
}
