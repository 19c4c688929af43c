/**
 * §12 "Connections": no client can stop the gateway. Attacks on real sockets against a real
 * gateway on loopback (in process through the harness, and as a real `main.ts` process).
 */
import { expect } from "expect";
import { join } from "node:path";
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from "../harness.ts";
import { FLAGS, MAIN, serveGateway } from "../gateway_process.ts";
import { HTTP_SERVERS } from "../../src/config/config.ts";

const POLICY = `defaults:\n  timezone: UTC\nrules:\n  - model: "gpt-4*"\n    allow_tools: ["*"]\n`;
const encoder = new TextEncoder();

/** Short timeouts so that each attack is seen through in well under a second. */
const SHORT = { HEADER_TIMEOUT_MS: "300", BODY_TIMEOUT_MS: "400", IDLE_TIMEOUT_MS: "500" };

async function connect(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  return await Deno.connect({ hostname, port: Number(port) });
}

/** Reads until the server closes the socket; fails if it has not within `withinMs`. */
async function untilClosed(
  conn: Deno.Conn,
  withinMs: number,
): Promise<{ text: string; ms: number }> {
  const start = performance.now();
  let text = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    const buffer = new Uint8Array(16384);
    while (true) {
      let read: number | null;
      try {
        read = await conn.read(buffer);
      } catch {
        return; // reset by the server: closed too
      }
      if (read === null) return;
      text += decoder.decode(buffer.subarray(0, read), { stream: true });
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) =>
    timer = setTimeout(resolve, withinMs, "timeout")
  );
  const outcome = await Promise.race([reading.then(() => "closed" as const), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    try {
      conn.close();
    } catch { /* closed */ }
    await reading;
    throw new Error(`the gateway kept the connection open for ${withinMs} ms (read: ${text})`);
  }
  return { text, ms: performance.now() - start };
}

/** Writes `bytes` one at a time every `everyMs` until done or the socket fails. */
async function trickle(conn: Deno.Conn, bytes: Uint8Array, everyMs: number): Promise<number> {
  let sent = 0;
  for (const byte of bytes) {
    try {
      await conn.write(Uint8Array.of(byte));
    } catch {
      return sent;
    }
    sent++;
    await new Promise((resolve) => setTimeout(resolve, everyMs)); // the attacker's pace
  }
  return sent;
}

/** One request on its own connection (`connection: close`, so no pool outlives the test). */
async function rawRequest(url: string, head: string, body = ""): Promise<string> {
  const conn = await connect(url);
  try {
    await conn.write(encoder.encode(head + body));
    return (await untilClosed(conn, 5000)).text;
  } finally {
    closeQuietly(conn);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

const HEALTHZ = "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";

async function withGateway(
  env: Record<string, string>,
  body: (gateway: TestGateway) => Promise<void>,
): Promise<void> {
  const gateway = await startTestGateway({ policy: POLICY, env });
  try {
    await body(gateway);
  } finally {
    await gateway.close();
  }
}

async function inTempDir(body: (cwd: string) => Promise<void>): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "mcpsec-conn-" });
  try {
    await Deno.writeTextFile(join(cwd, "policies.yaml"), POLICY);
    await Deno.mkdir(join(cwd, "schemas"));
    await body(cwd);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/** Opens `count` connections at once, each sending half a head; resolves when all settled. */
async function flood(url: string, count: number): Promise<Deno.TcpConn[]> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, async () => {
      const conn = await connect(url);
      await conn.write(encoder.encode("GET / HTTP/1.1\r\n")).catch(() => 0);
      return conn;
    }),
  );
  return results.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
}

