import { expect } from "expect";
import {
  createDoorGuard,
  hostnameOf,
  isAllowedHost,
  isAllowedOrigin,
  isSameOriginWrite,
  requestHost,
} from "./http_guard.ts";

Deno.test("hostnameOf strips ports and keeps IPv6 brackets", () => {
  expect(hostnameOf("LocalHost:8080")).toBe("localhost");
  expect(hostnameOf("[::1]:8080")).toBe("[::1]");
  expect(hostnameOf("127.0.0.1")).toBe("127.0.0.1");
});

Deno.test("isAllowedHost accepts loopback names and listed hosts only", () => {
  for (const host of ["localhost", "localhost:1", "127.0.0.1:8080", "[::1]:9"]) {
    expect(isAllowedHost(host, [])).toBe(true);
  }
  for (const host of [null, "", "evil.example", "127.0.0.1.evil.example", "localhost.evil"]) {
    expect(isAllowedHost(host, [])).toBe(false);
  }
  expect(isAllowedHost("gw.example:8443", ["gw.example"])).toBe(true);
  expect(isAllowedHost("gw.example:8443", ["gw.example:8443"])).toBe(true);
  expect(isAllowedHost("gw.example:9999", ["gw.example:8443"])).toBe(false);
});

Deno.test("isAllowedOrigin accepts no origin, loopback origins and listed ones", () => {
  expect(isAllowedOrigin(null, [])).toBe(true);
  expect(isAllowedOrigin("http://localhost:3000", [])).toBe(true);
  expect(isAllowedOrigin("https://127.0.0.1", [])).toBe(true);
  expect(isAllowedOrigin("http://[::1]:5173", [])).toBe(true);
  expect(isAllowedOrigin("http://evil.example", [])).toBe(false);
  expect(isAllowedOrigin("null", [])).toBe(false);
  expect(isAllowedOrigin("file://localhost", [])).toBe(false);
  expect(isAllowedOrigin("https://app.example", ["https://app.example"])).toBe(true);
});

Deno.test("createDoorGuard: foreign Host first, then a foreign Origin; accepted hosts remembered", () => {
  const guard = createDoorGuard({
    allowedHosts: [" GW.example "],
    allowedOrigins: ["https://app.example"],
  });
  const check = (headers: Record<string, string>, url = "http:///mcp/toolcall") =>
    guard.check(new Headers(headers), url);
  expect(check({ host: "127.0.0.1:8080" })).toBeNull();
  expect(check({ host: "127.0.0.1:8080" })).toBeNull(); // the remembered value
  expect(check({ host: "gw.example:443", origin: "https://app.example" })).toBeNull();
  expect(check({ host: "[::1]:9", origin: "http://localhost:3000" })).toBeNull();
  expect(check({})).toBe("forbidden_host"); // no Host and no authority
  expect(check({}, "http://127.0.0.1:8080/mcp/toolcall")).toBeNull(); // HTTP/2: :authority
  expect(check({}, "http://evil.example/mcp/toolcall")).toBe("forbidden_host");
  expect(check({ host: "evil.example" }, "http://127.0.0.1/x")).toBe("forbidden_host");
  expect(check({ host: "" })).toBe("forbidden_host");
  expect(check({ host: "evil.example", origin: "http://evil.example" })).toBe("forbidden_host");
  expect(check({ host: "localhost", origin: "http://evil.example" })).toBe("forbidden_origin");
  expect(check({ host: "localhost", origin: "null" })).toBe("forbidden_origin");
  // A foreign value is never remembered, however often it comes.
  for (let i = 0; i < 100; i++) expect(guard.hostAllowed("evil.example")).toBe(false);
  // Remembering is bounded: many loopback ports later, every one is still judged correctly.
  for (let port = 1; port < 200; port++) expect(guard.hostAllowed(`localhost:${port}`)).toBe(true);
  expect(guard.hostAllowed("localhost.evil:1")).toBe(false);
});

Deno.test("isSameOriginWrite: exact scheme, host and port of the request's Host", () => {
  const write = (
    fields: { host?: string; origin?: string; site?: string },
    scheme: "http" | "https" = "http",
  ) =>
    isSameOriginWrite({
      host: fields.host ?? null,
      origin: fields.origin ?? null,
      secFetchSite: fields.site ?? null,
    }, scheme);
  expect(write({ host: "127.0.0.1:8080" })).toBe(true); // no Origin: not a browser
  expect(write({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" })).toBe(true);
  expect(write({ host: "LOCALHOST:8080", origin: "http://localhost:8080" })).toBe(true);
  expect(write({ host: "gw.example", origin: "https://gw.example" }, "https")).toBe(true);
  expect(write({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", site: "same-origin" }))
    .toBe(true);
  expect(write({ host: "127.0.0.1:8080", site: "none" })).toBe(true);
  for (
    const refused of [
      { host: "127.0.0.1:8080", origin: "http://127.0.0.1:9090" }, // another port
      { host: "127.0.0.1:8080", origin: "http://localhost:8080" }, // another host name
      { host: "127.0.0.1:8080", origin: "https://127.0.0.1:8080" }, // another scheme
      { host: "127.0.0.1:8080", origin: "null" },
      { host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080/" },
      { origin: "http://127.0.0.1:8080" }, // no Host
      { host: "127.0.0.1:8080", site: "same-site" },
      { host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", site: "cross-site" },
    ]
  ) {
    expect({ refused, ok: write(refused) }).toEqual({ refused, ok: false });
  }
  expect(write({ host: "gw.example", origin: "http://gw.example" }, "https")).toBe(false);
});

Deno.test("requestHost: the Host header, else the URL's authority", () => {
  const headers = (host?: string) => new Headers(host === undefined ? {} : { host });
  expect(requestHost(headers("evil.example"), "http://127.0.0.1:1/x")).toBe("evil.example");
  expect(requestHost(headers(), "http://127.0.0.1:8080/x?y")).toBe("127.0.0.1:8080");
  expect(requestHost(headers(), "http://[::1]:9")).toBe("[::1]:9");
  expect(requestHost(headers(), "http:///x")).toBeNull();
  expect(requestHost(headers(), "not a url")).toBeNull();
  expect(requestHost(headers(""), "http://127.0.0.1/x")).toBe("");
});
