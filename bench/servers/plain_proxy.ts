// Scenario (e) of `deno task bench`, a reference and not the product: a Deno proxy with no logic
// at all. A bare `Deno.serve` handler that forwards the body and the MCP headers
// to the upstream over the gateway's own pooled HTTP/1.1 client and answers the upstream's bytes:
// no session, no policy, no schema, no audit. What the gateway's (d) cannot exceed, measured in
// the same run. Prints `listening <port>` on stdout once it accepts connections.
//   UPSTREAM_URL=http://127.0.0.1:PORT/mcp PORT=0 deno run --allow-net --allow-env \
//     bench/servers/plain_proxy.ts
import { createHttp1Client } from "../../src/mcp/upstream/http/http1_client.ts";

const upstream = Deno.env.get("UPSTREAM_URL") ?? "";
if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(upstream)) {
  console.error("Cannot start the plain proxy: UPSTREAM_URL must be http://127.0.0.1:PORT/…");
  Deno.exit(2);
}
const client = createHttp1Client(upstream);
const FORWARDED = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version"];

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "0"),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (request) => {
  const headers = new Headers();
  for (const name of FORWARDED) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const answer = await client.fetch(upstream, {
    method: "POST",
    headers,
    body: await request.text(),
    signal: request.signal,
  });
  return new Response(await answer.bytes(), {
    status: answer.status,
    headers: { "content-type": answer.headers.get("content-type") ?? "application/json" },
  });
});
