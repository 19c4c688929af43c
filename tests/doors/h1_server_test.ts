/**
 * The builtin HTTP/1.1 server (`HTTP_SERVER=builtin`, src/http/h1/server.ts) over real loopback
 * sockets: what an attacker would send (request smuggling, bare LF, NUL, chunk-size overflow,
 * slow heads), and what honest clients need (pipelining, HTTP/1.0, `Connection: close`,
 * `Expect: 100-continue`, bodies in pieces, event streams cancelled when the client leaves).
 */
import { expect } from "expect";
import fc from "fast-check";
import { silentLogger } from "../../src/log.ts";
import { BodyTooLargeError } from "../../src/http/body_deadline.ts";
import { listenTcp, serveConnections } from "../../src/http/listener.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Served {
  readonly port: number;
  /** Requests the handler saw, as `METHOD url body`. */
  readonly seen: string[];
  close(): Promise<void>;
}

function serve(
  options: {
    handler?: (request: Request) => Response | Promise<Response>;
    headerTimeoutMs?: number;
    /** Body and idle timeouts (default 5 s). */
    otherTimeoutsMs?: number;
    maxBodyBytes?: number;
  } = {},
): Served {
  const listening = listenTcp({ hostname: "127.0.0.1", port: 0 });
  if (!listening.ok) throw new Error(listening.error);
  const seen: string[] = [];
  const echo = async (request: Request) => {
    let body = "";
    try {
      if (request.method !== "GET" && request.method !== "HEAD") body = await request.text();
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      return new Response("too large", { status: 413 });
    }
    seen.push(`${request.method} ${request.url} ${body}`);
    return Response.json({
      method: request.method,
      url: request.url,
      body,
      headers: [...request.headers],
    });
  };
  const server = serveConnections({
    listener: listening.listener,
    handler: options.handler ?? echo,
    server: "builtin",
    maxBodyBytes: options.maxBodyBytes ?? 1000,
    limits: {
      headerTimeoutMs: options.headerTimeoutMs ?? 5000,
      bodyTimeoutMs: options.otherTimeoutsMs ?? 5000,
      idleTimeoutMs: options.otherTimeoutsMs ?? 5000,
      maxConnections: 16,
    },
    log: silentLogger(),
  });
  return {
    port: server.addr.port,
    seen,
    close: () => server.shutdown(1000),
  };
}

/** Sends `text` (Latin-1) and reads until the server closes or `withinMs` passes. */
async function exchange(
  port: number,
  text: string | string[],
  withinMs = 5000,
): Promise<{ text: string; closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const parts = typeof text === "string" ? [text] : text;
  let received = "";
  const reading = (async () => {
    const buffer = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        return true;
      }
      if (n === null) return true;
      received += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  })();
  for (const part of parts) {
    await conn.write(Uint8Array.from(part, (c) => c.charCodeAt(0))).catch(() => 0);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    reading,
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), withinMs)),
  ]);
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  await reading;
  return { text: received, closed };
}

function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

const SMUGGLED = "GET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n";

Deno.test("smuggling over a socket: refused with 400, closed, the hidden request never served", async () => {
  const served = serve();
  try {
    const attacks = [
      // CL.TE and TE.CL: a front end reading one framing, us the other, would split differently.
      `POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n5c\r\n${SMUGGLED}\r\n0\r\n\r\n`,
      `POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\ncontent-length: 37\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ntransfer-encoding: identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\nx: y\r\n transfer-encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\nhost: a\ncontent-length: 0\n\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\nx: a\x00b\r\ncontent-length: 0\r\n\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n100000000\r\n${SMUGGLED}`,
      `POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n${SMUGGLED}`,
      `GET http://a/smuggled HTTP/1.1\r\nhost: a\r\n\r\n`,
    ];
    for (const attack of attacks) {
      const { text, closed } = await exchange(served.port, attack);
      expect({ attack, status: statuses(text), closed }).toEqual({
        attack,
        status: [text.startsWith("HTTP/1.1 501") ? 501 : 400],
        closed: true,
      });
    }
    expect(served.seen.filter((line) => line.includes("smuggled"))).toEqual([]);
  } finally {
    await served.close();
  }
});

