/** Creates the client of an upstream from its policy entry (HTTP or stdio). */
import { compileScrubber, configuredSecrets, type Scrubber } from "../../audit/event/scrub.ts";
import type { Logger } from "../../log.ts";
import type { UpstreamConfig } from "../../policy/types.ts";
import type { JsonRpcRequest } from "../jsonrpc.ts";
import type { UpstreamClient } from "./upstream.ts";
import { createHttpUpstream } from "./http/upstream_http.ts";
import { createStdioUpstream } from "./stdio/upstream_stdio.ts";
import { createClientCredentials, type UpstreamCredentials } from "./http/upstream_token.ts";
import { scrubbingClient, upstreamScrubber } from "./upstream_scrub.ts";

/** A factory of upstream clients for the federation. */
export function upstreamClientFactory(options: {
  startTimeoutMs: number;
  version: string;
  log: Logger;
  /** The client capabilities an HTTP upstream session declares for a gateway session key. */
  capabilitiesFor?: (key: string) => Readonly<Record<string, unknown>>;
  /** Requests a stdio upstream sends on its own (not tied to a session by the protocol). */
  onServerRequest?: (upstream: string, request: JsonRpcRequest) => Promise<Record<string, unknown>>;
  /** Requests an HTTP upstream sends outside a call on the GET stream of gateway session `key`. */
  onSessionRequest?: (
    upstream: string,
    key: string,
    request: JsonRpcRequest,
  ) => Promise<Record<string, unknown>>;
}): (name: string, config: UpstreamConfig) => UpstreamClient {
  const clientInfo = { name: "mcp-sec-gateway", version: options.version };
  // Each client scrubs its own configured credentials from all it hands back (§12).
  return (name, config) => {
    if (config.kind === "http" && config.clientCredentials !== undefined) {
      // The gateway's own token for this upstream is scrubbed too, whatever its shape (§12).
      const configured = configuredSecrets({ upstreams: { [name]: config } });
      const tokens: string[] = [];
      let scrubber = compileScrubber(configured);
      const credentials = createClientCredentials({
        name,
        config: config.clientCredentials,
        onToken: (token) => {
          tokens.push(token);
          if (tokens.length > 4) tokens.shift();
          scrubber = compileScrubber([...configured, ...tokens]);
        },
      });
      return scrubbingClient(create(name, config, () => scrubber, credentials), () => scrubber);
    }
    const scrubber = upstreamScrubber(name, config);
    return scrubbingClient(create(name, config, () => scrubber), scrubber);
  };
  function create(
    name: string,
    config: UpstreamConfig,
    scrubber: () => Scrubber,
    credentials?: UpstreamCredentials,
  ): UpstreamClient {
    return config.kind === "http"
      ? createHttpUpstream({
        name,
        url: config.url,
        headers: config.headers,
        ...(credentials !== undefined ? { credentials } : {}),
        startTimeoutMs: options.startTimeoutMs,
        clientInfo,
        log: options.log,
        ...(options.capabilitiesFor ? { capabilitiesFor: options.capabilitiesFor } : {}),
        ...(options.onSessionRequest
          ? {
            onServerRequest: (key: string, request: JsonRpcRequest) =>
              options.onSessionRequest!(name, key, scrubber().valuesDeep(request)),
          }
          : {}),
      })
      : createStdioUpstream({
        name,
        command: config.command,
        env: config.env,
        startTimeoutMs: options.startTimeoutMs,
        clientInfo,
        log: options.log,
        ...(options.onServerRequest
          ? {
            onServerRequest: (request) =>
              options.onServerRequest!(name, scrubber().valuesDeep(request)),
          }
          : {}),
      });
  }
}
