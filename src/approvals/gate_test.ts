import { expect } from "expect";
import { type ApprovalRecord, inputSha256, newApprovalId } from "./approval.ts";
import { waitForDecision } from "./gate.ts";
import { createMemoryApprovals } from "./store.ts";

const T0 = Date.parse("2026-12-04T10:00:00Z");

function held(): ApprovalRecord {
  return {
    id: newApprovalId(),
    state: "pending",
    door: "mcp",
    toolName: "mail.send",
    agentId: null,
    modelId: "gpt-4o",
    sessionId: "mcp-1",
    inputSha256: inputSha256({}),
    eventId: crypto.randomUUID(),
    inputText: "{}",
    createdAt: T0,
    deadline: T0 + 60_000,
  };
}

function gate(timeoutMs: number) {
  const store = createMemoryApprovals({ timeoutMs });
  return { store, timeoutMs, progressIntervalMs: 5 };
}

Deno.test("waitForDecision: progress ticks while it waits, then the approval is used", async () => {
  const deps = gate(60_000);
  const record = held();
  await deps.store.create(record, T0);
  const ticks: number[] = [];
  const thirdTick = Promise.withResolvers<void>();
  const waiting = waitForDecision(deps, record, {
    clock: () => T0,
    onProgress: (count) => {
      ticks.push(count);
      if (count === 2) thirdTick.resolve();
    },
  });
  await thirdTick.promise; // the client is kept alive by repeated progress, not just one
  await deps.store.decide(record.id, { decision: "approve", by: "admin", note: "", at: T0 });
  const outcome = await waiting;
  expect(outcome.kind).toBe("approved");
  expect(ticks.slice(0, 3)).toEqual([0, 1, 2]);
  expect((await deps.store.get(record.id))?.state).toBe("used");
});

Deno.test("waitForDecision: denied, timed out, withdrawn", async () => {
  const deps = gate(60_000);
  const denied = held();
  await deps.store.create(denied, T0);
  const waitingDenied = waitForDecision(deps, denied, { clock: () => T0 });
  await deps.store.decide(denied.id, { decision: "deny", by: "admin", note: "no", at: T0 });
  expect(await waitingDenied).toMatchObject({
    kind: "refused",
    verdict: { reasonCode: "approval_denied" },
  });

  const short = gate(20);
  const late = held();
  await short.store.create(late, T0);
  expect(await waitForDecision(short, late, { clock: () => T0 })).toMatchObject({
    kind: "refused",
    verdict: { reasonCode: "approval_timeout" },
  });
  expect((await short.store.get(late.id))?.state).toBe("expired");

  const cancelled = held();
  await deps.store.create(cancelled, T0);
  const controller = new AbortController();
  const waitingCancelled = waitForDecision(deps, cancelled, {
    clock: () => T0,
    signal: controller.signal,
  });
  controller.abort();
  expect(await waitingCancelled).toMatchObject({
    kind: "refused",
    verdict: { reasonCode: "approval_withdrawn" },
  });
  // Withdrawn: an admin's late approval is refused.
  expect(
    (await deps.store.decide(cancelled.id, {
      decision: "approve",
      by: "admin",
      note: "",
      at: T0,
    })).ok,
  ).toBe(false);
});
