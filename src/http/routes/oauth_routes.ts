/** `GET /.well-known/oauth-protected-resource` (RFC 9728, §14): where clients learn which
 * authorization server issues tokens for this gateway, and for which resource and scopes. */
import type { Hono } from "hono";
import type { OAuthConfig } from "../../policy/types.ts";
import type { AppDeps } from "../deps.ts";
import { answer } from "../errors.ts";

/** The protected-resource metadata document of an `oauth:` section. */
export function protectedResourceMetadata(config: OAuthConfig): Record<string, unknown> {
  return {
    resource: config.audience,
    authorization_servers: [config.issuer],
    ...(config.requiredScopes.length > 0 ? { scopes_supported: [...config.requiredScopes] } : {}),
    bearer_methods_supported: ["header"],
    resource_signing_alg_values_supported: [...config.algorithms],
    resource_name: "MCP-Sec Gateway",
  };
}

/** Adds the metadata routes: the plain well-known path and the path-suffixed form of the
 * audience (`/.well-known/oauth-protected-resource/mcp` for `…/mcp`), which MCP clients try first. */
export function addOAuthRoutes(app: Hono, deps: AppDeps): void {
  const serve = (suffix: string): Response => {
    const config = deps.store.current.policy.oauth;
    if (config === undefined) {
      return answer("not_found", "this gateway accepts no OAuth tokens (no oauth: in the policy)");
    }
    const path = new URL(config.audience).pathname.replace(/\/$/, "");
    if (suffix !== "" && suffix !== path) {
      return answer("not_found", "no protected resource at that path");
    }
    return new Response(JSON.stringify(protectedResourceMetadata(config)), {
      headers: {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "max-age=300",
        // Public facts: browser-based MCP clients read them from another origin.
        "access-control-allow-origin": "*",
      },
    });
  };
  app.get("/.well-known/oauth-protected-resource", () => serve(""));
  app.get(
    "/.well-known/oauth-protected-resource/:resource{.+}",
    (c) => serve(`/${c.req.param("resource")}`),
  );
}
