// Scenario (a) of `deno task bench`: the floor every gateway number is compared with. A bare
// `Deno.serve` handler that parses the same JSON body the decision API gets and answers a fixed
// JSON. Prints `listening <port>` on stdout once it accepts connections.
//   PORT=0 deno run --allow-net --allow-env bench/servers/bare_server.ts

const FIXED = JSON.stringify({
  allowed: true,
  status: "allowed",
  reason_code: "ok",
  reason: "fixed answer of the bare baseline",
  event_id: "00000000-0000-4000-8000-000000000000",
});

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "0"),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (request) => {
  try {
    await request.json();
  } catch {
    return new Response('{"error":"bad json"}', {
      status: 400,
      headers: { "content-type": "application/json" },
    });
  }
  return new Response(FIXED, { headers: { "content-type": "application/json; charset=utf-8" } });
});