/** Initializes an MCP session and opens its GET event stream; tracks when the stream ends. */
async function holdEventStream(url: string) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "x-model-id": "gpt-4o",
  };
  const init = await fetch(url + "/mcp", {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "sse-holder", version: "1" },
      },
    }),
  });
  expect(init.status).toBe(200);
  await init.body?.cancel();
  const session = init.headers.get("mcp-session-id")!;
  const sessionHeaders = {
    ...headers,
    "mcp-session-id": session,
    "mcp-protocol-version": "2025-06-18",
  };
  const initialized = await fetch(url + "/mcp", {
    method: "POST",
    headers: sessionHeaders,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await initialized.body?.cancel();
  const stream = await fetch(url + "/mcp", {
    headers: { ...sessionHeaders, accept: "text/event-stream" },
  });
  expect(stream.status).toBe(200);
  expect(stream.headers.get("content-type")).toContain("text/event-stream");
  const held = { endedAt: undefined as number | undefined, ended: Promise.resolve() };
  const reader = stream.body!.getReader();
  held.ended = (async () => {
    try {
      while (!(await reader.read()).done) { /* events */ }
    } catch { /* cut */ }
    held.endedAt = performance.now();
  })();
  return held;
}

// The connection controls of §12 hold on both HTTP servers (`HTTP_SERVER`).
for (const server of HTTP_SERVERS) {
  Deno.test(`a connection that sends nothing is closed after HEADER_TIMEOUT_MS [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const conn = await connect(url);
      const { text, ms } = await untilClosed(conn, 3000);
      closeQuietly(conn);
      expect(text).toBe("");
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(2000);
    });
  });

  Deno.test(`a connection that sends half a request head is closed [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const conn = await connect(url);
      await conn.write(
        encoder.encode("POST /mcp/toolcall HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-"),
      );
      const { text, ms } = await untilClosed(conn, 3000);
      closeQuietly(conn);
      expect(text).toBe("");
      expect(ms).toBeLessThan(2000);
    });
  });

  Deno.test(`a request head trickled byte by byte is cut at HEADER_TIMEOUT_MS [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const conn = await connect(url);
      const head = encoder.encode(
        `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: ${"a".repeat(200)}\r\n\r\n`,
      );
      const sending = trickle(conn, head, 20); // the whole head would take > 4 s
      const { text, ms } = await untilClosed(conn, 3000);
      const sent = await sending;
      closeQuietly(conn);
      expect(text).toBe("");
      expect(ms).toBeLessThan(2000);
      expect(sent).toBeLessThan(head.byteLength);
    });
  });

  Deno.test(`a body trickled after its head gets 408 at BODY_TIMEOUT_MS and is closed [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const json = JSON.stringify({
        model_id: "gpt-4o",
        session_id: "s1",
        tool_name: "search.web",
        payload: { q: "x".repeat(200) },
      });
      const cases = [
        { path: "/mcp/toolcall", chunked: false, status: 408 },
        { path: "/mcp/toolcall", chunked: true, status: 408 },
        { path: "/mcp", chunked: false, status: 408 },
        { path: "/pins/approve", chunked: false, status: 408 },
        // A route that answers without reading the body: answered, then closed as idle.
        { path: "/nowhere", chunked: false, status: 404 },
      ];
      for (const { path, chunked, status } of cases) {
        const conn = await connect(url);
        const framing = chunked
          ? "transfer-encoding: chunked\r\n"
          : `content-length: ${json.length}\r\n`;
        await conn.write(encoder.encode(
          `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
            "accept: application/json, text/event-stream\r\n" +
            `authorization: Bearer ${TEST_ADMIN_TOKEN}\r\n` +
            framing + "\r\n" + (chunked ? `${json.length.toString(16)}\r\n` : ""),
        ));
        const sending = trickle(conn, encoder.encode(json), 20); // > 4 s for the whole body
        const { text, ms } = await untilClosed(conn, 4000);
        await sending;
        closeQuietly(conn);
        expect({ path, status: text.slice(0, 12) }).toEqual({ path, status: `HTTP/1.1 ${status}` });
        if (path === "/mcp/toolcall") expect(text).toContain('"reason_code":"request_timeout"');
        if (status === 408) expect(ms).toBeGreaterThanOrEqual(350);
        expect(ms).toBeLessThan(2500);
      }
    });
  });

  Deno.test(`an idle keep-alive connection is closed after IDLE_TIMEOUT_MS [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const conn = await connect(url);
      await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
      const buffer = new Uint8Array(4096);
      let head = "";
      while (!/\r\n\r\n[\s\S]*\}/.test(head)) {
        const read = await conn.read(buffer);
        if (read === null) throw new Error(`closed before the answer: ${head}`);
        head += new TextDecoder().decode(buffer.subarray(0, read));
      }
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      const { ms } = await untilClosed(conn, 3000);
      closeQuietly(conn);
      expect(ms).toBeGreaterThanOrEqual(450);
      expect(ms).toBeLessThan(2500);
    });
  });

  Deno.test(`a client that pipelines requests and never reads the answers is cut [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      const conn = await connect(url);
      // 600 pipelined requests for a 14 KB file: megabytes of answers that are never read.
      const one = "GET /dash/dash.css HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
      await conn.write(encoder.encode(one.repeat(600)));
      const start = performance.now();
      // Wait until the gateway is stuck writing, without reading: probe the socket's send side.
      let closedAt: number | undefined;
      const probe = (async () => {
        while (performance.now() - start < 5000) {
          try {
            await conn.write(encoder.encode("\r\n")); // fails once the gateway closed (RST)
          } catch {
            closedAt = performance.now();
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 50)); // the attacker's pace
        }
      })();
      await probe;
      closeQuietly(conn);
      expect(closedAt).toBeDefined();
      expect(closedAt! - start).toBeLessThan(3000);
    });
  });

  Deno.test(`answers are not compressed by the server, whatever the client accepts [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url }) => {
      for (const path of ["/dash/dash.css", "/healthz"]) {
        const text = await rawRequest(
          url,
          `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept-encoding: gzip, br\r\n` +
            "connection: close\r\n\r\n",
        );
        expect(text).toMatch(/^HTTP\/1\.1 200 /);
        expect(text.toLowerCase()).not.toContain("content-encoding");
        expect(text).toContain("nosniff");
      }
    });
  });

  Deno.test(`MAX_CONNECTIONS: one more is refused at once; slots free when the idle ones go [${server}]`, async () => {
    await withGateway(
      { ...SHORT, HTTP_SERVER: server, HEADER_TIMEOUT_MS: "600", MAX_CONNECTIONS: "4" },
      async ({ url }) => {
        const idle = await Promise.all([1, 2, 3, 4].map(() => connect(url)));
        const closing = idle.map((conn) => untilClosed(conn, 4000));
        const extra = await connect(url);
        const refused = await untilClosed(extra, 1000);
        closeQuietly(extra);
        expect(refused.text).toMatch(/^HTTP\/1\.1 503 /);
        expect(refused.text.toLowerCase()).toContain("connection: close");
        expect(refused.ms).toBeLessThan(500);
        for (const closed of await Promise.all(closing)) expect(closed.ms).toBeGreaterThan(400);
        idle.forEach(closeQuietly);
        expect(await rawRequest(url, HEALTHZ)).toMatch(/^HTTP\/1\.1 200 /);
      },
    );
  });

  for (
    const [name, env, count, logged] of [
      ["the default cap", {}, 3000, "Connection limit reached (128 open)"],
      [
        "a cap above the descriptor limit (accept fails with EMFILE)",
        { MAX_CONNECTIONS: "5000" },
        1000,
        "Cannot accept connections: Too many open files",
      ],
    ] as const
  ) {
    Deno.test(`a connection flood under ulimit -n 256 does not kill the gateway (${name}) [${server}]`, async () => {
      await inTempDir(async (cwd) => {
        const gateway = await serveGateway(cwd, {
          HEADER_TIMEOUT_MS: "1000",
          HTTP_SERVER: server,
          ...env,
        }, {
          ulimit: 256,
        });
        let exited = false;
        const status = gateway.child.status.then((status) => {
          exited = true;
          return status;
        });
        try {
          const conns = await flood(gateway.url, count);
          conns.forEach(closeQuietly);
          expect(exited).toBe(false);
          expect(await rawRequest(gateway.url, HEALTHZ)).toMatch(/^HTTP\/1\.1 200 /);
          expect(exited).toBe(false);
        } finally {
          if (!exited) gateway.child.kill("SIGTERM");
          const { code } = await status;
          const stderr = await gateway.drained;
          expect(stderr).not.toContain("Uncaught");
          expect(stderr).toContain(logged);
          expect(code).toBe(0);
        }
      });
    });
  }

  Deno.test(`an SSE stream in progress is not idle: timeouts do not cut it [${server}]`, async () => {
    await withGateway({ ...SHORT, HTTP_SERVER: server }, async ({ url, gateway }) => {
      const held = await holdEventStream(url);
      // Two rounds of header deadlines pass (seen on silent sockets); the stream stays open.
      for (let round = 0; round < 2; round++) {
        const silent = await connect(url);
        await untilClosed(silent, 3000);
        closeQuietly(silent);
      }
      expect(held.endedAt).toBeUndefined();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopped = await Promise.race([
        gateway.shutdown().then(() => "stopped"),
        new Promise((resolve) => timer = setTimeout(resolve, 10_000, "still serving")),
      ]);
      clearTimeout(timer);
      expect(stopped).toBe("stopped");
      await held.ended;
      expect(held.endedAt).toBeDefined();
    });
  });
}

