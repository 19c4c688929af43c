import { expect } from "expect";
import fc from "fast-check";
import {
  ChunkedError,
  createChunkedBodyDecoder,
  type HeadParse,
  MAX_REQUEST_HEAD_BYTES,
  MAX_REQUEST_HEADERS,
  newHeadScan,
  parseRequestHead,
} from "./parse.ts";

function parse(text: string | Uint8Array): HeadParse {
  const bytes = typeof text === "string" ? latin1(text) : text;
  return parseRequestHead(bytes, bytes.length, newHeadScan());
}

function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function refused(text: string): number {
  const result = parse(text);
  if (result.kind !== "error") throw new Error(`accepted: ${JSON.stringify(text)}`);
  return result.error.status;
}

/** Feeds `bytes` in the pieces `cuts` gives, as a server reading a socket would. */
function parseInPieces(bytes: Uint8Array, cuts: number[]): HeadParse {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const scan = newHeadScan();
  let result: HeadParse = { kind: "incomplete" };
  for (const point of [...points, bytes.length]) {
    result = parseRequestHead(bytes, point, scan);
    if (result.kind !== "incomplete") return result;
  }
  return result;
}

const GET = "GET /healthz?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Pad:  a b \r\n\r\n";

Deno.test("a request head: method, target, headers lower-cased, size for pipelining", () => {
  const result = parse(GET + "GET / HTTP/1.1\r\n");
  if (result.kind !== "head") throw new Error(JSON.stringify(result));
  expect(result.size).toBe(GET.length);
  expect(result.head).toEqual({
    method: "GET",
    target: "/healthz?x=1",
    minor: 1,
    headers: [["host", "127.0.0.1:8080"], ["x-pad", "a b"]],
    host: "127.0.0.1:8080",
    framing: { kind: "none" },
    keepAlive: true,
    expectContinue: false,
  });
});