Deno.test("pipelined requests are answered in order; Connection: close and HTTP/1.0 end it", async () => {
  const served = serve();
  try {
    const three = "GET /1 HTTP/1.1\r\nhost: a\r\n\r\n" +
      "POST /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc" +
      "POST /3 HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n" +
      "2\r\nde\r\n1;x=y\r\nf\r\n0\r\nt: v\r\n\r\n" +
      "GET /never HTTP/1.1\r\nhost: a\r\n\r\n";
    const { text, closed } = await exchange(served.port, three);
    expect(statuses(text)).toEqual([200, 200, 200]);
    expect(closed).toBe(true);
    expect(served.seen).toEqual([
      "GET http://a/1 ",
      "POST http://a/2 abc",
      "POST http://a/3 def",
    ]);
    expect(text).toContain("connection: close");
    const old = await exchange(served.port, "GET /old HTTP/1.0\r\n\r\n");
    expect(statuses(old.text)).toEqual([200]);
    expect(old.closed).toBe(true);
    expect(served.seen.at(-1)).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/old $/);
  } finally {
    await served.close();
  }
});

Deno.test("bodies: in pieces, chunked in pieces, Expect: 100-continue, too large not read", async () => {
  const served = serve();
  try {
    const pieces = await exchange(served.port, [
      "POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\nconnection: close\r\n\r\n01",
      "234",
      "56789",
    ]);
    expect(statuses(pieces.text)).toEqual([200]);
    const chunked = await exchange(served.port, [
      "POST /c HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r",
      "\nabc\r\n",
      "2\r\nde\r\n0\r\n",
      "\r\n",
    ]);
    expect(statuses(chunked.text)).toEqual([200]);
    expect(served.seen.slice(-2)).toEqual(["POST http://a/p 0123456789", "POST http://a/c abcde"]);

    // 100-continue: the client waits for it before sending the body.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
    await conn.write(encoder.encode(
      "POST /e HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\nexpect: 100-continue\r\n" +
        "connection: close\r\n\r\n",
    ));
    const buffer = new Uint8Array(4096);
    const first = decoder.decode(buffer.subarray(0, (await conn.read(buffer))!));
    expect(first).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(encoder.encode("ok"));
    let rest = "";
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      rest += decoder.decode(buffer.subarray(0, n));
    }
    conn.close();
    expect(statuses(rest)).toEqual([200]);
    expect(served.seen.at(-1)).toBe("POST http://a/e ok");

    // Declared above the limit: the handler sees no body (and answers 413 itself in the gateway).
    const large = await exchange(
      served.port,
      `POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: 5000\r\n\r\n${"x".repeat(100)}`,
    );
    expect(statuses(large.text)).toEqual([200]);
    expect(large.closed).toBe(true);
    expect(served.seen.at(-1)).toBe("POST http://a/big ");
    const chunkedLarge = await exchange(
      served.port,
      "POST /big HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3e9\r\n",
    );
    expect(statuses(chunkedLarge.text)).toEqual([413]);
    expect(chunkedLarge.closed).toBe(true);
  } finally {
    await served.close();
  }
});

