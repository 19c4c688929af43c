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

/** A header field the head may carry as given (token name, no control characters in the value). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * An answer the gateway built from a string and a header record (JSON answers of the hot routes
 * and errors). It keeps its header list (its own headers, then the security headers, names
 * lower-cased, as `Headers` would hold them): the builtin server writes the head from that list
 * and the body from the string, without building a `Headers` or reading a body stream (a tenth of
 * a proxied call's time). Reading `headers` builds them, security headers included, and from then
 * on they are the answer's headers and the list is no longer used. A server that hands the answer
 * to the runtime must read `headers` first (the runtime reads its own copy).
 */
export class SecuredResponse extends Response {
  #list: (readonly [string, string])[] | undefined;
  readonly #text: string;

  /** Builds the answer; a header that `Headers` would refuse throws as `new Response` would. */
  constructor(body: string, init: { status: number; headers: Record<string, string> }) {
    super(body, { status: init.status });
    this.#text = body;
    const list: (readonly [string, string])[] = [];
    let valid = true;
    const put = (name: string, value: string) => {
      const at = list.findIndex((field) => field[0] === name);
      if (at >= 0) list[at] = [name, value];
      else list.push([name, value]);
    };
    for (const name in init.headers) {
      const value = init.headers[name].trim();
      if (!FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) valid = false;
      put(name.toLowerCase(), value);
    }
    if (list.every((field) => field[0] !== "content-type")) {
      put("content-type", "text/plain;charset=UTF-8"); // what `Response` sets for a string body
    }
    for (let i = 0; i < SECURITY_HEADERS.length; i++) {
      put(SECURITY_HEADERS[i][0], SECURITY_HEADERS[i][1]);
    }
    this.#list = list;
    if (!valid) void this.headers; // lets `Headers` refuse it, as before
  }

  /** The answer's `Headers`, built (with the security headers) on first read. */
  override get headers(): Headers {
    const headers = super.headers;
    const list = this.#list;
    if (list !== undefined) {
      this.#list = undefined;
      for (let i = 0; i < list.length; i++) headers.set(list[i][0], list[i][1]);
    }
    return headers;
  }

  /** A copy, with every header (the runtime copies its own, so they are built first). */
  override clone(): Response {
    void this.headers;
    return super.clone();
  }

  /** The header fields as written, or undefined once `headers` was read. */
  get headerList(): readonly (readonly [string, string])[] | undefined {
    return this.#list;
  }

  /** The body text, or undefined once something read the body. */
  get bodyText(): string | undefined {
    return this.bodyUsed ? undefined : this.#text;
  }
}

/** A `Response` with the security headers: a `SecuredResponse`, which `secure` leaves alone. */
export function securedResponse(
  body: string,
  init: { status: number; headers: Record<string, string> },
): Response {
  return new SecuredResponse(body, init);
}

/** Sets the security headers on `response` (in place, once) and returns it. */
export function secure(response: Response): Response {
  if (response instanceof SecuredResponse || secured.has(response)) return response;
  const headers = response.headers;
  for (let i = 0; i < SECURITY_HEADERS.length; i++) {
    headers.set(SECURITY_HEADERS[i][0], SECURITY_HEADERS[i][1]);
  }
  secured.add(response);
  return response;
}
