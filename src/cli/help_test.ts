import { expect } from "expect";
import { COMMAND_HELP, COMMANDS, MAIN_HELP, parseCommandLine, wantsHelp } from "./help.ts";
import { hashKeyCommand } from "./hash_key.ts";
import { VERSION } from "../version.ts";

Deno.test("parseCommandLine: help and version never run a command", () => {
  expect(parseCommandLine([])).toEqual({ kind: "run", command: "serve", args: [] });
  for (const args of [["--help"], ["-h"], ["help"]]) {
    expect(parseCommandLine(args)).toEqual({ kind: "help", text: MAIN_HELP });
  }
  for (const command of COMMANDS) {
    expect(parseCommandLine([command, "--help"])).toEqual({
      kind: "help",
      text: COMMAND_HELP[command],
    });
    expect(parseCommandLine(["help", command])).toEqual({
      kind: "help",
      text: COMMAND_HELP[command],
    });
    expect(COMMAND_HELP[command]).toContain(`Usage: mcp-sec-gateway ${command}`);
  }
  expect(parseCommandLine(["serve", "x", "-h"]).kind).toBe("help");
  expect(parseCommandLine(["--version"])).toEqual({
    kind: "version",
    text: `mcp-sec-gateway ${VERSION}`,
  });
  expect(parseCommandLine(["serve", "extra"]).kind).toBe("usage");
  expect(parseCommandLine(["frobnicate"])).toEqual({
    kind: "usage",
    error: 'Unknown command "frobnicate" (see mcp-sec-gateway --help)',
  });
  expect(parseCommandLine(["verify-log", "--", "--help"])).toEqual({
    kind: "run",
    command: "verify-log",
    args: ["--", "--help"],
  });
  expect(wantsHelp(["a", "--", "-h"])).toBe(false);
});

Deno.test("hash-key: refuses keys under 16 characters, never echoing them; usage errors exit 2", () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { print: (l: string) => out.push(l), printError: (l: string) => err.push(l) };
  expect(hashKeyCommand(["short-key-11"], io)).toBe(1);
  expect(err.join("\n")).not.toContain("short-key-11");
  expect(err[0]).toContain("at least 16 characters, this one has 12");
  expect(hashKeyCommand(["ééééééééééééééé"], io)).toBe(1); // 15 characters, 30 bytes
  expect(hashKeyCommand([], io)).toBe(2);
  expect(hashKeyCommand(["a", "b"], io)).toBe(2);
  expect(out).toEqual([]);
  expect(hashKeyCommand(["--", "0123456789abcdef"], io)).toBe(0);
  expect(out[0]).toMatch(/^[0-9a-f]{64}$/);
});
