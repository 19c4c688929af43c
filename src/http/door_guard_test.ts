import { expect } from "expect";
import { requestScheme } from "./door_guard.ts";

Deno.test("requestScheme: https when served over TLS or a proxy says so, else http", () => {
  expect(requestScheme("http://127.0.0.1:8080/reload", null)).toBe("http");
  expect(requestScheme("https://gw.example/reload", null)).toBe("https");
  expect(requestScheme("http://127.0.0.1:8080/reload", "https")).toBe("https");
  expect(requestScheme("http://127.0.0.1:8080/reload", " HTTPS , http")).toBe("https");
  expect(requestScheme("http://127.0.0.1:8080/reload", "http, https")).toBe("http");
  expect(requestScheme("http://127.0.0.1:8080/reload", "wss")).toBe("http");
});
