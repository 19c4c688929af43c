/** JSON-RPC 2.0 message shapes used by MCP, and pure helpers to build and recognise them. */

/** A JSON-RPC id: string or number (null only in error answers to unreadable requests). */
export type JsonRpcId = string | number;

/** A request: has `id` and `method`. */
export interface JsonRpcRequest {
  /** Always "2.0". */
  jsonrpc: "2.0";
  /** Request id. */
  id: JsonRpcId;
  /** Method name. */
  method: string;
  /** Parameters. */
  params?: Record<string, unknown>;
}

/** A notification: `method` and no `id`. */
export interface JsonRpcNotification {
  /** Always "2.0". */
  jsonrpc: "2.0";
  /** Method name. */
  method: string;
  /** Parameters. */
  params?: Record<string, unknown>;
}

/** A JSON-RPC error object. */
export interface JsonRpcErrorObject {
  /** Error code. */
  code: number;
  /** Message. */
  message: string;
  /** Optional data. */
  data?: unknown;
}

/** A response: `id` with `result` or `error`. */
export type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: JsonRpcId; result: Record<string, unknown> }
  | { jsonrpc: "2.0"; id: JsonRpcId | null; error: JsonRpcErrorObject };

/** Any JSON-RPC message. */
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Standard JSON-RPC error codes. */
export const RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/** Classifies a parsed JSON value as a JSON-RPC message, or says why it is not one. */
export function classifyMessage(
  value: unknown,
):
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "response"; message: JsonRpcResponse }
  | { kind: "invalid"; reason: string } {
  if (Array.isArray(value)) {
    return { kind: "invalid", reason: "JSON-RPC batches are not supported" };
  }
  if (!isObject(value) || value.jsonrpc !== "2.0") {
    return { kind: "invalid", reason: 'not a JSON-RPC 2.0 message (jsonrpc must be "2.0")' };
  }
  if (value.params !== undefined && !isObject(value.params)) {
    return { kind: "invalid", reason: "params must be an object" };
  }
  if (typeof value.method === "string") {
    if (value.method.length === 0 || value.method.length > 256) {
      return { kind: "invalid", reason: "method must be a non-empty string" };
    }
    if ("id" in value) {
      if (!isId(value.id)) return { kind: "invalid", reason: "id must be a string or a number" };
      return { kind: "request", message: value as unknown as JsonRpcRequest };
    }
    return { kind: "notification", message: value as unknown as JsonRpcNotification };
  }
  if ("method" in value) return { kind: "invalid", reason: "method must be a string" };
  if ((isId(value.id) || value.id === null) && ("result" in value || "error" in value)) {
    if ("result" in value && !isObject(value.result)) {
      return { kind: "invalid", reason: "result must be an object" };
    }
    if ("error" in value) {
      const error = value.error;
      if (!isObject(error) || typeof error.code !== "number" || typeof error.message !== "string") {
        return { kind: "invalid", reason: "error must have a numeric code and a message" };
      }
    }
    return { kind: "response", message: value as unknown as JsonRpcResponse };
  }
  return { kind: "invalid", reason: "neither a request, a notification nor a response" };
}

/** A success response. */
export function rpcResult(id: JsonRpcId, result: Record<string, unknown>): JsonRpcResponse {
  return { jsonrpc: "2.0", id, result };
}

/** An error response. */
export function rpcError(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcResponse {
  return {
    jsonrpc: "2.0",
    id,
    error: data === undefined ? { code, message } : { code, message, data },
  };
}
