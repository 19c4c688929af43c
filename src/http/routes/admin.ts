/** Admin and observability routes (§9): health, logs, reload, metrics, policy, dashboard. */
import type { Hono } from "hono";
import { mergeEvents, parseLogQuery, selectEvents } from "../../audit/sink/query.ts";
import { describePolicy } from "../../policy/parse/parse.ts";
import { secretsEqual } from "../../identity/identify.ts";
import { adminCookie, isAdmin } from "./admin_auth.ts";
import type { AppDeps } from "../deps.ts";
import { answer } from "../errors.ts";
import { readJsonBody } from "../body.ts";
import { isValidToolName } from "../../tool_name.ts";
import { upstreamHealth } from "../../mcp/federation/federation.ts";
import { addApprovalRoutes } from "./approvals_routes.ts";

/** Content-Security-Policy of the dashboard: same origin only, no inline script or style. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
};

function asset(deps: AppDeps, name: string, status = 200): Response {
  const file = deps.assets.files.get(name);
  if (!file) return answer("not_found", `no such file "${name}"`);
  const type = CONTENT_TYPES[name.slice(name.lastIndexOf(".") + 1)] ??
    "application/octet-stream";
  return new Response(file as Uint8Array<ArrayBuffer>, {
    status,
    headers: {
      "content-type": type,
      "content-security-policy": DASHBOARD_CSP,
      "cache-control": "no-store",
      ...(status === 401 ? { "www-authenticate": 'Bearer realm="mcp-sec-gateway"' } : {}),
    },
  });
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** Marker in `signin.html` where the "wrong token" message goes. */
export const SIGNIN_MESSAGE_MARKER = "<!-- signin-message -->";

/** The message shown when `/dash?token=` carried a wrong token. */
export const WRONG_TOKEN_MESSAGE =
  '<p class="reload-failed signin-error" role="alert">That token was wrong. Paste the admin token again.</p>';

function signInPage(page: Uint8Array, status: number): Response {
  return new Response(page as Uint8Array<ArrayBuffer>, {
    status,
    headers: {
      "content-type": CONTENT_TYPES.html,
      "content-security-policy": DASHBOARD_CSP,
      "cache-control": "no-store",
      "www-authenticate": 'Bearer realm="mcp-sec-gateway"',
    },
  });
}

/** The sign-in page with the "that token was wrong" message, built once from `signin.html`. */
export function wrongTokenSignIn(signIn: Uint8Array | undefined): Uint8Array {
  const text = new TextDecoder().decode(signIn ?? new Uint8Array());
  const marked = text.includes(SIGNIN_MESSAGE_MARKER)
    ? text.replace(SIGNIN_MESSAGE_MARKER, WRONG_TOKEN_MESSAGE)
    : `${WRONG_TOKEN_MESSAGE}\n${text}`;
  return new TextEncoder().encode(marked);
}