Deno.test("SIGTERM stops the gateway at once while a client holds an MCP SSE stream", async () => {
  await inTempDir(async (cwd) => {
    const gateway = await serveGateway(cwd, {});
    const { url } = gateway;
    const decision = await fetch(url + "/mcp/toolcall", {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body: JSON.stringify({ model_id: "gpt-4o", session_id: "s", tool_name: "search.web" }),
    });
    const eventId = (await decision.json()).event_id as string;
    const held = await holdEventStream(url);

    const killedAt = performance.now();
    gateway.child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      gateway.child.status.then((status) => status.code),
      new Promise<"still running">((resolve) =>
        timer = setTimeout(resolve, 10_000, "still running")
      ),
    ]);
    clearTimeout(timer);
    if (exited === "still running") gateway.child.kill("SIGKILL");
    const exitMs = performance.now() - killedAt;
    await held.ended;
    await gateway.drained;
    expect(exited).toBe(0);
    expect(exitMs).toBeLessThan(3000); // the stream is closed at once, not waited on
    expect(held.endedAt).toBeDefined();
    const audit = await Deno.readTextFile(join(cwd, "audit.log"));
    expect(audit.endsWith("\n")).toBe(true);
    expect(audit).toContain(`"event_id":"${eventId}"`);
    expect(audit).toContain('"event":"mcp_session"');
  });
});

