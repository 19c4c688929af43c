/** The JSON-RPC methods of `/mcp` (§5.3): ping, tools/list, tools/call; the rest goes to the relay. */
import { isToolVisible } from "../../policy/evaluate.ts";
import { isValidToolName } from "../../tool_name.ts";
import {
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  RPC,
  rpcError,
  rpcResult,
} from "../jsonrpc.ts";
import { rpcJson } from "./rpc_http.ts";
import type { McpSession } from "./session/sessions.ts";
import {
  DECISION_META_KEY,
  executeToolCall,
  type ToolCallDeps,
  type ToolCallOutcome,
} from "../relay/tool_call.ts";
import type { Relay } from "../relay/relay.ts";
import type { ClientRequests } from "./client_requests.ts";
import type { OutStream } from "./streams.ts";

/** What the method handlers need: the tool-call dependencies and the relay. */
export interface MethodDeps extends ToolCallDeps {
  /** Prompts, resources, completions. */
  readonly relay: Relay;
  /** Requests from upstreams to the client (sampling, elicitation, roots). */
  readonly clientRequests: ClientRequests;
}

export { DECISION_META_KEY } from "../relay/tool_call.ts";

/** How a request is answered: `eventStream` when the client prefers SSE (see
 * `prefersEventStream`), else JSON unless the upstream streams. */
export interface DispatchOptions {
  /** Answer as a (resumable, primed) SSE stream even when the answer is ready at once. */
  readonly eventStream: boolean;
}

/** Answers one JSON-RPC request of a live session. */
export async function dispatchRequest(
  message: JsonRpcRequest,
  session: McpSession,
  deps: MethodDeps,
  options: DispatchOptions = { eventStream: false },
): Promise<Response> {
  const answer = (reply: JsonRpcMessage) =>
    options.eventStream ? streamed(session, reply) : rpcJson(reply);
  switch (message.method) {
    case "ping":
      return answer(rpcResult(message.id, {}));
    case "tools/list":
      return answer(rpcResult(message.id, { tools: await visibleTools(session, deps) }));
    case "tools/call":
      return await callTool(message, session, deps, options);
    case "initialize":
      return rpcJson(rpcError(message.id, RPC.INVALID_REQUEST, "session already initialized"), {
        status: 400,
      });
    default: {
      const relayed = deps.relay.handle(message, session);
      if (relayed) return answer(await relayed);
      return answer(
        rpcError(
          message.id,
          RPC.METHOD_NOT_FOUND,
          `method not found: ${message.method.slice(0, 100)}`,
        ),
      );
    }
  }
}

/** One message as a stream of the session (primed, resumable like any other). */
function streamed(session: McpSession, message: JsonRpcMessage): Response {
  const stream = session.streams.create();
  stream.send(message);
  stream.end();
  return stream.response();
}

/** The tools the session's model may use now, under their exposed names, in one page. */
async function visibleTools(
  session: McpSession,
  deps: MethodDeps,
): Promise<Record<string, unknown>[]> {
  const tools = await deps.federation.listTools();
  const policy = deps.state().policy;
  const now = deps.clock();
  return tools
    .filter((tool) => isToolVisible(policy, session.modelId, tool.exposed, now))
    .map((tool) => ({ ...tool.definition, name: tool.exposed }));
}

/** The tool result shown to the agent for a refused or failed call. */
export function refusalResult(
  outcome: ToolCallOutcome & { kind: "decided" },
): Record<string, unknown> {
  const { verdict } = outcome;
  const upstream = verdict.reasonCode === "upstream_error" ||
    verdict.reasonCode === "upstream_timeout";
  const text = upstream
    ? `Upstream failure: ${verdict.reason}`
    : `Blocked by MCP-Sec Gateway: ${verdict.reason}`;
  return {
    content: [{ type: "text", text }],
    isError: true,
    _meta: {
      [DECISION_META_KEY]: {
        reason_code: verdict.reasonCode,
        event_id: outcome.eventId,
        ...(verdict.retryAfterMs !== undefined ? { retry_after_ms: verdict.retryAfterMs } : {}),
        ...(outcome.flags
          ? {
            flags: { secrets: [...outcome.flags.secrets], injection: [...outcome.flags.injection] },
          }
          : {}),
      },
    },
  };
}

