/** `createApp(deps)`: the Hono wiring of every route. No state of its own. */
import { Hono } from "hono";
import { type FastRoute, fastRoute, secure } from "./http/fast_path.ts";
import { addAdminRoutes } from "./http/routes/admin.ts";
import { addOAuthRoutes } from "./http/routes/oauth_routes.ts";
import { doorMiddleware } from "./http/door_guard.ts";
import { decisionHandler, toolCallDeps } from "./http/routes/decision_api.ts";
import type { AppDeps } from "./http/deps.ts";
import { answer } from "./http/errors.ts";
import { mcpHandler } from "./mcp/server/endpoint.ts";
import { createRelay } from "./mcp/relay/relay.ts";

export type { AppDeps } from "./http/deps.ts";

/** Builds the gateway's HTTP application from its dependencies. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    secure(c.res);
  });
  app.use(doorMiddleware(deps));
  const toolcall = decisionHandler("toolcall", deps);
  const toolresult = decisionHandler("toolresult", deps);
  app.post("/mcp/toolcall", (c) => toolcall(c.req.raw));
  app.post("/mcp/toolresult", (c) => toolresult(c.req.raw));
  app.all("/mcp/toolcall", () => answer("method_not_allowed", "use POST"));
  app.all("/mcp/toolresult", () => answer("method_not_allowed", "use POST"));
  const execution = toolCallDeps(deps);
  const relay = deps.relay ?? createRelay({ ...execution, sessions: deps.sessions });
  const mcp = mcpHandler({ ...execution, ...deps, relay });
  app.all("/mcp", (c) => mcp(c.req.raw));
  addAdminRoutes(app, deps);
  addOAuthRoutes(app, deps);
  app.notFound((c) =>
    answer("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`)
  );
  const failed = (error: unknown): Response => {
    deps.log.error(`Unhandled error: ${error instanceof Error ? error.message : String(error)}`);
    return answer("internal_error", "internal error");
  };
  app.onError(failed);
  // The hot routes skip Hono's router and middleware chain (§11): same handlers, same security
  // headers, same 500 on an unexpected throw. Everything else is routed by Hono.
  const handlers: Record<FastRoute, (request: Request) => Promise<Response>> = {
    toolcall,
    toolresult,
    mcp,
  };
  const routed = app.fetch;
  app.fetch = (request, env, executionCtx) => {
    const route = fastRoute(request.method, request.url);
    if (route === undefined) return routed(request, env, executionCtx);
    let pending: Promise<Response>;
    try {
      pending = handlers[route](request);
    } catch (error) {
      return secure(failed(error));
    }
    return pending.then(secure, (error) => secure(failed(error)));
  };
  return app;
}
