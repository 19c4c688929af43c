// Ending an MCP session: its calls aborted, streams closed, upstream sessions ended, audited.
import { recordEvent } from "../../../pipeline.ts";
import type { Relay } from "../../relay/relay.ts";
import type { ToolCallDeps } from "../../relay/tool_call.ts";
import type { McpSession } from "./sessions.ts";

/** Aborts a session's calls, closes its streams, ends its upstream sessions and audits the end
 * (once: a session already ended is left alone). */
export async function endSession(
  session: McpSession,
  reason: string,
  deps: ToolCallDeps & { readonly relay?: Pick<Relay, "forgetSession"> },
): Promise<void> {
  if (session.ended) return;
  session.ended = true;
  for (const controller of session.inFlight.values()) controller.abort();
  session.streams.close();
  recordEvent(deps.audit, {
    event: "mcp_session",
    agentId: session.agentId,
    modelId: session.modelId,
    sessionId: session.auditId,
    status: "allowed",
    reasonCode: "ok",
    reason,
    policyVersion: deps.state().policy.version,
  }, { now: deps.clock(), newId: deps.newId });
  deps.relay?.forgetSession(session.auditId);
  await deps.federation.closeSession(session.auditId);
}
