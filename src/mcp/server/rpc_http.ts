/** HTTP answers of `/mcp`: JSON-RPC bodies, HTTP-level refusals, and SSE framing. */
import { securedResponse } from "../../http/fast_path.ts";
import { type JsonRpcMessage, rpcError } from "../jsonrpc.ts";

/** JSON-RPC code the gateway uses for HTTP-level refusals (bad headers, auth, …). */
export const HTTP_REFUSAL_CODE = -32000;

/** JSON-RPC code for an unknown or expired session (with HTTP 404). */
export const SESSION_NOT_FOUND_CODE = -32001;

/** A JSON answer carrying one JSON-RPC message. */
export function rpcJson(
  message: JsonRpcMessage,
  init: { status?: number; headers?: Record<string, string> } = {},
): Response {
  return securedResponse(JSON.stringify(message), {
    status: init.status ?? 200,
    headers: { "content-type": "application/json", ...init.headers },
  });
}

/** An HTTP-level refusal on /mcp: the status, with a JSON-RPC error body whose id is null. */
export function refuse(
  status: number,
  message: string,
  options: { code?: number; headers?: Record<string, string> } = {},
): Response {
  const headers = { ...options.headers };
  if (status === 401) headers["www-authenticate"] ??= 'Bearer realm="mcp-sec-gateway"';
  return rpcJson(rpcError(null, options.code ?? HTTP_REFUSAL_CODE, message), { status, headers });
}

const encoder = new TextEncoder();

/** One SSE event carrying a JSON-RPC message, with its id. */
export function sseEvent(id: string, message: JsonRpcMessage): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`);
}

/**
 * True when the client prefers `text/event-stream` to `application/json` in its `Accept`: a
 * higher `q`, or the same `q` and listed first (the client's order breaks ties, as the common
 * negotiators do). `application/json, text/event-stream` (the SDK clients) stays JSON.
 */
export function prefersEventStream(accept: string): boolean {
  let json: { q: number; at: number } | undefined;
  let sse: { q: number; at: number } | undefined;
  const ranges = accept.split(",", 32);
  for (let at = 0; at < ranges.length; at++) {
    const [type, ...parameters] = ranges[at].split(";", 8);
    const name = type.trim().toLowerCase();
    if (name !== "application/json" && name !== "text/event-stream") continue;
    let q = 1;
    for (const parameter of parameters) {
      const [key, value] = parameter.split("=", 2);
      if (key.trim().toLowerCase() === "q") q = Number(value?.trim() ?? "");
    }
    if (!(q >= 0 && q <= 1)) q = 0;
    if (name === "application/json") json ??= { q, at };
    else sse ??= { q, at };
  }
  if (sse === undefined || sse.q === 0) return false;
  if (json === undefined) return true;
  return sse.q > json.q || (sse.q === json.q && sse.at < json.at);
}