/** Starts a gateway process and leaves a request in flight on it: a body that never comes. */
async function gatewayWithStuckRequest(cwd: string) {
  const gateway = await serveGateway(cwd, {});
  const conn = await connect(gateway.url);
  await conn.write(encoder.encode(
    "POST /mcp/toolcall HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
      'content-length: 100\r\n\r\n{"model_id":',
  ));
  // The request is in flight once a later one on another connection has been answered.
  expect(await rawRequest(gateway.url, HEALTHZ)).toMatch(/^HTTP\/1\.1 200 /);
  return { gateway, conn };
}

async function exitWithin(child: Deno.ChildProcess, ms: number): Promise<number | "running"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    child.status.then((status) => status.code),
    new Promise<"running">((resolve) => timer = setTimeout(resolve, ms, "running")),
  ]);
  clearTimeout(timer);
  if (outcome === "running") {
    child.kill("SIGKILL");
    await child.status;
  }
  return outcome;
}

Deno.test("SIGTERM with a request stuck in flight: a bounded grace, then exit", async () => {
  await inTempDir(async (cwd) => {
    const { gateway, conn } = await gatewayWithStuckRequest(cwd);
    const start = performance.now();
    gateway.child.kill("SIGTERM");
    const code = await exitWithin(gateway.child, 15_000);
    const ms = performance.now() - start;
    closeQuietly(conn);
    await gateway.drained;
    expect(code).toBe(0);
    expect(ms).toBeGreaterThan(4000); // the request in flight had its grace (5 s)…
    expect(ms).toBeLessThan(9000); // …and no more
  });
});

Deno.test("a second SIGTERM exits at once, without the grace", async () => {
  await inTempDir(async (cwd) => {
    const { gateway, conn } = await gatewayWithStuckRequest(cwd);
    const start = performance.now();
    gateway.child.kill("SIGTERM");
    // Signals do not queue: send the second once the first is seen (the port no longer accepts).
    while (performance.now() - start < 3000) {
      try {
        closeQuietly(await connect(gateway.url));
      } catch {
        break;
      }
    }
    gateway.child.kill("SIGTERM");
    const code = await exitWithin(gateway.child, 15_000);
    const ms = performance.now() - start;
    closeQuietly(conn);
    const stderr = await gateway.drained;
    expect(code).toBe(130);
    expect(ms).toBeLessThan(3000);
    expect(stderr).toContain("Second signal");
  });
});

Deno.test("a port in use is one line on stderr and a non-zero exit, no stack trace", async () => {
  await inTempDir(async (cwd) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...FLAGS, MAIN, "serve"],
        cwd,
        env: { NO_COLOR: "1", PORT: String(taken.addr.port), AUDIT_STDOUT: "false" },
        stdout: "null",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      expect(output.code).not.toBe(0);
      expect(stderr).toBe(`Cannot listen on 127.0.0.1:${taken.addr.port}: address in use\n`);
    } finally {
      taken.close();
    }
  });
});