/** The tool result shown to the agent for a tool no upstream exposes to it (still audited). */
export function unknownToolResult(
  outcome: ToolCallOutcome & { kind: "unknown_tool" },
): Record<string, unknown> {
  return {
    content: [{ type: "text", text: `MCP-Sec Gateway: ${outcome.reason}` }],
    isError: true,
    _meta: { [DECISION_META_KEY]: { reason_code: "unknown_tool", event_id: outcome.eventId } },
  };
}

async function callTool(
  message: JsonRpcRequest,
  session: McpSession,
  deps: MethodDeps,
  options: DispatchOptions,
): Promise<Response> {
  const params = message.params ?? {};
  const name = params.name;
  const args = params.arguments ?? {};
  if (typeof name !== "string" || !isValidToolName(name)) {
    return rpcJson(
      rpcError(message.id, RPC.INVALID_PARAMS, "params.name must be a valid tool name"),
    );
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return rpcJson(rpcError(message.id, RPC.INVALID_PARAMS, "params.arguments must be an object"));
  }
  const meta =
    typeof params._meta === "object" && params._meta !== null && !Array.isArray(params._meta)
      ? params._meta as Record<string, unknown>
      : undefined;
  const controller = new AbortController();
  session.inFlight.set(message.id, controller);

  // Notifications or requests from the upstream during the call switch the answer to SSE.
  let stream: OutStream | undefined;
  const switched = Promise.withResolvers<"stream">();
  const openStream = (): OutStream => {
    if (!stream) {
      stream = session.streams.create();
      switched.resolve("stream");
    }
    return stream;
  };
  const upstreamName = deps.federation.owner(name) ?? "";
  const endCall = deps.clientRequests.beginCall(upstreamName, session, openStream);
  const running = executeToolCall({
    agentId: session.agentId,
    modelId: session.modelId,
    sessionId: session.auditId,
    sessionKey: session.auditId,
    toolName: name,
    args: args as Record<string, unknown>,
    meta,
    signal: controller.signal,
    onNotification: (notification: JsonRpcNotification) => openStream().send(notification),
    onRequest: (request) =>
      deps.clientRequests.ask(session, request, { upstream: upstreamName, stream: openStream() }),
    // The upstream closed its stream to be polled (SSE, 2025-11-25): the client is told the same,
    // with the upstream's delay, and resumes from the gateway's own buffer.
    onPause: (retryMs) => openStream().pause(retryMs),
  }, deps).finally(() => {
    session.inFlight.delete(message.id);
    endCall();
  });
  // An unknown tool is an `isError` result, as MCP servers answer it (issue 11; SPEC §5.3 said
  // -32602: see docs/COMPATIBILITY.md "Differences from direct use").
  const answer = (outcome: ToolCallOutcome) => {
    if (outcome.kind === "unknown_tool") return rpcResult(message.id, unknownToolResult(outcome));
    // `/mcp` waits for the decision (approval mode "wait"), so a call is never left pending.
    if (outcome.kind === "pending") {
      return rpcError(message.id, RPC.INTERNAL_ERROR, "the call was left pending");
    }
    return rpcResult(
      message.id,
      outcome.verdict.status === "allowed" && outcome.result
        ? outcome.result
        : refusalResult(outcome),
    );
  };
  if (options.eventStream) openStream();
  await Promise.race([running, switched.promise]);
  if (!stream) return rpcJson(answer(await running));
  const open = stream;
  running.then((outcome) => {
    open.send(answer(outcome));
    open.end();
  });
  return open.response();
}