Deno.test("answers: headers as set, HEAD and 204 without a body, one head per answer", async () => {
  const endless = Promise.withResolvers<void>();
  const served = serve({
    handler: (request) => {
      const url = new URL(request.url);
      if (url.pathname === "/none") return new Response(null, { status: 204 });
      if (url.pathname === "/sse") {
        const events = new ReadableStream({ cancel: () => endless.resolve() });
        return new Response(events, { headers: { "content-type": "text/event-stream" } });
      }
      return new Response("hello", {
        headers: { "x-content-type-options": "nosniff", "content-length": "999" },
      });
    },
  });
  try {
    const { text } = await exchange(
      served.port,
      "HEAD /h HTTP/1.1\r\nhost: a\r\n\r\nHEAD /sse HTTP/1.1\r\nhost: a\r\n\r\n" +
        "GET /none HTTP/1.1\r\nhost: a\r\n\r\n" +
        "GET /g HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers.length).toBe(4);
    // HEAD: no body read or sent (an event stream is dropped), the declared length kept.
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answers[0]).toContain("content-length: 999\r\n");
    expect(answers[0].endsWith("\r\n\r\n")).toBe(true);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answers[1]).not.toContain("content-length");
    expect(answers[1].endsWith("\r\n\r\n")).toBe(true);
    await endless.promise;
    expect(answers[2]).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(answers[2]).not.toContain("content-length");
    // GET: the handler's content-length is replaced by the real one.
    expect(answers[3]).toContain("nosniff");
    expect(answers[3].endsWith("\r\n\r\nhello")).toBe(true);
    expect(answers[3].match(/content-length/g)?.length).toBe(1);
    expect(answers[3]).toContain("content-length: 5\r\n");
  } finally {
    await served.close();
  }
});

Deno.test("an event stream is written as it comes and cancelled when the client leaves", async () => {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = Promise.withResolvers<void>();
  const served = serve({
    handler: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => void (controller = c),
          cancel: () => cancelled.resolve(),
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
    await conn.write(encoder.encode("GET /sse HTTP/1.1\r\nhost: a\r\n\r\n"));
    const buffer = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      text += decoder.decode(buffer.subarray(0, (await conn.read(buffer))!));
    }
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain("transfer-encoding: chunked\r\n");
    controller.enqueue(encoder.encode("data: one\n\n"));
    text = "";
    while (!text.includes("data: one")) {
      text += decoder.decode(buffer.subarray(0, (await conn.read(buffer))!));
    }
    expect(text).toBe("b\r\ndata: one\n\n\r\n");
    conn.close();
    await cancelled.promise; // the stream is cancelled without anything more to write
  } finally {
    await served.close();
  }
});

Deno.test("slowloris on the builtin server: a trickled head is cut at the header timeout", async () => {
  const served = serve({ headerTimeoutMs: 300 });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
    const start = performance.now();
    let closedAt = 0;
    const reading = (async () => {
      const buffer = new Uint8Array(1024);
      try {
        while (await conn.read(buffer) !== null);
      } catch { /* reset */ }
      closedAt = performance.now();
    })();
    for (const byte of encoder.encode("GET / HTTP/1.1\r\nhost: a\r\nx: aaaaaaaaaaaaaaaaaaaaa")) {
      if (closedAt !== 0) break;
      await conn.write(Uint8Array.of(byte)).catch(() => 0);
      await new Promise((resolve) => setTimeout(resolve, 40)); // the attacker's pace
    }
    await reading;
    conn.close();
    expect(closedAt - start).toBeLessThan(1500);
    expect(served.seen).toEqual([]);
  } finally {
    await served.close();
  }
});