Deno.test("framing: Content-Length, chunked, none; keep-alive per version and Connection", () => {
  const head = (text: string) => {
    const result = parse(text);
    if (result.kind !== "head") throw new Error(JSON.stringify(result));
    return result.head;
  };
  expect(head("POST /mcp HTTP/1.1\r\nhost: a\r\ncontent-length: 12\r\n\r\n").framing)
    .toEqual({ kind: "length", length: 12 });
  expect(head("POST /mcp HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n").framing)
    .toEqual({ kind: "none" });
  expect(head("POST /mcp HTTP/1.1\r\nhost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").framing)
    .toEqual({ kind: "chunked" });
  expect(head("GET / HTTP/1.0\r\n\r\n")).toMatchObject({ keepAlive: false, host: undefined });
  expect(head("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keepAlive).toBe(true);
  expect(head("GET / HTTP/1.1\r\nhost: a\r\nconnection: foo, Close\r\n\r\n").keepAlive)
    .toBe(false);
  expect(head("POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-Continue\r\n\r\n").expectContinue)
    .toBe(true);
  // Up to a few empty lines before the request line are ignored (RFC 9112 §2.2).
  expect(head("\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n").target).toBe("/");
});

Deno.test("smuggling: every ambiguous framing is refused, never guessed", () => {
  const post = (headers: string) => `POST /mcp HTTP/1.1\r\nhost: a\r\n${headers}\r\n`;
  const cases: [string, number][] = [
    [post("content-length: 5\r\ntransfer-encoding: chunked\r\n"), 400],
    [post("transfer-encoding: chunked\r\ncontent-length: 5\r\n"), 400],
    [post("content-length: 5\r\ncontent-length: 5\r\n"), 400],
    [post("content-length: 5\r\ncontent-length: 6\r\n"), 400],
    [post("content-length: 5, 5\r\n"), 400],
    [post("content-length: +5\r\n"), 400],
    [post("content-length: 0x5\r\n"), 400],
    [post("content-length: 5 5\r\n"), 400],
    [post("content-length: 1234567890123456\r\n"), 400],
    [post("content-length:\r\n"), 400],
    [post("transfer-encoding: chunked, identity\r\n"), 501],
    [post("transfer-encoding: identity\r\n"), 501],
    [post("transfer-encoding: gzip, chunked\r\n"), 501],
    [post("transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n"), 501],
    [post("transfer-encoding: xchunked\r\n"), 501],
    [post("transfer-encoding: chunked\x0b\r\n"), 400],
    [post("transfer-encoding : chunked\r\n"), 400],
    [post(" transfer-encoding: chunked\r\n"), 400],
    [post("x: y\r\n transfer-encoding: chunked\r\n"), 400], // obs-fold
    [post("x: y\r\n\ttransfer-encoding: chunked\r\n"), 400],
    [post("transfer-encoding:\x00chunked\r\n"), 400],
    ["POST /mcp HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n", 400],
    [post("x-a: b\x00c\r\n"), 400],
    [post("x-a: b\x7fc\r\n"), 400],
    [post("x-a: b\rc\r\n"), 400],
    [post("x-[a]: b\r\n"), 400],
    [post(": b\r\n"), 400],
    [post("expect: 100-continue\r\nexpect: 100-continue\r\n"), 400],
    [post("expect: something\r\n"), 417],
  ];
  for (const [text, status] of cases) {
    expect({ text, status: refused(text) }).toEqual({ text, status });
  }
});

Deno.test("line endings: bare LF or bare CR anywhere in the head is refused at once", () => {
  for (
    const text of [
      "GET / HTTP/1.1\nhost: a\n\n",
      "GET / HTTP/1.1\r\nhost: a\n\r\n",
      "GET / HTTP/1.1\r\nhost: a\r\n\n",
      "GET / HTTP/1.1\r\nhost: a\rx: y\r\n\r\n",
      "GET / HTTP/1.1\rhost: a\r\n\r\n",
      "\nGET / HTTP/1.1\r\nhost: a\r\n\r\n",
      "\r\rGET / HTTP/1.1\r\nhost: a\r\n\r\n",
      // Not finished, but already wrong: no need to wait for the rest (or the header timeout).
      "GET / HTTP/1.1\r\nhost: a\nx",
    ]
  ) expect({ text, status: refused(text) }).toEqual({ text, status: 400 });
});

Deno.test("request line: origin-form only, strict version, single spaces", () => {
  const cases: [string, number][] = [
    ["GET http://evil/ HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["CONNECT a:443 HTTP/1.1\r\nhost: a\r\n\r\n", 501],
    ["GET /#frag HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\nhost: a\r\n\r\n", 505],
    ["GET / HTTP/1.1 \r\nhost: a\r\n\r\n", 400],
    ["GET / http/1.1\r\nhost: a\r\n\r\n", 400],
    ["GET  / HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["GET /\tx HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["GET /\xe9 HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["G(T / HTTP/1.1\r\nhost: a\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", 400],
    ["\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n", 400],
  ];
  for (const [text, status] of cases) {
    expect({ text, status: refused(text) }).toEqual({ text, status });
  }
  expect(parse("GET / HTTP/1.1\r\nhost: [::1]:80\r\n\r\n").kind).toBe("head");
  // A Host that is not a plain authority never makes the URL (it would move the path): the
  // header is kept for the door guards, which refuse it.
  for (const value of ["a/b?", "a@b", "", "[::1", "a\\b"]) {
    const result = parse(`GET / HTTP/1.1\r\nhost: ${value}\r\n\r\n`);
    if (result.kind !== "head") throw new Error(JSON.stringify(result));
    expect(result.head.host).toBeUndefined();
    expect(result.head.headers).toEqual([["host", value]]);
  }
  const missing = parse("GET / HTTP/1.1\r\n\r\n");
  expect(missing.kind === "head" && missing.head.host).toBeUndefined();
});

Deno.test("limits: head size and header count give 431, even before the head is complete", () => {
  const many = Array.from({ length: MAX_REQUEST_HEADERS + 1 }, (_, i) => `x-${i}: v\r\n`).join("");
  expect(refused(`GET / HTTP/1.1\r\nhost: a\r\n${many}\r\n`)).toBe(431);
  const big = `GET / HTTP/1.1\r\nhost: a\r\nx: ${"a".repeat(MAX_REQUEST_HEAD_BYTES)}`;
  expect(refused(big)).toBe(431);
  expect(refused(big + "\r\n\r\n")).toBe(431);
});

Deno.test("a head delivered in pieces is scanned incrementally and parses as a whole", () => {
  const text = latin1(GET);
  for (let cut = 0; cut <= text.length; cut++) {
    expect(parseInPieces(text, [cut])).toEqual(parse(text));
  }
  expect(parseInPieces(text, Array.from({ length: text.length }, (_, i) => i))).toEqual(
    parse(text),
  );
});

// ---- chunked bodies ----

function decode(text: string, maxBytes = 1000, cuts: number[] = []): string {
  const bytes = latin1(text);
  const decoder = createChunkedBodyDecoder(maxBytes);
  const out: Uint8Array[] = [];
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point < from) continue;
    from = decoder.push(bytes, from, point, out);
    if (decoder.done) break;
  }
  if (!decoder.done) return "<incomplete>";
  return out.map((piece) => String.fromCharCode(...piece)).join("") + `|${from}`;
}

function chunkedRefusal(text: string, maxBytes = 1000): number {
  try {
    decode(text, maxBytes);
  } catch (error) {
    if (error instanceof ChunkedError) return error.status;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

Deno.test("chunked: data, extensions, trailers; stops at the end of the body", () => {
  expect(decode("5\r\nhello\r\n6;a=b\r\n world\r\n0\r\n\r\nNEXT")).toBe("hello world|30");
  expect(decode("5 ;x\r\nhello\r\n0\r\nx-trailer: y\r\n\r\n")).toBe("hello|32");
  expect(decode("A\r\n0123456789\r\n0\r\n\r\n")).toBe("0123456789|20");
  expect(decode("5\r\nhel")).toBe("<incomplete>");
});

Deno.test("chunked: malformed sizes, line endings and oversize are refused", () => {
  const cases: [string, number][] = [
    ["x\r\n", 400],
    ["0x5\r\nhello\r\n0\r\n\r\n", 400],
    ["-5\r\n", 400],
    ["+5\r\n", 400],
    [" 5\r\nhello\r\n0\r\n\r\n", 400],
    ["5 \r\nhello\r\n0\r\n\r\n", 400],
    ["\r\n", 400],
    ["5\nhello\r\n0\r\n\r\n", 400], // LF only
    ["5\r\nhello\n0\r\n\r\n", 400],
    ["5\r\nhelloX\r\n0\r\n\r\n", 400], // data longer than declared
    ["5\r\nhello\r\n0\r\n\n", 400],
    ["5;a\x00\r\nhello\r\n0\r\n\r\n", 400],
    ["100000000\r\n", 400], // 9 hex digits: a size that overflows 32-bit parsers
    ["ffffffffffffffffffff1\r\n", 400],
    ["3e9\r\n", 413], // 1001 bytes with a limit of 1000
    ["3e8\r\n" + "a".repeat(1000) + "\r\n1\r\n", 413],
    ["0\r\n x: y\r\n\r\n", 400], // obs-fold in trailers
    ["0\r\n" + "x: y\r\n".repeat(40) + "\r\n", 400],
    [`5;${"e".repeat(2000)}\r\n`, 400],
  ];
  for (const [text, status] of cases) {
    expect({ text: text.slice(0, 40), status: chunkedRefusal(text) }).toEqual({
      text: text.slice(0, 40),
      status,
    });
  }
  // Extensions on 1-byte chunks cannot make a small body cost unbounded parsing.
  const abuse = `1;${"e".repeat(1000)}\r\na\r\n`.repeat(40);
  expect(chunkedRefusal(abuse, 100)).toBe(400);
});

// ---- properties ----

const OPTS = { numRuns: 400 };

/** Header lines a hostile client might send, valid or not. */
const headerLine = fc.oneof(
  fc.constantFrom(
    "host: 127.0.0.1",
    "content-length: 5",
    "Content-Length: 7",
    "content-length: 5, 5",
    "transfer-encoding: chunked",
    "Transfer-Encoding: chunked, identity",
    "transfer-encoding : chunked",
    " transfer-encoding: chunked",
    "connection: close",
    "expect: 100-continue",
    "x: \x00",
    "host: a\rb",
  ),
  fc.tuple(fc.stringMatching(/^[a-zA-Z-]{1,8}$/), fc.string({ maxLength: 12 })).map(([n, v]) =>
    `${n}: ${v}`
  ),
);

const requestText = fc.tuple(
  fc.constantFrom("GET", "POST", "HEAD", "PUT", "G T", "CONNECT"),
  fc.constantFrom("/", "/mcp", "/mcp/toolcall?x=1", "http://a/", "*", "/a b"),
  fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 "),
  fc.array(headerLine, { maxLength: 6 }),
  fc.constantFrom("\r\n", "\n", "\r"),
).map(([method, target, version, headers, eol]) =>
  `${method} ${target} ${version}\r\n${headers.map((h) => `${h}\r\n`).join("")}${eol}`
);

/** Well-formed request lines with hostile header mixes: what reaches the framing checks. */
const framingText = fc.tuple(
  fc.constantFrom("GET", "POST"),
  fc.constantFrom("HTTP/1.1", "HTTP/1.0"),
  fc.array(
    fc.constantFrom(
      "content-length: 5",
      "Content-Length: 7",
      "transfer-encoding: chunked",
      "Transfer-Encoding: Chunked",
      "transfer-encoding: chunked, identity",
      "connection: close",
      "x-a: b",
    ),
    { maxLength: 4 },
  ),
).map(([method, version, headers]) =>
  `${method} /mcp ${version}\r\nhost: a\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`
);

Deno.test("property: random bytes never throw and never yield an ambiguous framing", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), requestText.map(latin1), framingText.map(latin1)),
      (bytes) => {
        const result = parse(bytes);
        if (result.kind !== "head") return;
        const names = result.head.headers.map(([name]) => name);
        const lengths = names.filter((name) => name === "content-length").length;
        const codings = names.filter((name) => name === "transfer-encoding").length;
        // Never both framings, never several lengths, never a coding other than chunked.
        expect(lengths <= 1 && !(lengths === 1 && codings > 0)).toBe(true);
        if (codings > 0) expect(result.head.framing).toEqual({ kind: "chunked" });
        if (lengths === 1) {
          const value = result.head.headers.find(([name]) => name === "content-length")![1];
          expect(value).toMatch(/^[0-9]+$/);
        }
        expect(result.head.target.startsWith("/")).toBe(true);
        for (const [name, value] of result.head.headers) {
          expect(name).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
          const controls = [...value].filter((c) => c < " " && c !== "\t" || c === "\x7f");
          expect(controls).toEqual([]);
        }
      },
    ),
    OPTS,
  );
});

Deno.test("property: a head split anywhere parses exactly as when it arrives whole", () => {
  fc.assert(
    fc.property(
      fc.oneof(requestText.map(latin1), fc.uint8Array({ maxLength: 200 })),
      fc.array(fc.nat(), { maxLength: 8 }),
      (bytes, cuts) => {
        expect(parseInPieces(bytes, cuts)).toEqual(parse(bytes));
      },
    ),
    OPTS,
  );
});

const chunkedText = fc.array(
  fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom("", ";a=b", ";x")),
  { maxLength: 5 },
).map((chunks) =>
  chunks.map(([data, ext]) => `${data.length.toString(16)}${ext}\r\n${data}\r\n`).join("") +
  "0\r\n\r\n"
);

