/**
 * The door check of every Hono route (§12): a foreign `Host` is refused on every route but
 * `GET /` (DNS rebinding), and a state-changing request (any method but GET, HEAD and OPTIONS)
 * must be `application/json` (415) from the gateway's own origin (403, CSRF). `/mcp` and the
 * decision API (`/mcp/…`) run their own guards, with their own answer shapes and audit.
 */
import type { MiddlewareHandler } from "hono";
import {
  createDoorGuard,
  doorRefusalReason,
  isSameOriginWrite,
  requestHost,
} from "../mcp/server/http_guard.ts";
import { isJsonMediaType } from "./body.ts";
import { answer } from "./errors.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The scheme the browser used: `https` when served over TLS or a proxy says so, else `http`. */
export function requestScheme(url: string, forwardedProto: string | null): "http" | "https" {
  if (url.startsWith("https:")) return "https";
  const first = forwardedProto?.split(",", 1)[0].trim().toLowerCase();
  return first === "https" ? "https" : "http";
}

/** Builds the middleware from `ALLOWED_HOSTS` / `ALLOWED_ORIGINS`, prepared once. */
export function doorMiddleware(
  options: { allowedHosts: readonly string[]; allowedOrigins: readonly string[] },
): MiddlewareHandler {
  const door = createDoorGuard(options);
  return async (c, next) => {
    const path = c.req.path;
    if (path === "/mcp" || path.startsWith("/mcp/")) return await next();
    const method = c.req.method;
    const headers = c.req.raw.headers;
    const host = requestHost(headers, c.req.url);
    const publicRoot = path === "/" && (method === "GET" || method === "HEAD");
    if (!publicRoot && !door.hostAllowed(host)) {
      return answer("forbidden_host", doorRefusalReason("forbidden_host"));
    }
    if (!SAFE_METHODS.has(method)) {
      const sameOrigin = isSameOriginWrite(
        { host, origin: headers.get("origin"), secFetchSite: headers.get("sec-fetch-site") },
        requestScheme(c.req.url, headers.get("x-forwarded-proto")),
      );
      if (!sameOrigin) {
        return answer(
          "forbidden_origin",
          "cross-origin request refused: admin changes are accepted only from the gateway's own origin",
        );
      }
      if (!isJsonMediaType(headers.get("content-type"))) {
        return answer("unsupported_media_type", "Content-Type must be application/json");
      }
    }
    await next();
  };
}
