import { expect } from "expect";
import { childEnvironment } from "./upstream_stdio_process.ts";

Deno.test("childEnvironment: PATH and HOME when set, the configured env over them, nothing else", () => {
  const ours: Record<string, string> = {
    PATH: "/usr/bin",
    HOME: "/home/gw",
    ADMIN_TOKEN: "secret-admin-token",
    AWS_SECRET_ACCESS_KEY: "x",
  };
  expect(childEnvironment({ A: "1" }, (name) => ours[name])).toEqual({
    PATH: "/usr/bin",
    HOME: "/home/gw",
    A: "1",
  });
  expect(childEnvironment({ PATH: "/opt/bin" }, (name) => ours[name])).toEqual({
    PATH: "/opt/bin",
    HOME: "/home/gw",
  });
  expect(childEnvironment({}, () => undefined)).toEqual({});
});
