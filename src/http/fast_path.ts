/** The hot routes served before Hono's router (§11): route detection and the security headers. */

/** A route served by the fast path. */
export type FastRoute = "toolcall" | "toolresult" | "mcp";

/** Headers every gateway answer carries. */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
  ["x-frame-options", "DENY"],
];

/**
 * The fast route of a request, or undefined when Hono must route it. Only exact POST paths are
 * taken (query and fragment ignored, as Hono does); a path with `%` escapes goes to Hono, which
 * decodes it, so both ways give the same handler.
 */
export function fastRoute(method: string, url: string): FastRoute | undefined {
  if (method !== "POST") return undefined;
  const scheme = url.indexOf(":");
  const start = scheme < 0 ? -1 : url.indexOf("/", scheme + 3 + 1);
  if (start < 0) return undefined;
  let end = start;
  while (end < url.length) {
    const code = url.charCodeAt(end);
    if (code === 63 /* ? */ || code === 35 /* # */) break;
    if (code === 37 /* % */) return undefined;
    end++;
  }
  switch (end - start) {
    case 4:
      return url.startsWith("/mcp", start) ? "mcp" : undefined;
    case 13:
      return url.startsWith("/mcp/toolcall", start) ? "toolcall" : undefined;
    case 15:
      return url.startsWith("/mcp/toolresult", start) ? "toolresult" : undefined;
    default:
      return undefined;
  }
}

const secured = new WeakSet<Response>();

/** A `Response` with the security headers, set once it is built: Deno builds a response whose
 * init holds only its own headers much faster, and `secure` then leaves it alone. */
export function securedResponse(
  body: string,
  init: { status: number; headers: Record<string, string> },
): Response {
  return secure(new Response(body, init));
}

/** Sets the security headers on `response` (in place, once) and returns it. */
export function secure(response: Response): Response {
  if (secured.has(response)) return response;
  const headers = response.headers;
  for (let i = 0; i < SECURITY_HEADERS.length; i++) {
    headers.set(SECURITY_HEADERS[i][0], SECURITY_HEADERS[i][1]);
  }
  secured.add(response);
  return response;
}
