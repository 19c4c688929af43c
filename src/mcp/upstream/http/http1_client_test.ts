import { expect } from "expect";
import { canUseHttp1, createHttp1Client } from "./http1_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Received {
  readonly head: string;
  readonly body: string;
}

type Script = (request: Received, conn: Deno.TcpConn, index: number) => Promise<"keep" | "close">;

/** A TCP server on 127.0.0.1 answering each request on each connection with `script`. */
function startTcp(script: Script) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: Received[] = [];
  let connections = 0;
  const handlers: Promise<void>[] = [];
  const conns = new Set<Deno.TcpConn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      handlers.push(
        serve(conn).catch(() => {}).finally(() => {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // closed by the script
          }
        }),
      );
    }
  })();
  async function serve(conn: Deno.TcpConn): Promise<void> {
    let buffered: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    const buffer = new Uint8Array(65536);
    for (;;) {
      let end: number;
      while ((end = decoder.decode(buffered).indexOf("\r\n\r\n")) < 0) {
        const n = await conn.read(buffer);
        if (n === null) return;
        buffered = concat(buffered, buffer.subarray(0, n));
      }
      const head = decoder.decode(buffered.subarray(0, end));
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? "0");
      while (buffered.length < end + 4 + length) {
        const n = await conn.read(buffer);
        if (n === null) return;
        buffered = concat(buffered, buffer.subarray(0, n));
      }
      const body = decoder.decode(buffered.subarray(end + 4, end + 4 + length));
      buffered = buffered.slice(end + 4 + length);
      const request = { head, body };
      requests.push(request);
      if (await script(request, conn, requests.length - 1) === "close") return;
    }
  }
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/mcp?x=1`,
    requests,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function write(conn: Deno.TcpConn, text: string | Uint8Array): Promise<void> {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

const ok = (body: string) =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${
    encoder.encode(body).length
  }\r\n\r\n${body}`;

const post = (body = '{"a":1}', headers = new Headers({ "content-type": "application/json" })) => ({
  method: "POST",
  headers,
  body,
  signal: new AbortController().signal,
});