Deno.test("property: a chunked body split anywhere decodes as when it arrives whole", () => {
  fc.assert(
    fc.property(
      fc.oneof(chunkedText, fc.string({ maxLength: 80 })),
      fc.array(fc.nat(), { maxLength: 8 }),
      (text, cuts) => {
        const whole = (() => {
          try {
            return decode(text);
          } catch (error) {
            if (!(error instanceof ChunkedError)) throw error;
            return `error ${error.status}`;
          }
        })();
        const pieces = (() => {
          try {
            return decode(text, 1000, cuts);
          } catch (error) {
            if (!(error instanceof ChunkedError)) throw error;
            return `error ${error.status}`;
          }
        })();
        expect(pieces).toBe(whole);
      },
    ),
    OPTS,
  );
  fc.assert(
    fc.property(chunkedText, (text) => {
      expect(decode(text).endsWith(`|${latin1(text).length}`)).toBe(true);
    }),
    OPTS,
  );
});

Deno.test("obs-text in a header value is kept byte for byte (a byte string, as Headers holds it)", () => {
  const result = parse("GET / HTTP/1.1\r\nHost: a\r\nX-Obs: \x80\x9f\xe9 z\r\n\r\n");
  if (result.kind !== "head") throw new Error(`not parsed: ${JSON.stringify(result)}`);
  const value = result.head.headers.find(([name]) => name === "x-obs")?.[1];
  expect(value).toBe("\u0080\u009f\u00e9 z");
  expect(new Headers(result.head.headers).get("x-obs")).toBe(value);
});