Deno.test("property: hostile bytes on a socket never stop the server or reach the handler unframed", async () => {
  // Short timeouts: half requests are cut quickly instead of waiting for the client to give up.
  const served = serve({ headerTimeoutMs: 200, otherTimeoutsMs: 200 });
  try {
    const junk = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((bytes) => String.fromCharCode(...bytes)),
      fc.tuple(
        fc.constantFrom("GET", "POST", "P\0ST", "GET /"),
        fc.constantFrom(" / HTTP/1.1\r\n", " /x HTTP/1.1\n", " * HTTP/1.1\r\n", " / HTTP/9.9\r\n"),
        fc.array(
          fc.constantFrom(
            "host: a\r\n",
            "content-length: 3\r\n",
            "transfer-encoding: chunked\r\n",
            "content-length: 99999999\r\n",
            "x: \0\r\n",
            " folded\r\n",
            "expect: 100-continue\r\n",
          ),
          { maxLength: 4 },
        ),
        fc.constantFrom("\r\n", "\n", "\r\n3\r\nabc\r\n0\r\n\r\n", "\r\nabc"),
      ).map((parts) => parts.flat().join("")),
    );
    await fc.assert(
      fc.asyncProperty(junk, async (text) => {
        const { text: answer, closed } = await exchange(served.port, text, 3000);
        expect(closed).toBe(true); // refused, answered, or cut by a deadline: never held
        // Whatever came back is zero or more well-formed status lines, never a crash or a hang.
        expect(/^(HTTP\/1\.1 \d{3} [^\r\n]*\r\n[\s\S]*)?$/.test(answer)).toBe(true);
      }),
      { numRuns: 60 },
    );
    // Still serving, and nothing the handler saw had an ambiguous framing.
    const ok = await exchange(
      served.port,
      "GET /after HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    expect(statuses(ok.text)).toEqual([200]);
    for (const line of served.seen) expect(line).toMatch(/^(GET|POST) http:\/\/[^ ]+ /);
  } finally {
    await served.close();
  }
});

Deno.test("property: pipelined requests split anywhere on the wire are served as when whole", async () => {
  const served = serve();
  try {
    const stream = "POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n0123456789" +
      "POST /b HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
      "GET /c HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 4 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
          const before = served.seen.length;
          let text = "";
          const reading = (async () => {
            const buffer = new Uint8Array(65536);
            for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
              text += decoder.decode(buffer.subarray(0, n));
            }
          })();
          for (let i = 1; i < points.length; i++) {
            await conn.write(encoder.encode(stream.slice(points[i - 1], points[i])));
            await new Promise((resolve) => setTimeout(resolve, 3)); // the client's pace
          }
          await reading;
          conn.close();
          expect(statuses(text)).toEqual([200, 200, 200]);
          expect(served.seen.slice(before)).toEqual([
            "POST http://a/a 0123456789",
            "POST http://a/b abcde",
            "GET http://a/c ",
          ]);
        },
      ),
      { numRuns: 40 },
    );
  } finally {
    await served.close();
  }
});

Deno.test("a head near the limit is served, the next one on the connection too; past it 431", async () => {
  const served = serve();
  try {
    const big = `GET /big HTTP/1.1\r\nhost: a\r\nx-big: ${"b".repeat(20_000)}\r\n\r\n`;
    const { text, closed } = await exchange(
      served.port,
      big + "GET /next HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    expect(statuses(text)).toEqual([200, 200]);
    expect(closed).toBe(true);
    const tooBig = await exchange(
      served.port,
      `GET / HTTP/1.1\r\nhost: a\r\nx-big: ${"b".repeat(40_000)}\r\n\r\n`,
    );
    expect(statuses(tooBig.text)).toEqual([431]);
    expect(tooBig.closed).toBe(true);
  } finally {
    await served.close();
  }
});

Deno.test("obs-text header bytes reach the handler as byte strings, on the hot routes and off them", async () => {
  const served = serve();
  try {
    for (const head of ["POST /mcp HTTP/1.1", "POST /mcp/toolcall HTTP/1.1", "GET /a HTTP/1.1"]) {
      const body = head.startsWith("POST") ? "{}" : "";
      const { text } = await exchange(
        served.port,
        `${head}\r\nhost: a\r\nx-obs: \x80\x9f\xe9 z\r\ncontent-length: ${body.length}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
      expect({ head, status: statuses(text) }).toEqual({ head, status: [200] });
      const json = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
      expect(json.headers).toContainEqual(["x-obs", "\u0080\u009f\u00e9 z"]);
    }
  } finally {
    await served.close();
  }
});