Deno.test("http1 client: frames the request and reuses one keep-alive connection", async () => {
  const server = startTcp(async (request, conn) => {
    await write(conn, ok(`{"echo":${request.body}}`));
    return "keep";
  });
  const client = createHttp1Client(server.url);
  try {
    const headers = new Headers({
      "content-type": "application/json",
      "connection": "close",
      "transfer-encoding": "chunked",
      "authorization": "Bearer t",
    });
    for (let i = 0; i < 3; i++) {
      const response = await client.fetch(server.url, post(`{"n":${i}}`, headers));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ echo: { n: i } });
    }
    expect(server.connections).toBe(1);
    expect(client.idle).toBe(1);
    const head = server.requests[0].head.toLowerCase();
    expect(head.startsWith("post /mcp?x=1 http/1.1\r\n")).toBe(true);
    expect(head).toContain(`host: ${new URL(server.url).host}`);
    expect(head).toContain("content-length: 7");
    expect(head).toContain("authorization: bearer t");
    expect(head).not.toContain("transfer-encoding");
    expect(head).not.toContain("connection");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: non-ASCII and large bodies go out whole with their byte length", async () => {
  const server = startTcp(async (_request, conn) => {
    await write(conn, ok("{}"));
    return "keep";
  });
  const client = createHttp1Client(server.url);
  try {
    const bodies = [
      '{"text":"é漢字😀"}', // 3 characters of 2, 3 and 4 bytes beyond ASCII
      `{"text":"${"ü".repeat(40_000)}"}`, // larger than the reused encoding buffer
      `{"text":"${"a".repeat(21_000)}"}`, // just under it, after the large one
      "",
    ];
    for (const body of bodies) {
      const response = await client.fetch(server.url, post(body, new Headers()));
      await response.bytes();
    }
    expect(server.requests.map((r) => r.body)).toEqual(bodies);
    for (const [i, body] of bodies.entries()) {
      expect(server.requests[i].head).toContain(`content-length: ${encoder.encode(body).length}`);
    }
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: bodies split across writes, chunked and by length, stream whole", async () => {
  const server = startTcp(async (request, conn) => {
    if (request.head.startsWith("POST")) {
      await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello");
      await write(conn, " world");
    } else {
      await write(
        conn,
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
      );
      await write(conn, "5\r\nchunk\r\n");
      await write(conn, "3\r\ned!\r\n0\r\n\r\n");
    }
    return "keep";
  });
  const client = createHttp1Client(server.url);
  try {
    expect(await (await client.fetch(server.url, post())).text()).toBe("hello world");
    const chunked = await client.fetch(server.url, {
      method: "GET",
      headers: new Headers(),
      signal: new AbortController().signal,
    });
    expect(await chunked.text()).toBe("chunked!");
    expect(server.connections).toBe(1);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: a connection the server closed is replaced, not failed", async () => {
  const server = startTcp(async (_request, conn) => {
    await write(conn, ok("{}"));
    return "close";
  });
  const client = createHttp1Client(server.url);
  try {
    for (let i = 0; i < 3; i++) {
      expect(await (await client.fetch(server.url, post())).json()).toEqual({});
    }
    expect(server.connections).toBe(3);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: ambiguous framing and bad heads fail as network errors", async () => {
  const answers = [
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
    "NOT HTTP\r\n\r\n",
    `HTTP/1.1 200 OK\r\nx: ${"a".repeat(70 * 1024)}`,
    "HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\n{}",
    "HTTP/1.1 100 Continue\r\n\r\n".repeat(9) + "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  ];
  const server = startTcp(async (_request, conn, index) => {
    await write(conn, answers[index]);
    return "close";
  });
  const client = createHttp1Client(server.url);
  try {
    for (let i = 0; i < answers.length; i++) {
      const error = await client.fetch(server.url, post()).then(() => null, (e) => e);
      expect(error).toBeInstanceOf(TypeError);
    }
    expect(client.idle).toBe(0);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: a body cut short errors; abort stops a body mid-way", async () => {
  const release = Promise.withResolvers<void>();
  const server = startTcp(async (request, conn) => {
    if (request.body === "cut") {
      await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
      return "close";
    }
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
    await release.promise;
    return "close";
  });
  const client = createHttp1Client(server.url);
  try {
    const cut = await client.fetch(server.url, post("cut"));
    expect(await cut.text().then(() => null, (e) => e)).toBeInstanceOf(TypeError);
    const controller = new AbortController();
    const response = await client.fetch(server.url, { ...post("wait"), signal: controller.signal });
    const reader = response.body!.getReader();
    expect(decoder.decode((await reader.read()).value)).toBe("partial");
    controller.abort();
    const error = await reader.read().then(() => null, (e) => e);
    expect(error?.name).toBe("AbortError");
    expect(client.idle).toBe(0);
  } finally {
    release.resolve();
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: a gzip body is decoded", async () => {
  const gzipped = new Uint8Array(
    await new Response(
      new Blob([encoder.encode('{"zipped":true}')]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );
  const server = startTcp(async (_request, conn) => {
    await write(
      conn,
      `HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: ${gzipped.length}\r\n\r\n`,
    );
    await write(conn, gzipped);
    return "keep";
  });
  const client = createHttp1Client(server.url);
  try {
    expect(await (await client.fetch(server.url, post())).json()).toEqual({ zipped: true });
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: the response reads like a Response", async () => {
  const server = startTcp(async (_request, conn) => {
    await write(
      conn,
      "HTTP/1.1 201 Created\r\nX-Multi: a\r\nContent-Type: text/plain\r\nx-multi: b\r\n" +
        "content-length: 5\r\n\r\nhello",
    );
    return "keep";
  });
  const client = createHttp1Client(server.url);
  try {
    const first = await client.fetch(server.url, post());
    expect([first.status, first.ok]).toEqual([201, true]);
    expect(first.headers.get("content-type")).toBe("text/plain");
    expect(first.headers.get("X-MULTI")).toBe("a, b");
    expect(first.headers.get("absent")).toBe(null);
    expect(new TextDecoder().decode(await first.bytes())).toBe("hello");
    const second = await client.fetch(server.url, post());
    const reader = second.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("hello");
    expect((await reader.read()).done).toBe(true);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("http1 client: used only for plain http without a proxy variable", () => {
  const none = () => undefined;
  expect(canUseHttp1("http://127.0.0.1:1/mcp", none)).toBe(true);
  expect(canUseHttp1("https://127.0.0.1:1/mcp", none)).toBe(false);
  expect(canUseHttp1("http://user:pw@127.0.0.1:1/mcp", none)).toBe(false);
  expect(canUseHttp1("http://127.0.0.1:1/mcp", (n) => n === "HTTP_PROXY" ? "http://p" : undefined))
    .toBe(false);
  expect(canUseHttp1("not a url", none)).toBe(false);
});
