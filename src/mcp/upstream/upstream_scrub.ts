/**
 * Secrets never echoed (§12) at the one door every upstream byte comes in by: a client wrapper
 * that takes the upstream's own configured credentials (its `headers` values, or its child's
 * `env` values) out of everything the upstream sends — results of every method (tools/list
 * descriptions, prompts, resources, completions, tool results), notifications, requests it sends
 * back, its `initialize` info, and its error texts — so that a server that received the
 * gateway's credential cannot hand it to an agent through any relay path.
 */
import { compileScrubber, configuredSecrets, type Scrubber } from "../../audit/event/scrub.ts";
import type { UpstreamConfig } from "../../policy/types.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "../jsonrpc.ts";
import type { UpstreamClient, UpstreamInfo } from "./upstream.ts";

/** The scrubber of one upstream's own configured credentials (exact values only). */
export function upstreamScrubber(name: string, config: UpstreamConfig): Scrubber {
  return compileScrubber(configuredSecrets({ upstreams: { [name]: config } }));
}

function scrubError(error: unknown, scrubber: Scrubber): unknown {
  if (error instanceof Error) {
    const message = scrubber.values(error.message);
    if (message !== error.message) error.message = message;
  }
  return error;
}

/** `client` with its configured credentials scrubbed from everything it hands back; `client`
 * itself when it has none (no cost). */
export function scrubbingClient(
  client: UpstreamClient,
  scrubber: Scrubber | (() => Scrubber),
): UpstreamClient {
  // A getter: the values change (the gateway's own upstream token is renewed, §14).
  const current = typeof scrubber === "function" ? scrubber : () => scrubber;
  if (typeof scrubber !== "function" && scrubber.size === 0) return client;
  const clean = <T>(value: T): T => current().valuesDeep(value);
  let info: { from: UpstreamInfo; clean: UpstreamInfo } | undefined;
  return {
    name: client.name,
    status: () => client.status(),
    async request(sessionKey, method, params, options) {
      try {
        const result = await client.request(sessionKey, method, params, {
          ...options,
          ...(options.onNotification
            ? {
              onNotification: (notification: JsonRpcNotification) =>
                options.onNotification!(clean(notification)),
            }
            : {}),
          ...(options.onRequest
            ? {
              onRequest: (request: JsonRpcRequest) => options.onRequest!(clean(request)),
            }
            : {}),
        });
        return clean(result);
      } catch (error) {
        throw scrubError(error, current());
      }
    },
    notify: (sessionKey, method, params) => client.notify(sessionKey, method, params),
    info() {
      const from = client.info();
      if (from === undefined) return undefined;
      if (info?.from !== from) info = { from, clean: clean(from) };
      return info.clean;
    },
    generation: () => client.generation(),
    onNotification: (listener) =>
      client.onNotification((notification, sessionKey) =>
        listener(clean(notification), sessionKey)
      ),
    closeSession: (sessionKey) => client.closeSession(sessionKey),
    close: () => client.close(),
  };
}