/** Adds the admin and observability routes to `app`. */
export function addAdminRoutes(app: Hono, deps: AppDeps): void {
  const wrongTokenPage = wrongTokenSignIn(deps.assets.files.get("signin.html"));
  const unauthorized = () =>
    answer("unauthorized", "admin credential required: Authorization: Bearer <ADMIN_TOKEN>");

  app.get("/", () =>
    new Response("MCP-Sec Gateway OK", {
      headers: { "content-type": "text/plain; charset=utf-8" },
    }));

  // Public surface is minimal (§12): without the admin token only the status.
  app.get("/healthz", (c) => {
    const shared = deps.sharedState;
    // OAuth (§14): issuer keys unavailable → tokens refused (fail closed), so degraded.
    const oauth = deps.oauth?.status() ?? null;
    const status = deps.audit.healthy && (shared?.healthy ?? true) &&
        (oauth === null || oauth.state === "ready")
      ? "ok"
      : "degraded";
    if (!isAdmin(c.req.raw, deps.adminToken)) return json({ status });
    const policy = deps.store.current.policy;
    return json({
      status,
      policy_version: policy.version,
      identity_mode: policy.agents === null ? "open" : "agents",
      audit_head: deps.audit.head,
      shared_state: { store: shared?.kind ?? "memory", up: shared?.healthy ?? true },
      ...(oauth !== null
        ? {
          oauth: {
            issuer: oauth.issuer,
            state: oauth.state,
            keys: oauth.keys,
            jwks_uri: oauth.jwksUri,
            refreshed_at: oauth.refreshedAt === null
              ? null
              : new Date(oauth.refreshedAt).toISOString(),
            error: oauth.error,
          },
        }
        : {}),
      upstreams: Object.fromEntries(
        Object.entries(deps.federation.statuses()).map((
          [name, status],
        ) => [name, upstreamHealth(status)]),
      ),
      uptime_s: Math.floor((deps.clock() - deps.startedAt) / 1000),
    });
  });

  app.get("/dash", (c) => {
    const token = c.req.query("token");
    if (token !== undefined) {
      if (!secretsEqual(token, deps.adminToken)) return signInPage(wrongTokenPage, 401);
      return new Response(null, {
        status: 303,
        headers: { location: "/dash", "set-cookie": adminCookie(deps.adminToken) },
      });
    }
    if (!isAdmin(c.req.raw, deps.adminToken)) return asset(deps, "signin.html", 401);
    return asset(deps, "dash.html");
  });

  // The page's own code and style hold no data, so the sign-in page can use them too.
  app.get("/dash/:file{[a-z_]+\\.(?:js|css|svg|png)}", (c) => asset(deps, c.req.param("file")));

  app.get("/logs", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const parsed = parseLogQuery(new URL(c.req.url).searchParams);
    if (!parsed.ok) return answer("bad_request", parsed.error);
    const { query } = parsed;
    const local = selectEvents(deps.audit.recentList(), query);
    if (deps.replicaLogs === undefined) return json(local);
    // Several replicas (§13): every replica's recent events, filtered alike, merged by time; the
    // headers name the replicas read and those that could not be (Redis away: local events only).
    const others = await deps.replicaLogs.readOthers();
    const merged = mergeEvents(
      [local, ...others.events.map((events) => selectEvents(events, query))],
      query.limit,
    );
    const response = json(merged);
    response.headers.set("x-logs-replicas", others.read.join(","));
    response.headers.set("x-logs-unavailable", others.unavailable.join(","));
    return response;
  });

  app.post("/reload", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const result = await deps.store.reload();
    if (result.ok) {
      return json({ reloaded: true, policy_version: result.version, rules: result.rules });
    }
    return json({
      reloaded: false,
      allowed: false,
      status: "error",
      reason_code: "policy_invalid",
      reason: `reload rejected; the policy in force is unchanged (${result.errors.length} problem${
        result.errors.length === 1 ? "" : "s"
      })`,
      errors: result.errors,
      event_id: null,
    }, 400);
  });

  app.get("/metrics", (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    return new Response(deps.metrics.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });

  app.get("/upstreams", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    return json({
      upstreams: (await deps.federation.views()).map((view) => ({
        ...view,
        status: upstreamHealth(view.status),
      })),
      resource_clashes: deps.relay?.resourceClashes() ?? [],
    });
  });

  app.post("/pins/approve", async (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const body = await readJsonBody(c.req.raw, 4096);
    if (!body.ok) return answer(body.reasonCode, body.reason);
    const tool = (body.value as { tool?: unknown } | null)?.tool;
    if (!isValidToolName(tool)) return answer("bad_request", 'body must be {"tool": <tool name>}');
    const refusal = await deps.federation.approvalRefusal(tool);
    if (refusal) return answer(refusal.reasonCode, `Cannot approve "${tool}": ${refusal.reason}`);
    let approved: boolean;
    try {
      approved = await deps.federation.approve(tool);
    } catch (error) {
      // The shared pins (Redis, §13) did not answer: nothing was approved.
      if ((error as { reasonCode?: unknown })?.reasonCode !== "state_unavailable") throw error;
      return answer("state_unavailable", `Cannot approve "${tool}": ${(error as Error).message}`);
    }
    if (!approved) {
      return answer(
        "not_found",
        `no changed or flagged definition of "${tool}" waits for approval`,
      );
    }
    return json({ approved: true, tool });
  });

  addApprovalRoutes(app, deps);

  app.get("/policy", (c) => {
    if (!isAdmin(c.req.raw, deps.adminToken)) return unauthorized();
    const last = deps.store.lastReload;
    return json({
      policy_version: deps.store.current.policy.version,
      policy: describePolicy(deps.store.current.policy),
      last_reload: last.ok
        ? { ok: true, at: new Date(last.at).toISOString(), policy_version: last.version }
        : { ok: false, at: new Date(last.at).toISOString(), errors: last.errors },
    });
  });
}
