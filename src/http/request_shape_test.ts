import { expect } from "expect";
import { checkDecisionBody } from "./request_shape.ts";

const good = { model_id: "gpt-4o", session_id: "s1", tool_name: "calendar.create_event" };

Deno.test("checkDecisionBody accepts a full body and defaults the payload to {}", () => {
  expect(checkDecisionBody({ ...good, input: { a: 1 } }, "input")).toEqual({
    ok: true,
    body: {
      modelId: "gpt-4o",
      sessionId: "s1",
      toolName: "calendar.create_event",
      payload: { a: 1 },
    },
  });
  const bare = checkDecisionBody(good, "output");
  expect(bare.ok && bare.body.payload).toEqual({});
});

Deno.test("checkDecisionBody refuses every malformed shape", () => {
  const cases: [unknown, string][] = [
    [null, "JSON object"],
    [[good], "JSON object"],
    ["text", "JSON object"],
    [{ ...good, model_id: "" }, "model_id must be"],
    [{ ...good, model_id: 7 }, "model_id must be"],
    [{ ...good, session_id: "x".repeat(257) }, "session_id must be"],
    [{ ...good, session_id: undefined }, "session_id is required"],
    [{ ...good, tool_name: "../etc/passwd" }, "tool_name must match"],
    [{ ...good, tool_name: "calendar.create_event.output" }, "must not end in .output"],
    [{ ...good, tool_name: "x".repeat(129) }, "tool_name must match"],
    [{ ...good, tool_name: "" }, "tool_name must match"],
    [{ model_id: "m", session_id: "s" }, "tool_name is required"],
    [{ ...good, input: [1] }, "input must be a JSON object"],
    [{ ...good, input: null }, "input must be a JSON object"],
    [{ ...good, extra: 1 }, 'unknown field "extra"'],
    [{ ...good, output: {} }, 'unknown field "output"'],
  ];
  for (const [value, expected] of cases) {
    const result = checkDecisionBody(value, "input");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(expected);
  }
});

Deno.test("checkDecisionBody keeps the well-formed fields of a refused body for the audit", () => {
  const result = checkDecisionBody({ ...good, tool_name: "a/b" }, "input");
  expect(result.ok).toBe(false);
  if (!result.ok) {
    expect(result.facts).toEqual({ modelId: "gpt-4o", sessionId: "s1", toolName: null });
  }
});
