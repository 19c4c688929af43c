import { expect } from "expect";
import fc from "fast-check";
import { H1Headers, H1Request, httpOrigin } from "./request.ts";

const NAMES = ["host", "content-type", "x-model-id", "authorization", "accept", "x-a"];
const pairArb = fc.tuple(
  fc.constantFrom(...NAMES),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)) })
    .map((value) => value.replace(/^[ \t]+|[ \t]+$/g, "").replace(/\x7f/g, "")),
);

Deno.test("H1Headers: get, has and iteration agree with Headers for any parsed pairs", () => {
  fc.assert(fc.property(fc.array(pairArb, { maxLength: 12 }), (pairs) => {
    const real = new Headers(pairs);
    const light = new H1Headers(pairs);
    for (const name of [...NAMES, "absent"]) {
      for (const asked of [name, name.toUpperCase()]) {
        expect(light.get(asked)).toBe(real.get(asked));
        expect(light.has(asked)).toBe(real.has(asked));
      }
    }
    expect([...light]).toEqual([...real]);
  }));
});

Deno.test("H1Headers: once changed, every read goes to the real Headers", () => {
  const light = new H1Headers([["x-a", "1"], ["x-a", "2"]]);
  expect(light.get("X-A")).toBe("1, 2");
  light.set("x-a", "3");
  light.append("x-b", "4");
  expect([light.get("x-a"), light.get("x-b"), light.has("x-b")]).toEqual(["3", "4", true]);
  light.delete("x-b");
  expect([...light.keys()]).toEqual(["x-a"]);
  const seen: string[] = [];
  light.forEach((value, key, parent) => seen.push(`${key}=${value}:${parent === light}`));
  expect(seen).toEqual(["x-a=3:true"]);
});

// The authorities the parser lets through (src/http/h1/parse.ts HOST): names, IPv4 in any
// notation, bracketed IPv6, empty and default ports.
const authorityArb = fc.oneof(
  fc.tuple(
    fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6().map((ip) => `[${ip}]`),
      fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=-]{1,20}$/),
    ),
    fc.oneof(
      fc.constant(""),
      fc.constant(":"),
      fc.constant(":80"),
      fc.nat(65535).map((p) => `:${p}`),
    ),
  ).map(([host, port]) => host + port),
  fc.constantFrom("127.0.0.1:8080", "LOCALHOST:80", "[::1]:0080", "0x7f.1", "a%41"),
);

Deno.test("httpOrigin: origin + target is the URL `new Request` would give, for any authority", () => {
  fc.assert(
    fc.property(authorityArb, fc.constantFrom("/mcp", "/mcp/toolcall"), (authority, target) => {
      let expected: string | undefined;
      try {
        expected = new Request(`http://${authority}${target}`).url;
      } catch {
        expected = undefined;
      }
      const origin = httpOrigin(authority);
      expect(origin === undefined ? undefined : origin + target).toBe(expected);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("H1Request: body read once, as bytes, text, JSON or a stream, like Request", async () => {
  const body = () => new TextEncoder().encode('{"a":1}');
  const url = "http://127.0.0.1:1/mcp";
  const headers = new H1Headers([["content-type", "application/json"]]);
  const whole = new H1Request("POST", url, headers, body());
  expect(whole.bodyUsed).toBe(false);
  expect(await whole.json()).toEqual({ a: 1 });
  expect(whole.bodyUsed).toBe(true);
  await expect(whole.bytes()).rejects.toThrow(TypeError);
  expect(await new H1Request("POST", url, headers, body()).text()).toBe('{"a":1}');
  const buffer = await new H1Request("POST", url, headers, body()).arrayBuffer();
  expect(new Uint8Array(buffer)).toEqual(body());
  const streamed = new H1Request("POST", url, headers, body());
  expect(await new Response(streamed.body).text()).toBe('{"a":1}');
  expect(streamed.bodyUsed).toBe(true);
  await expect(streamed.bytes()).rejects.toThrow(TypeError);
  const arriving = new H1Request("POST", url, headers, new Response("xyz").body);
  expect(new TextDecoder().decode(await arriving.bytes())).toBe("xyz");
  expect(await new H1Request("POST", url, headers, null).text()).toBe("");
  expect(new H1Request("POST", url, headers, null).body).toBe(null);
});
