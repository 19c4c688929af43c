import { expect } from "expect";
import { hostnameOf, isAllowedHost, isAllowedOrigin } from "./http_guard.ts";

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