Deno.test("property: any token header name, in any case, is read lower-cased; method and version as sent", () => {
  const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const known = ["user-agent", "content-type", "mcp-session-id", "x-forwarded-proto", "accept"];
  // Names whose value the parser itself judges (a second Host, framing) are tested elsewhere.
  const judged = ["host", "content-length", "transfer-encoding", "expect", "connection"];
  // Known names in random case, with one character swapped for any token character (near misses).
  const nearKnown = fc.tuple(fc.constantFrom(...known), fc.nat(), fc.nat(), fc.nat()).map(
    ([name, flips, at, pick]) => {
      const chars = [...name].map((c, i) => (flips >> i) & 1 ? c.toUpperCase() : c);
      if (pick % 3 === 0) chars[at % chars.length] = TCHARS[pick % TCHARS.length];
      return chars.join("");
    },
  );
  const anyName = fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 24 })
    .map((chars) => chars.join(""));
  fc.assert(
    fc.property(
      fc.oneof(nearKnown, anyName),
      fc.constantFrom("GET", "POST", "PUT", "get", "P^ST"),
      fc.constantFrom("HTTP/1.1", "HTTP/1.0"),
      (name, method, version) => {
        fc.pre(!judged.includes(name.toLowerCase()));
        const result = parse(`${method} / ${version}\r\nHost: a\r\n${name}: v\r\n\r\n`);
        if (result.kind !== "head") throw new Error(`refused: ${JSON.stringify(name)}`);
        expect(result.head.method).toBe(method);
        expect(result.head.minor).toBe(version === "HTTP/1.1" ? 1 : 0);
        expect(result.head.headers.at(-1)).toEqual([name.toLowerCase(), "v"]);
      },
    ),
    OPTS,
  );
});
