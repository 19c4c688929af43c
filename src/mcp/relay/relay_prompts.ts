/** The prompt half of the relay: `prompts/list` (namespaced like tools, filtered by
 * `allow_prompts`/`deny_prompts`), `prompts/get` and `ref/prompt` completions under the prompt
 * rules, each gated on the audit and audited before it is forwarded. */
import { evaluatePrompt, mayListAny } from "../../policy/evaluate.ts";
import { isValidToolName } from "../../tool_name.ts";
import { type JsonRpcMessage, type JsonRpcRequest, RPC, rpcError, rpcResult } from "../jsonrpc.ts";
import {
  auditGate,
  auditRelay,
  listAll,
  policyRefusal,
  type RelayDeps,
  scannedRelayAnswer,
  type Upstream,
  upstreamFailure,
} from "./relay_common.ts";
import type { McpSession } from "../server/session/sessions.ts";

const MAX_PROMPTS_PER_UPSTREAM = 10_000;

/** The prompt methods of one relay. */
export interface PromptRelay {
  /** `prompts/list`, filtered for the caller. */
  list(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage>;
  /** `prompts/get`. */
  get(message: JsonRpcRequest, session: McpSession): Promise<JsonRpcMessage>;
  /** `completion/complete` for a `ref/prompt` naming `name`. */
  complete(message: JsonRpcRequest, session: McpSession, name: string): Promise<JsonRpcMessage>;
}

/** Creates the prompt relay. */
export function createPromptRelay(deps: RelayDeps): PromptRelay {
  function upstreamsFor(name: string): Upstream[] {
    // The most specific prefix first; an unprefixed upstream last.
    return deps.federation.upstreams()
      .filter((u) => u.prefix === "" || name.startsWith(u.prefix + "."))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  function localName(upstream: Upstream, exposed: string): string {
    return upstream.prefix === "" ? exposed : exposed.slice(upstream.prefix.length + 1);
  }

  function promptDecision(session: McpSession, name: string) {
    return evaluatePrompt(
      deps.state().policy,
      { modelId: session.modelId, promptName: name },
      deps.clock(),
    );
  }

  async function listPrompts(message: JsonRpcRequest, session: McpSession) {
    const payload = { method: "prompts/list" };
    const closed = auditGate(deps, session, {
      id: message.id,
      event: "prompt_list",
      name: null,
      payload,
    });
    if (closed) return closed;
    // A caller whose rule allows no prompt now sends nothing upstream.
    const upstreams =
      mayListAny(deps.state().policy, { modelId: session.modelId, kind: "prompt" }, deps.clock())
        ? deps.federation.upstreams()
        : [];
    auditRelay(deps, session, {
      event: "prompt_list",
      name: null,
      payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `listed on ${upstreams.length} upstream(s), filtered by the caller's rule`,
    });
    const lists = await Promise.all(
      upstreams.map(async (upstream) =>
        (await listAll(deps, upstream, session.auditId, {
          method: "prompts/list",
          key: "prompts",
          maxItems: MAX_PROMPTS_PER_UPSTREAM,
        })).items.map((prompt) => ({
          ...prompt,
          name: upstream.prefix === "" ? prompt.name : `${upstream.prefix}.${prompt.name}`,
        }))
      ),
    );
    const prompts = lists.flat().filter((prompt) =>
      typeof prompt.name === "string" && isValidToolName(prompt.name) &&
      promptDecision(session, prompt.name).kind === "allow"
    );
    return rpcResult(message.id, { prompts });
  }

  /** `prompts/get` and `ref/prompt` completions: gate, prompt rules, audit, forward. */
  async function promptRequest(
    message: JsonRpcRequest,
    session: McpSession,
    request: { event: string; name: string; payload: unknown; params: Record<string, unknown> },
  ): Promise<JsonRpcMessage> {
    const { event, name, payload } = request;
    const closed = auditGate(deps, session, { id: message.id, event, name, payload });
    if (closed) return closed;
    const decision = promptDecision(session, name);
    if (decision.kind === "deny") {
      return policyRefusal(deps, session, {
        id: message.id,
        event,
        name,
        payload,
        code: RPC.INVALID_PARAMS,
      }, decision.denial);
    }
    const upstream = upstreamsFor(name)[0];
    if (!upstream) return rpcError(message.id, RPC.INVALID_PARAMS, `unknown prompt "${name}"`);
    auditRelay(deps, session, {
      event,
      name,
      payload,
      status: "allowed",
      reasonCode: "ok",
      reason: `relayed to upstream "${upstream.name}"`,
    });
    try {
      const params = event === "prompt_get"
        ? { ...request.params, name: localName(upstream, name) }
        : {
          ...request.params,
          ref: { ...(request.params.ref as object), name: localName(upstream, name) },
        };
      const result = await upstream.client.request(session.auditId, message.method, params, {
        timeoutMs: deps.upstreamTimeoutMs,
      });
      return scannedRelayAnswer(
        deps,
        session,
        { id: message.id, event, name, payload, code: RPC.INVALID_PARAMS },
        result,
        event === "prompt_get" ? `the prompt "${name}"` : "the completion",
      );
    } catch (error) {
      auditRelay(deps, session, {
        event,
        name,
        payload,
        status: "error",
        reasonCode: "upstream_error",
        reason: String((error as Error).message ?? error).slice(0, 300),
      });
      return upstreamFailure(message.id, error);
    }
  }

  function getPrompt(message: JsonRpcRequest, session: McpSession) {
    const name = message.params?.name;
    if (typeof name !== "string" || !isValidToolName(name)) {
      return Promise.resolve(
        rpcError(message.id, RPC.INVALID_PARAMS, "params.name must be a valid prompt name"),
      );
    }
    return promptRequest(message, session, {
      event: "prompt_get",
      name,
      payload: message.params?.arguments ?? null,
      params: message.params ?? {},
    });
  }

  return {
    list: listPrompts,
    get: getPrompt,
    complete(message, session, name) {
      if (!isValidToolName(name)) {
        return Promise.resolve(
          rpcError(message.id, RPC.INVALID_PARAMS, "params.ref.name must be a valid prompt name"),
        );
      }
      return promptRequest(message, session, {
        event: "completion",
        name,
        payload: { ref: { type: "ref/prompt", name }, argument: message.params?.argument },
        params: message.params ?? {},
      });
    },
  };
}
